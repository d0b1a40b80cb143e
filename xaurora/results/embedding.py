"""Embeddings: Aurora's latent vectors as a labelled ``(time, level, lat, lon, channel)`` array.

A layer is captured with a forward hook while ``module(batch)`` runs (:mod:`xaurora.run.hooks`:
one thread at a time per module), and the pass is stopped right there, so the values are exactly
what Aurora computes (same normalisation, crop and lead time) and ``layer="encoder"`` never runs
the backbone or decoder. ``layer="inputs"`` captures the normalised, cropped Batch that enters
the encoder and cuts it into the same patches. The loop over times is :mod:`xaurora.run.tokens`;
this module labels what it returns.

On Dask-backed input the result is lazy: one task per time chunk, nothing runs until computed.

>>> import xaurora as xa
>>> ds = xa.testing.synthetic_dataset(n_times=2)
>>> emb = ds.aurora.embed(xa.load_model("tiny"))
>>> emb.dims, emb.sizes["level"]
(('time', 'level', 'lat', 'lon', 'channel'), 4)
"""

from __future__ import annotations

from functools import partial

import numpy as np
import xarray as xr

from xaurora.encoders.base import Encoder
from xaurora.errors import XauroraError
from xaurora.grids import grid_of
from xaurora.grids.patches import patch_centres
from xaurora.io.canonical import canonicalize
from xaurora.io.checks import check_read, is_lazy, warn_grid
from xaurora.io.names import LAT_ATTRS, LON_ATTRS
from xaurora.results.encoded import embed_encoder
from xaurora.results.latents import latent_dataarray
from xaurora.results.pooled import checked_stats, pooled
from xaurora.run.edit import as_edits, edit_text
from xaurora.run.hooks import capture
from xaurora.run.layout import Layout, input_features
from xaurora.run.lazy import time_blocks
from xaurora.run.pooling import STATS
from xaurora.run.sizing import rel_diff
from xaurora.run.source import BatchSource
from xaurora.run.times import select_times
from xaurora.run.tokens import embed_values, layer_layout
from xaurora.sample.synthetic import synthetic_dataset
from xaurora.version import __version__


def autocast_attrs(cds, times, model, layer: str, lazy: bool) -> dict:
    """How far ``autocast=True`` (bfloat16) moves the layer from float32, on one sample.

    The reference sample is the first analysis time; on lazy input (nothing may be read before
    compute) it is a synthetic sample on the same grid and levels.
    """
    if lazy:
        levels = tuple(int(x) for x in cds["level"].values) if "level" in cds.dims else ()
        ref = synthetic_dataset(n_lat=cds.sizes["lat"], n_lon=cds.sizes["lon"], n_times=2,
                                levels=levels, freq=f"{int(model.timestep.total_seconds())}s")
        ref = canonicalize(ref).assign_coords(lat=cds["lat"].values, lon=cds["lon"].values)
        cds, times, what = ref, ref["time"].values[1:], "synthetic sample on the same grid"
    else:
        what = f"first analysis time {str(np.asarray(times)[0])[:16]}"
    batch = BatchSource(cds, model.module, model.timestep).read(np.asarray(times)[:1])

    def run(bf16):
        out = capture(model.module, batch, layer, autocast=bf16)
        if layer == "inputs":
            return input_features(out, model.patch_size)[0]
        return out.float().cpu().numpy()

    return {"autocast": "bfloat16",
            "autocast_rel_diff": rel_diff(run(True), run(False)),
            "autocast_reference": what}


def to_dataarray(values, layout: Layout, times, model, layer: str, cds, steps: int = 1,
                 edit=None) -> xr.DataArray:
    """Label a (time, level, lat, lon, channel) array (NumPy or Dask) as an embedding.

    With ``steps > 1`` the array has a ``lead_time`` dim after ``time`` (0, Δ, …).
    """

    lat, lon = cds["lat"].values, cds["lon"].values
    attrs = {
        "long_name": f"Aurora {layer} embedding",
        "units": "1",
        **model.provenance(),
        "layer": layer,
        "patch_size": int(model.patch_size),
        "xaurora_version": __version__,
        "grid_lat_first": float(lat[0]),
        "grid_lat_last": float(lat[-1]),
        "grid_n_lat": int(lat.size),
        "grid_lon_first": float(lon[0]),
        "grid_n_lon": int(lon.size),
    }
    if edit:
        attrs["edit"] = edit_text(edit)
    lead_times = None
    if steps > 1:
        lead_times = np.array([model.timestep * i for i in range(steps)], dtype="timedelta64[ns]")
        attrs["rollout_steps"] = int(steps)
    grid = {"lat": ("lat", layout.lat, LAT_ATTRS), "lon": ("lon", layout.lon, LON_ATTRS)}
    return latent_dataarray(values, times, layout.levels, grid, attrs,
                            channel_coords=layout.channel_coords or None, lead_times=lead_times)


