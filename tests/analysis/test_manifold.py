"""t-SNE / UMAP views of pooled latents and the latent-outlier score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from xaurora.analysis import latent_outliers, tsne, umap


def _seasonal_latents(n_years=4, n_feat=16, seed=0):
    """Pooled-latent-like daily data: an annual cycle in two directions plus noise."""
    t = pd.date_range("2001-01-01", periods=int(365.25 * n_years), freq="D")
    rng = np.random.default_rng(seed)
    phase = 2 * np.pi * (t.day_of_year.values - 1) / 365.25
    load = rng.normal(size=(2, n_feat))
    X = 3 * np.cos(phase)[:, None] * load[0] + 3 * np.sin(phase)[:, None] * load[1]
    X = X + rng.normal(size=(t.size, n_feat))
    return xr.DataArray(X, dims=("time", "channel"), coords={"time": t},
                        attrs={"model": "fs-ae-like"})


def _knn_accuracy(emb: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    cv = KFold(5, shuffle=True, random_state=0)
    return float(cross_val_score(KNeighborsClassifier(5), emb, labels, cv=cv).mean())


def test_tsne_separates_seasons_and_labels_them():
    X = _seasonal_latents(n_years=1)[::3]                       # ~120 days
    res = tsne(X, seed=0)
    assert res.embedding.dims == ("time", "axis") and res.axis.values.tolist() == [1, 2]
    np.testing.assert_array_equal(res.season.values, X.time.dt.season.values)
    assert res.year.values.tolist() == X.time.dt.year.values.tolist()
    assert res.attrs["model"] == "fs-ae-like" and res.attrs["method"] == "t-SNE"
    acc = _knn_accuracy(res.embedding.values, res.season.values)
    assert acc > 0.8, acc                                       # chance: 0.25
    np.testing.assert_array_equal(tsne(X, seed=0).embedding.values, res.embedding.values)


def test_tsne_without_signal_gives_chance():
    X = _seasonal_latents(n_years=1)[::3]
    noise = X.copy(data=np.random.default_rng(5).normal(size=X.shape))
    acc = _knn_accuracy(tsne(noise, seed=0).embedding.values, X.time.dt.season.values)
    assert acc < 0.5, acc


def test_umap_separates_seasons():
    X = _seasonal_latents(n_years=1)[::3]
    res = umap(X, seed=0)
    assert res.embedding.shape == (X.sizes["time"], 2) and res.attrs["method"] == "UMAP"
    assert _knn_accuracy(res.embedding.values, res.season.values) > 0.8


def test_planted_outlier_dates_are_found():
    X = _seasonal_latents(n_years=4)
    rng = np.random.default_rng(1)
    planted = pd.to_datetime(["2001-06-15", "2002-11-02", "2004-03-20"])
    for d in planted:
        direction = rng.normal(size=X.sizes["channel"])
        X.loc[d] = X.sel(time=d) + 8 * direction / np.linalg.norm(direction) * 2
    for method in ("chi2", "mad"):
        res = latent_outliers(X, method=method)
        top = pd.to_datetime(res.outlier_time.values[:3])
        assert set(top) == set(planted), (method, top)
        assert np.all(np.diff(res.outlier_score.values) <= 0)
        assert res.outlier.sum() < 0.03 * X.sizes["time"]
        np.testing.assert_allclose(res.score.sel(time=planted).min() > res.threshold, True)


def test_gaussian_latents_give_the_expected_false_positive_rate():
    rng = np.random.default_rng(2)
    X = xr.DataArray(rng.normal(size=(4000, 10)) @ rng.normal(size=(10, 10)),
                     dims=("time", "channel"),
                     coords={"time": pd.date_range("2000-01-01", periods=4000, freq="6h")})
    for alpha in (0.01, 0.05):
        res = latent_outliers(X, n_components=5, alpha=alpha)
        rate = float(res.outlier.mean())
        assert abs(rate - alpha) < 4 * np.sqrt(alpha * (1 - alpha) / 4000) + 0.003, (alpha, rate)
    res = latent_outliers(X)                                   # k from 90 % variance
    assert 1 <= res.attrs["n_components"] <= 10 and res.attrs["explained_variance"] >= 0.9


def test_mahalanobis_matches_a_direct_computation():
    rng = np.random.default_rng(3)
    A = rng.normal(size=(300, 4)) * [5.0, 2.0, 1.0, 0.5]
    X = xr.DataArray(A, dims=("time", "channel"))
    res = latent_outliers(X, n_components=4)
    C = np.cov(A, rowvar=False)
    d = A - A.mean(0)
    want = np.sqrt(np.einsum("ij,jk,ik->i", d, np.linalg.inv(C), d))
    np.testing.assert_allclose(res.score.values, want, rtol=1e-8)


def test_bad_input_is_named():
    X = xr.DataArray(np.zeros((10, 3)), dims=("time", "channel"))
    with pytest.raises(ValueError, match="method"):
        latent_outliers(X, method="iforest")
    with pytest.raises(TypeError, match="DataArray"):
        tsne(X.values)
    with pytest.raises(ValueError, match="NaN"):
        tsne(X.where(X > 0))


def _two_regimes(n=900, n_feat=12, seed=0):
    """Samples from two well-separated regimes (which one: the returned labels)."""
    rng = np.random.default_rng(seed)
    which = rng.random(n) < 0.5
    centre = rng.normal(size=n_feat) * 4
    X = rng.normal(size=(n, n_feat)) + np.where(which[:, None], centre, -centre)
    return xr.DataArray(X, dims=("time", "channel"), coords={"time": np.arange(n)}), which


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_a_subsample_is_fitted_and_the_rest_placed_by_transform(method):
    X, which = _two_regimes()
    fn = tsne if method == "tsne" else umap
    res = fn(X, max_samples=200, seed=3, pca_components=None)
    assert res.attrs["n_fitted"] == 200 and res.embedding.shape == (900, 2)
    emb = res.embedding.values
    assert np.isfinite(emb).all()
    # the placed samples (700 of 900) land with their own regime: far apart in the map
    a, b = emb[which].mean(0), emb[~which].mean(0)
    spread = max(emb[which].std(0).max(), emb[~which].std(0).max())
    assert np.linalg.norm(a - b) > 2 * spread
    assert _knn_accuracy(emb, which) > 0.95
    again = fn(X.chunk(time=128), max_samples=200, seed=3, pca_components=None)
    np.testing.assert_allclose(again.embedding.values, emb, rtol=1e-6, atol=1e-6)


def test_all_samples_are_fitted_below_max_samples():
    X, _ = _two_regimes(n=120)
    assert tsne(X, pca_components=None).attrs["n_fitted"] == 120
