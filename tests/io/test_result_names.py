"""Results keyed by the user's variable names never collide (CDS: static z and atmospheric z)."""

from __future__ import annotations

import numpy as np
import pytest

import xaurora as xa
from xaurora.app.describe import describe
from xaurora.io.canonical import canonicalize
from xaurora.io.uncanonical import result_names

pytestmark = pytest.mark.usefixtures("one_thread")

TARGET = xa.Target("msl", region=(0, 60, -30, 60))


@pytest.fixture(scope="module")
def cds_pair():
    """A CDS-named dataset without statics, and a CDS static file whose orography is ``z``."""
    ds = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, n_times=2, naming="cds",
                                      with_static=False)
    static = xa.testing.synthetic_static(n_lat=17, n_lon=32)
    assert "z" in ds and "z" in static  # the collision this file is about
    return ds, static


def test_result_names_are_unique_and_keep_the_users_names(cds_pair):
    ds, static = cds_pair
    names = result_names(canonicalize(ds, static=static))
    assert len(set(names.values())) == len(names)
    assert names["z"] == "z" and names["2t"] == "t2m" and names["static_z"] == "static_z"
    assert names["static_lsm"] == "lsm"  # no collision: the user's name


@pytest.mark.parametrize("method", ["lrp", "gradxinput"])
def test_relevance_keeps_every_variable_and_sums_to_attrs(cds_pair, tiny, method):
    ds, static = cds_pair
    rel = ds.aurora.relevance(tiny, TARGET, static=static, method=method)
    cds = canonicalize(ds, static=static)
    assert len(rel.data_vars) == len(cds.data_vars)  # one per input, none overwritten
    assert {"z", "static_z", "lsm", "slt", "t2m", "msl"} <= set(rel.data_vars)
    assert rel["z"].dims == ("time", "level", "lat", "lon")
    assert rel["static_z"].dims == ("lat", "lon")
    assert rel["static_z"].attrs["source_name"] == "z"
    assert rel["static_z"].attrs["aurora_name"] == "static_z"
    total = sum(float(rel[v].sum()) for v in rel.data_vars)
    assert total == pytest.approx(rel.attrs["input_relevance_sum"], rel=1e-6, abs=1e-9)


def test_sanity_and_perturbation_see_both_geopotentials(cds_pair, tiny):
    ds, static = cds_pair
    chk = ds.aurora.relevance_sanity(tiny, TARGET, static=static)
    assert {"z", "static_z"} <= set(chk.variable.values.tolist())
    rel = ds.aurora.relevance(tiny, TARGET, static=static)
    test = ds.aurora.perturbation_test(tiny, rel, TARGET, fractions=(0.1,), n_random=2,
                                       static=static)
    assert np.isfinite(test.ratio.values).all()


def test_forecast_names_unique(cds_pair, tiny):
    ds, static = cds_pair
    fc = ds.aurora.forecast(tiny, static=static)
    assert {"t2m", "u10", "v10", "msl", "z", "u", "v", "t", "q"} == set(fc.data_vars)
    assert fc["z"].dims == ("time", "lead_time", "level", "lat", "lon")


def test_info_names_the_static_geopotential(cds_pair):
    ds, static = cds_pair
    text = describe(ds, static=static)
    assert "static_z" in text and "z from static=" in text


def test_inputs_layer_channels_tell_static_from_atmospheric_geopotential(cds_pair, tiny):
    ds, static = cds_pair
    emb = ds.aurora.embed(tiny, layer="inputs", static=static)
    var = emb.channel_variable.values
    assert (var == "static_z").sum() == 16  # one 4 × 4 patch of pixels, no history
    assert set(emb.channel_history.values[var == "static_z"]) == {-1}
    assert set(emb.channel_history.values[var == "z"]) == {0, 1}  # only the atmospheric one
