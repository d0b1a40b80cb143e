"""Embeddings: Aurora's latent vectors as a labelled ``(time, level, lat, lon, channel)`` array.

A layer is captured with a forward hook while ``module(batch)`` runs (``xaurora.hooks``: one
thread at a time per module), and the pass is stopped right there, so the values are exactly
what Aurora computes (same normalisation, crop and lead time) and ``layer="encoder"`` never runs
the backbone or decoder. ``layer="inputs"`` captures the normalised, cropped Batch that enters
the encoder and cuts it into the same patches.

On Dask-backed input the result is lazy: one task per time chunk, nothing runs until computed.

>>> import xaurora as xa
>>> ds = xa.testing.synthetic_dataset(n_times=2)
>>> emb = ds.aurora.embed(xa.load_model("tiny"))
>>> emb.dims, emb.sizes["level"]
(('time', 'level', 'lat', 'lon', 'channel'), 4)
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import xarray as xr

from xaurora import grid
from xaurora.batch import select_times
from xaurora.errors import XauroraError
from xaurora.hooks import capture, resolve_layer  # noqa: F401  (resolve_layer: re-exported)
from xaurora.io.canonical import canonicalize, check_read, is_lazy, warn_grid
from xaurora.io.names import STATIC_PREFIX


@dataclass
class Layout:
    """How a layer's token tensor maps onto (level, lat, lon, channel)."""

    levels: list[str]
    lat: np.ndarray
    lon: np.ndarray
    n_channel: int
    channel_coords: dict | None = None


def _merged_coords(c: np.ndarray, k: int) -> np.ndarray:
    """Patch-centre coordinates after k Swin patch merges (pairs averaged, odd end kept)."""
    for _ in range(k):
        if c.size % 2:
            c = np.append(c, c[-1])
        c = c.reshape(-1, 2).mean(axis=1)
    return c


def _level_names(n: int, latent_levels: int) -> list[str]:
    if n == latent_levels:
        return ["surface"] + [f"latent_{i}" for i in range(1, n)]
    if n == 1:
        return ["surface"]
    return [f"level_{i}" for i in range(n)]


