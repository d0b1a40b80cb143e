"""``xaurora embed IN OUT.zarr --encoder package.module:factory``: stream an encoder's latents.

The store is laid out in advance; after each time step's latent is written a ``done`` flag is
set in a second write, so a run killed at any moment and started again skips the flagged steps
and rewrites the others in place (the same protocol as the Aurora path of ``xaurora embed``,
:mod:`xaurora.io.writer`: a layout cut short is laid out again, a store that cannot be written
raises :class:`~xaurora.io.writer.StoreWriteError`).

``--encoder`` names an :class:`~xaurora.encoders.Encoder`, or a callable returning one, as
``module:attribute`` (the module must be importable, e.g. installed or on ``PYTHONPATH``).

>>> load_encoder("xaurora.encoders.streaming:_example").name
'example'
"""

from __future__ import annotations

import importlib
import os

import numpy as np

from xaurora.errors import XauroraError

__all__ = ["encoder_to_zarr", "load_encoder"]


def load_encoder(spec: str):
    """The :class:`~xaurora.encoders.Encoder` named by ``"package.module:attribute"``."""
    from xaurora.encoders.base import Encoder

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise XauroraError(
            f"--encoder: {spec!r} is not 'package.module:factory'. Fix: name an importable "
            "module and an Encoder (or a function returning one) in it, e.g. mypkg.enc:make."
        )
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise XauroraError(f"--encoder: cannot import {spec!r} ({err}). Fix: check the "
                           "module is importable (PYTHONPATH) and defines that name.") from err
    enc = obj if isinstance(obj, Encoder) else obj()
    if not isinstance(enc, Encoder):
        raise TypeError(f"--encoder: {spec!r} gave {type(enc).__name__}, not an xa.Encoder.")
    return enc


def _example():
    from xaurora.encoders.base import Encoder
    from xaurora.grids import HEALPix

    return Encoder(np.asarray, grid=HEALPix(0), variables=("2t",), name="example")


def encoder_to_zarr(src: str, store: str, spec: str, start: str | None = None,
                    end: str | None = None, static: str | None = None,
                    progress: bool = True) -> str:
    """Stream the latents of ``src`` by the encoder ``spec`` into ``store``, resuming a run."""
    import dask.array as dsa
    import xarray as xr

    from xaurora.cli import _store_matches, open_any
    from xaurora.encoders.embedding import _as_array, _zeros_like, encode_values, to_dataarray
    from xaurora.encoders.samples import _step, encoder_times, input_names, read_for
    from xaurora.io.writer import done_flags, lay_out

    enc = load_encoder(spec)
    cds = read_for(open_any(src), enc, static=static, check_values=False)
    cds = cds[input_names(cds, enc)]
    times = encoder_times(cds, enc, slice(start, end) if start or end else None)
    first = _as_array(enc.encode(_zeros_like(cds, enc, times[0])), enc, times[0])
    shape = (times.size, *first.shape)
    template = to_dataarray(dsa.zeros(shape, chunks=(1, *shape[1:]), dtype=np.float32), enc,
                            times)
    key = {"model": enc.name, "encoder": spec, "layer": "encoder",
           "source": os.path.abspath(src)}
    if not _store_matches(store, key, times):  # a layout cut short is laid out again
        lay_out(xr.Dataset({"embedding": template,
                            "done": ("time", dsa.zeros(times.size, chunks=1, dtype=np.int8))},
                           attrs=key), store)
    done = done_flags(store)
    todo = np.flatnonzero(~done)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=times.size, initial=int(done.sum()), unit="step", desc="embed")
    history, step = int(enc.history), _step(enc)
    from xaurora.io.canonical import check_values_of
    from xaurora.io.writer import RegionWriter

    with RegionWriter(store) as writer:  # step k is written while step k + 1 is encoded
        for i in todo:
            t = times[i : i + 1]
            sub = cds.sel(time=np.unique([t[0] - k * step for k in range(history)])).load()
            for name in sub.data_vars:
                check_values_of(sub[name], str(name))
            writer.put([i], encode_values(sub, enc, t))
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return store
