"""Label helpers: land-sea from any naming scheme, per-location quantile exceedance."""

from pathlib import Path

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr

from tests._dask import raise_if_dask_computes
from xaurora.analysis import labels
from xaurora.grids.patches import to_patches

DATA = Path(__file__).parents[1] / "data"


def _grid(lat_desc=True, lon180=False):
    lat = np.linspace(90, -90, 9) if lat_desc else np.linspace(-90, 90, 9)
    lon = np.arange(0, 360, 45.0)
    if lon180:
        lon = np.sort(np.where(lon >= 180, lon - 360, lon))
    return lat, lon


def _lsm(naming="lsm", lat_desc=True, lon180=False, time=False):
    lat, lon = _grid(lat_desc, lon180)
    # land where lon in [90, 180] (in 0..360 terms): independent of the array order
    frac = np.where(((lon % 360) >= 90) & ((lon % 360) <= 180), 0.8, 0.1)
    vals = np.broadcast_to(frac, (lat.size, lon.size)).astype("float32")
    da = xr.DataArray(vals, dims=("latitude", "longitude"),
                      coords={"latitude": lat, "longitude": lon}, name=naming)
    if time:
        da = da.expand_dims(valid_time=[np.datetime64("2023-01-01")])
    return da


@pytest.mark.parametrize("naming", ["lsm", "land_sea_mask", "static_lsm"])
@pytest.mark.parametrize("lat_desc", [True, False])
@pytest.mark.parametrize("lon180", [True, False])
def test_land_sea_any_naming_gives_canonical_grid(naming, lat_desc, lon180):
    ds = _lsm(naming, lat_desc, lon180, time=True).to_dataset()
    out = labels.land_sea(ds)
    assert out.dims == ("lat", "lon")
    assert np.all(np.diff(out.lat) < 0)
    assert out.lon.min() >= 0 and out.lon.max() < 360 and np.all(np.diff(out.lon) > 0)
    # the land fraction is kept (the probe reduces it per patch: mean >= 0.5 is land)
    expected = xr.where((out.lon >= 90) & (out.lon <= 180), 0.8, 0.1)
    np.testing.assert_allclose(out.values, np.broadcast_to(expected.values, out.shape),
                               rtol=1e-6)
    assert "fraction" in out.attrs["long_name"] and out.attrs["units"] == "1"
    binary = labels.land_sea(ds, threshold=0.5)
    assert set(np.unique(binary.values)) == {0.0, 1.0}
    assert binary.attrs["flag_meanings"] == "sea land"


def test_land_sea_accepts_dataarray_and_threshold():
    da = _lsm()
    assert float(labels.land_sea(da).sum()) == pytest.approx(9 * (3 * 0.8 + 5 * 0.1), rel=1e-6)
    assert float(labels.land_sea(da, threshold=0.5).sum()) == 9 * 3
    assert float(labels.land_sea(da, threshold=0.05).sum()) == 9 * 8


def test_patch_is_land_when_mean_fraction_at_least_half_not_pixel_majority():
    """Hand computation on 2 × 2 patches of 4 × 4 pixels where the two rules disagree.

    Patch A: 7 pixels at 0.9, 9 at 0.45 → mean fraction 0.647 → land (study); but only 7 of
    16 pixels are ≥ 0.5 → sea if pixels are binarised first.
    Patch B: 9 pixels at 0.5, 7 at 0 → mean 0.28 → sea; 9 of 16 binarised pixels → land.
    Patch C all 1 (land either way), patch D all 0 (sea either way).
    """
    from xaurora.analysis.samples import labels_on_patches

    a = np.r_[np.full(7, 0.9), np.full(9, 0.45)].reshape(4, 4)
    b = np.r_[np.full(9, 0.5), np.zeros(7)].reshape(4, 4)
    frac = np.block([[a, b], [np.ones((4, 4)), np.zeros((4, 4))]])
    assert a.mean() == pytest.approx(0.646875) and b.mean() == pytest.approx(0.28125)
    lsm = xr.DataArray(frac, dims=("latitude", "longitude"), name="lsm",
                       coords={"latitude": np.arange(7.0, -1, -1), "longitude": np.arange(8.0)})
    emb = xr.DataArray(np.zeros((2, 2, 1)), dims=("lat", "lon", "channel"),
                       coords={"lat": [5.5, 1.5], "lon": [1.5, 5.5]}, attrs={"patch_size": 4})
    study = labels_on_patches(labels.land_sea(lsm), emb)
    assert study.values.tolist() == [[1.0, 0.0], [1.0, 0.0]]
    binarised_first = labels_on_patches(labels.land_sea(lsm, threshold=0.5), emb)
    assert binarised_first.values.tolist() == [[0.0, 1.0], [1.0, 0.0]]


