"""``static=`` for input on HEALPix cells: the static fields are merged by ``cell_ids``, so
embedding a dataset plus its static file equals embedding the dataset that holds them."""

import numpy as np
import pytest
import xarray as xr

import xaurora as xa
from xaurora.encoders import read_for


class LandAndT:
    """A picklable encoder: per level-1 parent, the mean of the children's 2t and land mask."""

    def __call__(self, sample):
        t = sample["2t"].isel(time=-1).values.reshape(48, 4).mean(axis=-1)
        lsm = sample["lsm"].values.reshape(48, 4).mean(axis=-1)
        return np.stack([t, lsm], axis=-1)


@pytest.fixture(scope="module")
def parts():
    full = xa.testing.synthetic_healpix_dataset(level=2, n_times=2, naming="cds")
    dynamic = xa.testing.synthetic_healpix_dataset(level=2, n_times=2, naming="cds",
                                                   with_static=False)
    xr.testing.assert_identical(full["t2m"], dynamic["t2m"])  # same fields, statics apart
    static = full[["lsm", "slt", "geopotential_at_surface"]]
    static = static.drop_vars(["lat", "lon"]).expand_dims(valid_time=full.valid_time[:1])
    shuffled = static.isel(cells=np.random.default_rng(0).permutation(full.sizes["cells"]))
    return full, dynamic, shuffled


def test_read_for_merges_static_cells_by_their_ids(parts):
    full, dynamic, static = parts
    enc = xa.Encoder(LandAndT(), grid=xa.grids.HEALPix(1), variables=("t2m", "lsm"))
    got = read_for(dynamic, enc, static=static)
    want = read_for(full, enc)
    for name in ("static_lsm", "static_slt", "static_z", "2t"):
        np.testing.assert_array_equal(got[name].values, want[name].values)
    assert got["static_lsm"].dims == ("cells",)
    assert got["static_lsm"].attrs["source_name"] == "lsm"
    np.testing.assert_array_equal(got["cell_ids"].values, dynamic["cell_ids"].values)
    # the dataset's own static fields are overridden by static=, as for lat–lon input
    over = read_for(full, enc, static=static.assign(lsm=1 - static["lsm"]))
    np.testing.assert_array_equal(over["static_lsm"].values, 1 - want["static_lsm"].values)
    # and embed takes them the same way
    a = dynamic.aurora.embed(enc, static=static)
    b = full.aurora.embed(enc)
    np.testing.assert_array_equal(a.values, b.values)
    assert float(a.sel(channel=1).mean()) > 0  # the land mask did arrive


def test_static_on_other_cells_or_a_latlon_grid_is_an_actionable_error(parts):
    full, dynamic, static = parts
    enc = xa.Encoder(LandAndT(), grid=xa.grids.HEALPix(1), variables=("t2m", "lsm"))
    with pytest.raises(xa.XauroraError, match="lacks 12 of the dataset's cells.*Fix"):
        read_for(dynamic, enc, static=static.isel(cells=slice(12, None)))
    coarse = xa.testing.synthetic_healpix_dataset(level=1, n_times=1)[["lsm"]]
    with pytest.raises(xa.XauroraError, match="level=1.*level=2.*Fix"):
        read_for(dynamic, enc, static=coarse)
    with pytest.raises(xa.XauroraError, match="static fields have dims.*Fix"):
        read_for(dynamic, enc, static=xa.testing.synthetic_dataset(n_lat=5, n_lon=8)[["lsm"]])
