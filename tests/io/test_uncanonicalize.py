"""canonicalize records how to undo itself; results go back to the user's grid from cds alone."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xaurora as xa
from xaurora.io.canonical import canonicalize
from xaurora.io.uncanonical import to_input_grid, uncanonicalize

pytestmark = pytest.mark.usefixtures("one_thread")

GRIDS = [(lat_desc, lon_180) for lat_desc in (True, False) for lon_180 in (False, True)]


def _user(lat_desc: bool, lon_180: bool, naming: str = "cds", **kw) -> xr.Dataset:
    ds = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, naming=naming, lon_180=lon_180, **kw)
    lat = "latitude" if "latitude" in ds.dims else "lat"
    descending = bool(ds[lat][0] > ds[lat][-1])
    return ds if descending == lat_desc else ds.isel({lat: slice(None, None, -1)})


@pytest.mark.parametrize(("lat_desc", "lon_180"), GRIDS)
@pytest.mark.parametrize("naming", ["cds", "wb2"])
def test_round_trip_gives_back_the_users_grid_names_and_values(lat_desc, lon_180, naming):
    ds = _user(lat_desc, lon_180, naming)
    cds = canonicalize(ds)
    assert cds.lat.values[0] > cds.lat.values[-1] and (np.diff(cds.lon.values) > 0).all()
    assert cds.attrs["xaurora_lat_order"] == ("descending" if lat_desc else "ascending")
    assert cds.attrs["xaurora_lon_convention"] == ("[-180, 180)" if lon_180 else "[0, 360)")
    back = uncanonicalize(cds, cds)
    names = {"cds": ("latitude", "longitude"), "wb2": ("latitude", "longitude")}[naming]
    for dim, user in zip(("lat", "lon"), names):
        np.testing.assert_array_equal(back[dim].values, ds[user].values)
        assert back[dim].dtype == ds[user].dtype
    dynamic = [v for v in ds.data_vars if "time" in ds[v].dims]
    assert set(dynamic) <= set(back.data_vars)  # the user's own variable names
    for v in dynamic:
        user = ds[v].rename({names[0]: "lat", names[1]: "lon"})
        user = user.rename({d: "time" for d in user.dims if d in ("valid_time",)})
        np.testing.assert_array_equal(back[v].transpose(*user.dims).values, user.values)


def test_round_trip_is_exact_on_a_non_dyadic_grid():
    """0.1°-offset longitudes west of 0° come back bit for bit (not recomputed as x + 360 − 360)."""
    lon = np.round(np.arange(-179.9, 180.0, 10.0), 1)
    lat = np.round(np.linspace(-89.9, 89.9, 9), 1)  # ascending
    ds = xr.Dataset({"2t": (("time", "lat", "lon"), np.full((1, lat.size, lon.size), 280.0))},
                    coords={"time": [np.datetime64("2020-01-01")], "lat": lat, "lon": lon})
    back = uncanonicalize(canonicalize(ds), canonicalize(ds))
    np.testing.assert_array_equal(back.lon.values, lon)
    np.testing.assert_array_equal(back.lat.values, lat)
    assert (np.mod(lon, 360) - 360)[lon < 0].tolist() != lon[lon < 0].tolist()  # why it matters


def test_a_subset_of_the_canonical_grid_comes_back_in_the_users_order():
    ds = _user(lat_desc=False, lon_180=True)
    cds = canonicalize(ds)
    part = cds["2t"].isel(lat=slice(2, 9), lon=slice(3, 20))
    back = uncanonicalize(part, cds)
    assert back.name == "t2m"
    assert (np.diff(back.lat.values) > 0).all() and back.lon.values.min() < 0
    expected = ds["t2m"].sel(latitude=back.lat.values, longitude=back.lon.values)
    np.testing.assert_array_equal(back.transpose("time", "lat", "lon").values, expected.values)


def test_levels_stored_from_1000_hpa_up_come_back_in_that_order(tiny):
    """Reading sorts levels ascending (one order for the model); results go back to the
    user's order, with the same values as for the same data stored upwards."""
    ds = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, n_times=3, levels=(250, 500, 850))
    flipped = ds.isel(level=slice(None, None, -1))
    cds = canonicalize(flipped)
    assert cds["level"].values.tolist() == [250, 500, 850]
    back = uncanonicalize(cds[["t"]], cds)
    assert back["level"].values.tolist() == [850, 500, 250]
    xr.testing.assert_equal(back["t"], flipped["t"])
    fc = xa.forecast(flipped, tiny)
    assert fc["level"].values.tolist() == [850, 500, 250]
    xr.testing.assert_identical(fc, xa.forecast(ds, tiny).sel(level=[850, 500, 250]))


