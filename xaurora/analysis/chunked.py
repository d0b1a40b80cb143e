"""Statistics of a (samples × features) matrix accumulated chunk by chunk: the out-of-core core.

A year of 0.25° encoder tokens is hundreds of GB; ``pca``, ``probe`` and ``cka`` only need
moments of it (feature means, the covariance, ``Xᵀy``, a gradient). This module walks the
chunks of a (possibly Dask-backed) array once per statistic and combines the partial results
pairwise, so memory is bounded by a few chunks plus the F × F result, whatever the number of
samples:

* :func:`map_rows` applies a function to every block of rows (each block a ``(rows, F)``
  float64 matrix with the matching blocks of per-sample arrays such as labels or masks) and
  reduces the partial results in a tree;
* :class:`Moments` — count, mean and centred cross-products, combined exactly (Chan, Golub &
  LeVeque's pairwise update), so no ``Σx² − n·μ²`` cancellation: latents sit far from zero;
* :func:`moments` — the moments of every column (and of extra per-sample columns, such as a
  label, for the normal equations of a ridge probe).

Why our own and not ``dask.array.cov`` or dask-ml: Dask's ``cov`` goes through a stacked,
rechunked array and sums ``x xᵀ`` in the input's precision; dask-ml's estimators centre with a
separate pass and keep float32 sums. Neither takes per-sample masks and weights aligned with
the chunks, which the probe needs. Each task here converts its block to float64 and keeps BLAS
to one thread (``threadpoolctl``): BLAS threads inside Dask's threads oversubscribe small
machines (one pass over 6 GiB ran five times slower on 2 cores).

>>> import numpy as np, xarray as xr
>>> from xaurora.analysis.stacking import Stacker
>>> X = xr.DataArray(np.random.default_rng(0).normal(5.0, 1.0, (40, 3)), dims=("time", "c"))
>>> m = moments(X.chunk(time=7), Stacker.of(X, "time"))
>>> bool(np.allclose(m.covariance(), np.cov(X.values.T)))
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from xaurora.analysis.stacking import Stacker
from xaurora.errors import XauroraError

__all__ = ["Moments", "check_finite", "is_lazy", "lazy_rows", "map_rows", "moments", "rows_chunked"]

#: Rows per block when in-memory input is walked in blocks (bounds the float64 copy).
ROWS_PER_BLOCK = 1 << 16
#: Rows converted to float64 at a time inside a block (8 192 × 512 features: 32 MiB).
ROWS_PER_STEP = 1 << 13


def is_lazy(X) -> bool:
    """Whether ``X`` (a DataArray or array) is Dask-backed."""
    data = getattr(X, "data", X)
    return hasattr(data, "dask") and hasattr(data, "chunks")


def rows_chunked(X: xr.DataArray, stk: Stacker):
    """``X`` as a Dask array ``(sample dims…, feature dims…)``, features in one chunk each.

    In-memory input is wrapped (no copy) in blocks of about :data:`ROWS_PER_BLOCK` rows along
    the first sample dim, so its float64 conversion is bounded too.
    """
    import dask.array as da  # heavy

    arr = X.transpose(*stk.sample_dims, *stk.feature_dims).data
    ns = len(stk.sample_dims)
    if not is_lazy(arr):
        per_row = max(1, stk.n_samples // max(1, stk.sizes[stk.sample_dims[0]]))
        first = max(1, ROWS_PER_BLOCK // per_row)
        arr = da.from_array(np.asarray(arr), chunks=(first, *arr.shape[1:]))
    return arr.rechunk({i: -1 for i in range(ns, arr.ndim)})


def _aligned(a, arr, ns: int):
    """A per-sample array (sample shape, or flat) as a Dask array chunked like ``arr``'s rows."""
    import dask.array as da  # heavy

    shape = arr.shape[:ns]
    a = a if is_lazy(a) else np.asarray(a)
    a = a.reshape(shape)
    return (a if is_lazy(a) else da.from_array(a, chunks=arr.chunks[:ns])).rechunk(
        arr.chunks[:ns])


def _run(fn: Callable, F: int, block, *others, combine: Callable | None = None):
    """``fn`` on one block: rows as a float64 ``(rows, F)`` matrix, per-sample arrays flat.

    With ``combine``, the block is walked :data:`ROWS_PER_STEP` rows at a time, so that its
    float64 copies stay small beside the block itself (a task on a cluster worker shares its
    memory with the model).
    """
    from threadpoolctl import threadpool_limits  # heavy

    rows = np.asarray(block).reshape(-1, F)
    flat = [np.asarray(o).ravel() for o in others]
    step = rows.shape[0] if combine is None else ROWS_PER_STEP
    out = None
    with threadpool_limits(limits=1, user_api="blas"):
        for i in range(0, max(rows.shape[0], 1), step):
            sl = slice(i, i + step)
            part = fn(rows[sl].astype(np.float64), *(o[sl] for o in flat))
            out = part if out is None else combine(out, part)
    return out


