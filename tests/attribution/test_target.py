"""xa.Target: names, regions (box across 0°, regionmask, DataArray), weights, target value."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xaurora as xa
from xaurora.attribution.target import Target, box_mask

LAT = np.linspace(90, -90, 17)
LON = np.arange(0, 360, 11.25)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name,aurora", [("msl", "msl"), ("t2m", "2t"),
                                         ("10m_u_component_of_wind", "10u")])
def test_surface_names_map_to_aurora(name, aurora):
    assert Target(name).aurora_variable == aurora


def test_atmospheric_needs_level_and_maps_names():
    assert Target("temperature", level=850).aurora_variable == "t"
    with pytest.raises(ValueError, match="level"):
        Target("geopotential")
    with pytest.raises(ValueError, match="surface variable"):
        Target("msl", level=500)
    with pytest.raises(ValueError, match="not a predicted variable"):
        Target("precip")
    with pytest.raises(ValueError, match="lead_steps"):
        Target("msl", lead_steps=0)


def test_box_crossing_greenwich_and_negative_longitudes():
    m = box_mask((30, 72, -12, 45), LAT, LON)
    cols = LON[m.any(axis=0)]
    assert set(cols) == {c for c in LON if c <= 45 or c >= 348}
    rows = LAT[m.any(axis=1)]
    assert rows.min() >= 30 and rows.max() <= 72
    # same box written with longitudes in [0, 360)
    assert (box_mask((30, 72, 348, 45), LAT, LON) == m).all()
    assert box_mask((-90, 90, 0, 360), LAT, LON).all()
    with pytest.raises(ValueError, match="lat_min"):
        box_mask((72, 30, 0, 10), LAT, LON)


def test_dataarray_region_in_any_lon_convention():
    lon180 = ((LON + 180) % 360) - 180
    da = xr.DataArray(np.zeros((LAT.size, LON.size), bool), dims=("latitude", "longitude"),
                      coords={"latitude": LAT, "longitude": lon180})
    da.loc[{"latitude": LAT[3], "longitude": -180.0}] = True  # lon -180 == 180
    m = Target("msl", region=da).mask(LAT, LON)
    assert m.sum() == 1 and m[3, LON == 180.0].all()


def test_regionmask_regions_and_region_name():
    import regionmask

    regs = regionmask.Regions([[[0, 0], [90, 0], [90, 45], [0, 45]],
                               [[180, -45], [270, -45], [270, 0], [180, 0]]],
                              names=["north", "south"], abbrevs=["N", "S"])
    north = Target("msl", region=regs, region_name="north").mask(LAT, LON)
    south = Target("msl", region=regs, region_name="S").mask(LAT, LON)
    both = Target("msl", region=regs).mask(LAT, LON)
    assert north.any() and south.any() and not (north & south).any()
    assert (both == (north | south)).all()
    with pytest.raises(ValueError, match="region_name"):
        Target("msl", region=regs, region_name="west").mask(LAT, LON)


def test_weights_are_coslat_and_empty_region_is_an_error():
    t = Target("msl", region=(0, 60, 0, 90))
    w = t.weights(LAT, LON, n_rows=16)
    assert w.shape == (16, LON.size) and np.isclose(w.sum(), 1.0)
    r = np.flatnonzero(w.sum(axis=1))
    ratio = w[r[0]].max() / w[r[-1]].max()
    assert np.isclose(ratio, np.cos(np.deg2rad(LAT[r[0]])) / np.cos(np.deg2rad(LAT[r[-1]])))
    with pytest.raises(ValueError, match="no grid cell"):
        Target("msl", region=(10, 11, 0, 1)).mask(LAT, LON)


def test_target_value_is_weighted_mean_of_forecast(tiny):
    ds = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, n_times=2, levels=(500, 850))
    target = Target("msl", region=(30, 72, -12, 45))
    rel = xa.attribution.relevance(ds, tiny, target, method="gradxinput")
    fc = ds.aurora.forecast(tiny, steps=1)["msl"].isel(time=0, lead_time=0)
    w = xr.DataArray(target.weights(fc.lat, fc.lon, n_rows=16), dims=("lat", "lon"))
    expected = float((fc.isel(lat=slice(0, 16)) * w).sum())
    assert rel.attrs["target_value"] == pytest.approx(expected, abs=0.05)
