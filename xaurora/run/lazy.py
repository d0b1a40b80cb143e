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
                compute: Callable, shape: Callable[[int], tuple], dtype=np.float32):
    """A Dask array, time first, of ``compute(sub, block_times)`` per input time chunk.

    Args:
        cds: the Dask-backed canonical dataset.
        times: the analysis times, in order.
        back: the offsets of the history steps a time needs besides itself (e.g. ``[Δ]``).
        compute: ``compute(sub, block_times) -> ndarray`` with ``sub`` the steps the block needs.
        shape: ``shape(n)``, the shape of ``compute``'s result for ``n`` times.
        dtype: the dtype of ``compute``'s result.

    The input's time chunks are :func:`time_chunk_bounds`'s; the result's are made uniform
    (see :func:`uniform_time_chunks`).
    """
    import dask  # heavy
    import dask.array as dsa  # heavy

    tvals = cds["time"].values.astype("datetime64[ns]")
    bounds = time_chunk_bounds(cds)
    blocks = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        block_t = times[np.isin(times, tvals[lo:hi])]
        if block_t.size == 0:
            continue
        need = np.unique(np.concatenate([block_t, *(block_t - b for b in back)]))
        task = dask.delayed(compute, pure=True)(cds.sel(time=need), block_t)
        blocks.append(dsa.from_delayed(task, shape=shape(block_t.size), dtype=dtype))
    return uniform_time_chunks(dsa.concatenate(blocks, axis=0))


def time_chunk_bounds(cds: xr.Dataset) -> np.ndarray:
    """Positions where the time chunks of ``cds`` start, and its time size last.

    ``Dataset.chunks`` needs every Dask-backed variable chunked alike along every dim, which
    ``xr.open_zarr`` does not give (zarr chunks each variable by its own shape, so surface and
    pressure-level fields get different time chunks) and which has no ``time`` at all when only
    the statics are Dask-backed. The bounds are therefore the union of the chunk boundaries of
    the time-dependent Dask-backed variables: each block then lies inside one chunk of every
    variable, so a task holds no more than one chunk of each (the memory the user chose when
    chunking), and a coarse chunk read by several tasks is still read once per compute (the
    tasks share its key). The union does not depend on the order of the variables, as "the
    first variable's chunks" would. Without a Dask-backed time-dependent variable, one block.

    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"a": ("time", np.zeros(6)), "b": ("time", np.zeros(6))})
    >>> ds = ds.assign(a=ds.a.chunk(time=4), b=ds.b.chunk(time=3))
    >>> time_chunk_bounds(ds).tolist()  # a: 0 4 6, b: 0 3 6
    [0, 3, 4, 6]
    """
    n = cds.sizes["time"]
    cuts = {0, n}
    for name in cds.data_vars:
        var = cds.variables[name]
        if var.chunks is not None and "time" in var.dims:
            cuts.update(np.cumsum(var.chunks[var.dims.index("time")]).tolist())
    return np.array(sorted(cuts))


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
