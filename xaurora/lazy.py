"""Lazy embeddings: one Dask task per time chunk of the input, for Aurora and for encoders.

Both ``embed`` paths (an Aurora model, an :class:`~xaurora.encoders.Encoder`) turn a
Dask-backed dataset into a Dask-backed result the same way: the analysis times falling in each
input time chunk form one task, which reads that chunk plus the earlier history steps it needs;
nothing is read until compute. Dask has no "map over overlapping time windows" that keeps one
task per chunk (``map_overlap`` pads every chunk on both sides), hence this small module.

>>> import numpy as np, xarray as xr
>>> t = np.arange("2020-01-01T00", "2020-01-02T12", 6, dtype="datetime64[h]")
>>> t = t.astype("datetime64[ns]")
>>> cds = xr.Dataset({"x": ("time", np.arange(6.0))}, coords={"time": t}).chunk(time=2)
>>> out = time_blocks(cds, t[1:], [np.timedelta64(6, "h")],
...                   lambda sub, times: sub["x"].values[1:], lambda n: (n,))
>>> out.chunks, out.compute().tolist()
(((2, 2, 1),), [1.0, 2.0, 3.0, 4.0, 5.0])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import xarray as xr


def time_blocks(cds: xr.Dataset, times: np.ndarray, back: Sequence[np.timedelta64],
                compute: Callable, shape: Callable[[int], tuple]):
    """A Dask array, time first, of ``compute(sub, block_times)`` per input time chunk.

    Args:
        cds: the Dask-backed canonical dataset.
        times: the analysis times, in order.
        back: the offsets of the history steps a time needs besides itself (e.g. ``[Δ]``).
        compute: ``compute(sub, block_times) -> ndarray`` with ``sub`` the steps the block needs.
        shape: ``shape(n)``, the shape of ``compute``'s result for ``n`` times.

    The result's time chunks are made uniform (see :func:`uniform_time_chunks`).
    """
    import dask
    import dask.array as dsa

    tvals = cds["time"].values.astype("datetime64[ns]")
    bounds = np.cumsum((0,) + tuple(cds.chunks["time"]))
    blocks = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        block_t = times[np.isin(times, tvals[lo:hi])]
        if block_t.size == 0:
            continue
        need = np.unique(np.concatenate([block_t, *(block_t - b for b in back)]))
        task = dask.delayed(compute, pure=True)(cds.sel(time=need), block_t)
        blocks.append(dsa.from_delayed(task, shape=shape(block_t.size), dtype=np.float32))
    return uniform_time_chunks(dsa.concatenate(blocks, axis=0))


def uniform_time_chunks(values):
    """``values`` (Dask, time first) with time chunks of equal size but the last.

    A block per input chunk gives the first one fewer analysis times (its first step has no
    t − Δ), and zarr (``to_zarr``) takes only uniform chunks; merging neighbours in the graph
    still computes every block once.
    """
    sizes = values.chunks[0]
    if len(sizes) < 2 or len(set(sizes[:-1])) == 1 and sizes[-1] <= sizes[0]:
        return values
    return values.rechunk({0: max(sizes)})