def _embed_block(sub: xr.Dataset, times, model, layer, batch_size, autocast,
                 check_values: bool = True, edit=None, steps: int = 1, dtype: str = "float32",
                 pool=None) -> np.ndarray:
    # value checks deferred to compute time on lazy input: one pass over the block's data
    return embed_values(sub, times, model, layer, batch_size, autocast,
                        check_values=check_values, edit=edit, steps=steps, dtype=dtype,
                        pool=pool)[0]


DTYPES = ("float32", "float16")


def checked_dtype(dtype) -> str:
    """``dtype`` as ``"float32"`` or ``"float16"``, or an error naming the choices."""
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = str(dtype)
    if name not in DTYPES:
        raise XauroraError(f"dtype: {dtype!r} is not one of {DTYPES}. Fix: pass "
                           "dtype='float16' to halve what tokens cost, or leave it out.")
    return name


def pool_options(pool) -> dict | None:
    """``embed``'s ``pool=``: None, True (``pool``'s defaults) or a dict of its keywords."""
    if pool is None or pool is False:
        return None
    if pool is True:
        pool = {}
    if not isinstance(pool, dict) or set(pool) - {"stats", "regions"}:
        raise XauroraError(
            f"pool: expected True or a dict of pool's keywords ('stats', 'regions'), got "
            f"{pool!r}. Fix: e.g. pool={{'stats': ('mean', 'std')}}."
        )
    return {**pool, "stats": checked_stats(pool.get("stats", STATS))}


def _pooled_like(values, template: xr.DataArray, opts: dict) -> xr.DataArray:
    """Statistics computed on the device, labelled exactly as ``pool`` labels ``template``.

    ``template`` is the unpooled result with lazy zeros for values (never computed): pooling
    it lazily gives the dims, coords and attrs; the values are the device's.
    """
    labelled = pooled(template, opts["stats"], opts.get("regions"))
    if opts.get("regions") is None:
        values = values[..., 0, :]  # the one "global" region, dropped as pool drops it
    return labelled.copy(data=values)


def _device_weights(cds, model, opts: dict):
    """The region weights of the latent grid of ``cds`` (region, lat, lon), from its grid."""
    lat, lon = patch_centres(cds["lat"].values, cds["lon"].values, model.patch_size)
    grid2d = xr.DataArray(np.zeros((lat.size, lon.size), np.float32), dims=("lat", "lon"),
                          coords={"lat": lat, "lon": lon})
    g = grid_of(grid2d)
    w = g.region_weights(grid2d, opts.get("regions")).transpose("region", *g.dims)
    return w.values, opts["stats"]


