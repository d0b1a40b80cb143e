"""Principal component analysis of labelled arrays (``X.aurora.pca``), exact and out of core.

Samples are the points of ``sample_dims`` (e.g. ``time``, or ``time, lat, lon`` for unpooled
patches); features are all other dims (e.g. ``stat, level, channel``). The result is an
``xr.Dataset`` that carries everything needed to project new data — ``mean`` (features) and
``components`` — so it survives ``to_netcdf``/``open_dataset`` and needs no hidden state:

* :func:`pca_transform` projects new data onto a fitted result (lazy on Dask input);
* :func:`pca_estimator` rebuilds the fitted ``sklearn.decomposition.PCA`` from it;
* :func:`sae_from_pca` writes it in an SAE's form, to splice its reconstruction into the model.

>>> import numpy as np, xarray as xr
>>> rng = np.random.default_rng(0)
>>> X = xr.DataArray(rng.normal(size=(50, 3, 4)), dims=("time", "stat", "channel"))
>>> res = pca(X, 2)
>>> res.scores.dims, res.components.dims, res.explained_variance_ratio.dims
(('time', 'component'), ('component', 'stat', 'channel'), ('component',))
>>> bool(np.allclose(pca_transform(res, X), res.scores))
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from xaurora.analysis.chunked import check_finite, moments
from xaurora.analysis.stacking import Stacker
from xaurora.errors import XauroraError

__all__ = ["MAX_COVARIANCE_FEATURES", "pca", "pca_estimator", "pca_transform", "sae_from_pca"]


#: Features beyond which the covariance (F × F float64) is not formed: 8 192² × 8 B = 512 MiB.
MAX_COVARIANCE_FEATURES = 8192
#: Data (float64) up to this size may be decomposed in memory when samples are fewer than features.
IN_MEMORY_BYTES = 1 << 30


def pca(X: xr.DataArray, n_components: int, sample_dims: Sequence[str] = ("time",)) -> xr.Dataset:
    """Fit a PCA with samples along ``sample_dims`` and features along every other dim.

    Returns an ``xr.Dataset`` with ``scores`` (sample dims, ``component``), ``components``
    (``component``, feature dims, unstacked back, with the input's coords), ``mean`` (feature
    dims), ``explained_variance``, ``explained_variance_ratio`` and ``singular_values``
    (``component``). ``component`` runs 1, 2, … (component 1 is PC1). Each component's sign
    makes its largest-magnitude entry positive.

    Exact and in float64 whatever the input's dtype: the mean and covariance are accumulated in
    one pass over the chunks (:mod:`xaurora.analysis.chunked`), so Dask-backed input is never
    held in memory whole (memory: a few chunks plus features² × 8 bytes) and ``scores`` stay
    lazy. When there are fewer samples than features (e.g. pooled latents over a few dates) and
    the data fit in memory, the centred data are decomposed directly (SVD) instead.

    >>> import numpy as np, xarray as xr
    >>> t = np.arange(40)
    >>> X = xr.DataArray(np.outer(np.sin(t), [1.0, 2.0]), dims=("time", "channel"))
    >>> round(float(pca(X, 1).explained_variance_ratio[0]), 6)
    1.0
    """
    stk = Stacker.of(X, sample_dims)
    k = _checked_request(stk, n_components)
    n, F = stk.n_samples, stk.n_features
    if n < F and n * F * 8 <= IN_MEMORY_BYTES:
        mean, evals, vecs = _by_svd(X, stk)
        how = "numpy.linalg.svd of the centred data (float64)"
    elif F <= MAX_COVARIANCE_FEATURES:
        mean, evals, vecs = _by_covariance(X, stk)
        how = "numpy.linalg.eigh of the covariance accumulated over chunks (float64)"
    else:
        raise XauroraError(
            f"{stk.name}: {F} features and {n} samples: too many features for the covariance "
            f"({MAX_COVARIANCE_FEATURES} at most) and too much data to decompose in memory. "
            "Fix: pool or select fewer features first (e.g. .sel(level=...) or "
            ".aurora.pool()), or use fewer samples."
        )
    total = float(evals.sum())
    if not total > 0:
        # zero total variance: explained_variance_ratio would be 0/0 = NaN
        raise XauroraError(
            f"{stk.name}: is the same in every sample (zero variance), so it has no principal "
            "components. Fix: check the input (e.g. a constant or empty field) or sample_dims."
        )
    vecs = vecs[:k] * _signs(vecs[:k])[:, None]
    rank = min(n, F)
    fit = {
        "components": vecs, "mean": mean, "explained_variance": evals[:k],
        "explained_variance_ratio": evals[:k] / total,
        "singular_values": np.sqrt(np.clip(evals[:k], 0, None) * (n - 1)),
        "noise_variance": float(evals[k:rank].mean()) if k < rank else 0.0,
    }
    return _as_dataset(fit, X, stk, how)


def _checked_request(stk: Stacker, n_components) -> int:
    """``n_components`` as an int, once a PCA of that many components is possible."""
    whole = isinstance(n_components, int | np.integer) or (
        isinstance(n_components, float | np.floating) and float(n_components).is_integer())
    if isinstance(n_components, bool) or not whole:
        raise XauroraError(f"n_components: must be a whole number of components, got "
                           f"{n_components!r}. Fix: pass an int, e.g. n_components=3.")
    n_samples, n_features = stk.n_samples, stk.n_features
    if n_samples < 2:
        # one sample has no variance (the covariance divides by n − 1 = 0)
        raise XauroraError(
            f"{stk.name}: sample_dims {stk.sample_dims} hold {n_samples} sample(s); a PCA needs "
            "at least 2. Fix: add samples (e.g. more times) or choose other sample_dims."
        )
    if not 1 <= int(n_components) <= min(n_samples, n_features):
        raise XauroraError(
            f"pca: n_components={n_components} must be between 1 and min(samples, features) = "
            f"min({n_samples}, {n_features}). Fix: ask for fewer components or add samples."
        )
    return int(n_components)


_FINITE_FIX = "drop or fill them first (e.g. .dropna('time') or .fillna(0))"


def _by_covariance(X: xr.DataArray, stk: Stacker):
    """Mean, eigenvalues (descending) and eigenvectors (rows) of the covariance, one pass."""
    m = moments(X, stk)
    check_finite(m, stk.name, _FINITE_FIX)
    evals, evecs = np.linalg.eigh(m.covariance())
    order = np.argsort(evals)[::-1]
    return m.mean, np.clip(evals[order], 0.0, None), evecs[:, order].T


def _by_svd(X: xr.DataArray, stk: Stacker):
    """Mean, variances (descending) and right singular vectors of the centred data (float64)."""
    data = stk.matrix(X, fix=_FINITE_FIX).astype(np.float64)
    mean = data.mean(axis=0)
    _, s, vt = np.linalg.svd(data - mean, full_matrices=False)
    return mean, s**2 / (data.shape[0] - 1), vt


def _signs(vecs: np.ndarray) -> np.ndarray:
    """+1/−1 per row so that each row's largest-magnitude entry is positive (deterministic)."""
    big = vecs[np.arange(vecs.shape[0]), np.argmax(np.abs(vecs), axis=1)]
    return np.where(big < 0, -1.0, 1.0)