def tokens_layout(shape, batch_size: int, lat_c, lon_c, latent_levels: int, layer: str) -> Layout:
    """Infer (levels, grid) of a ``(B, L', D)`` token tensor on the patch grid or a merged one."""
    if len(shape) != 3 or shape[0] != batch_size:
        raise XauroraError(
            f"layer: {layer!r} outputs shape {tuple(shape)}, not tokens (batch, tokens, channel). "
            f"Fix: choose a layer whose output is laid out as tokens, e.g. 'encoder', 'backbone' "
            f"or a 'backbone.encoder_layers.N' block."
        )
    # Token counts can coincide across grids (4 levels on a merged grid = 1 level on the full
    # one), so prefer the grid on which the levels are Aurora's latent levels.
    fits = []
    for k in range(6):
        la, lo = _merged_coords(lat_c, k), _merged_coords(lon_c, k)
        if shape[1] % (la.size * lo.size) == 0:
            fits.append((shape[1] // (la.size * lo.size), la, lo))
    fits.sort(key=lambda f: f[0] != latent_levels)
    if fits:
        n, la, lo = fits[0]
        return Layout(_level_names(n, latent_levels), la, lo, int(shape[2]))
    raise XauroraError(f"layer: cannot lay out {shape[1]} tokens of {layer!r} on the patch grid.")


def _input_features(batch, p: int) -> tuple[np.ndarray, dict]:
    """Normalised input Batch → (B, h, w, F) patches and the channel labels."""
    import torch

    blocks, var, lev, hist, pix = [], [], [], [], []

    def add(x, name, level, history):  # x: (B, H, W)
        b, h, w = x.shape
        patches = x.reshape(b, h // p, p, w // p, p).permute(0, 1, 3, 2, 4).reshape(
            b, h // p, w // p, p * p
        )
        blocks.append(patches)
        var.extend([name] * p * p)
        lev.extend([level] * p * p)
        hist.extend([history] * p * p)
        pix.extend(range(p * p))

    for name, x in batch.surf_vars.items():
        for t in range(x.shape[1]):
            add(x[:, t], name, 0, t)
    for name, x in batch.static_vars.items():  # "static_z": never the same as atmospheric "z"
        add(x[:, 0] if x.dim() == 4 else x[None].expand(blocks[0].shape[0], -1, -1),
            STATIC_PREFIX + name, 0, -1)
    levels = batch.metadata.atmos_levels
    for name, x in batch.atmos_vars.items():
        for c, level in enumerate(levels):
            for t in range(x.shape[1]):
                add(x[:, t, c], name, int(level), t)
    feats = torch.cat(blocks, dim=-1).float().cpu().numpy()
    coords = {
        "channel_variable": ("channel", np.array(var, dtype=str)),
        "channel_level": ("channel", np.array(lev, dtype=np.int64)),
        "channel_history": ("channel", np.array(hist, dtype=np.int64)),
        "channel_pixel": ("channel", np.array(pix, dtype=np.int64)),
    }
    return feats[:, None], coords


def layer_passes(module, batch, layer: str, autocast: bool = False, edit=None,
                 steps: int = 1) -> list:
    """``layer``'s value in each of ``steps`` rollout steps (one stopped pass when ``steps=1``)."""
    if steps == 1:
        return [capture(module, batch, layer, autocast=autocast, edits=edit)]
    from xaurora.hooks import rollout_pass

    latents = rollout_pass(module, batch, steps, edits=edit, layer=layer,
                           on_pred=lambda _pred: None, autocast=autocast)[1]
    if len(latents) != steps:
        raise XauroraError(f"layer: {layer!r} ran {len(latents)} times in {steps} rollout steps. "
                         "Fix: choose a layer that runs once per step, e.g. 'encoder'.")
    return latents


def iter_embeddings(cds, times, model, layer: str, batch_size: int | str = 1,
                    autocast: bool = False, check_values: bool = False,
                    prefetch: int | None = None, slices: list[slice] | None = None,
                    edit=None, steps: int = 1, host: bool = True,
                    on_read: Callable[[slice], None] | None = None):
    """Yield ``(slice of times, values, layout)`` per batch; values (B, level, lat, lon, channel),
    or (B, lead_time, level, lat, lon, channel) with ``steps > 1`` (rollout latents).

    Batch k + 1 is read, checked (``check_values``) and assembled in a background thread while
    the model runs on batch k (see :mod:`xaurora.pipeline`). Close the generator when leaving
    early (``contextlib.closing``): that stops the thread. ``host=False`` yields a layer's
    tokens as the model's float32 tensor, on its device (one copy fewer for a caller that
    copies them into its own array). ``on_read(sl)`` runs where batch ``sl`` is read, before it
    is yielded (see :class:`xaurora.pipeline.batches`).
    """
    from xaurora import pipeline
    from xaurora.models import forward

    module = model.module
    p = model.patch_size
    device = pipeline.model_device(module)
    lat_c, lon_c = grid.patch_centres(cds["lat"].values, cds["lon"].values, p)
    latent = module.encoder.latent_levels
    prefetch = pipeline.prefetch_for(cds, device) if prefetch is None else prefetch
    # stopped at the encoder, the pass splits there: the model thread runs the encoder only,
    # Aurora's preparation of its input runs with the reading (xaurora.models.forward); on a
    # CPU the checks of lazy steps are fused into its normalisation (each field read once)
    split = layer in ("encoder", "inputs") and steps == 1 and forward.splits(module)
    fused = split and check_values and device.type == "cpu"
    source = pipeline.BatchSource(cds, module, model.timestep, check=check_values,
                                  pin=device.type == "cuda", check_steps=False if fused else None)
    fused = fused and source.lazy  # in memory, the source checked everything at once
    if batch_size == "auto":
        batch_size = pipeline.auto_batch_size(source, times, module, layer, capture, autocast,
                                              prefetch)
    layout = None
    prepare = None
    if split and device.type == "cpu":  # each step normalised once, into reused memory
        prepare = forward.Preparer(module, alive=pipeline.inputs_alive(
            source, times, batch_size, prefetch, device, slices),
            check=source.check_step if fused else None)
    elif split:  # on a GPU, Aurora's own preparation on the device (allocations are cached)
        prepare = functools.partial(forward.encoder_input, module)
    with pipeline.batches(source, times, batch_size, prefetch=prefetch, device=device,
                          slices=slices, prepare=prepare, on_read=on_read) as it:
        for sl, batch in it:
            n = len(np.asarray(times)[sl])
            per_step = []
            for out in layer_passes(module, batch, layer, autocast, edit, steps):
                if layer == "inputs":
                    values, ccoords = _input_features(out, p)
                    layout = Layout(["inputs"], lat_c, lon_c, values.shape[-1], ccoords)
                else:
                    if layout is None:  # tokens per sample are the same for every batch
                        layout = tokens_layout(tuple(out.shape), n, lat_c, lon_c, latent, layer)
                    values = out.float().reshape(
                        n, len(layout.levels), layout.lat.size, layout.lon.size, -1
                    )
                    if host or steps > 1:
                        values = values.cpu().numpy()
                per_step.append(values)
            # a prepared input owns its memory: free it before the next one is prepared, so
            # that the allocator reuses its pages (two alive at once cost page faults per step)
            del batch
            yield sl, per_step[0] if steps == 1 else np.stack(per_step, axis=1), layout


def embed_values(cds, times, model, layer: str, batch_size: int | str = 1,
                 autocast: bool = False, progress: bool = False, check_values: bool = False,
                 prefetch: int | None = None, edit=None,
                 steps: int = 1) -> tuple[np.ndarray, Layout]:
    """Compute the layer for ``times`` eagerly: array (time, level, lat, lon, channel), layout.

    With ``steps > 1`` the array is (time, lead_time, level, lat, lon, channel).

    ``check_values`` checks every value read exactly once (NaN, units): in-memory data before
    anything runs, lazy data as it is read.
    """
    import torch

    from xaurora.pipeline import touch_pages

    out, layout = None, None
    bar = None

    def on_read(sl: slice) -> None:  # in the reading thread: fault in the batch's part of out
        if out is not None:  # (allocated at the first result: the batches read before fault
            touch_pages(out[sl])  # where they are written)

    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(times), desc=f"embed {layer}", unit="time")
    with contextlib.closing(iter_embeddings(cds, times, model, layer, batch_size, autocast,
                                            check_values, prefetch, edit=edit,
                                            steps=steps, host=False, on_read=on_read)) as it:
        for sl, values, lay in it:
            if out is None:  # filled in place: no list of parts and no concatenation
                out = np.empty((len(times), *values.shape[1:]), dtype=np.float32)
            if isinstance(values, np.ndarray):
                out[sl] = values
            elif values.device.type == "cpu":
                # a NumPy copy: torch's copy_ would wake its OpenMP workers, asleep while the
                # model waits (the first parallel op after a pause took ~5 ms on a 2-core VM)
                out[sl] = values.numpy()
            else:  # the model's tensor, copied once: straight into the result (GPU → host)
                torch.from_numpy(out[sl]).copy_(values)
            layout = lay
            if bar is not None:
                bar.update(values.shape[0])
    if bar is not None:
        bar.close()
    return out, layout


def autocast_attrs(cds, times, model, layer: str, lazy: bool) -> dict:
    """How far ``autocast=True`` (bfloat16) moves the layer from float32, on one sample.

    The reference sample is the first analysis time; on lazy input (nothing may be read before
    compute) it is a synthetic sample on the same grid and levels.
    """
    from xaurora import pipeline

    if lazy:
        from xaurora.io.canonical import canonicalize
        from xaurora.testing import synthetic_dataset

        levels = tuple(int(x) for x in cds["level"].values) if "level" in cds.dims else ()
        ref = synthetic_dataset(n_lat=cds.sizes["lat"], n_lon=cds.sizes["lon"], n_times=2,
                                levels=levels, freq=f"{int(model.timestep.total_seconds())}s")
        ref = canonicalize(ref).assign_coords(lat=cds["lat"].values, lon=cds["lon"].values)
        cds, times, what = ref, ref["time"].values[1:], "synthetic sample on the same grid"
    else:
        what = f"first analysis time {str(np.asarray(times)[0])[:16]}"
    batch = pipeline.BatchSource(cds, model.module, model.timestep).read(np.asarray(times)[:1])

    def run(bf16):
        out = capture(model.module, batch, layer, autocast=bf16)
        if layer == "inputs":
            return _input_features(out, model.patch_size)[0]
        return out.float().cpu().numpy()

    return {"autocast": "bfloat16",
            "autocast_rel_diff": pipeline.rel_diff(run(True), run(False)),
            "autocast_reference": what}


def layer_layout(cds, model, layer: str) -> Layout:
    """Layout of ``layer`` found by running the model on zeros (no data is read)."""
    t0 = np.datetime64("2000-01-01T06:00", "ns")
    step = np.timedelta64(int(model.timestep.total_seconds()), "s").astype("timedelta64[ns]")
    coords = {c: cds[c].values for c in ("level", "lat", "lon") if c in cds.coords}
    coords["time"] = np.array([t0 - step, t0])
    zeros = xr.Dataset(coords=coords)
    for v in cds.data_vars:
        dims = cds[v].dims
        shape = tuple(2 if d == "time" else cds.sizes[d] for d in dims)
        zeros[v] = (dims, np.zeros(shape, dtype=np.float32))
    return embed_values(zeros, np.array([t0]), model, layer)[1]


def to_dataarray(values, layout: Layout, times, model, layer: str, cds, steps: int = 1,
                 edit=None) -> xr.DataArray:
    """Label a (time, level, lat, lon, channel) array (NumPy or Dask) as an embedding.

    With ``steps > 1`` the array has a ``lead_time`` dim after ``time`` (0, Δ, …).
    """
    from xaurora.version import __version__

    coords = {
        "time": ("time", np.asarray(times, dtype="datetime64[ns]"), {"standard_name": "time"}),
        "level": ("level", np.array(layout.levels, dtype=str)),
        "lat": ("lat", layout.lat, grid.LAT_ATTRS),
        "lon": ("lon", layout.lon, grid.LON_ATTRS),
        "channel": ("channel", np.arange(layout.n_channel)),
    }
    if layout.channel_coords:
        coords.update(layout.channel_coords)
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
    dims: tuple[str, ...] = ("time", "level", "lat", "lon", "channel")
    if edit:
        from xaurora.edit import describe

        attrs["edit"] = describe(edit)
    if steps > 1:
        dims = ("time", "lead_time", *dims[1:])
        coords["lead_time"] = ("lead_time", np.array([model.timestep * i for i in range(steps)],
                                                     dtype="timedelta64[ns]"))
        attrs["rollout_steps"] = int(steps)
    return xr.DataArray(values, dims=dims, coords=coords, name="embedding", attrs=attrs)


def _embed_block(sub: xr.Dataset, times, model, layer, batch_size, autocast,
                 check_values: bool = True, edit=None, steps: int = 1) -> np.ndarray:
    # value checks deferred to compute time on lazy input: one pass over the block's data
    return embed_values(sub, times, model, layer, batch_size, autocast,
                        check_values=check_values, edit=edit, steps=steps)[0]


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

    >>> import xaurora as xa
    >>> ds = xa.testing.synthetic_dataset(n_times=2)
    >>> xa.embed(ds, xa.load_model("tiny"), layer="inputs").level.values.tolist()
    ['inputs']
    """
    from xaurora.encoders.base import Encoder

    if isinstance(model, Encoder):  # other encoders, other grids: one door
        from xaurora.encoders.embedding import embed_encoder

        if edit is not None or int(steps) != 1:
            raise XauroraError(
                f"{model.name}: edit= and steps= act on the layers of an Aurora model; an "
                f"xa.Encoder is one opaque function. Fix: use an Aurora model (xa.load_model or "
                f"xa.from_module), or edit the latents after embedding."
            )

        return embed_encoder(ds, model, layer=layer, static=static, time=time, progress=progress)
    if int(steps) < 1:
        raise XauroraError(f"steps: must be ≥ 1, got {steps}.")
    steps = int(steps)
    if edit is not None:
        from xaurora.edit import as_edits

        edit = as_edits(edit)
    if device is not None:
        model.module.to(device)
    cds = canonicalize(ds, static=static, info=model.info, check_values=False)
    warn_grid(cds, model)
    times = select_times(cds, model.timestep, time)
    if check_values:  # the steps read, in memory; Dask values in the task that reads them
        check_read(cds, times, model.timestep, lazy=False)
    lazy = is_lazy(cds)
    if not lazy:
        values, layout = embed_values(cds, times, model, layer, batch_size, autocast, progress,
                                      edit=edit, steps=steps)
        out = to_dataarray(values, layout, times, model, layer, cds, steps, edit)
        out.attrs["check_values"] = int(check_values)
        if autocast:
            out.attrs.update(autocast_attrs(cds, times, model, layer, lazy=False))
        return out

    from functools import partial

    from xaurora.lazy import time_blocks

    layout = layer_layout(cds, model, layer)
    step = np.timedelta64(int(model.timestep.total_seconds()), "s").astype("timedelta64[ns]")
    block = partial(_embed_block, model=model, layer=layer, batch_size=batch_size,
                    autocast=autocast, check_values=check_values, edit=edit, steps=steps)
    values = time_blocks(cds, times, [step], block, lambda n: (
        n, *((steps,) if steps > 1 else ()), len(layout.levels), layout.lat.size,
        layout.lon.size, layout.n_channel))
    out = to_dataarray(values, layout, times, model, layer, cds, steps, edit)
    out.attrs["check_values"] = int(check_values)
    if autocast:
        out.attrs.update(autocast_attrs(cds, times, model, layer, lazy=True))
    return out
