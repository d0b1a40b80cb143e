"""One house for the conventions: name tables, the land–sea-mask finder, longitude bands.

Each convention has one implementation; these tests check that the modules which use it agree
with it (and with a hand computation), so a second copy cannot drift apart unnoticed.
"""

import numpy as np
import pytest
import xarray as xr

import xaurora as xa
from xaurora.io import names
from xaurora.plotting._common import lsm_field


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
