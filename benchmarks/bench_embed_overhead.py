"""Overhead of ``ds.aurora.embed`` vs a bare loop calling ``module.encoder`` (issue 2).

Both paths start from the same in-memory 1° dataset and the ``tiny`` model. The bare loop builds
each ``aurora.Batch`` by hand, normalises and crops it as ``Aurora.forward`` does, and calls
``module.encoder``. Prints the median time ratio over repeats (target ≤ 1.10).

Run: ``.venv/bin/python benchmarks/bench_embed_overhead.py``
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
from aurora import Batch, Metadata

import xaurora as xa


def bare_loop(ds, module):
    lat = torch.tensor(ds.lat.values)
    lon = torch.tensor(ds.lon.values)
    levels = tuple(int(p) for p in ds.level.values)
    static = {"lsm": torch.tensor(ds["lsm"].values), "slt": torch.tensor(ds["slt"].values),
              "z": torch.tensor(ds["geopotential_at_surface"].values)}
    out = []
    for i in range(1, ds.sizes["time"]):
        def hist(v, i=i):
            return torch.from_numpy(np.ascontiguousarray(ds[v].values[i - 1 : i + 1][None]))

        batch = Batch(
            surf_vars={v: hist(v) for v in ("2t", "10u", "10v", "msl")},
            static_vars=static,
            atmos_vars={v: hist(v) for v in ("z", "u", "v", "t", "q")},
            metadata=Metadata(lat=lat, lon=lon, atmos_levels=levels,
                              time=(ds.time.to_index()[i].to_pydatetime(),)),
        )
        batch = batch.normalise(surf_stats={}).crop(patch_size=4)
        batch.static_vars = {k: v[None, None].repeat(1, 2, 1, 1)
                             for k, v in batch.static_vars.items()}
        with torch.no_grad():
            out.append(module.encoder(batch, lead_times=torch.tensor([6.0])).numpy())
    return out


def main(n_times: int = 9, repeats: int = 15) -> None:
    torch.set_num_threads(2)
    model = xa.load_model("tiny")
    ds = xa.testing.synthetic_dataset(n_lat=181, n_lon=360, n_times=n_times,
                                      levels=(50, 250, 500, 850, 1000))
    emb = ds.aurora.embed(model)  # warm-up and a correctness check
    ref = bare_loop(ds, model.module)
    np.testing.assert_allclose(emb.values[0].reshape(-1, 32), ref[0][0], rtol=1e-4, atol=1e-5)
    ratios, t_x, t_b = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ds.aurora.embed(model)
        t1 = time.perf_counter()
        bare_loop(ds, model.module)
        t2 = time.perf_counter()
        t_x.append(t1 - t0)
        t_b.append(t2 - t1)
        ratios.append((t1 - t0) / (t2 - t1))
    print(f"grid 1° (181 × 360), tiny, {n_times - 1} analysis times, {repeats} repeats")
    print(f"xaurora embed: median {statistics.median(t_x):.3f} s")
    print(f"bare encoder loop: median {statistics.median(t_b):.3f} s")
    print(f"overhead ratio (median of per-repeat ratios): {statistics.median(ratios):.3f} "
          f"(target ≤ 1.10)")


if __name__ == "__main__":
    main()
