"""pool: cos-lat weighted statistics equal a direct numpy computation; lazy stays lazy."""

import dask.array as dsa
import numpy as np
import pytest
import regionmask
import xarray as xr

from tests._dask import raise_if_dask_computes
from xaurora.analysis.pool import pool
from xaurora.grids.patches import patch_centres

LAT, LON = patch_centres(np.linspace(90, -90, 33), np.arange(64) * 5.625, 4)


def _emb(seed=0, n_time=3, n_level=2, n_channel=5, offset=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    shape = (n_time, n_level, LAT.size, LON.size, n_channel)
    vals = (offset + scale * rng.normal(size=shape)).astype("float32")
    return xr.DataArray(
        vals, dims=("time", "level", "lat", "lon", "channel"), name="embedding",
        coords={"time": np.arange(n_time), "level": ["surface", "latent_1"][:n_level],
                "lat": LAT, "lon": LON, "channel": np.arange(n_channel)},
        attrs={"model": "tiny", "layer": "encoder", "patch_size": 4},
    )


def _reference(x, w):
    """Direct weighted statistics over the (lat, lon) axes 2, 3 of x, in float64."""
    x = x.astype(np.float64)
    w = w[None, None, :, :, None] / w.sum()
    mean = (x * w).sum(axis=(2, 3))
    var = (((x - mean[:, :, None, None, :]) ** 2) * w).sum(axis=(2, 3))
    rms = np.sqrt((x**2 * w).sum(axis=(2, 3)))
    return mean, np.sqrt(var), rms


def test_global_stats_equal_direct_weighted_numpy():
    emb = _emb()
    out = pool(emb)
    assert out.dims == ("time", "level", "channel", "stat")
    assert out.stat.values.tolist() == ["mean", "std", "rms"]
    w = np.cos(np.deg2rad(LAT))[:, None] * np.ones(LON.size)
    mean, std, rms = _reference(emb.values, w)
    np.testing.assert_allclose(out.sel(stat="mean"), mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out.sel(stat="std"), std, rtol=1e-10)
    np.testing.assert_allclose(out.sel(stat="rms"), rms, rtol=1e-10)
    # the weighting matters: an unweighted mean differs
    assert not np.allclose(out.sel(stat="mean"), emb.values.mean(axis=(2, 3)), atol=1e-4)
    assert out.attrs["model"] == "tiny" and "cos(latitude)" in out.attrs["cell_methods"]


def test_std_does_not_cancel_for_large_offsets():
    emb = _emb(offset=3000.0, scale=0.01)
    out = pool(emb, stats=("std",))
    w = np.cos(np.deg2rad(LAT))[:, None] * np.ones(LON.size)
    _, std, _ = _reference(emb.values, w)
    np.testing.assert_allclose(out.sel(stat="std"), std, rtol=1e-6)


def test_stats_subset_and_errors():
    emb = _emb()
    out = pool(emb, stats="rms")
    assert out.stat.values.tolist() == ["rms"]
    with pytest.raises(ValueError, match="unknown statistic.*Fix"):
        pool(emb, stats=("median",))
    with pytest.raises(ValueError, match="needs 'lat' and 'lon'"):
        pool(emb.rename(lat="y"))


def test_regions_use_regionmask_on_patch_centres():
    emb = _emb()
    # boxes whose edges fall between patch centres (centres are 2.8125 + k * 22.5 deg east)
    boxes = [[[10, 10], [100, 10], [100, 60], [10, 60]],
             [[200, -70], [300, -70], [300, -20], [200, -20]]]
    regions = regionmask.Regions(boxes, names=["North box", "South box"],
                                 abbrevs=["NB", "SB"], name="boxes")
    out = pool(emb, regions=regions)
    assert out.dims == ("time", "level", "channel", "region", "stat")
    assert out.names.values.tolist() == ["North box", "South box"]
    assert out.attrs["regions"] == "boxes"
    for r, (lon0, lon1, lat0, lat1) in enumerate([(10, 100, 10, 60), (200, 300, -70, -20)]):
        inside = ((LAT >= lat0) & (LAT <= lat1))[:, None] & ((LON >= lon0) & (LON <= lon1))
        assert inside.sum() > 3
        w = np.cos(np.deg2rad(LAT))[:, None] * inside
        mean, std, rms = _reference(emb.values, w)
        got = out.isel(region=r)
        np.testing.assert_allclose(got.sel(stat="mean"), mean, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got.sel(stat="std"), std, rtol=1e-10)
        np.testing.assert_allclose(got.sel(stat="rms"), rms, rtol=1e-10)


def test_dask_input_stays_lazy_and_matches():
    emb = _emb(n_time=4)
    lazy = emb.copy(data=dsa.from_array(emb.values, chunks=(1, 2, 4, 8, 5)))
    regions = regionmask.Regions([[[0, -30], [180, -30], [180, 30], [0, 30]]], names=["band"])
    with raise_if_dask_computes():
        out = pool(lazy, regions=regions)
        out_global = pool(lazy)
    assert out.chunks is not None and out_global.chunks is not None
    assert out.data.numblocks[0] == 4  # one block per time chunk
    with raise_if_dask_computes(max_computes=1):
        got = out_global.compute()
    np.testing.assert_allclose(got, pool(emb), rtol=1e-12)
    np.testing.assert_allclose(out.compute(), pool(emb, regions=regions), rtol=1e-12)


def test_pool_of_arbitrary_dims():
    """No time/level: a single map of channels pools to (channel, stat)."""
    emb = _emb().isel(time=0, level=0, drop=True)
    out = pool(emb, stats=("mean",))
    assert out.dims == ("channel", "stat")
    w = np.cos(np.deg2rad(LAT))[:, None] * np.ones(LON.size)
    expected = np.einsum("ijc,ij->c", emb.values.astype(float), w) / w.sum()
    np.testing.assert_allclose(out.sel(stat="mean"), expected, rtol=1e-10)
