"""Years of data on a dask.distributed cluster whose workers each hold less memory than the
tokens: embed → pool → pca and embed → probe finish, equal one machine's numbers, no worker is
restarted and each loads the model once."""

import os

import dask
import numpy as np
import pytest
import xarray as xr

import xaurora as xa
from xaurora.analysis import pca, probe
from xaurora.models.loading import builds

distributed = pytest.importorskip("distributed")

WORKER_LIMIT = 1.5 * 2**30  # bytes per worker: torch and the model alone take ~0.9 GiB
N_TIMES = 220  # 'inputs' tokens of tiny at 1°: 7.7 MB a sample, 1.7 GB in all


def _peak_rss() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def _pid() -> int:
    return os.getpid()


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads Linux's VmHWM")
def test_a_cluster_smaller_than_the_data_gives_one_machines_numbers(tmp_path, tiny):
    ds = xa.testing.synthetic_dataset(n_lat=181, n_lon=360, n_times=N_TIMES + 1)
    ds.chunk(time=10).to_zarr(tmp_path / "era5.zarr", consolidated=False)
    del ds
    src = xr.open_zarr(tmp_path / "era5.zarr", consolidated=False)
    emb = src.aurora.embed(tiny, layer="inputs")  # lazy: nothing runs yet
    assert emb.nbytes > WORKER_LIMIT  # the tokens do not fit in one worker
    label = src["2t"].isel(time=slice(1, None))  # 2 m temperature per patch: a regression

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  memory_limit=WORKER_LIMIT, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        pids = client.run(_pid)
        pooled = src.aurora.embed(tiny, layer="inputs", pool={"stats": ("mean", "std")})
        on_cluster = {"pooled": pooled.compute()}  # embed → pool on the workers
        on_cluster["pca"] = pca(on_cluster["pooled"], 4)  # → pca of the pooled latents
        on_cluster["probe"] = probe(emb, label, task="regression", split=("lon", 120, 210),
                                    n_boot=0)  # embed → probe, out of core on the workers
        peaks = client.run(_peak_rss)
        loads = client.run(builds)
        assert client.run(_pid) == pids  # no worker was restarted
    assert max(peaks.values()) < WORKER_LIMIT
    assert all(list(n.values()) == [1] for n in loads.values()), loads  # the model loaded once

    with dask.config.set(scheduler="threads"):
        local_pooled = pooled.compute()
        local_pca = pca(local_pooled, 4)
        local_probe = probe(emb, label, task="regression", split=("lon", 120, 210), n_boot=0)
    xr.testing.assert_allclose(on_cluster["pooled"], local_pooled, rtol=1e-10)
    np.testing.assert_allclose(on_cluster["pca"].explained_variance_ratio,
                               local_pca.explained_variance_ratio, rtol=1e-9)
    for m in ("r2", "rmse"):
        assert float(on_cluster["probe"][m]) == pytest.approx(float(local_probe[m]), rel=1e-9)
    assert float(local_probe.r2) > 0.9  # the inputs hold 2 m temperature: a probe reads it
