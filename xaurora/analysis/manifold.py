"""Non-linear views of pooled latents beside PCA, and a latent-outlier score over time.

The FS-AE paper's t-SNE of compressed fields shows seasons, a warming trend and volcanic
years standing out. These functions give the same views of any ``(time, features…)`` array
(e.g. ``emb.aurora.pool()``), labelled for plotting:

* :func:`tsne` (openTSNE) and :func:`umap` (umap-learn) — a 2-D (or n-D) embedding with
  ``season`` (DJF/MAM/JJA/SON) and ``year`` coords on the samples. Both first reduce the
  features with a PCA (``pca_components``), as is usual for t-SNE, for speed and to drop
  noise dimensions;
* :func:`latent_outliers` — the Mahalanobis distance of each time from the centre of the
  latents in PCA space (each component scaled by its variance), and a threshold from the
  data: the χ² quantile (the distance² of Gaussian latents is χ² with as many degrees of
  freedom as components) or a robust z-score (median + z · 1.4826 · MAD). "Volcanic years
  stand out" becomes a list of dates with their scores.

openTSNE and umap-learn are the optional ``manifold`` extra (``pip install xaurora[manifold]``);
they are imported when a function runs.

>>> import numpy as np, pandas as pd, xarray as xr
>>> t = pd.date_range("2000-01-01", periods=400, freq="D")
>>> X = xr.DataArray(np.random.default_rng(0).normal(size=(400, 6)), dims=("time", "channel"),
...                  coords={"time": t})
>>> X[123] += 8.0
>>> res = latent_outliers(X)
>>> str(res.outlier_time.values[0])[:10], int(res.outlier.sum()) <= 6
('2000-05-03', True)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import xarray as xr

from xaurora.analysis.chunked import is_lazy
from xaurora.analysis.pca import coords_on, pca
from xaurora.analysis.stacking import Stacker
from xaurora.errors import XauroraError

__all__ = ["MAX_SAMPLES", "latent_outliers", "tsne", "umap"]


#: Samples a t-SNE/UMAP map is fitted on by default; the others are placed with ``transform``.
MAX_SAMPLES = 50_000
#: Rows placed per ``transform`` call (memory: this many rows of the reduced features).
TRANSFORM_ROWS = 65_536


def _rows(X: xr.DataArray, sample_dims, pca_components: int | None):
    """The samples as an (n, k) matrix — lazy on Dask input — optionally reduced to leading
    principal components (the exact, out-of-core :func:`~xaurora.analysis.pca.pca`)."""
    if not isinstance(X, xr.DataArray):
        raise TypeError(f"X: expected an xr.DataArray (time × features), got {type(X).__name__}.")
    stk = Stacker.of(X, sample_dims)
    sdims, n = stk.sample_dims, stk.n_samples
    if n < 5:
        raise XauroraError(f"{X.name or 'array'}: {n} samples; a manifold view needs ≥ 5.")
    if pca_components is not None and stk.n_features > pca_components:
        k = min(int(pca_components), n)
        scores = pca(X, k, sample_dims=sdims).scores
        return scores.transpose(*sdims, "component").data.reshape(n, k), sdims
    if is_lazy(X):
        return X.transpose(*sdims, *stk.feature_dims).data.reshape(n, stk.n_features), sdims
    return stk.matrix(X).astype(np.float64), sdims  # NaN/inf: an error that says the fix


def _subsample(n: int, max_samples: int | None, seed: int) -> np.ndarray | None:
    """Sorted indices of a seeded subsample of ``n`` samples, or None to fit on all of them."""
    if max_samples is None or n <= int(max_samples):
        return None
    if int(max_samples) < 5:
        raise XauroraError(f"max_samples: {max_samples} is too few to fit a map (≥ 5). "
                           "Fix: raise it, e.g. max_samples=50_000.")
    return np.sort(np.random.default_rng(seed).choice(n, int(max_samples), replace=False))


def _fit_and_place(rows, idx: np.ndarray | None, fit, place) -> np.ndarray:
    """``fit`` on the subsample ``idx`` of ``rows`` (all when None), ``place`` the others.

    The others are transformed :data:`TRANSFORM_ROWS` rows at a time, whatever the chunks (so
    the result does not depend on them): memory holds one block and the low-dimensional
    result, however many samples there are.
    """
    def block_values(a):
        a = np.asarray(a.compute() if is_lazy(a) else a, dtype=np.float64)
        if not np.isfinite(a).all():
            raise XauroraError("X: contains NaN or infinite values. Fix: drop or fill them "
                               "first (e.g. .dropna('time') or .fillna(0)).")
        return a

    if idx is None:
        return np.asarray(fit(block_values(rows)))
    fitted = np.asarray(fit(block_values(rows[idx])))
    out = np.empty((rows.shape[0], fitted.shape[1]))
    out[idx] = fitted
    rest = np.ones(rows.shape[0], bool)
    rest[idx] = False
    step = TRANSFORM_ROWS  # fixed, not the chunks: UMAP's transform depends on the batch
    for start in range(0, rows.shape[0], step):
        sl = slice(start, start + step)
        todo = np.flatnonzero(rest[sl]) + start
        if todo.size:
            out[todo] = np.asarray(place(block_values(rows[sl])[todo - start]))
    return out


def _labelled(emb: np.ndarray, X: xr.DataArray, sdims, attrs: dict) -> xr.Dataset:
    shape = [X.sizes[d] for d in sdims]
    coords = coords_on(X, sdims)
    da = xr.DataArray(emb.reshape(*shape, -1), dims=(*sdims, "axis"), coords=coords,
                      attrs={"long_name": f"{attrs['method']} embedding"})
    da = da.assign_coords(axis=("axis", np.arange(1, emb.shape[1] + 1)))
    ds = xr.Dataset({"embedding": da}, attrs={**attrs, **{
        k: v for k, v in X.attrs.items() if k in ("model", "layer")}})
    if "time" in sdims and np.issubdtype(X["time"].dtype, np.datetime64):
        t = X["time"]
        ds = ds.assign_coords(season=("time", t.dt.season.values),
                              year=("time", t.dt.year.values))
    return ds


def tsne(X: xr.DataArray, n_components: int = 2, perplexity: float = 30.0, seed: int = 0,
         sample_dims: Sequence[str] = ("time",), pca_components: int | None = 50,
         max_samples: int | None = MAX_SAMPLES) -> xr.Dataset:
    """t-SNE embedding (openTSNE) of the samples of ``X``.

    Returns a Dataset with ``embedding`` (sample dims, ``axis`` = 1 … n_components) and, when
    the samples are times, ``season`` and ``year`` coords. ``perplexity`` is lowered to
    (n − 1) / 3 for few samples. Deterministic for a given ``seed``.

    With more than ``max_samples`` samples (e.g. every patch of many dates), the map is fitted
    on a seeded random subsample of that size and every other sample is placed with the fitted
    map's ``transform``, one chunk at a time (attr ``n_fitted``); Dask input is never held in
    memory whole. ``max_samples=None`` fits on all samples.

    >>> import numpy as np, pandas as pd, xarray as xr
    >>> t = pd.date_range("2000-01-01", periods=60, freq="MS")
    >>> X = xr.DataArray(np.random.default_rng(0).normal(size=(60, 4)), dims=("time", "c"),
    ...                  coords={"time": t})
    >>> res = tsne(X, perplexity=10)
    >>> res.embedding.dims, res.season.values[:3].tolist(), int(res.year[-1])
    (('time', 'axis'), ['DJF', 'DJF', 'MAM'], 2004)
    """
    from openTSNE import TSNE  # optional

    rows, sdims = _rows(X, sample_dims, pca_components)
    idx = _subsample(rows.shape[0], max_samples, seed)
    n_fit = rows.shape[0] if idx is None else idx.size
    perp = float(min(perplexity, (n_fit - 1) / 3.0))
    est = TSNE(n_components=int(n_components), perplexity=perp, random_state=int(seed),
               n_jobs=1, verbose=False)
    fitted = {}

    def fit(a):
        fitted["map"] = est.fit(a)
        return fitted["map"]

    emb = _fit_and_place(rows, idx, fit, lambda a: fitted["map"].transform(a))
    return _labelled(emb, X, sdims, {"method": "t-SNE", "estimator": "openTSNE.TSNE",
                                      "perplexity": perp, "seed": int(seed), "n_fitted": n_fit})


def umap(X: xr.DataArray, n_components: int = 2, n_neighbors: int = 15, min_dist: float = 0.1,
         seed: int = 0, sample_dims: Sequence[str] = ("time",),
         pca_components: int | None = 50, max_samples: int | None = MAX_SAMPLES) -> xr.Dataset:
    """UMAP embedding (umap-learn) of the samples of ``X``; labelled as :func:`tsne`.

    Deterministic for a given ``seed`` (umap-learn then runs single-threaded). The first call
    in a process compiles umap-learn's numba code (tens of seconds). ``max_samples``: as for
    :func:`tsne`, the map is fitted on a seeded subsample and the rest placed with
    ``transform``.
    """

    rows, sdims = _rows(X, sample_dims, pca_components)
    idx = _subsample(rows.shape[0], max_samples, seed)
    n_fit = rows.shape[0] if idx is None else idx.size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)   # n_jobs with random_state
        from umap import UMAP  # optional

        k = int(min(n_neighbors, n_fit - 1))
        est = UMAP(n_components=int(n_components), n_neighbors=k, min_dist=float(min_dist),
                   random_state=int(seed), n_jobs=1)
        emb = _fit_and_place(rows, idx, est.fit_transform, est.transform)
    return _labelled(np.asarray(emb), X, sdims, {
        "method": "UMAP", "estimator": "umap.UMAP", "n_neighbors": k,
        "min_dist": float(min_dist), "seed": int(seed), "n_fitted": n_fit})


def latent_outliers(X: xr.DataArray, n_components: int | None = None, variance: float = 0.9,
                    method: str = "chi2", alpha: float = 0.01, z: float = 3.5,
                    sample_dims: Sequence[str] = ("time",)) -> xr.Dataset:
    """Mahalanobis distance of each sample from the latents' centre in PCA space.

    Args:
        X: pooled latents, samples (``time``) × features (any other dims).
        n_components: principal components kept (default: the fewest explaining
            ``variance`` of the total).
        method: ``"chi2"`` — outlier when distance² exceeds the χ²(k) quantile ``1 − alpha``
            (expected false-positive rate ``alpha`` for Gaussian latents); ``"mad"`` — when
            the distance exceeds median + ``z`` · 1.4826 · MAD of the distances.

    Returns:
        ``score`` (sample dims; the distance), ``outlier`` (bool), ``threshold`` (scalar) and,
        sorted from the highest score, ``outlier_time`` / ``outlier_score`` over ``rank``
        (the flagged samples' coordinate along the first sample dim and their scores).
    """
    if method not in ("chi2", "mad"):
        raise XauroraError(f"method: {method!r} is not 'chi2' or 'mad'.")
    if not 0 < alpha < 1:
        raise XauroraError(f"alpha: must be in (0, 1), got {alpha!r}.")
    stk = Stacker.of(X, sample_dims)
    sdims, n, f = stk.sample_dims, stk.n_samples, stk.n_features
    k_max = min(n - 1, f)
    if n_components is None:
        full = pca(X, k_max, sample_dims=sdims)
        cum = np.cumsum(full.explained_variance_ratio.values)
        k = int(min(np.searchsorted(cum, variance - 1e-12) + 1, k_max))
        res = full.isel(component=slice(0, k))
    else:
        k = int(n_components)
        res = pca(X, k, sample_dims=sdims)
    var = res.explained_variance.where(res.explained_variance > 0)
    d = np.sqrt(((res.scores ** 2) / var).sum("component"))
    if method == "chi2":
        from scipy.stats import chi2  # heavy

        thr = float(np.sqrt(chi2.ppf(1.0 - alpha, k)))
        how = f"sqrt of the chi2({k}) quantile {1 - alpha:g}"
    else:
        med = float(d.median())
        mad = float(np.abs(d - med).median()) * 1.4826
        thr = med + float(z) * mad
        how = f"median + {z:g} x 1.4826 x MAD of the distances"
    d = d.assign_attrs(long_name="Mahalanobis distance in PCA space", units="1")
    flag = (d > thr).rename("outlier")
    first = sdims[0]
    flat = d.stack(_s=sdims) if len(sdims) > 1 else d.rename({first: "_s"})
    order = np.argsort(-flat.values, kind="stable")
    order = order[flat.values[order] > thr]
    ids = flat["_s"].values[order] if len(sdims) == 1 else flat[first].values[order]
    return xr.Dataset(
        {"score": d, "outlier": flag.assign_attrs(long_name=f"score above {how}"),
         "threshold": ((), thr, {"long_name": how}),
         "outlier_time": ("rank", ids, {"long_name": f"flagged {first}, highest score first"}),
         "outlier_score": ("rank", flat.values[order])},
        coords={"rank": np.arange(1, order.size + 1)},
        attrs={"method": method, "n_components": k,
               "explained_variance": float(res.explained_variance_ratio.sum()),
               **{kk: v for kk, v in X.attrs.items() if kk in ("model", "layer")}},
    )