def map_rows(X: xr.DataArray, stk: Stacker, fn: Callable, combine: Callable,
             aligned: Sequence = (), arr=None):
    """``fn(rows, *aligned_rows)`` on every block of rows, reduced pairwise by ``combine``.

    Returns the reduced value (computed). ``aligned``: per-sample arrays (sample shape or flat,
    NumPy or Dask) whose matching rows are passed to ``fn``. ``arr``: :func:`rows_chunked`'s
    array when the caller has it already.
    """
    import dask  # heavy

    arr = rows_chunked(X, stk) if arr is None else arr
    ns, F = len(stk.sample_dims), stk.n_features
    others = [_aligned(a, arr, ns) for a in aligned]
    blocks = arr.to_delayed().reshape(-1)
    other_blocks = [o.to_delayed().reshape(-1) for o in others]
    parts = [dask.delayed(_run)(fn, F, b, *(ob[i] for ob in other_blocks), combine=combine)
             for i, b in enumerate(blocks)]
    while len(parts) > 1:  # a tree: no task holds more than two partial results
        pairs = [dask.delayed(combine)(parts[i], parts[i + 1])
                 for i in range(0, len(parts) - 1, 2)]
        parts = pairs + ([parts[-1]] if len(parts) % 2 else [])
    return dask.compute(parts[0])[0]


def lazy_rows(X: xr.DataArray, stk: Stacker, fn: Callable, dtype=np.float64, arr=None):
    """``fn(rows) -> one value per row`` on every block, as a lazy Dask array on the sample dims."""
    arr = rows_chunked(X, stk) if arr is None else arr
    ns, F = len(stk.sample_dims), stk.n_features

    def block_fn(b):
        return _run(fn, F, b).reshape(b.shape[:ns])

    return arr.map_blocks(block_fn, drop_axis=list(range(ns, arr.ndim)), dtype=dtype)


@dataclass(frozen=True)
class Moments:
    """Count, column means and centred cross-products ``Σ (x − μ)(x − μ)ᵀ`` of some rows."""

    n: float
    mean: np.ndarray
    m2: np.ndarray
    bad: int = 0  # non-finite values seen (the rows holding them are left out)

    @classmethod
    def of(cls, x: np.ndarray, keep: np.ndarray | None = None, full: bool = True) -> Moments:
        """The moments of the rows of ``x`` (``keep``: which count); ``full=False``: only the
        diagonal of the cross-products (per-column sums of squares, F instead of F² numbers)."""
        finite = np.isfinite(x).all(axis=1)
        bad = int((~finite).sum())
        rows = finite if keep is None else finite & keep
        x = x[rows] if not rows.all() else x
        n, F = x.shape
        if n == 0:
            return cls(0.0, np.zeros(F), np.zeros((F, F) if full else F), bad)
        mean = x.mean(axis=0)
        d = x - mean
        return cls(float(n), mean, d.T @ d if full else np.einsum("ij,ij->j", d, d), bad)

    def __add__(self, other: Moments) -> Moments:
        if other.n == 0:
            return Moments(self.n, self.mean, self.m2, self.bad + other.bad)
        if self.n == 0:
            return Moments(other.n, other.mean, other.m2, self.bad + other.bad)
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.n / n)
        cross = np.outer(delta, delta) if self.m2.ndim == 2 else delta * delta
        m2 = self.m2 + other.m2 + cross * (self.n * other.n / n)
        return Moments(n, mean, m2, self.bad + other.bad)

    def covariance(self, ddof: int = 1) -> np.ndarray:
        return self.m2 / max(self.n - ddof, 1.0)

    def std(self) -> np.ndarray:
        """Population standard deviation of each column (``ddof=0``, as StandardScaler)."""
        ss = np.diag(self.m2) if self.m2.ndim == 2 else self.m2
        return np.sqrt(np.clip(ss / max(self.n, 1.0), 0.0, None))


def _add(a: Moments, b: Moments) -> Moments:
    return a + b


def moments(X: xr.DataArray, stk: Stacker, keep=None, extra: Sequence = (),
            arr=None, full: bool = True) -> Moments:
    """The :class:`Moments` of ``X``'s rows (features as columns) in one pass.

    ``keep``: a per-sample boolean array (True: the row counts). ``extra``: per-sample arrays
    appended as columns after the features (e.g. a label: the cross-products then hold
    ``Σ (x − μ)(y − ȳ)``). ``full=False``: only per-column sums of squares. Rows with a
    non-finite value are counted in ``bad`` and left out.
    """
    n_extra = len(extra)

    def fn(x, *rest):
        cols = [x, *(r[:, None].astype(np.float64) for r in rest[:n_extra])]
        cols_all = np.concatenate(cols, axis=1) if n_extra else x
        return Moments.of(cols_all, None if keep is None else rest[n_extra].astype(bool),
                          full=full)

    aligned = [*extra, *([] if keep is None else [keep])]
    return map_rows(X, stk, fn, _add, aligned, arr=arr)


def check_finite(m: Moments, name: str, fix: str) -> None:
    """Raise the named error when a pass found NaN or infinite values."""
    if m.bad:
        raise XauroraError(f"{name}: contains NaN or infinite values ({m.bad} sample(s)). "
                           f"Fix: {fix}.")
