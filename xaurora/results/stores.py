"""Embeddings streamed into a zarr store, resumably: ``xaurora embed IN OUT.zarr`` for an Aurora
model (:func:`embed_to_zarr`) or an :class:`~xaurora.encoders.Encoder` (:func:`encoder_to_zarr`).

The store is laid out in advance (:func:`xaurora.io.store.prepare_run`); after each batch's
values are written a per-time ``done`` flag is set in a second write, so a run killed at any
moment and started again skips the flagged steps and rewrites the others in place: every time
step ends up written exactly once and memory does not grow with the run. A layout cut short is
laid out again; a store that cannot be written raises
:class:`~xaurora.io.store.StoreWriteError`, which names the store.
"""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

from xaurora.encoders.base import load_encoder
from xaurora.encoders.samples import encoder_times, input_names, read_for, step_of
from xaurora.io.canonical import canonicalize
from xaurora.io.checks import check_values_of, warn_grid
from xaurora.io.store import RegionWriter, open_any, prepare_run
from xaurora.models import load_model
from xaurora.results.embedding import checked_dtype, to_dataarray
from xaurora.results.encoded import encode_values, latent_array, zeros_input
from xaurora.results.encoded import to_dataarray as encoded_dataarray
from xaurora.run.times import select_times
from xaurora.run.tokens import iter_embeddings, layer_layout, on_device

__all__ = ["embed_to_zarr", "encoder_to_zarr"]


def encoder_to_zarr(src: str, store: str, spec: str, start: str | None = None,
                    end: str | None = None, static: str | None = None,
                    progress: bool = True) -> str:
    """Stream the latents of ``src`` by the encoder ``spec`` into ``store``, resuming a run."""
    import dask.array as dsa  # heavy: only when a run starts

    enc = load_encoder(spec)
    cds = read_for(open_any(src), enc, static=static, check_values=False)
    cds = cds[input_names(cds, enc)]
    times = encoder_times(cds, enc, slice(start, end) if start or end else None)
    first = latent_array(enc.encode(zeros_input(cds, enc, times[0])), enc, times[0])
    shape = (times.size, *first.shape)
    template = encoded_dataarray(dsa.zeros(shape, chunks=(1, *shape[1:]), dtype=np.float32),
                                 enc, times)
    key = {"model": enc.name, "encoder": spec, "layer": "encoder",
           "source": os.path.abspath(src)}
    done = prepare_run(store, template, key)  # a layout cut short is laid out again
    todo = np.flatnonzero(~done)
    bar = None
    if progress:
        from tqdm.auto import tqdm  # heavy

        bar = tqdm(total=times.size, initial=int(done.sum()), unit="step", desc="embed")
    history, step = int(enc.history), step_of(enc)
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


def _iso(t) -> str:
    """A time as ISO 8601 to the minute (``2020-01-01T06:00``)."""
    return str(np.datetime_as_string(np.datetime64(t, "m"), unit="m"))


def _hours(td) -> str:
    """A lead or step as hours (``6 h``)."""
    return f"{td.total_seconds() / 3600:g} h"


def embed_to_zarr(src: str, store: str, model_name: str = "tiny", checkpoint: str | None = None,
                  layer: str = "encoder", start: str | None = None, end: str | None = None,
                  batch_size: int | str = "auto", device: str | None = None,
                  static: str | None = None, seed: int = 0, progress: bool = True,
                  random_weights: bool = False, check_values: bool = True,
                  steps: int = 1, dtype: str = "float32") -> str:
    """Stream embeddings of ``src`` into ``store``, resuming an interrupted run.

    ``steps > 1`` writes the layer during each rollout step (a ``lead_time`` dim).
    ``dtype="float16"`` stores half-precision tokens, converted on the model's device.
    """
    dtype = checked_dtype(dtype)
    import dask.array as dsa  # heavy: only when a run starts

    model = load_model(model_name, checkpoint=checkpoint, device=device, seed=seed,
                       random_weights=random_weights)
    cds = canonicalize(open_any(src), static=static, info=model.info, check_values=check_values)
    warn_grid(cds, model)
    times = select_times(cds, model.timestep, slice(start, end) if start or end else None)
    layout = layer_layout(cds, model, layer)
    shape = (times.size, *((steps,) if steps > 1 else ()), len(layout.levels), layout.lat.size,
             layout.lon.size, layout.n_channel)
    template = to_dataarray(dsa.zeros(shape, chunks=(1, *shape[1:]), dtype=np.dtype(dtype)),
                            layout, times, model, layer, cds, steps)
    key = {"model": model.name, "model_weights": template.attrs["model_weights"], "layer": layer,
           "source": os.path.abspath(src), "rollout_steps": int(steps),
           "tokens_dtype": dtype}  # a float16 store is not resumed as float32, nor the other way
    if dtype != "float32":
        template.attrs["tokens_dtype"] = dtype
    done = prepare_run(store, template, key)
    todo = np.flatnonzero(~done)
    bar = None
    if progress:
        from tqdm.auto import tqdm  # heavy

        bar = tqdm(total=times.size, initial=int(done.sum()), unit="step", desc="embed")
        if todo.size:
            bar.write(f"embedding {todo.size} of {times.size} analysis times, "
                      f"{_iso(times[todo[0]])} … {_iso(times[todo[-1]])}, step "
                      f"{_hours(model.timestep)}", file=sys.stderr)
    # read, check and assemble the next batch while the model runs (xaurora.run.prefetch);
    # closing the loop stops that thread, also on Ctrl-C or an error while writing
    # and write batch k while the model runs on batch k + 1 (xaurora.io.store)
    it = iter_embeddings(cds, times[todo], model, layer, batch_size, check_values=check_values,
                         steps=steps, host=dtype == "float32")
    with contextlib.closing(it), RegionWriter(store) as writer:
        for sl, values, _ in it:
            values = on_device(values, dtype)  # float16 before the tokens leave the device
            writer.put(todo[sl], values if isinstance(values, np.ndarray) else
                       values.cpu().numpy())
            if bar is not None:
                bar.update(len(todo[sl]))
    if bar is not None:
        bar.close()
    return store