def test_without_the_record_the_error_says_what_to_pass():
    cds = canonicalize(xa.testing.synthetic_dataset())
    with pytest.raises(ValueError, match="Fix: pass the Dataset that xaurora.canonicalize"):
        uncanonicalize(cds, cds.drop_attrs())


def _perm(user: np.ndarray, canon: np.ndarray) -> np.ndarray:
    """Index of each user coordinate value in the canonical coordinate (hand computation)."""
    wrapped = np.mod(user, 360.0) if canon.max() > 180 else user
    return np.array([int(np.flatnonzero(canon == w)[0]) for w in wrapped])


def test_forecast_and_relevance_on_the_users_grid_equal_the_canonical_results(tiny):
    """Latitude ascending, longitudes in [-180, 180): results carry the user's coords exactly and
    equal the results on the canonically laid out data, reordered by hand (the old path)."""
    user = _user(lat_desc=False, lon_180=True, n_times=2)
    canon = _user(lat_desc=True, lon_180=False, n_times=2)
    ilat = _perm(user.latitude.values, canon.latitude.values)
    ilon = _perm(user.longitude.values, canon.longitude.values)
    fc_user, fc_canon = xa.forecast(user, tiny), xa.forecast(canon, tiny)
    np.testing.assert_array_equal(fc_user.lat.values, user.latitude.values)
    np.testing.assert_array_equal(fc_user.lon.values, user.longitude.values)
    assert set(fc_user.data_vars) == set(fc_canon.data_vars) >= {"t2m", "msl", "t"}
    for v in fc_user.data_vars:
        np.testing.assert_array_equal(fc_user[v].values,
                                      fc_canon[v].values[..., ilat, :][..., ilon])
    old = to_input_grid(fc_canon, user.latitude.values, user.longitude.values)  # the old undo
    xr.testing.assert_identical(fc_user.drop_vars("valid_time"), old.drop_vars("valid_time"))

    target = xa.Target("msl", region=(0, 60, -30, 60))
    rel_user = xa.attribution.relevance(user, tiny, target, method="gradxinput")
    rel_canon = xa.attribution.relevance(canon, tiny, target, method="gradxinput")
    np.testing.assert_array_equal(rel_user.lat.values, user.latitude.values)
    np.testing.assert_array_equal(rel_user.lon.values, user.longitude.values)
    assert set(rel_user.data_vars) == set(rel_canon.data_vars) >= {"t2m", "z", "lsm"}
    for v in rel_user.data_vars:
        np.testing.assert_allclose(rel_user[v].values,
                                   rel_canon[v].values[..., ilat, :][..., ilon],
                                   rtol=1e-5, atol=1e-6 * float(abs(rel_canon[v]).max()))


class _Counted(xr.Dataset):
    """A Dataset that counts every attribute read on the instance handed to xaurora."""

    __slots__ = ()
    watched: set[int] = set()
    reads = 0

    def __getattribute__(self, name):
        if object.__getattribute__(self, "__class__").watched.__contains__(id(self)):
            _Counted.reads += 1
        return super().__getattribute__(name)


def _reads(fn, ds) -> int:
    counted = _Counted(ds.data_vars, coords=ds.coords, attrs=ds.attrs)
    _Counted.watched, _Counted.reads = {id(counted)}, 0
    try:
        fn(counted)
    finally:
        _Counted.watched = set()
    return _Counted.reads


def test_the_users_dataset_is_read_once_for_canonicalize_not_again_for_the_undo(tiny,
                                                                                  dask_counter):
    ds = _user(lat_desc=False, lon_180=True, n_times=2, lazy=True)
    reading = _reads(lambda d: canonicalize(d, info=tiny.info), ds)
    assert reading > 0  # the counter sees canonicalize reading the dataset
    assert _reads(lambda d: xa.forecast(d, tiny), ds) == reading
    target = xa.Target("msl", region=(0, 60, -30, 60))
    assert _reads(lambda d: xa.attribution.relevance(d, tiny, target, method="saliency"),
                  ds) == reading
    with dask_counter() as c:  # and the lazy data are computed once, by the load
        fc = xa.forecast(ds, tiny)
    assert c.count == 1
    np.testing.assert_array_equal(fc.lon.values, ds.longitude.values)