def test_land_sea_errors_name_the_fix():
    with pytest.raises(ValueError, match="no land-sea mask.*Fix"):
        labels.land_sea(xr.Dataset({"t2m": _lsm()}))
    with pytest.raises(ValueError, match=r"land fractions in \[0, 1\].*Fix"):
        labels.land_sea(_lsm() * 100)


def test_land_sea_from_real_era5_static():
    path = DATA / "era5_static_small.nc"
    if not path.exists():
        pytest.skip("tests/data/era5_static_small.nc missing (run tests/data/make_test_data.py)")
    ds = xr.open_dataset(path)
    land = labels.land_sea(ds)
    assert land.dims == ("lat", "lon") and np.all(np.diff(land.lat) < 0)
    frac = float(land.weighted(np.cos(np.deg2rad(land.lat))).mean())
    assert 0.25 < frac < 0.35  # Earth's surface is ~29 % land
    # known points: central Sahara is land, mid-Pacific is sea
    assert land.sel(lat=23, lon=12, method="nearest") == 1
    assert land.sel(lat=0, lon=200, method="nearest") == 0
    # patch reduction: the patch mean of 0/1 pixels stays a fraction in [0, 1]
    patches = to_patches(land, 4)
    assert 0 <= float(patches.min()) and float(patches.max()) <= 1


def test_exceeds_quantile_is_per_location():
    rng = np.random.default_rng(0)
    n_t = 200
    # two locations with very different climates
    vals = np.stack([rng.normal(0, 1, n_t), rng.normal(100, 10, n_t)], axis=1)[:, None, :]
    da = xr.DataArray(vals, dims=("time", "lat", "lon"),
                      coords={"time": np.arange(n_t), "lat": [0.0], "lon": [0.0, 10.0]})
    out = labels.exceeds_quantile(da, 0.9)
    for j in range(2):
        thr = np.quantile(vals[:, 0, j], 0.9)
        np.testing.assert_array_equal(out.values[:, 0, j], (vals[:, 0, j] > thr).astype(float))
    np.testing.assert_allclose(out.mean("time").values, 0.1, atol=0.006)


def test_exceeds_quantile_several_q_and_lazy():
    rng = np.random.default_rng(1)
    data = dsa.from_array(rng.normal(size=(40, 3, 4)), chunks=(10, 3, 4))
    da = xr.DataArray(data, dims=("time", "latitude", "longitude"),
                      coords={"latitude": [10.0, 0, -10], "longitude": [0.0, 90, 180, 270]})
    with raise_if_dask_computes():
        out = labels.exceeds_quantile(da, [0.75, 0.9, 0.99])
    assert out.chunks is not None
    assert out.dims == ("quantile", "time", "lat", "lon")
    vals = da.values
    for i, q in enumerate([0.75, 0.9, 0.99]):
        expected = (vals > np.quantile(vals, q, axis=0)).astype(float)
        np.testing.assert_array_equal(out.isel(quantile=i).values, expected)
    # 40 steps: linear interpolation leaves exactly 10, 4 and 1 steps above at every location
    frac = out.mean(("time", "lat", "lon")).values
    np.testing.assert_allclose(frac, [0.25, 0.1, 0.025])
    with pytest.raises(ValueError, match="between 0 and 1"):
        labels.exceeds_quantile(da, 90)
    with pytest.raises(ValueError, match="no 'day' dimension"):
        labels.exceeds_quantile(da, 0.9, dim="day")


def test_exceeds_keeps_nan_and_broadcasts_thresholds():
    da = xr.DataArray([[[1.0, np.nan, 5.0]]], dims=("time", "lat", "lon"),
                      coords={"lat": [0.0], "lon": [0.0, 1.0, 2.0]})
    np.testing.assert_array_equal(labels.exceeds(da, 2.0).values.ravel(), [0, np.nan, 1])
    thr = xr.DataArray([[0.0, 0.0, 6.0]], dims=("latitude", "longitude"),
                       coords={"latitude": [0.0], "longitude": [0.0, 1.0, 2.0]})
    np.testing.assert_array_equal(labels.exceeds(da, thr).values.ravel(), [1, np.nan, 0])
