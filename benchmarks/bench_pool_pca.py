"""Benchmark: pooling + PCA of 1,460 time steps of 0.25° embeddings read lazily from zarr.

A year of 6-hourly encoder embeddings on the full 0.25° patch grid (180 × 360 patches) is
written once to a zarr store (synthetic values with a planted annual cycle). Each measurement
runs in a fresh process: open the store lazily, ``pool`` (cos-lat mean/std/rms — nothing is
computed yet), compute the pooled series, then ``pca`` and ``seasonality``. The process' peak
resident memory is reported for 1, 4 and all time chunks: pooling streams chunk by chunk, so
memory must not grow with the number of time steps.

The real encoder has 512 channels × 4 levels (≈ 775 GB for a year); to fit this machine's disk
and time the store has ``--channels`` channels (default 8) and one level, which only scales
every chunk by the same factor.

    python benchmarks/bench_pool_pca.py [--store /tmp/xaurora_bench/emb.zarr] [--channels 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

N_TIME, CHUNK = 1460, 73


def write_store(path: str, n_channel: int) -> None:
    """Synthetic embeddings (time, level, lat, lon, channel) with an annual cycle, to zarr."""
    import dask.array as dsa
    import pandas as pd
    import xarray as xr

    from xaurora.grids.patches import patch_coords

    coords = patch_coords(np.linspace(90, -90, 721), np.arange(1440) * 0.25, 4)
    n_lat, n_lon = coords["lat"].size, coords["lon"].size
    time_ = pd.date_range("2021-01-01T06", periods=N_TIME, freq="6h")
    rs = dsa.random.RandomState(0)
    noise = rs.standard_normal((N_TIME, 1, n_lat, n_lon, n_channel),
                               chunks=(CHUNK, 1, n_lat, n_lon, n_channel)).astype(np.float32)
    phase = 2 * np.pi * (time_.day_of_year.values - 1) / 365.25
    season = xr.DataArray(np.cos(phase), dims="time")
    pattern = xr.DataArray(np.random.default_rng(1).normal(size=n_channel), dims="channel")
    emb = xr.DataArray(noise, dims=("time", "level", "lat", "lon", "channel"), name="embedding",
                       coords={"time": time_, "level": ["surface"], **coords,
                               "channel": np.arange(n_channel)},
                       attrs={"model": "synthetic", "layer": "encoder", "patch_size": 4})
    emb = (emb + (0.5 * season * pattern).astype(np.float32)).astype(np.float32)
    emb.attrs = {"model": "synthetic", "layer": "encoder", "patch_size": 4}
    import warnings

    warnings.filterwarnings("ignore", module="zarr")
    enc = {"embedding": {"compressors": None}}  # random values do not compress
    emb.rename("embedding").to_dataset().to_zarr(path, mode="w", encoding=enc)


def measure(path: str, n_chunks: int) -> dict:
    """Run in a child process: lazy pool → compute → PCA; peak RSS of this process."""
    import dask
    import sklearn.decomposition  # noqa: F401  (count imports in the baseline, not the peak)
    import xarray as xr

    from xaurora.analysis.pca import pca
    from xaurora.analysis.pool import pool
    from xaurora.analysis.regimes import seasonality

    base = _proc_status("VmRSS")
    emb = xr.open_zarr(path)["embedding"].isel(time=slice(0, n_chunks * CHUNK))
    t0 = time.perf_counter()
    pooled = pool(emb)  # lazy
    assert pooled.chunks is not None
    with dask.config.set(scheduler="threads", num_workers=2):
        pooled = pooled.compute()
    t1 = time.perf_counter()
    res = pca(pooled, 4)
    r2 = float(seasonality(res, n_components=1).annual_cycle_r2[0]) if n_chunks * CHUNK > 1300 \
        else float("nan")
    t2 = time.perf_counter()
    peak = _proc_status("VmHWM")  # this process' high-water mark (fresh after exec)
    return {"n_time": int(emb.sizes["time"]), "chunk_mb": emb.nbytes / emb.sizes["time"]
            * CHUNK / 2**20, "pool_s": t1 - t0, "pca_s": t2 - t1, "peak_mb": peak,
            "base_mb": base, "evr1": float(res.explained_variance_ratio[0]), "pc1_r2": r2}


def _proc_status(key: str) -> float:
    """A memory figure of this process from /proc/self/status, in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{key} not in /proc/self/status (Linux only)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default="/tmp/xaurora_bench/emb.zarr")
    ap.add_argument("--channels", type=int, default=8)
    ap.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.store, args.child)))
        return
    if not os.path.exists(os.path.join(args.store, "zarr.json")):
        t0 = time.perf_counter()
        os.makedirs(os.path.dirname(args.store), exist_ok=True)
        write_store(args.store, args.channels)
        print(f"wrote {args.store} in {time.perf_counter() - t0:.0f} s")
    print(f"pool + PCA benchmark: {N_TIME} time steps x 64,800 patches x 1 level x "
          f"{args.channels} channels (reduced from 4 x 512 to fit disk), zarr chunks of "
          f"{CHUNK} steps, {os.cpu_count()} CPU cores, dask threads=2")
    rows = []
    for n_chunks in (1, 2, 4, N_TIME // CHUNK):
        out = subprocess.run([sys.executable, __file__, "--store", args.store, "--child",
                              str(n_chunks)], capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"  {n_chunks:2d} chunk(s) = {row['n_time']:4d} steps: pool {row['pool_s']:6.1f} s, "
              f"PCA {row['pca_s']:4.2f} s, peak RSS {row['peak_mb']:7.0f} MB "
              f"(after imports {row['base_mb']:.0f} MB; one chunk = {row['chunk_mb']:.0f} MB)")
    one, two, four, full = rows
    print(f"  peak memory ratio 4 chunks / 1 chunk: {four['peak_mb'] / one['peak_mb']:.2f}; "
          f"all {full['n_time']} steps / 4 chunks: {full['peak_mb'] / four['peak_mb']:.2f}; "
          f"all / 2 chunks: {full['peak_mb'] / two['peak_mb']:.2f}  (memory grows only until "
          "both dask threads hold a chunk, then stays flat)")
    print(f"  data read for all steps: {full['chunk_mb'] * N_TIME / CHUNK / 1024:.1f} GB; "
          f"PC1 explains {full['evr1']:.1%} of pooled variance, annual cycle r2 of PC1 = "
          f"{full['pc1_r2']:.3f} (planted)")


if __name__ == "__main__":
    main()
