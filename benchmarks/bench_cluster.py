"""embed → pool → pca and embed → probe on a dask.distributed cluster smaller than the data.

A LocalCluster of ``--workers`` processes with ``--limit`` GiB each reads a synthetic 1° record
from zarr and runs ``tiny``'s ``inputs`` layer (7.7 MB of tokens a sample; more than the
workers' memory in all): pooled statistics on the workers, an out-of-core PCA of the tokens and
a ridge probe of 2 m temperature. Prints the data size, the workers' memory limit, their peak
memory (``VmHWM``), wall times, whether any worker was restarted, how many times each loaded
the model, and the largest difference from the same calls on the threaded scheduler.

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/bench_cluster.py [--times 220] [--limit 1.5]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import dask
import numpy as np
import xarray as xr
from distributed import Client, LocalCluster

import xaurora as xa
from xaurora.analysis import pca, probe
from xaurora.models.loading import builds


def _peak_rss() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def _calls(src, model):
    emb = src.aurora.embed(model, layer="inputs")
    label = src["2t"].isel(time=slice(1, None))
    t0 = time.perf_counter()
    pooled = src.aurora.embed(model, layer="inputs", pool={"stats": ("mean", "std")}).compute()
    t1 = time.perf_counter()
    pcs = pca(emb.isel(level=0), 4, sample_dims=("time", "lat", "lon"))
    t2 = time.perf_counter()
    res = probe(emb, label, task="regression", split=("lon", 120, 210), n_boot=0)
    t3 = time.perf_counter()
    return emb.nbytes, {"pooled": pooled, "evr": pcs.explained_variance_ratio.values,
                        "r2": float(res.r2)}, (t1 - t0, t2 - t1, t3 - t2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--times", type=int, default=220)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit", type=float, default=1.5, help="GiB per worker")
    a = ap.parse_args()
    model = xa.load_model("tiny")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "era5.zarr")
        xa.testing.synthetic_dataset(n_lat=181, n_lon=360, n_times=a.times + 1).chunk(
            time=10).to_zarr(path, consolidated=False)
        src = xr.open_zarr(path, consolidated=False)
        with LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True,
                          memory_limit=a.limit * 2**30, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            pids = client.run(os.getpid)
            nbytes, got, walls = _calls(src, model)
            peaks = client.run(_peak_rss)
            loads = client.run(builds)
            restarted = client.run(os.getpid) != pids
        with dask.config.set(scheduler="threads"):
            _, ref, local_walls = _calls(src, model)
    print(f"tokens {nbytes / 2**30:.2f} GiB ({a.times} samples of tiny's inputs layer, 1°); "
          f"{a.workers} workers of {a.limit:g} GiB")
    print("peak worker memory: " + ", ".join(f"{p / 2**30:.2f} GiB" for p in peaks.values()))
    print(f"wall on the cluster: pool {walls[0]:.1f} s, pca {walls[1]:.1f} s, "
          f"probe {walls[2]:.1f} s; threaded scheduler: {local_walls[0]:.1f} / "
          f"{local_walls[1]:.1f} / {local_walls[2]:.1f} s")
    print(f"workers restarted: {restarted}; model loads per worker: "
          f"{sorted(sum(n.values()) for n in loads.values())}")
    diff = max(float(np.max(np.abs(got['pooled'].values - ref['pooled'].values))),
               float(np.max(np.abs(got['evr'] - ref['evr']))), abs(got['r2'] - ref['r2']))
    print(f"largest difference from the threaded scheduler: {diff:.1e} (probe r2 {got['r2']:.4f})")


if __name__ == "__main__":
    main()
