"""embed(enc) for xa.Encoder: values equal the encoder called directly on hand-built samples;
layout, xdggs coordinates, laziness (one task per time chunk), dask.distributed, the CLI; and
xa.from_module equals the registry model it wraps."""

from datetime import timedelta

import numpy as np
import pytest
import xarray as xr

import xaurora as xa
from xaurora.errors import XauroraError

H6 = timedelta(hours=6)


class ChildMean:
    """A picklable encoder: level-2 HEALPix input → level-1 latents (mean of the 4 children),
    one channel per variable × history step, twice (×1 and ×−2) as two latent levels."""

    def __init__(self, levels=2):
        self.levels = levels

    def __call__(self, sample):
        chans = []
        for v in ("2t", "msl"):
            x = sample[v].transpose("time", "cells").values  # (history, 192)
            chans.extend(x.reshape(x.shape[0], 48, 4).mean(axis=-1))
        z = np.stack(chans, axis=-1)  # (48, 4)
        return np.stack([z, -2 * z])[: self.levels]


def healpix_encoder(n_levels=2, **kw):
    return xa.Encoder(ChildMean(n_levels), grid=xa.grids.HEALPix(1), variables=("t2m", "msl"),
                      history=2, timestep=H6, name="child-mean", **kw)


@pytest.fixture(scope="module")
def hp_ds():
    return xa.testing.synthetic_healpix_dataset(level=2, n_times=4, naming="cds")


def _by_hand(ds, t):
    """Latent of analysis time t, computed from ds directly (no xaurora reading code)."""
    t = np.datetime64(t, "ns")
    sel = ds.sel(valid_time=[t - np.timedelta64(6, "h"), t])
    chans = []
    for v in ("t2m", "msl"):
        x = sel[v].values.astype(np.float32)
        chans.extend(x.reshape(2, 48, 4).mean(axis=-1))
    z = np.stack(chans, axis=-1)
    return np.stack([z, -2 * z])


def test_embed_healpix_input_equals_the_encoder_called_directly(hp_ds):
    import xdggs

    emb = hp_ds.aurora.embed(healpix_encoder())
    assert emb.dims == ("time", "level", "cells", "channel")
    assert emb.sizes == {"time": 3, "level": 2, "cells": 48, "channel": 4}
    np.testing.assert_array_equal(emb.time.values, hp_ds.valid_time.values[1:])
    assert emb.level.values.tolist() == ["latent_0", "latent_1"]
    for i, t in enumerate(emb.time.values):
        np.testing.assert_allclose(emb.isel(time=i).values, _by_hand(hp_ds, t), rtol=1e-6)
    g = xa.grids.HEALPix(1)
    np.testing.assert_allclose(emb.lat.values, g.lat)
    np.testing.assert_allclose(emb.lon.values, g.lon)
    assert emb.cell_ids.values.tolist() == list(range(48))
    assert emb.attrs["model"] == "child-mean" and emb.attrs["layer"] == "encoder"
    assert emb.attrs["xaurora_version"] == xa.__version__
    decoded = xdggs.decode(emb.to_dataset())
    assert decoded.dggs.grid_info.level == 1
    assert xa.grids.grid_of(emb) == g


def test_levels_labels_and_2d_output(hp_ds):
    one = hp_ds.aurora.embed(xa.Encoder(
        lambda s: ChildMean(1)(s)[0], grid=xa.grids.HEALPix(1), variables=("2t", "msl"),
        history=2, timestep=H6))
    assert one.level.values.tolist() == ["latent"]
    named = hp_ds.aurora.embed(healpix_encoder(levels=("surface", "deep")))
    assert named.level.values.tolist() == ["surface", "deep"]


def test_latlon_input_on_mesh_points_with_history_oldest_first(small_ds):
    pts = xa.grids.Points(lat=[45.0, -45.0, 0.0], lon=[0.0, 90.0, 200.0])
    seen = []

    def encode(sample):
        seen.append(sample)
        x = sample["2t"]  # (time, lat, lon), canonical grid
        return np.stack([x.isel(time=k).mean().values * np.ones(3) for k in (0, 1)], axis=-1)

    enc = xa.Encoder(encode, grid=pts, variables=("2t",), history=2, timestep=H6, name="m")
    emb = small_ds.aurora.embed(enc)
    assert emb.dims == ("time", "level", "cells", "channel") and emb.sizes["cells"] == 3
    s = seen[0]
    assert s["2t"].dims == ("time", "lat", "lon") and s.sizes["time"] == 2
    assert s["lat"].values[0] > s["lat"].values[-1]
    t0, t1 = small_ds.time.values[:2]
    np.testing.assert_array_equal(s.time.values, [t0, t1])
    np.testing.assert_allclose(emb.isel(time=0, level=0, cells=0).values,
                               [small_ds["2t"].sel(time=t).mean() for t in (t0, t1)], rtol=1e-5)
    assert "cell_weight" in emb.coords and isinstance(xa.grids.grid_of(emb), xa.grids.Points)


