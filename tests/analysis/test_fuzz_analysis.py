"""Bad inputs to pool, pca and probe give an XauroraError that names the argument, never
another exception or a silent NaN result (property-based, plus one regression test per defect).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

import xaurora as xa

LAT = np.linspace(60, -60, 4)
LON = np.arange(0, 360, 45.0)
TIMES = np.array(["2020-01-01T00", "2020-01-01T06", "2020-01-01T12"], dtype="datetime64[ns]")


def _emb(seed: int = 0) -> xr.DataArray:
    """An embedding as embed lays it out (one level selected), small enough to probe fast."""
    rng = np.random.default_rng(seed)
    return xr.DataArray(rng.normal(size=(3, 4, 8, 4)), dims=("time", "lat", "lon", "channel"),
                        coords={"time": TIMES, "lat": LAT, "lon": LON}, name="embedding",
                        attrs={"patch_size": 4, "layer": "encoder"})


EMB = _emb()
LAB = (EMB.isel(channel=0) > 0).rename("land")


def _no_silent_nan(result) -> None:
    # NaN in label/error marks unlabelled patches by design; scalars and fits must be numbers
    for name, v in result.data_vars.items():
        if v.dtype.kind == "f" and name not in ("label", "error"):
            assert not np.isnan(v.values).any(), name


def _only_xaurora_errors(call, *names: str) -> None:
    """``call()`` succeeds without NaNs, or raises an XauroraError naming one of ``names``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = call()
        except xa.XauroraError as err:
            assert any(n in str(err) for n in names), str(err)
            assert "Fix" in str(err), str(err)
            return
    if isinstance(out, xr.DataArray):
        out = out.to_dataset(name="out")
    _no_silent_nan(out)


band = st.floats(-400, 400, allow_nan=False) | st.none() | st.sampled_from(["x", np.inf])


@settings(max_examples=30, deadline=None)
@given(kind=st.sampled_from(["lon", "lat"]), lo=band, hi=band)
def test_band_splits_work_or_name_the_split(kind, lo, hi):
    _only_xaurora_errors(lambda: EMB.aurora.probe(LAB, split=(kind, lo, hi), n_boot=0),
                         "split")


day = st.sampled_from(["2020-01-01T00", "2020-01-01T06", "2020-01-01T12", "2019-01-01",
                       "2021-01-01", "soon", None, "NaT"])


@settings(max_examples=25, deadline=None)
@given(lo=day, hi=day)
def test_time_splits_work_or_name_the_split(lo, hi):
    _only_xaurora_errors(lambda: EMB.aurora.probe(LAB, split=("time", lo, hi), n_boot=0),
                         "split")


@settings(max_examples=25, deadline=None)
@given(mask=st.lists(st.booleans(), min_size=3, max_size=3), lon_frac=st.floats(0, 1))
def test_boolean_splits_work_or_name_the_split(mask, lon_frac):
    split = xr.DataArray(np.asarray(mask), dims="time", coords={"time": TIMES}) & \
        (EMB.lon < 360 * lon_frac)
    # a DataArray is named by its name in messages ("s"), else by the argument
    _only_xaurora_errors(lambda: EMB.aurora.probe(LAB, split=split.rename("s"), n_boot=0),
                         "split", "s:", "land")


@settings(max_examples=25, deadline=None)
@given(values=st.lists(st.sampled_from([0.0, 1.0, 2.5, np.nan, np.inf, -np.inf]), min_size=1,
                       max_size=6),
       task=st.sampled_from(["classification", "regression"]))
def test_labels_from_few_values_work_or_name_the_labels(values, task):
    rng = np.random.default_rng(len(values))
    lab = LAB.copy(data=rng.choice(values, LAB.shape))
    _only_xaurora_errors(lambda: EMB.aurora.probe(lab, task=task, n_boot=50), "labels")


