"""pca: finds a planted seasonal mode, equals scikit-learn, projects new data, survives netCDF."""

import dask.array as dsa
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from sklearn.decomposition import PCA

from tests._dask import raise_if_dask_computes
from xaurora.analysis.pca import pca, pca_estimator, pca_transform


def _pooled(n_days=730, seed=0, seasonal_amp=5.0):
    """Pooled-like series (time, stat, channel): an annual cycle along a fixed pattern + noise."""
    rng = np.random.default_rng(seed)
    time = pd.date_range("2000-01-01", periods=n_days, freq="D")
    season = np.sin(2 * np.pi * time.day_of_year.values / 365.25)
    pattern = rng.normal(size=(3, 16))
    pattern /= np.linalg.norm(pattern)
    noise = rng.normal(size=(n_days, 3, 16))
    vals = seasonal_amp * season[:, None, None] * pattern + noise
    da = xr.DataArray(vals, dims=("time", "stat", "channel"), name="pooled",
                      coords={"time": time, "stat": ["mean", "std", "rms"],
                              "channel": np.arange(16)})
    return da, season, pattern


def test_planted_seasonal_mode_is_pc1():
    X, season, pattern = _pooled()
    res = pca(X, 3)
    assert res.scores.dims == ("time", "component")
    assert res.components.dims == ("component", "stat", "channel")
    assert res.explained_variance_ratio.dims == ("component",)
    assert res.component.values.tolist() == [1, 2, 3]
    pc1 = res.scores.sel(component=1).values
    assert abs(np.corrcoef(pc1, season)[0, 1]) > 0.95  # expected sqrt(12.5 / 13.5) = 0.962
    cos = np.abs(np.sum(res.components.sel(component=1).values * pattern))
    assert cos > 0.98
    assert res.explained_variance_ratio[0] > 3 * res.explained_variance_ratio[1]
    # the other components are noise: unrelated to the season
    assert abs(np.corrcoef(res.scores.sel(component=2).values, season)[0, 1]) < 0.15
    np.testing.assert_array_equal(res.time.values, X.time.values)


def test_no_signal_gives_flat_spectrum():
    X, _, _ = _pooled(seasonal_amp=0.0)
    evr = pca(X, 5).explained_variance_ratio.values
    assert evr[0] < 2.0 / 48  # white noise over 48 features: no dominant component


def test_equals_sklearn_on_the_same_matrix():
    X, _, _ = _pooled(n_days=200)
    res = pca(X, 4)
    ref = PCA(4, random_state=0).fit(X.values.reshape(200, -1))
    np.testing.assert_allclose(res.scores.values, ref.transform(X.values.reshape(200, -1)),
                               rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(res.components.values.reshape(4, -1), ref.components_, atol=1e-10)
    np.testing.assert_allclose(res.explained_variance_ratio, ref.explained_variance_ratio_)
    np.testing.assert_allclose(res["mean"].values.ravel(), ref.mean_)


def test_unpooled_patches_as_samples():
    rng = np.random.default_rng(3)
    pattern = rng.normal(size=8)
    amp = rng.normal(size=(2, 6, 10)) * 4
    vals = amp[..., None] * pattern + rng.normal(size=(2, 6, 10, 8)) * 0.1
    X = xr.DataArray(vals, dims=("time", "lat", "lon", "channel"),
                     coords={"lat": np.linspace(75, -75, 6), "lon": np.arange(0, 360, 36.0),
                             "channel": np.arange(8),
                             "channel_variable": ("channel", list("abcdefgh"))})
    res = pca(X, 2, sample_dims=("time", "lat", "lon"))
    assert res.scores.dims == ("time", "lat", "lon", "component")
    assert res.components.dims == ("component", "channel")
    assert res.components.channel_variable.values.tolist() == list("abcdefgh")
    corr = np.corrcoef(res.scores.sel(component=1).values.ravel(), amp.ravel())[0, 1]
    assert abs(corr) > 0.999
    np.testing.assert_array_equal(res.lat.values, X.lat.values)


def test_transform_new_data_equals_sklearn_and_survives_netcdf(tmp_path):
    X, _, _ = _pooled(n_days=400)
    fit, new = X.isel(time=slice(0, 300)), X.isel(time=slice(300, None))
    res = pca(fit, 3)
    ref = PCA(3, random_state=0).fit(fit.values.reshape(300, -1))
    expected = ref.transform(new.values.reshape(100, -1))
    got = pca_transform(res, new)
    assert got.dims == ("time", "component")
    np.testing.assert_allclose(got.values, expected, rtol=1e-8, atol=1e-10)
    # a saved-and-reloaded result gives the same projection (no hidden state)
    path = tmp_path / "pca.nc"
    res.to_netcdf(path)
    with xr.open_dataset(path) as back:
        np.testing.assert_allclose(pca_transform(back, new).values, expected, atol=1e-10)
        est = pca_estimator(back)
    np.testing.assert_allclose(est.transform(new.values.reshape(100, -1)), expected, atol=1e-10)
    np.testing.assert_allclose(est.inverse_transform(expected),
                               ref.inverse_transform(expected), atol=1e-10)


def test_transform_is_lazy_and_checks_features():
    X, _, _ = _pooled(n_days=100)
    res = pca(X, 2)
    lazy = X.chunk({"time": 25})
    with raise_if_dask_computes():
        got = pca_transform(res, lazy)
    assert got.chunks is not None
    np.testing.assert_allclose(got.compute(), res.scores, atol=1e-10)
    with pytest.raises(ValueError, match="lacks the feature dim"):
        pca_transform(res, X.isel(stat=0, drop=True))
    with pytest.raises(ValueError, match="has 8 entries"):
        pca_transform(res, X.isel(channel=slice(0, 8)))
    with pytest.raises(ValueError, match="differs from the fitted one"):
        pca_transform(res, X.assign_coords(channel=X.channel + 100))


def test_dask_input_and_errors():
    X, _, _ = _pooled(n_days=60)
    res = pca(X.copy(data=dsa.from_array(X.values, chunks=(20, 3, 16))), 2)
    np.testing.assert_allclose(res.scores, pca(X, 2).scores)
    with pytest.raises(ValueError, match="n_components=100"):
        pca(X, 100)
    with pytest.raises(ValueError, match="NaN.*Fix"):
        pca(X.where(X.time != X.time[3]), 2)
    with pytest.raises(ValueError, match="no features"):
        pca(X, 2, sample_dims=("time", "stat", "channel"))
    with pytest.raises(ValueError, match="not in its dims"):
        pca(X, 2, sample_dims=("day",))
