"""A layer's values over many times: the streaming loop behind ``embed`` and ``xaurora embed``.

:func:`iter_embeddings` yields each batch's tokens while the next batch is read in the
background (:mod:`xaurora.run.prefetch`); :func:`embed_values` fills one result array in place;
:func:`layer_layout` finds a layer's layout by running the model on zeros (no data read).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.grids.patches import patch_centres
from xaurora.models import forward
from xaurora.run.hooks import capture, rollout_pass
from xaurora.run.layout import Layout, input_features, tokens_layout
from xaurora.run.pooling import pool_tokens
from xaurora.run.prefetch import batches, touch_pages
from xaurora.run.sizing import auto_batch_size, inputs_alive, model_device, prefetch_for
from xaurora.run.source import BatchSource
from xaurora.run.transfer import HostWriter


def layer_passes(module, batch, layer: str, autocast: bool = False, edit=None,
                 steps: int = 1) -> list:
    """``layer``'s value in each of ``steps`` rollout steps (one stopped pass when ``steps=1``)."""
    if steps == 1:
        return [capture(module, batch, layer, autocast=autocast, edits=edit)]

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
    the model runs on batch k (see :mod:`xaurora.run.prefetch`). Close the generator when leaving
    early (``contextlib.closing``): that stops the thread. ``host=False`` yields a layer's
    tokens as the model's float32 tensor, on its device (one copy fewer for a caller that
    copies them into its own array). ``on_read(sl)`` runs where batch ``sl`` is read, before it
    is yielded (see :class:`xaurora.run.prefetch.batches`).
    """

    module = model.module
    p = model.patch_size
    device = model_device(module)
    lat_c, lon_c = patch_centres(cds["lat"].values, cds["lon"].values, p)
    latent = module.encoder.latent_levels
    prefetch = prefetch_for(cds, device) if prefetch is None else prefetch
    # stopped at the encoder, the pass splits there: the model thread runs the encoder only,
    # Aurora's preparation of its input runs with the reading (xaurora.models.forward); on a
    # CPU the checks of lazy steps are fused into its normalisation (each field read once)
    split = layer in ("encoder", "inputs") and steps == 1 and forward.splits(module)
    fused = split and check_values and device.type == "cpu"
    source = BatchSource(cds, module, model.timestep, check=check_values,
                                  pin=device.type == "cuda", check_steps=False if fused else None)
    fused = fused and source.lazy  # in memory, the source checked everything at once
    if batch_size == "auto":
        batch_size = auto_batch_size(source, times, module, layer, capture, autocast,
                                              prefetch)
    layout = None
    prepare = None
    if split and device.type == "cpu":  # each step normalised once, into reused memory
        prepare = forward.Preparer(module, alive=inputs_alive(
            source, times, batch_size, prefetch, device, slices),
            check=source.check_step if fused else None)
    elif split:  # on a GPU, Aurora's own preparation on the device (allocations are cached)
        prepare = functools.partial(forward.encoder_input, module)
    with batches(source, times, batch_size, prefetch=prefetch, device=device,
                          slices=slices, prepare=prepare, on_read=on_read) as it:
        for sl, batch in it:
            n = len(np.asarray(times)[sl])
            per_step = []
            for out in layer_passes(module, batch, layer, autocast, edit, steps):
                if layer == "inputs":
                    values, ccoords = input_features(out, p)
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


def on_device(values, dtype: str = "float32", pool=None):
    """A batch's values made what leaves the device: converted to ``dtype`` and, with ``pool``
    (``(weights, stats)``), pooled to (..., channel, region, stat) in float64 where they are
    (:func:`xaurora.run.pooling.pool_tokens`)."""
    if dtype != "float32" and isinstance(values, np.ndarray):
        values = values.astype(dtype)
    elif dtype != "float32":
        import torch  # heavy

        values = values.to(getattr(torch, dtype))
    if pool is not None:
        values = pool_tokens(values, *pool)
    return values


def embed_values(cds, times, model, layer: str, batch_size: int | str = 1,
                 autocast: bool = False, progress: bool = False, check_values: bool = False,
                 prefetch: int | None = None, edit=None,
                 steps: int = 1, dtype: str = "float32",
                 pool=None) -> tuple[np.ndarray, Layout]:
    """Compute the layer for ``times`` eagerly: array (time, level, lat, lon, channel), layout.

    With ``steps > 1`` the array is (time, lead_time, level, lat, lon, channel).

    ``check_values`` checks every value read exactly once (NaN, units): in-memory data before
    anything runs, lazy data as it is read. ``dtype`` (``"float32"`` or ``"float16"``): the
    values' dtype, converted on the model's device. ``pool``: ``(weights, stats)`` — each
    batch is pooled on the device (:func:`on_device`) and the array is
    (time, [lead_time,] level, channel, region, stat), float64.
    """
    out, layout = None, None
    bar = None
    writer = HostWriter(model_device(model.module))

    def on_read(sl: slice) -> None:  # in the reading thread: fault in the batch's part of out
        if out is not None:  # (allocated at the first result: the batches read before fault
            touch_pages(out[sl])  # where they are written)

    if progress:
        from tqdm.auto import tqdm  # heavy

        bar = tqdm(total=len(times), desc=f"embed {layer}", unit="time")
    # finish() also on an error: no copy may still be writing when the array is freed
    with contextlib.closing(iter_embeddings(cds, times, model, layer, batch_size, autocast,
                                            check_values, prefetch, edit=edit,
                                            steps=steps, host=False, on_read=on_read)) as it, \
            contextlib.ExitStack() as done:
        done.callback(writer.finish)
        if bar is not None:
            done.callback(bar.close)
        for sl, values, lay in it:
            values = on_device(values, dtype, pool)
            if out is None:  # filled in place: no list of parts and no concatenation
                kind = np.float64 if pool is not None else np.dtype(dtype)
                out = writer.allocate((len(times), *values.shape[1:]), kind)
            # the model's tensor, copied once, straight into the result (on a GPU: into
            # page-locked memory on a copy stream while the next batch runs)
            writer.put(out[sl], values)
            layout = lay
            if bar is not None:
                bar.update(values.shape[0])
    return out, layout


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