@settings(max_examples=25, deadline=None)
@given(shift=st.floats(-5, 5, allow_nan=False), factor=st.sampled_from([1, 2, 3]))
def test_labels_on_another_grid_are_reduced_or_named(shift, factor):
    lat = np.linspace(60, -60, 4 * factor) + shift
    lon = np.arange(0, 360, 45.0 / factor)
    lab = xr.DataArray(np.ones((lat.size, lon.size)), dims=("lat", "lon"),
                       coords={"lat": lat, "lon": lon}, name="mask")
    lab[: lat.size // 2] = 0
    _only_xaurora_errors(lambda: EMB.aurora.probe(lab, n_boot=0), "mask", "labels")


@settings(max_examples=30, deadline=None)
@given(n=st.integers(-1, 6) | st.floats(0.5, 3.5) | st.sampled_from(["2", None, True]),
       n_times=st.integers(0, 3), constant=st.booleans(),
       sample_dims=st.sampled_from([("time",), ("time", "lat"), ("foo",), ("channel",), ()]))
def test_pca_works_or_names_the_problem(n, n_times, constant, sample_dims):
    X = EMB.isel(time=slice(0, n_times), lat=slice(0, 2), lon=slice(0, 2))
    X = X * 0 if constant else X
    _only_xaurora_errors(lambda: X.aurora.pca(n, sample_dims=sample_dims),
                         "n_components", "embedding", "pca")


@settings(max_examples=25, deadline=None)
@given(drop=st.sampled_from([None, "lat", "lon", "channel"]), n_lat=st.integers(0, 3),
       nan=st.booleans(), stats=st.sampled_from([("mean",), ("std", "rms"), (), ("max",)]))
def test_pool_works_or_names_the_problem(drop, n_lat, nan, stats):
    da = EMB if drop is None else EMB.isel({drop: 0})
    if "lat" in da.dims:
        da = da.isel(lat=slice(0, n_lat))
    if nan and da.size:
        da = da.where(da.lon > 0)
    _only_xaurora_errors(lambda: da.aurora.pool(stats=stats), "embedding", "pool")


# --- regression tests of the defects the properties found ------------------------------------


def test_pool_of_an_empty_grid_is_named_not_an_index_error():
    with pytest.raises(xa.XauroraError, match=r"embedding: its grid dim\(s\) \['lat'\] are empty"):
        EMB.isel(lat=slice(0, 0)).aurora.pool()


def test_pool_with_nan_tokens_raises_instead_of_nan_statistics():
    with pytest.raises(xa.XauroraError, match="embedding: contains NaN"):
        EMB.where(EMB.lon > 0).aurora.pool()


def test_pca_of_one_sample_or_constant_data_raises_instead_of_nan_variances():
    with pytest.raises(xa.XauroraError, match="hold 1 sample"):
        EMB.isel(time=[0]).aurora.pca(1)
    with pytest.raises(xa.XauroraError, match="zero variance"):
        (EMB * 0).aurora.pca(1)


def test_pca_n_components_must_be_whole():
    with pytest.raises(xa.XauroraError, match="n_components: must be a whole number"):
        EMB.aurora.pca(1.5)
    assert EMB.aurora.pca(2.0).sizes["component"] == 2  # a whole float still works


def test_unreadable_split_bounds_are_named():
    with pytest.raises(xa.XauroraError, match=r"split: the bounds of \('time', 'foo'"):
        EMB.aurora.probe(LAB, split=("time", "foo", "bar"))
    with pytest.raises(xa.XauroraError, match="split: the bounds"):
        EMB.aurora.probe(LAB, split=("lon", None, 3))
    with pytest.raises(xa.XauroraError, match="must be finite"):
        EMB.aurora.probe(LAB, split=("lon", 0, np.inf))


def test_test_size_that_is_not_a_number_is_named():
    with pytest.raises(xa.XauroraError, match="test_size: 'a'"):
        EMB.aurora.probe(LAB, test_size="a")


def test_non_numeric_labels_are_named():
    with pytest.raises(xa.XauroraError, match="labels: holds <U"):
        EMB.aurora.probe(LAB.astype(str))


def test_infinite_labels_are_not_silently_unlabelled():
    lab = LAB.astype(float).where(EMB.lon < 100, np.inf)
    with pytest.raises(xa.XauroraError, match="labels \\('land'\\): holds infinite"):
        EMB.aurora.probe(lab, task="regression")


def test_constant_regression_labels_raise_instead_of_a_meaningless_r2():
    with pytest.raises(xa.XauroraError, match="every label in the training set is 1"):
        EMB.aurora.probe(LAB * 0.0 + 1, task="regression")
    lab = LAB.astype(float).where(EMB.lon < 100, 2.0)
    with pytest.raises(xa.XauroraError, match="every label in the test set is 2"):
        EMB.aurora.probe(lab, task="regression", split=("lon", 120, 210))
