"""``embed`` for an :class:`~xaurora.encoders.Encoder`: latents ``(time, level, cells, channel)``.

The encoder is called once per analysis time with :func:`~xaurora.encoders.sample_at`'s sample;
its output is labelled with the latent grid's coordinates (``cell_ids`` in xdggs convention,
cell-centre ``lat``/``lon``). On Dask input the result is lazy: one task per time chunk (the
task also reads the earlier history steps it needs), nothing runs until it is computed or
written, and the layout (levels, channels) is found by encoding one all-zero sample.

>>> import numpy as np, xaurora as xa
>>> g = xa.grids.HEALPix(level=1)
>>> enc = xa.Encoder(lambda s: np.ones((g.n_cells, 3)), grid=g, variables=("2t",), name="ones")
>>> emb = xa.testing.synthetic_healpix_dataset(level=2, n_times=2).aurora.embed(enc)
>>> emb.dims, emb.level.values.tolist(), emb.attrs["model"]
(('time', 'level', 'cells', 'channel'), ['latent'], 'ones')
"""

from __future__ import annotations

from functools import partial

import numpy as np
import xarray as xr

from xaurora.encoders.samples import (
    encoder_times,
    input_names,
    read_for,
    sample_at,
    samples_at,
    step_of,
)
from xaurora.errors import XauroraError
from xaurora.io.checks import check_values_of, is_lazy
from xaurora.results.latents import latent_dataarray
from xaurora.run.lazy import time_blocks
from xaurora.version import __version__

__all__ = ["embed_encoder", "encode_values"]


def latent_array(out, enc, t) -> np.ndarray:
    """The encoder's output as a float32 ``(level, cell, channel)`` NumPy array."""
    if hasattr(out, "detach"):  # a torch tensor, on any device
        out = out.detach().float().cpu().numpy()
    arr = np.asarray(out)
    if arr.ndim == 2:
        arr = arr[None]
    n = enc.grid.n_cells
    if arr.ndim != 3 or arr.shape[1] != n:
        raise XauroraError(
            f"{enc.name}: encode returned shape {tuple(np.shape(out))} at {t}; expected "
            f"(cell, channel) or (level, cell, channel) with {n} cells of {enc.grid!r}. "
            "Fix: return one row per latent cell, in the grid's cell_ids order."
        )
    return arr.astype(np.float32, copy=False)


def encode_values(cds: xr.Dataset, enc, times, progress: bool = False) -> np.ndarray:
    """Encode each analysis time of ``times`` eagerly: ``(time, level, cell, channel)``."""
    bar = None
    if progress:
        from tqdm.auto import tqdm  # heavy

        bar = tqdm(total=len(times), desc=f"embed {enc.name}", unit="time")
    out = None
    for i, (t, sample) in enumerate(zip(times, samples_at(cds, enc, times))):
        values = latent_array(enc.encode(sample), enc, t)
        if out is None:  # filled in place: no list of parts and no concatenation
            out = np.empty((len(times), *values.shape), dtype=np.float32)
        out[i] = values
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return out


def _encode_block(sub: xr.Dataset, times, enc, check: bool) -> np.ndarray:
    if check:
        for name in sub.data_vars:  # deferred to compute time on lazy input
            check_values_of(sub[name], str(name))
    return encode_values(sub, enc, times)


def zeros_input(cds: xr.Dataset, enc, t) -> xr.Dataset:
    """An all-zero sample shaped as ``sample_at(cds, enc, t)`` (reads no data)."""
    sample = sample_at(cds, enc, t)
    return xr.Dataset({k: (v.dims, np.zeros(v.shape, np.float32)) for k, v in
                       sample.data_vars.items()}, coords=sample.coords)


def _level_labels(enc, n: int) -> list[str]:
    if enc.levels is not None:
        labels = [str(v) for v in enc.levels]
        if len(labels) != n:
            raise XauroraError(
                f"{enc.name}: levels= names {len(labels)} levels but encode returns {n}. "
                "Fix: give one label per latent level."
            )
        return labels
    return ["latent"] if n == 1 else [f"latent_{i}" for i in range(n)]


def to_dataarray(values, enc, times, layer: str = "encoder") -> xr.DataArray:
    """Label a ``(time, level, cell, channel)`` array (NumPy or Dask) as an embedding."""

    grid = enc.grid
    attrs = {
        "long_name": f"{enc.name} latent",
        "units": "1",
        **enc.provenance(),
        "layer": layer,
        "xaurora_version": __version__,
        **grid.attrs(),
        "history": int(enc.history),
    }
    if enc.timestep is not None:
        attrs["timestep_hours"] = float(enc.timestep.total_seconds() / 3600)
    return latent_dataarray(values, times, _level_labels(enc, values.shape[1]), grid.coords(),
                            attrs)


def embed_encoder(ds: xr.Dataset, enc, layer: str = "encoder", static=None, time=None,
                  check_values: bool = True, progress: bool = False) -> xr.DataArray:
    """Latents of ``ds`` by the encoder ``enc`` (what ``ds.aurora.embed(enc)`` returns).

    ``ds`` may be on a lat–lon grid (any naming scheme) or on HEALPix cells (xdggs layout).
    ``time`` restricts the analysis times (a value, list or slice).
    """
    if layer != "encoder":
        raise XauroraError(
            f"layer: {layer!r} — an xa.Encoder has one output, its latent. Fix: omit layer= "
            "(or wrap an aurora.Aurora with xa.from_module to capture its layers)."
        )
    cds = read_for(ds, enc, static=static, check_values=check_values)
    cds = cds[input_names(cds, enc)]  # tasks read (and check) only what the encoder takes
    times = encoder_times(cds, enc, time)
    lazy = is_lazy(cds)
    if not lazy:
        if check_values and "cells" in cds.dims:  # read_for checks lat–lon input itself
            _check_cells(cds)
        return to_dataarray(encode_values(cds, enc, times, progress), enc, times)

    first = latent_array(enc.encode(zeros_input(cds, enc, times[0])), enc, times[0])
    back = [k * step_of(enc) for k in range(1, int(enc.history))]
    block = partial(_encode_block, enc=enc, check=check_values)
    return to_dataarray(time_blocks(cds, times, back, block, lambda n: (n, *first.shape)),
                        enc, times)


def _check_cells(cds: xr.Dataset) -> None:
    for name in cds.data_vars:
        check_values_of(cds[name], str(name))
