"""embed(pool=...) equals embed(...).aurora.pool(...) but pools where the model runs (only the
pooled values are copied back); embed(dtype="float16") converts on the device."""

import numpy as np
import pytest
import xarray as xr

import xaurora as xa
from tests.encoders.test_encoders import healpix_encoder
from xaurora.errors import XauroraError
from xaurora.run import tokens


@pytest.fixture(scope="module")
def ds():
    return xa.testing.synthetic_dataset(n_lat=33, n_lon=64, n_times=4, levels=(500, 850))


@pytest.mark.parametrize("layer", ["encoder", "inputs", "backbone"])
@pytest.mark.parametrize("lazy", [False, True])
def test_pool_equals_pooling_the_embedding(ds, tiny, layer, lazy):
    src = ds.chunk(time=2) if lazy else ds
    got = src.aurora.embed(tiny, layer=layer, pool={"stats": ("mean", "std", "rms")})
    want = ds.aurora.embed(tiny, layer=layer).aurora.pool()
    assert got.dims == want.dims and got.name == want.name
    assert (got.chunks is not None) == lazy
    assert got.dtype == got.compute().dtype == np.float64  # the lazy result's declared dtype too
    xr.testing.assert_allclose(got.compute(), want, rtol=1e-12, atol=1e-12)
    assert got.attrs == want.attrs


def test_pool_with_regions_and_a_rollout(ds, tiny):
    import regionmask

    regions = regionmask.defined_regions.srex
    got = ds.aurora.embed(tiny, steps=2, pool={"stats": ("mean",), "regions": regions})
    want = ds.aurora.embed(tiny, steps=2).aurora.pool(stats=("mean",), regions=regions)
    assert got.dims == want.dims and "region" in got.dims and "lead_time" in got.dims
    xr.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got.names.values, want.names.values)


def test_tokens_are_pooled_before_they_leave_the_model(ds, tiny, monkeypatch):
    # the kernel receives the model's tensor, not a host array: nothing token-sized is copied
    seen = []
    real = tokens.pool_tokens

    def spy(values, weights, stats):
        seen.append(type(values).__module__.split(".")[0])
        return real(values, weights, stats)

    monkeypatch.setattr(tokens, "pool_tokens", spy)
    out = ds.aurora.embed(tiny, pool=True)
    assert seen and set(seen) == {"torch"}
    assert out.nbytes < 0.05 * ds.aurora.embed(tiny).nbytes


def test_pool_on_another_encoders_cells():
    hp = xa.testing.synthetic_healpix_dataset(level=2, n_times=3, naming="cds")
    enc = healpix_encoder()
    got = hp.aurora.embed(enc, pool={"stats": ("mean", "rms")})
    want = hp.aurora.embed(enc).aurora.pool(stats=("mean", "rms"))
    xr.testing.assert_identical(got, want)


@pytest.mark.parametrize("lazy", [False, True])
def test_float16_tokens(ds, tiny, lazy):
    src = ds.chunk(time=2) if lazy else ds
    half = src.aurora.embed(tiny, dtype="float16")
    full = ds.aurora.embed(tiny)
    assert half.dtype == half.compute().dtype == np.float16
    assert half.attrs["tokens_dtype"] == "float16"
    np.testing.assert_array_equal(half.values, full.values.astype(np.float16))
    assert "tokens_dtype" not in full.attrs


def test_float16_then_pool_equals_pooling_float16_tokens(ds, tiny):
    got = ds.aurora.embed(tiny, dtype=np.float16, pool=True)
    want = ds.aurora.embed(tiny, dtype="float16").aurora.pool()
    xr.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bad, match", [({"dtype": "int8"}, "dtype: 'int8' is not one of"),
                                        ({"dtype": "bfloat16"}, "dtype: 'bfloat16'"),
                                        ({"pool": {"stat": "mean"}}, "pool: expected True"),
                                        ({"pool": {"stats": ("max",)}}, "unknown statistic")])
def test_bad_options_are_named_before_anything_runs(ds, tiny, bad, match):
    with pytest.raises(XauroraError, match=match):
        ds.aurora.embed(tiny, **bad)