def embed(
    ds: xr.Dataset,
    model,
    layer: str = "encoder",
    static=None,
    batch_size: int | str = 1,
    device: str | None = None,
    autocast: bool = False,
    time=None,
    progress: bool = False,
    check_values: bool = True,
    edit=None,
    steps: int = 1,
    dtype: str = "float32",
    pool=None,
) -> xr.DataArray:
    """Embeddings of ``ds`` by ``model`` at ``layer``.

    ``time`` restricts the analysis times (a value, list or slice). ``autocast=True`` runs in
    bfloat16 (meant for GPUs) and says in attrs how much that moves the values from float32 on
    one sample (``autocast_rel_diff``, ``autocast_reference``). ``device`` moves the model
    first. ``batch_size="auto"`` picks the largest batch that fits the device. The next batch
    is prepared in a background thread while the model runs. The unit and NaN checks cover the
    time steps the model reads (t − Δ and t of each analysis time) and the statics: before the
    model on in-memory input, and each step as it is read on lazy input (at compute time), with
    a mean per step and level for the units. ``check_values=False`` skips them (for
    deliberately unusual inputs), and attrs ``check_values`` says whether they ran (1) or not
    (0). A trained model on another grid
    than its training grid warns (:class:`xaurora.io.canonical.GridWarning`). ``edit``
    (``xa.edit`` objects) acts inside the pass; the value captured at ``layer`` is after any
    edit at ``layer``.
    ``steps=N`` gives the layer during each of N steps of Aurora's rollout, with a ``lead_time``
    dim (0, Δ, …, (N−1)Δ); step k's input pairs the previous input with its prediction.

    ``dtype="float16"`` returns the tokens in half precision, converted on the model's device
    before they leave it (half the bytes to copy and store); attrs ``tokens_dtype`` records it.
    ``pool=True`` or a dict of :func:`~xaurora.analysis.pool.pool`'s keywords (``stats``,
    ``regions``) returns what ``embed(...).aurora.pool(**pool)`` returns, but computes the
    statistics where the model runs, so only the pooled values are copied back (on a GPU the
    tokens never cross to the host).

    >>> import xaurora as xa
    >>> ds = xa.testing.synthetic_dataset(n_times=2)
    >>> xa.embed(ds, xa.load_model("tiny"), layer="inputs").level.values.tolist()
    ['inputs']
    """

    dtype, pool_kw = checked_dtype(dtype), pool_options(pool)
    if isinstance(model, Encoder):  # other encoders, other grids: one door

        if edit is not None or int(steps) != 1:
            raise XauroraError(
                f"{model.name}: edit= and steps= act on the layers of an Aurora model; an "
                f"xa.Encoder is one opaque function. Fix: use an Aurora model (xa.load_model or "
                f"xa.from_module), or edit the latents after embedding."
            )

        out = embed_encoder(ds, model, layer=layer, static=static, time=time, progress=progress)
        if dtype != "float32":
            out = out.astype(dtype).assign_attrs(tokens_dtype=dtype)
        return out if pool_kw is None else pooled(out, pool_kw["stats"], pool_kw.get("regions"))
    if int(steps) < 1:
        raise XauroraError(f"steps: must be ≥ 1, got {steps}.")
    steps = int(steps)
    if edit is not None:
        edit = as_edits(edit)
    if device is not None:
        model.module.to(device)
    cds = canonicalize(ds, static=static, info=model.info, check_values=False)
    warn_grid(cds, model)
    times = select_times(cds, model.timestep, time)
    if check_values:  # the steps read, in memory; Dask values in the task that reads them
        check_read(cds, times, model.timestep, lazy=False)
    lazy = is_lazy(cds)
    on_device = _device_weights(cds, model, pool_kw) if pool_kw is not None else None
    if not lazy:
        values, layout = embed_values(cds, times, model, layer, batch_size, autocast, progress,
                                      edit=edit, steps=steps, dtype=dtype, pool=on_device)
    else:
        layout = layer_layout(cds, model, layer)
        step = np.timedelta64(int(model.timestep.total_seconds()), "s").astype("timedelta64[ns]")
        block = partial(_embed_block, model=model, layer=layer, batch_size=batch_size,
                        autocast=autocast, check_values=check_values, edit=edit, steps=steps,
                        dtype=dtype, pool=on_device)
        lead = (steps,) if steps > 1 else ()
        values = time_blocks(cds, times, [step], block, lambda n: (
            (n, *lead, len(layout.levels), layout.n_channel, len(on_device[0]),
             len(on_device[1])) if on_device is not None else
            (n, *lead, len(layout.levels), layout.lat.size, layout.lon.size, layout.n_channel)),
            dtype=np.float64 if on_device is not None else np.dtype(dtype))
    if on_device is None:
        out = to_dataarray(values, layout, times, model, layer, cds, steps, edit)
    else:
        import dask.array as dsa  # heavy

        shape = (len(times), *((steps,) if steps > 1 else ()), len(layout.levels),
                 layout.lat.size, layout.lon.size, layout.n_channel)
        template = to_dataarray(dsa.zeros(shape, dtype=np.dtype(dtype)), layout, times, model,
                                layer, cds, steps, edit)
        out = _pooled_like(values, template, pool_kw)
    out.attrs["check_values"] = int(check_values)
    if dtype != "float32":
        out.attrs["tokens_dtype"] = dtype
    if autocast:
        out.attrs.update(autocast_attrs(cds, times, model, layer, lazy=lazy))
    return out