def _as_dataset(fit: dict, X: xr.DataArray, stk: Stacker, how: str) -> xr.Dataset:
    """The fitted PCA and the (lazy on Dask input) scores of ``X``, on ``X``'s dims."""
    sample_dims, feature_dims = stk.sample_dims, stk.feature_dims
    k = fit["components"].shape[0]
    comp = xr.DataArray(np.arange(1, k + 1), dims="component",
                        attrs={"long_name": "principal component number (1 = PC1)"})
    feature_shape = [X.sizes[d] for d in feature_dims]
    f_coords = coords_on(X, feature_dims)
    res = xr.Dataset(
        {
            "components": xr.DataArray(
                fit["components"].reshape(-1, *feature_shape), dims=("component", *feature_dims),
                coords=f_coords, attrs={"long_name": "principal axes (unit length, EOFs)"},
            ),
            "mean": xr.DataArray(
                fit["mean"].reshape(feature_shape), dims=feature_dims, coords=f_coords,
                attrs={"long_name": "per-feature mean removed before the projection"},
            ),
            "explained_variance": ("component", fit["explained_variance"],
                                   {"long_name": "variance of each component's scores"}),
            "explained_variance_ratio": ("component", fit["explained_variance_ratio"],
                                         {"long_name": "fraction of total variance explained",
                                          "units": "1"}),
            "singular_values": ("component", fit["singular_values"]),
        },
        coords={"component": comp},
        attrs={
            "sample_dims": " ".join(sample_dims),
            "feature_dims": " ".join(feature_dims),
            "n_samples": stk.n_samples,
            "noise_variance": fit["noise_variance"],
            "estimator": how,
            **{k: v for k, v in X.attrs.items() if k in ("model", "layer", "patch_size")},
        },
    )
    scores = pca_transform(res, X).transpose(*sample_dims, "component")
    res["scores"] = scores.assign_coords(coords_on(X, sample_dims)).assign_attrs(
        long_name="principal component scores")
    return res[["scores", *[v for v in res.data_vars if v != "scores"]]]


