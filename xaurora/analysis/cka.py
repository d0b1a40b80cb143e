"""Centred kernel alignment (CKA): do two representations of the same samples agree?

Linear CKA (Kornblith et al. 2019) compares two representations ``X`` (n × p) and ``Y``
(n × q) of the same n samples — two layers, trained and random weights, two checkpoints —
whatever their widths:

    CKA = ‖Yᶜᵀ Xᶜ‖²_F / (‖Xᶜᵀ Xᶜ‖_F ‖Yᶜᵀ Yᶜ‖_F)

with ``Xᶜ``, ``Yᶜ`` the mean-centred features. It is 1 for representations equal up to an
orthogonal transform and an isotropic scale, and near 0 for unrelated ones. Everything needed
is the feature-space cross-products of ``[X | Y]``, accumulated over the chunks in float64
(:mod:`xaurora.analysis.chunked`), so Dask input is never held whole; memory is (p + q)² × 8
bytes. ``debiased=True`` replaces each HSIC by Song et al.'s (2012) unbiased estimator on the
linear kernels of the centred features (as Nguyen et al. 2021 use for CKA): the plain
estimator is biased upwards when features outnumber samples. In feature space it needs, besides
the cross-products, ``Σᵢ ‖xᶜᵢ‖² ‖yᶜᵢ‖²``: a second pass, once the means are known.

Why our own: the packages on the registry compute CKA from n × n Gram matrices in memory
(quadratic in the samples: a year of patches has 10⁸); the feature-space form is linear in n.

>>> import numpy as np, xarray as xr
>>> rng = np.random.default_rng(0)
>>> X = xr.DataArray(rng.normal(size=(200, 6)), dims=("time", "channel"))
>>> Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
>>> Y = xr.DataArray(3.0 * X.values @ Q, dims=("time", "unit"))
>>> round(float(cka(X, Y)), 6)
1.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from xaurora.analysis.chunked import check_finite, is_lazy, map_rows, moments
from xaurora.analysis.stacking import Stacker
from xaurora.errors import XauroraError

__all__ = ["cka", "cka_matrix"]

_FIX = "drop or fill them first (e.g. .dropna('time') or .fillna(0))"


def cka(X: xr.DataArray, Y: xr.DataArray, sample_dims: Sequence[str] = ("time",),
        debiased: bool = False) -> xr.DataArray:
    """Linear CKA between ``X`` and ``Y``, two representations of the same samples.

    Samples are the points of ``sample_dims`` (e.g. ``("time", "lat", "lon")`` for patches);
    features every other dim of each (their numbers may differ). Returns a computed 0-d float64
    DataArray named ``cka``. Invariant to orthogonal transforms and isotropic scaling of either;
    out of core on Dask input. ``debiased=True``: the unbiased HSIC estimator (needs ≥ 4
    samples and one more pass).

    >>> import numpy as np, xarray as xr
    >>> a = xr.DataArray(np.random.default_rng(1).normal(size=(50, 3)), dims=("time", "c"))
    >>> round(float(cka(a, a)), 9)
    1.0
    """
    value = float(_matrix({"X": X, "Y": Y}, sample_dims, debiased)[0, 1])
    return xr.DataArray(value, name="cka", attrs=_attrs(debiased))


def cka_matrix(reps: Mapping[str, xr.DataArray], sample_dims: Sequence[str] = ("time",),
               debiased: bool = False) -> xr.DataArray:
    """Linear CKA between every pair of ``reps`` (name → representation of the same samples).

    Returns the symmetric matrix with dims (``rep_a``, ``rep_b``) and the names as coords; all
    pairs come from one pass over the chunks (two with ``debiased``).

    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(2)
    >>> a = xr.DataArray(rng.normal(size=(80, 4)), dims=("time", "c"))
    >>> m = cka_matrix({"a": a, "twice": 2 * a, "noise": a.copy(data=rng.normal(size=(80, 4)))})
    >>> m.dims, round(float(m.sel(rep_a="a", rep_b="twice")), 9)
    (('rep_a', 'rep_b'), 1.0)
    """
    names = list(reps)
    if len(names) < 2:
        raise XauroraError(f"cka_matrix: needs at least two representations, got {names}. "
                           "Fix: pass a mapping of two or more, e.g. "
                           "{'encoder': a, 'backbone': b}.")
    values = _matrix(reps, sample_dims, debiased)
    return xr.DataArray(values, dims=("rep_a", "rep_b"),
                        coords={"rep_a": names, "rep_b": names}, name="cka",
                        attrs=_attrs(debiased))


def _attrs(debiased: bool) -> dict:
    return {"long_name": "linear centred kernel alignment", "units": "1",
            "estimator": "unbiased HSIC (Song et al. 2012)" if debiased else "biased HSIC"}


def _stacked(reps: Mapping[str, xr.DataArray], sample_dims) -> tuple[xr.DataArray, list]:
    """All representations side by side as one (samples…, feature) array, and each one's
    column slice; the samples (dims, sizes, coords) must be the same in all."""
    import dask.array as dsa  # heavy

    sample_dims = (sample_dims,) if isinstance(sample_dims, str) else tuple(sample_dims)
    parts, slices, first, start = [], [], None, 0
    for name, X in reps.items():
        if not isinstance(X, xr.DataArray):
            raise TypeError(f"{name}: expected an xr.DataArray, got {type(X).__name__}.")
        stk = Stacker.of(X, sample_dims, what=str(name))
        if first is None:
            first = (name, X, stk)
        else:
            _same_samples(first, (name, X, stk))
        arr = X.transpose(*sample_dims, *stk.feature_dims).data
        shape = arr.shape[: len(sample_dims)]
        arr = arr.reshape(*shape, stk.n_features)
        parts.append(arr if is_lazy(arr) else dsa.from_array(np.asarray(arr)))
        slices.append(slice(start, start + stk.n_features))
        start += stk.n_features
    if not any(is_lazy(X) for X in reps.values()):  # in memory: blocks of rows (chunked's rule)
        parts = [p.rechunk({0: max(1, (1 << 16) // max(1, int(np.prod(p.shape[1:-1]))))})
                 for p in parts]
    joined = dsa.concatenate([p.astype(np.float64) for p in parts], axis=-1)
    coords = {d: first[1][d] for d in sample_dims if d in first[1].coords}
    return xr.DataArray(joined, dims=(*sample_dims, "_feature"), coords=coords), slices


def _same_samples(a, b) -> None:
    (na, Xa, sa), (nb, Xb, _) = a, b
    for d in sa.sample_dims:
        if Xa.sizes[d] != Xb.sizes[d] or (d in Xa.coords and d in Xb.coords and not np.array_equal(
                np.asarray(Xa[d].values), np.asarray(Xb[d].values))):
            raise XauroraError(
                f"{nb}: its {d!r} samples differ from those of {na} (CKA compares the same "
                f"samples). Fix: select the same {d} values in both, e.g. "
                f"{nb}.sel({d}={na}.{d}).")


def _matrix(reps: Mapping[str, xr.DataArray], sample_dims, debiased: bool) -> np.ndarray:
    joined, slices = _stacked(reps, sample_dims)
    stk = Stacker.of(joined, joined.dims[:-1], what="representations")
    m = moments(joined, stk)
    check_finite(m, ", ".join(map(str, reps)), _FIX)
    n = m.n
    if n < (4 if debiased else 2):
        raise XauroraError(f"cka: {int(n)} samples; CKA needs at least {4 if debiased else 2}. "
                           "Fix: add samples (e.g. more times) or choose other sample_dims.")
    k = len(slices)
    hsic = np.empty((k, k))
    for a in range(k):
        for b in range(a, k):
            cross = m.m2[slices[a], slices[b]]
            hsic[a, b] = hsic[b, a] = float(np.sum(cross * cross))
    if debiased:
        hsic = _unbiased(joined, stk, m, slices, hsic)
    diag = np.sqrt(np.clip(np.diag(hsic), 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = hsic / np.outer(diag, diag)
    zero = np.flatnonzero(diag == 0)
    if zero.size:
        names = [list(reps)[i] for i in zero]
        raise XauroraError(f"{names[0]}: is the same in every sample (zero variance), so CKA is "
                           "undefined. Fix: check the input or sample_dims.")
    return out


def _unbiased(joined, stk: Stacker, m, slices, hsic_plain: np.ndarray) -> np.ndarray:
    """Song et al.'s unbiased HSIC of every pair, from the plain ‖XᶜᵀYᶜ‖² and a second pass for
    ``c = Σᵢ ‖xᶜᵢ‖² ‖yᶜᵢ‖²`` (with centred features, (K̃1)ᵢ = −‖xᶜᵢ‖²)."""
    mean = m.mean
    k = len(slices)

    def fn(x):
        d = x - mean
        norms = np.stack([np.einsum("ij,ij->i", d[:, s], d[:, s]) for s in slices], axis=1)
        return norms.T @ norms  # (k, k): Σᵢ pᵢᵃ pᵢᵇ

    c = map_rows(joined, stk, fn, np.add)
    n = m.n
    a = np.array([np.trace(m.m2[s, s]) for s in slices])  # Σᵢ ‖xᶜᵢ‖² = −1ᵀK̃1
    out = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            out[i, j] = (hsic_plain[i, j] - c[i, j] + a[i] * a[j] / ((n - 1) * (n - 2))
                         - 2.0 * c[i, j] / (n - 2)) / (n * (n - 3))
    return out
