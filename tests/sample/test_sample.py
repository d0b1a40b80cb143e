"""The bundled sample data and the deterministic weather generator (xaurora.sample)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import xaurora.sample as xs
from xaurora.io.canonical import canonicalize

DATA = Path(__file__).parents[1] / "data"

SURFACE = {"t2m": (180, 335), "u10": (-60, 60), "v10": (-60, 60), "msl": (9.0e4, 1.08e5)}
ATMOS = {
    "z": (-5e3, 2.5e5),
    "u": (-120, 120),
    "v": (-120, 120),
    "t": (170, 330),
    "q": (0, 0.035),
}


@pytest.fixture(scope="module")
def ds() -> xr.Dataset:
    return xs.sample_dataset("2020-01-01", periods=6)


def test_bundled_files_are_small_and_inside_the_package():
    files = [xs.STATIC_FILE, xs.CLIMATOLOGY_FILE]
    data = Path(xs.__file__).parent.parent / "data"  # xaurora/data, next to xaurora/sample/
    assert all(f.exists() and f.parent == data for f in files)
    assert sum(f.stat().st_size for f in files) < 3e6
    assert (data / "README.md").exists()


def test_static_is_real_era5_on_the_sample_grid():
    st = xs.sample_static()
    assert dict(st.sizes) == {"latitude": 121, "longitude": 240}
    np.testing.assert_allclose(st.latitude[[0, -1]], [90.0, -90.0])
    np.testing.assert_allclose(st.longitude[[0, -1]], [0.0, 358.5])
    assert st.lsm.min() >= 0 and st.lsm.max() <= 1
    land = float(st.lsm.weighted(np.cos(np.deg2rad(st.latitude))).mean())
    assert 0.25 < land < 0.35  # Earth is ~29 % land
    assert set(np.unique(st.slt.values)) <= set(range(8))
    assert float(st.z.max()) > 4e4  # Himalaya / Antarctica at 1.5°
    # a few known places: Sahara is land, mid-Pacific is sea, Tibet is high
    assert float(st.lsm.sel(latitude=24, longitude=12)) > 0.9
    assert float(st.lsm.sel(latitude=0, longitude=180)) < 0.01
    assert float(st.z.sel(latitude=31.5, longitude=88.5)) / 9.81 > 4000
    assert st.lsm.attrs["units"] == "1" and "Land" in st.lsm.attrs["long_name"]
    wb2 = xs.sample_static("wb2")
    assert set(wb2.data_vars) == {"land_sea_mask", "geopotential_at_surface", "soil_type"}


def test_climatology_is_real_erainterim():
    clim = xs.sample_climatology()
    assert dict(clim.sizes) == {"month": 2, "level": 3, "latitude": 121, "longitude": 240}
    z500 = clim.z.sel(level=500) / 9.80665
    assert 4800 < float(z500.min()) and float(z500.max()) < 6000
    # Northern-winter jet is stronger than the northern-summer jet at 200 hPa
    u200 = clim.u.sel(level=200, latitude=slice(60, 20)).mean(("latitude", "longitude"))
    assert float(u200.sel(month=1)) > float(u200.sel(month=7)) + 5


def test_layout_units_and_ranges(ds):
    assert set(ds.data_vars) == set(SURFACE) | set(ATMOS)
    assert dict(ds.sizes) == {"valid_time": 6, "pressure_level": 3, "latitude": 121,
                              "longitude": 240}
    assert list(ds.pressure_level.values) == [200, 500, 850]
    assert ds.t2m.dims == ("valid_time", "latitude", "longitude")
    assert ds.q.dims == ("valid_time", "pressure_level", "latitude", "longitude")
    units = {"t2m": "K", "msl": "Pa", "z": "m**2 s**-2", "q": "kg kg**-1", "u10": "m s**-1"}
    for name, unit in units.items():
        assert ds[name].attrs["units"] == unit
    for name, (lo, hi) in {**SURFACE, **ATMOS}.items():
        vals = ds[name].values
        assert np.isfinite(vals).all(), name
        assert lo <= vals.min() and vals.max() <= hi, (name, vals.min(), vals.max())
        assert vals.dtype == np.float32
    z500 = ds.z.sel(pressure_level=500) / 9.80665
    assert 4550 < float(z500.min()) and float(z500.max()) < 6000
    assert 100500 < float(ds.msl.mean()) < 101800


@pytest.mark.parametrize("naming", ["cds", "wb2", "aurora"])
def test_passes_the_core_validators(naming):
    ds = xs.sample_dataset(periods=3, naming=naming, with_static=True)
    c = canonicalize(ds)  # checks names, grid, NaNs and units against Aurora's statistics
    assert {"2t", "msl", "z", "q", "static_lsm", "static_z", "static_slt"} <= set(c.data_vars)
    assert dict(c.sizes) == {"time": 3, "level": 3, "lat": 121, "lon": 240}
    c2 = canonicalize(xs.sample_dataset(periods=3, naming=naming), static=xs.sample_static(naming))
    np.testing.assert_array_equal(c2.static_lsm.values, c.static_lsm.values)


def test_all_aurora_levels_pass_the_validators():
    ds = xs.sample_dataset(periods=2, levels=xs.AURORA_LEVELS, with_static=True)
    canonicalize(ds)
    t = ds.t.mean(("valid_time", "latitude", "longitude"))
    assert float(t.sel(pressure_level=1000)) > float(t.sel(pressure_level=500))
    z = ds.z.mean(("valid_time", "latitude", "longitude")).values
    assert np.all(np.diff(z) < 0)  # geopotential falls with pressure


def test_deterministic_and_window_independent():
    a = xs.sample_dataset("2020-03-01", periods=6, seed=3)
    b = xs.sample_dataset("2020-03-01T12", periods=2, seed=3)
    xr.testing.assert_identical(a.isel(valid_time=slice(2, 4)).drop_attrs(),
                                b.drop_attrs())
    c = xs.sample_dataset("2020-03-01", periods=6, seed=4)
    assert not np.allclose(a.msl.values, c.msl.values)


def test_annual_and_diurnal_cycles():
    st = xs.sample_static()
    nh_land = (st.lsm > 0.9) & (st.latitude > 35) & (st.latitude < 65)
    jan = xs.sample_dataset("2021-01-15", periods=4)
    jul = xs.sample_dataset("2021-07-15", periods=4)
    assert float(jul.t2m.where(nh_land).mean()) > float(jan.t2m.where(nh_land).mean()) + 15
    # diurnal cycle: land amplitude over a day well above the sea's
    day = xs.sample_dataset("2021-04-10", periods=4)
    rng = (day.t2m.max("valid_time") - day.t2m.min("valid_time"))
    assert float(rng.where(st.lsm > 0.9).mean()) > float(rng.where(st.lsm < 0.1).mean()) + 3


def test_humidity_follows_temperature(ds):
    q, t = ds.q.sel(pressure_level=850), ds.t.sel(pressure_level=850)
    assert np.corrcoef(q.values.ravel(), t.values.ravel())[0, 1] > 0.8
    assert float(ds.q.sel(pressure_level=200).mean()) < float(q.mean()) / 20


def test_winds_are_near_geostrophic_around_storms(ds):
    # Northern mid-latitudes: a low in z500 has cyclonic (anticlockwise) flow around it.
    z = ds.z.sel(pressure_level=500, latitude=slice(65, 35)).isel(valid_time=0)
    anom = z - z.mean("longitude")
    i = int(np.argmin(anom.values))
    la, lo = np.unravel_index(i, anom.shape)
    lat_c, lon_c = float(z.latitude[la]), float(z.longitude[lo])
    u = ds.u.sel(pressure_level=500).isel(valid_time=0)
    u_n = u.sel(latitude=lat_c + 6, longitude=lon_c, method="nearest")
    u_s = u.sel(latitude=lat_c - 6, longitude=lon_c, method="nearest")
    assert float(u_s) > float(u_n)  # westerly south of the low, easterly-ish north of it


def test_storm_events_plant_north_atlantic_lows():
    ds, label = xs.sample_events("2020-02-01", periods=16, episode=2)
    assert label.dtype == bool and label.sizes["valid_time"] == 16
    assert label.values.reshape(-1, 2).std(axis=1).max() == 0  # episodes of 2 steps
    assert 4 <= int(label.sum()) <= 12
    lat0, lat1, lon0, lon1 = xs.NORTH_ATLANTIC
    box = ds.msl.sel(latitude=slice(lat1, lat0), longitude=slice(lon0 % 360, lon1 % 360))
    deepest = box.min(("latitude", "longitude"))
    assert float(deepest.where(label).max()) < float(deepest.where(~label).min())
    wb2, lab2 = xs.sample_events(periods=4, naming="wb2")
    assert lab2.dims == ("time",)


def test_errors_name_the_fix():
    with pytest.raises(ValueError, match="naming"):
        xs.sample_dataset(periods=2, naming="grib")
    with pytest.raises(ValueError, match="Aurora's pressure levels"):
        xs.sample_dataset(periods=2, levels=(500, 875))
    with pytest.raises(ValueError, match="storm_events"):
        xs.sample_dataset(periods=3, events=np.ones(2, bool))


def test_real_test_files_keep_their_original_layout():
    st = xr.open_dataset(DATA / "era5_static_small.nc")
    assert st.z.dims == ("valid_time", "latitude", "longitude")
    assert float(st.latitude[0]) == 90.0 and float(st.longitude[0]) == 0.0
    ei = xr.open_dataset(DATA / "erainterim_small.nc")
    assert ei.z.dims == ("month", "level", "latitude", "longitude")
    assert ei.z.dtype == np.float64
    assert float(ei.longitude[0]) == -180.0 and bool((ei.longitude.diff("longitude") > 0).all())
    assert float(ei.latitude[0]) == 90.0
    for f in ("era5_static_small.nc", "erainterim_small.nc"):
        assert (DATA / f).stat().st_size < 500e3