def test_wrong_output_shape_and_layer_errors(hp_ds):
    enc = xa.Encoder(lambda s: np.zeros((5, 2)), grid=xa.grids.HEALPix(1), variables=("2t",))
    with pytest.raises(XauroraError, match="expected.*48 cells.*Fix"):
        hp_ds.aurora.embed(enc)
    with pytest.raises(ValueError, match="layer.*Fix"):
        hp_ds.aurora.embed(healpix_encoder(), layer="backbone")


def test_lazy_input_gives_lazy_output_one_task_per_time_chunk(hp_ds, dask_counter):
    lazy = hp_ds.chunk({"valid_time": 2})
    with dask_counter() as c:
        emb = lazy.aurora.embed(healpix_encoder())
    assert c.count == 0 and emb.chunks is not None
    assert len(emb.data.chunks[0]) == 2  # analysis times 1 | 2, 3: one block per time chunk
    with dask_counter() as c:
        values = emb.values
    assert c.count == 1
    np.testing.assert_allclose(values, hp_ds.aurora.embed(healpix_encoder()).values)


def test_cli_embed_with_an_encoder_resumes(hp_ds, tmp_path, monkeypatch):
    from xaurora.app import cli

    src = tmp_path / "hp.nc"
    hp_ds.to_netcdf(src)
    out = tmp_path / "e.zarr"
    spec = "tests.encoders.test_encoders:healpix_encoder"
    assert cli.main(["embed", str(src), str(out), "--encoder", spec, "--no-progress"]) == 0
    got = xr.open_zarr(out)
    expected = hp_ds.aurora.embed(healpix_encoder())
    np.testing.assert_allclose(got["embedding"].values, expected.values, rtol=1e-6)
    assert got["done"].values.all() and got.attrs["model"] == "child-mean"
    assert xa.grids.grid_of(got["embedding"]) == xa.grids.HEALPix(1)
    # a rerun after a crash rewrites only the steps not flagged done
    flags = xr.Dataset({"done": ("time", np.array([1, 0, 1], np.int8))})
    flags.to_zarr(out, region={"time": slice(0, 3)}, zarr_format=2)
    calls = []
    real = ChildMean.__call__
    monkeypatch.setattr(ChildMean, "__call__", lambda self, s: calls.append(1) or real(self, s))
    assert cli.main(["embed", str(src), str(out), "--encoder", spec, "--no-progress"]) == 0
    assert len(calls) == 2  # the layout probe + the one missing step
    np.testing.assert_allclose(xr.open_zarr(out)["embedding"].values, expected.values,
                               rtol=1e-6)


def test_cli_bad_encoder_spec(tmp_path, hp_ds, capsys):
    from xaurora.app import cli

    src = tmp_path / "hp.nc"
    hp_ds.to_netcdf(src)
    assert cli.main(["embed", str(src), str(tmp_path / "o.zarr"), "--encoder", "nope"]) == 2
    assert "package.module:factory" in capsys.readouterr().err


def test_from_module_equals_the_registry_model(tiny, small_ds):
    import pickle

    mine = xa.from_module(tiny.module, name="my-aurora", timestep=H6)
    ref = small_ds.aurora.embed(tiny)
    got = small_ds.aurora.embed(mine)
    np.testing.assert_array_equal(got.values, ref.values)
    assert got.attrs["model"] == "my-aurora"
    back = pickle.loads(pickle.dumps(mine))
    np.testing.assert_array_equal(small_ds.aurora.embed(back, layer="backbone").values,
                                  small_ds.aurora.embed(tiny, layer="backbone").values)
    fc, fc_ref = small_ds.aurora.forecast(mine), small_ds.aurora.forecast(tiny)
    xr.testing.assert_allclose(fc["2t"], fc_ref["2t"])
    target = xa.Target(variable="msl", region=(30, 72, -12, 45), lead_steps=1)
    t = small_ds.time.values[1]
    r_mine = small_ds.aurora.relevance(mine, target, time=t, method="gradxinput")
    r_ref = small_ds.aurora.relevance(tiny, target, time=t, method="gradxinput")
    xr.testing.assert_allclose(r_mine["msl"], r_ref["msl"])
    control = mine.with_random_weights(seed=3)
    assert control.random_weights and not mine.random_weights
    diff = small_ds.aurora.embed(control).values - ref.values
    assert np.abs(diff).mean() > 1e-3  # other weights, same layout
    with pytest.raises(TypeError, match="aurora.Aurora"):
        xa.from_module(object(), name="x")


def test_encoder_and_from_module_on_dask_distributed_processes(hp_ds, tiny, small_ds):
    """One process cluster for both: an xa.Encoder and a from_module model on workers."""
    from dask.distributed import Client, LocalCluster

    eager = hp_ds.aurora.embed(healpix_encoder())
    mine = xa.from_module(tiny.module, name="my-aurora", timestep=H6)
    ref = small_ds.aurora.embed(tiny)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        got = hp_ds.chunk({"valid_time": 1}).aurora.embed(healpix_encoder()).compute()
        got_module = small_ds.chunk({"time": 1}).aurora.embed(mine).compute()
    np.testing.assert_allclose(got.values, eager.values)
    np.testing.assert_allclose(got_module.values, ref.values, rtol=1e-5, atol=1e-6)
