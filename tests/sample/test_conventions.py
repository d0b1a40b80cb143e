"""One house for the conventions: name tables, the land–sea-mask finder, longitude bands.

Each convention has one implementation; these tests check that the modules which use it agree
with it (and with a hand computation), so a second copy cannot drift apart unnoticed.
"""

import numpy as np
import pytest
import xarray as xr

import xaurora as xa
from xaurora.io import names
from xaurora.plot.common import lsm_field


def test_dim_names_are_the_union_of_the_per_dim_tables():
    for canon, table in (("time", names.TIME_NAMES), ("level", names.LEVEL_NAMES),
                         ("lat", names.LAT_NAMES), ("lon", names.LON_NAMES)):
        assert table[0] == canon
        assert all(names.DIM_NAMES[n] == canon for n in table)
    assert len(names.DIM_NAMES) == sum(map(len, (names.TIME_NAMES, names.LEVEL_NAMES,
                                                 names.LAT_NAMES, names.LON_NAMES)))


@pytest.mark.parametrize("naming", ["aurora", "cds", "wb2"])
def test_generated_data_use_the_scheme_tables(naming):
    ds = xa.testing.synthetic_dataset(n_lat=5, n_lon=8, n_times=1, naming=naming)
    scheme = names.scheme_of(naming)
    time, level, lat, lon = names.SCHEME_DIMS[scheme]
    assert ds[names.SCHEMES[scheme]["2t"]].dims == (time, lat, lon)
    assert ds[names.SCHEMES[scheme]["t"]].dims == (time, level, lat, lon)
    for canon, name in names.variable_names(naming).items():
        assert name in ds.data_vars
        assert names.SCHEMES[scheme][canon] == name
    assert names.variable_names(naming, static=True)["lsm"] in ds.data_vars
    # the sample data take their names from the same table
    st = xa.sample.sample_static(naming=naming)
    assert set(names.variable_names(naming, static=True).values()) == set(st.data_vars)


@pytest.mark.parametrize("name", names.LSM_NAMES)
def test_one_land_sea_mask_finder_for_labels_and_plots(name):
    frac = np.array([[0.2, 0.9], [0.6, 0.0]])
    ds = xr.Dataset({name: (("latitude", "longitude"), frac), "soil_type": (
        ("latitude", "longitude"), np.zeros((2, 2)))},
        coords={"latitude": [10.0, 0.0], "longitude": [0.0, 1.0]})
    assert names.find_land_sea_mask(ds).name == name
    np.testing.assert_allclose(xa.labels.land_sea(ds).values, frac)
    np.testing.assert_allclose(lsm_field(ds).values, frac)


def test_missing_land_sea_mask_error_names_the_users_variables_and_the_fix():
    ds = xr.Dataset({"2m_temperature": (("latitude",), [280.0]),
                     "soil_type": (("latitude",), [1.0])}, coords={"latitude": [0.0]})
    for call, what in ((xa.labels.land_sea, "land_sea"), (lsm_field, "lsm")):
        with pytest.raises(xa.XauroraError) as err:
            call(ds)
        msg = str(err.value)
        assert msg.startswith(f"{what}: ")
        assert "2m_temperature" in msg and "soil_type" in msg
        assert "land_sea_mask" in msg and "Fix:" in msg


def _near_greenwich(lon, half_width=10.0):
    """By hand: within ``half_width`` degrees of 0° (distance on the circle, bounds included)."""
    return np.abs((np.asarray(lon, dtype=np.float64) + 180.0) % 360.0 - 180.0) <= half_width


@pytest.mark.parametrize("lon_180", [False, True], ids=["0..360", "-180..180"])
@pytest.mark.parametrize("band", [(350, 10), (-10, 10), (350, 370)])
def test_a_band_across_0_selects_the_same_points_in_target_probe_and_lon_in_band(lon_180, band):
    from xaurora.analysis.probe import probe
    from xaurora.attribution.target import Target, box_mask
    from xaurora.grids import HEALPix, lon_in_band

    lon = np.arange(0.0, 360.0, 5.0)
    if lon_180:
        lon = np.where(lon >= 180, lon - 360, lon)
    lat = np.array([40.0, 20.0, 0.0, -20.0])
    want = _near_greenwich(lon)
    assert want.sum() == 5  # 350, 355, 0, 5, 10: both bounds are inside
    np.testing.assert_array_equal(lon_in_band(lon, *band), want)
    np.testing.assert_array_equal(box_mask((-90, 90, *band), lat, lon),
                                  np.broadcast_to(want, (lat.size, lon.size)))
    t = Target("msl", region=(-90, 90, *band))
    np.testing.assert_array_equal(t.mask(lat, lon), np.broadcast_to(want, (lat.size, lon.size)))
    # the sample data's storm box uses the same rule
    from xaurora.sample.weather import in_box
    np.testing.assert_array_equal(in_box(np.zeros(lon.size), lon, (-90, 90, *band)), want)

    # probe split on a patch grid in that convention: the test set is exactly the band
    rng = np.random.default_rng(0)
    emb = xr.DataArray(rng.normal(size=(2, lat.size, lon.size, 3)),
                       dims=("time", "lat", "lon", "channel"),
                       coords={"time": np.arange(2).astype("datetime64[D]"), "lat": lat,
                               "lon": lon})
    labels = (emb.isel(channel=0) > 0).rename("label")
    res = probe(emb, labels, split=("lon", *band), n_boot=0)
    np.testing.assert_array_equal(res.is_test.values,
                                  np.broadcast_to(want, res.is_test.shape))
    np.testing.assert_array_equal(res.lon.values, lon)  # the embedding's own convention

    # and on HEALPix cells: the grid's band is lon_in_band of the cell centres
    g = HEALPix(2)
    cells = xr.DataArray(rng.normal(size=(2, g.n_cells, 3)), dims=("time", "cells", "channel"),
                         coords={"time": emb.time, **g.coords()}, attrs=g.attrs())
    want_cells = _near_greenwich(g.lon)
    assert want_cells.any()
    np.testing.assert_array_equal(g.band(cells, "lon", *band).values, want_cells)
    res = probe(cells, (cells.isel(channel=0) > 0).rename("label"), split=("lon", *band),
                n_boot=0)
    np.testing.assert_array_equal(res.is_test.values,
                                  np.broadcast_to(want_cells, res.is_test.shape))