def pca_transform(result: xr.Dataset, X_new: xr.DataArray) -> xr.DataArray:
    """Project ``X_new`` onto a fitted PCA: ``(X_new - mean) · components`` → scores.

    ``result`` is the Dataset returned by :func:`pca` (possibly reloaded from netCDF; for the
    sklearn object see :func:`pca_estimator`). ``X_new`` needs the same feature dims with the
    same coords; its other dims become the sample dims of the result (``component`` added).
    Equals ``PCA.transform``; lazy on Dask input.

    >>> import numpy as np, xarray as xr
    >>> X = xr.DataArray(np.random.default_rng(1).normal(size=(30, 5)), dims=("time", "channel"))
    >>> res = pca(X.isel(time=slice(0, 20)), 2)
    >>> pca_transform(res, X.isel(time=slice(20, None))).sizes["time"]
    10
    """
    if not isinstance(result, xr.Dataset) or "components" not in result or "mean" not in result:
        raise TypeError(
            "pca_transform: expected the xr.Dataset returned by xaurora.analysis.pca.pca "
            f"(with 'components' and 'mean'), got {type(result).__name__}. Fix: pass that result."
        )
    feature_dims = tuple(d for d in result["components"].dims if d != "component")
    missing = [d for d in feature_dims if d not in X_new.dims]
    if missing:
        raise XauroraError(
            f"{X_new.name or 'X_new'}: lacks the feature dim(s) {missing} the PCA was fitted on "
            f"(features: {feature_dims}). Fix: pool/select it the same way as the fitted data."
        )
    for d in feature_dims:
        if X_new.sizes[d] != result.sizes[d]:
            raise XauroraError(
                f"{X_new.name or 'X_new'}: feature dim {d!r} has {X_new.sizes[d]} entries; the PCA "
                f"was fitted with {result.sizes[d]}. Fix: select the same {d} values."
            )
        if d in X_new.coords and d in result.coords and not np.array_equal(
            np.asarray(X_new[d].values), np.asarray(result[d].values)
        ):
            raise XauroraError(
                f"{X_new.name or 'X_new'}: feature coordinate {d!r} differs from the fitted one. "
                f"Fix: reorder/select with X_new.sel({d}=result.{d})."
            )
    mean = result["mean"].drop_vars([c for c in result["mean"].coords], errors="ignore")
    comps = result["components"].drop_vars(
        [c for c in result["components"].coords if c != "component"], errors="ignore"
    )
    Xn = X_new.drop_vars([c for c in X_new.coords if set(X_new[c].dims) & set(feature_dims)])
    scores = xr.dot(Xn - mean, comps, dim=list(feature_dims))
    sample_dims = [d for d in X_new.dims if d not in feature_dims]
    scores = scores.transpose(*sample_dims, "component")
    scores.attrs = {"long_name": "principal component scores (projected)"}
    return scores.rename("scores")


