"""Embeddings equal Aurora's own encoder output; layers, batching, coords; lazy and distributed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from aurora.normalisation import locations, scales

import xaurora as xa
from tests._aurora import direct_batch


def _hooked(module, batch, sub):
    out = {}
    h = sub.register_forward_hook(lambda m, a, o: out.setdefault("x", o))
    with torch.no_grad():
        module(batch)
    h.remove()
    return out["x"].numpy()


def test_encoder_embedding_equals_aurora_encoder_output(tiny, small_ds):
    emb = small_ds.aurora.embed(tiny)
    assert emb.dims == ("time", "level", "lat", "lon", "channel")
    assert emb.level.values.tolist() == ["surface", "latent_1", "latent_2", "latent_3"]
    for i, t in enumerate((1, 2)):
        ref = _hooked(tiny.module, direct_batch(small_ds, t), tiny.module.encoder)
        np.testing.assert_allclose(emb.values[i], ref.reshape(4, 8, 16, 32), rtol=1e-5,
                                   atol=1e-5)


def test_backbone_and_named_submodule(tiny, small_ds):
    emb = small_ds.aurora.embed(tiny, layer="backbone")
    ref = _hooked(tiny.module, direct_batch(small_ds, 2), tiny.module.backbone)
    np.testing.assert_allclose(emb.values[1], ref.reshape(4, 8, 16, 64), rtol=1e-5, atol=1e-5)
    # a Swin layer returns (merged, unmerged): the first output is on the 2 × 2-merged grid
    blk = small_ds.aurora.embed(tiny, layer="backbone.encoder_layers.0")
    assert blk.sizes["channel"] == 64 and (blk.sizes["lat"], blk.sizes["lon"]) == (4, 8)
    enc = small_ds.aurora.embed(tiny)
    np.testing.assert_allclose(blk.lat.values, enc.lat.values.reshape(4, 2).mean(1))
    with pytest.raises(ValueError, match="not a submodule.*named_modules"):
        small_ds.aurora.embed(tiny, layer="backbone.nope")


def test_encoder_layer_never_runs_backbone(tiny, small_ds):
    calls = []
    hooks = [tiny.module.backbone.register_forward_pre_hook(lambda *a: calls.append("b")),
             tiny.module.decoder.register_forward_pre_hook(lambda *a: calls.append("d"))]
    try:
        small_ds.aurora.embed(tiny)
        small_ds.aurora.embed(tiny, layer="inputs")
    finally:
        for h in hooks:
            h.remove()
    assert calls == []


def test_inputs_layer_is_normalised_patches(tiny, small_ds):
    emb = small_ds.aurora.embed(tiny, layer="inputs")
    assert emb.level.values.tolist() == ["inputs"]
    # 2t at time t (history 1), pixel 5 of patch (row 2, col 3) = pixel (2*4+1, 3*4+1)
    sel = ((emb.channel_variable == "2t") & (emb.channel_history == 1)
           & (emb.channel_pixel == 5))
    got = emb.isel(time=0, level=0, lat=2, lon=3).where(sel, drop=True).item()
    x = small_ds["2t"].isel(time=1).values[2 * 4 + 1, 3 * 4 + 1]
    # in float32, as Aurora normalises (NumPy 1 would promote a float32 scalar minus a Python
    # float to float64, NumPy 2 keeps float32: spell the dtype out so both compute the same)
    f32 = np.float32
    assert got == pytest.approx((x - f32(locations["2t"])) / f32(scales["2t"]), rel=1e-5)
    z = ((emb.channel_variable == "z") & (emb.channel_level == 850) & (emb.channel_history == 0)
         & (emb.channel_pixel == 0))
    got = emb.isel(time=1, level=0, lat=0, lon=0).where(z, drop=True).item()
    x = small_ds["z"].sel(level=850).isel(time=1).values[0, 0]
    assert got == pytest.approx((x - f32(locations["z_850"])) / f32(scales["z_850"]), rel=1e-5)
    # every variable × level × history × pixel, statics once
    assert emb.sizes["channel"] == (4 * 2 + 3 + 5 * 2 * 2) * 16


def test_patch_centres_are_mean_of_grid_points_and_cf(tiny, small_ds):
    emb = small_ds.aurora.embed(tiny)
    lat = small_ds.lat.values[:32].reshape(8, 4).mean(1)  # row 33 is cropped
    lon = small_ds.lon.values.reshape(16, 4).mean(1)
    np.testing.assert_allclose(emb.lat.values, lat)
    np.testing.assert_allclose(emb.lon.values, lon)
    assert emb.lat.attrs["standard_name"] == "latitude"
    assert emb.lon.attrs["units"] == "degrees_east"
    assert emb.attrs["layer"] == "encoder" and emb.attrs["patch_size"] == 4
    for v in emb.attrs.values():  # netCDF-safe attrs
        assert isinstance(v, (str, int, float))


def test_batch_size_does_not_change_values(tiny):
    ds = xa.testing.synthetic_dataset(n_times=4)
    a = ds.aurora.embed(tiny, batch_size=1)
    b = ds.aurora.embed(tiny, batch_size=3)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-4, atol=1e-5)


def test_lazy_input_gives_lazy_result_one_task_per_chunk(tiny, dask_counter):
    ds = xa.testing.synthetic_dataset(n_times=5).chunk(time=2)
    eager = xa.testing.synthetic_dataset(n_times=5).aurora.embed(tiny)
    with dask_counter() as c:
        emb = ds.aurora.embed(tiny)
    assert c.count == 0 and emb.chunks is not None
    # time chunks (2, 2, 1) → one task per chunk, for times (1), (2, 3), (4); the result has
    # uniform chunks (2, 2), as zarr needs
    graph = dict(emb.data.__dask_graph__())
    assert sum("_embed_block" in str(k) for k in graph) == 3
    assert emb.chunks[0] == (2, 2)
    with dask_counter() as c:
        values = emb.values
    assert c.count == 1
    np.testing.assert_allclose(values, eager.values, rtol=1e-5, atol=1e-5)


def test_lazy_input_checks_values_at_compute_time(tiny):
    ds = xa.testing.synthetic_dataset(n_times=3)
    ds["2t"][1, 0, 0] = np.nan
    emb = ds.chunk(time=1).aurora.embed(tiny)  # no error yet: nothing was read
    with pytest.raises(ValueError, match="2t: contains NaN"):
        emb.compute()


@pytest.mark.timeout(300)
def test_distributed_cluster_gives_same_result(tiny):
    distributed = pytest.importorskip("distributed")
    ds = xa.testing.synthetic_dataset(n_times=3, n_lat=17, n_lon=32)
    eager = ds.aurora.embed(tiny)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        got = ds.chunk(time=2).aurora.embed(tiny).compute()
    xr.testing.assert_allclose(eager, got, rtol=1e-5, atol=1e-5)


def test_forecast_equals_module_call(tiny, small_ds):
    fc = small_ds.aurora.forecast(tiny, steps=1)
    with torch.no_grad():
        pred = tiny.module(direct_batch(small_ds, 2))
    got = fc["msl"].isel(time=1, lead_time=0).values
    np.testing.assert_allclose(got[:32], pred.surf_vars["msl"][0, 0].numpy(), rtol=1e-5)
    assert np.isnan(got[32]).all()  # the cropped row
    assert fc["z"].dims == ("time", "lead_time", "level", "lat", "lon")
    assert fc.lead_time.values[0] == np.timedelta64(6, "h")


def test_forecast_comes_back_on_the_input_grid(tiny):
    """Longitudes in [-180, 180) and latitude ascending: the forecast keeps that grid."""
    ds = xa.testing.synthetic_dataset(n_times=2)
    flipped = xa.testing.synthetic_dataset(n_times=2, lon_180=True).isel(lat=slice(None, None, -1))
    ref = ds.aurora.forecast(tiny)
    got = flipped.aurora.forecast(tiny)
    np.testing.assert_array_equal(got.lon.values, flipped.lon.values)
    np.testing.assert_array_equal(got.lat.values, flipped.lat.values)
    a = ref["msl"].sel(lat=39.375, lon=270.0).values
    b = got["msl"].sel(lat=39.375, lon=-90.0).values
    np.testing.assert_allclose(a, b, rtol=1e-6)
    assert np.isnan(got["msl"].isel(lat=0)).all()  # the cropped row (−90°) is first here


def test_bf16_autocast_is_close_to_fp32(tiny, small_ds):
    ref = small_ds.aurora.embed(tiny)
    got = small_ds.aurora.embed(tiny, autocast=True)
    assert got.dtype == np.float32
    err = np.abs(got.values - ref.values).mean() / np.abs(ref.values).mean()
    assert 0 < err < 0.05  # bfloat16 changes the values a little, not the picture


def test_batches_never_share_memory_with_the_dataset(tiny, small_ds):
    from xaurora.io.canonical import canonicalize
    from xaurora.run.source import make_batch

    before = small_ds["2t"].values.copy()
    cds = canonicalize(small_ds)
    batch = make_batch(cds, cds.time.values[1:2], tiny.module)
    batch.surf_vars["2t"] += 1.0
    batch.static_vars["lsm"] += 1.0
    np.testing.assert_array_equal(small_ds["2t"].values, before)
    assert float(cds["static_lsm"].max()) <= 1.0


def test_embedding_leaves_the_dataset_untouched(tiny, small_ds):
    """embed shares memory with the data for speed; Aurora must not write to it."""
    before = small_ds.copy(deep=True)
    small_ds.aurora.embed(tiny)
    small_ds.aurora.embed(tiny, layer="inputs")
    small_ds.aurora.embed(tiny, layer="backbone")
    xr.testing.assert_identical(small_ds, before)


def test_lazy_result_goes_to_zarr_without_rechunking(tiny, tmp_path):
    ds = xa.testing.synthetic_dataset(n_times=8).chunk(time=3)  # blocks of 2, 3, 2 times
    emb = ds.aurora.embed(tiny)
    assert emb.chunks[0] == (3, 3, 1)
    emb.to_dataset().to_zarr(tmp_path / "e.zarr", zarr_format=2)
    eager = xa.testing.synthetic_dataset(n_times=8).aurora.embed(tiny)
    got = xr.open_zarr(tmp_path / "e.zarr")["embedding"]
    np.testing.assert_allclose(got.values, eager.values, rtol=1e-5, atol=1e-5)
