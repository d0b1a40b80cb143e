"""Regimes: a planted annual cycle is measured as seasonal; events are (not) separable."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from xaurora.analysis.pca import pca
from xaurora.analysis.regimes import annual_harmonics, seasonality, separability


def _series(seasonal=True, n_days=730, seed=0, peak_doy=200):
    rng = np.random.default_rng(seed)
    time = pd.date_range("2001-01-01", periods=n_days * 4, freq="6h")
    doy = (time.day_of_year.values - 1) + time.hour.values / 24
    cycle = np.cos(2 * np.pi * (doy - (peak_doy - 1)) / 365.25)
    pattern = rng.normal(size=(3, 10))
    vals = rng.normal(size=(time.size, 3, 10))
    if seasonal:
        vals += 6 * cycle[:, None, None] * pattern / np.linalg.norm(pattern)
    X = xr.DataArray(vals, dims=("time", "stat", "channel"), coords={"time": time})
    return X, cycle


def test_planted_annual_cycle_dominates_pc1():
    X, cycle = _series()
    res = seasonality(X)
    assert res.annual_cycle_r2.dims == ("component",)
    r2 = res.annual_cycle_r2.values
    # PC1 = 6 cos + unit noise: the cycle explains 18 / 19 of its variance
    assert r2[0] == pytest.approx(18 / 19, abs=0.03)
    assert r2[1] < 0.01  # PC2 is noise
    assert res.peak_day.values[0] == pytest.approx(200, abs=3) or res.peak_day.values[0] == (
        pytest.approx((200 + 365.25 / 2) % 365.25, abs=3))  # PC sign is arbitrary
    assert float(res.annual_cycle_fraction) > 0.5
    assert float(res.seasonal_share_of_total) == pytest.approx(
        float((res.explained_variance_ratio * res.annual_cycle_r2).sum()))
    # the reported r2 is the regression's, checked by hand for PC1
    y = res.scores.sel(component=1).values
    D = np.column_stack([np.ones(y.size), annual_harmonics(X.time.values)])
    beta = np.linalg.lstsq(D, y, rcond=None)[0]
    manual = 1 - np.sum((y - D @ beta) ** 2) / np.sum((y - y.mean()) ** 2)
    assert r2[0] == pytest.approx(manual)


def test_no_cycle_gives_near_zero_fraction_and_accepts_pca_result():
    X, _ = _series(seasonal=False)
    res = seasonality(pca(X, 3), n_components=3)
    assert res.sizes["component"] == 3
    assert np.all(res.annual_cycle_r2.values < 0.01)  # expected ~2 / 2920


def test_short_series_warns_and_bad_dims_raise():
    X, _ = _series(n_days=60)
    with pytest.warns(UserWarning, match="spans only"):
        seasonality(X)
    patches = xr.DataArray(np.random.default_rng(0).normal(size=(10, 4, 3)),
                           dims=("time", "lat", "channel"),
                           coords={"time": pd.date_range("2000", periods=10)})
    with pytest.raises(ValueError, match="must have dims"):
        seasonality(patches, sample_dims=("time", "lat"))


def _events_data(shift, seed=0, n=240):
    rng = np.random.default_rng(seed)
    time = pd.date_range("2001-01-01", periods=n, freq="D")
    X = xr.DataArray(rng.normal(size=(n, 2, 8)), dims=("time", "stat", "channel"),
                     coords={"time": time})
    events = xr.DataArray(rng.random(n) < 0.15, dims="time", coords={"time": time})
    direction = xr.DataArray(rng.normal(size=(2, 8)), dims=("stat", "channel"))
    X = X + shift * events * direction / float(np.sqrt((direction**2).sum()))
    return X, events


def test_separable_events_are_detected():
    X, events = _events_data(shift=4.0)
    res = separability(X, events, n_permutations=20)
    assert float(res.balanced_accuracy) > 0.9
    assert float(res.p_value) == pytest.approx(1 / 21)  # better than every permutation
    assert abs(float(res.chance_level) - 0.5) < 0.06
    assert res.permutation_scores.sizes["permutation"] == 20
    assert int(res.n_events) == int(events.sum())


def test_unrelated_events_are_not_separable():
    X, events = _events_data(shift=0.0, seed=3)
    res = separability(X, events, n_permutations=20)
    assert abs(float(res.balanced_accuracy) - 0.5) < 0.12
    assert float(res.p_value) > 0.05


def test_event_dates_and_pca_option_and_errors():
    X, events = _events_data(shift=4.0)
    dates = X.time.values[events.values]
    a = separability(X, dates, n_permutations=10, n_components=4)
    assert float(a.balanced_accuracy) > 0.85 and "PCA" in a.attrs["classifier"]
    # events covering more (and reordered) times, with ERA5's time name, are aligned to X
    longer = xr.concat([events, events.isel(time=[0]).assign_coords(
        time=[np.datetime64("1999-01-01")])], "time").isel(time=slice(None, None, -1))
    b = separability(X, longer.rename(time="valid_time"), n_permutations=10, n_components=4)
    assert float(b.balanced_accuracy) == float(a.balanced_accuracy)
    with pytest.raises(ValueError, match="lacks 1 of X's time"):
        separability(X, events.isel(time=slice(1, None)), n_permutations=5)
    few = xr.zeros_like(events).astype(bool)
    few[:3] = True
    with pytest.raises(ValueError, match="Fix: pass cv=3"):
        separability(X, few, n_permutations=5)