def pca_estimator(result: xr.Dataset):
    """The fitted ``sklearn.decomposition.PCA`` behind a :func:`pca` result.

    Features are flattened in the order of ``result.components``' feature dims (C order).

    >>> import numpy as np, xarray as xr
    >>> X = xr.DataArray(np.random.default_rng(2).normal(size=(20, 4)), dims=("time", "channel"))
    >>> res = pca(X, 2)
    >>> est = pca_estimator(res)
    >>> bool(np.allclose(est.transform(X.values), res.scores.values))
    True
    """
    from sklearn.decomposition import PCA  # heavy

    comps = result["components"]
    n_comp = comps.sizes["component"]
    est = PCA(n_components=n_comp, random_state=0)
    est.components_ = comps.values.reshape(n_comp, -1)
    est.mean_ = result["mean"].transpose(*comps.dims[1:]).values.ravel()
    est.explained_variance_ = result["explained_variance"].values
    est.explained_variance_ratio_ = result["explained_variance_ratio"].values
    est.singular_values_ = result["singular_values"].values
    est.n_components_ = n_comp
    est.n_features_in_ = est.components_.shape[1]
    est.n_samples_ = int(result.attrs.get("n_samples", 0))
    est.noise_variance_ = float(result.attrs.get("noise_variance", 0.0))
    return est


def coords_on(X: xr.DataArray, dims: Sequence[str]) -> dict:
    """Coords of X that live only on ``dims`` (index coords and e.g. ``channel_variable``)."""
    return {k: v for k, v in X.coords.items() if v.dims and set(v.dims) <= set(dims)}


def sae_from_pca(pca: xr.Dataset) -> xr.Dataset:
    """A PCA as an SAE-shaped Dataset: ``sae_reconstruct`` and ``xa.edit.reconstruct`` then
    give the PCA's reconstruction ``mean + Σⱼ scoreⱼ · componentⱼ`` with its k components.

    The baseline of the spliced-in score (``splice_test``): as many numbers per token as an
    SAE with that ``k``. Features are ± each component (``2k`` of them, ``k`` active): of a
    token's pre-activations ``±scoreⱼ`` the k largest are the ``|scoreⱼ|``, and ReLU keeps
    each with its sign's row.

    >>> import numpy as np, xarray as xr
    >>> from xaurora.analysis.sae import sae_reconstruct
    >>> X = xr.DataArray(np.random.default_rng(0).normal(size=(50, 4)), dims=("time", "channel"))
    >>> full = sae_from_pca(pca(X, 4))
    >>> bool(np.allclose(sae_reconstruct(full, X), X))
    True
    """
    if not isinstance(pca, xr.Dataset) or "components" not in pca or "mean" not in pca:
        raise XauroraError("pca: expected the xr.Dataset of xa.analysis.pca (with 'components' "
                           "and 'mean').")
    fdims = tuple(d for d in pca["components"].dims if d != "component")
    k = pca.sizes["component"]
    comps = pca["components"].transpose("component", *fdims)
    rows = xr.concat([comps, -comps], dim="component").rename(component="feature")
    rows = rows.drop_vars([c for c in rows.coords if "feature" in rows[c].dims])
    rows = rows.assign_coords(feature=np.arange(2 * k)).astype(np.float64)
    return xr.Dataset(
        {"encoder": rows.transpose(*fdims, "feature"),
         "b_enc": ("feature", np.zeros(2 * k)),
         "decoder": rows,
         "b_dec": pca["mean"].transpose(*fdims).astype(np.float64)},
        attrs={"k": int(k), "feature_dims": " ".join(fdims),
               "sample_dims": pca.attrs.get("sample_dims", ""),
               "estimator": f"PCA with {k} components, as an SAE"})
