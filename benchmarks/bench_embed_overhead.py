"""Overhead of ``ds.aurora.embed`` vs a bare loop calling ``module.encoder`` (issue 2).

Both paths start from the same in-memory 1° dataset and the ``tiny`` model. The bare loop builds
each ``aurora.Batch`` by hand, normalises and crops it as ``Aurora.forward`` does, and calls
``module.encoder``. Prints the median of paired time ratios over repeats (target ≤ 1.05), wall
time and process CPU time (the second is less sensitive to other processes on a shared machine),
with their spread.

``--processes N`` runs the whole measurement in N fresh processes and pools their paired ratios:
on a shared VM the median of one process can sit a few per cent above or below another's (the
memory each process happens to get), more than the repeats within it vary.

Run: ``.venv/bin/python benchmarks/bench_embed_overhead.py [--repeats 15] [--threads 2]
[--prefetch 1] [--processes 5]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from aurora import Batch, Metadata

import xaurora as xa
from xaurora.run import sizing


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


def _spread(xs) -> str:
    q = statistics.quantiles(xs, n=4)
    return f"IQR {q[0]:.3f}–{q[2]:.3f}, range {min(xs):.3f}–{max(xs):.3f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--times", type=int, default=9, help="time steps (analysis times + 1)")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--prefetch", type=int, default=None,
                   help="batches prepared ahead (0: none; default: xaurora's own choice)")
    p.add_argument("--processes", type=int, default=1,
                   help="fresh processes to run the measurement in, their ratios pooled")
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one child's ratios
    a = p.parse_args()
    if a.processes > 1:
        pooled(a)
        return
    torch.set_num_threads(a.threads)
    model = xa.load_model("tiny")
    ds = xa.testing.synthetic_dataset(n_lat=181, n_lon=360, n_times=a.times,
                                      levels=(50, 250, 500, 850, 1000))

    sizing.PREFETCH = a.prefetch

    def xaurora_embed():
        return ds.aurora.embed(model)

    emb = xaurora_embed()  # warm-up and a correctness check
    ref = bare_loop(ds, model.module)
    np.testing.assert_allclose(emb.values[0].reshape(-1, 32), ref[0][0], rtol=1e-4, atol=1e-5)
    wall, cpu, t_x, t_b = [], [], [], []
    for r in range(a.repeats):
        # pairs interleaved, the order alternating, so a drifting machine load hits both sides
        order = (xaurora_embed, bare_loop) if r % 2 == 0 else (bare_loop, xaurora_embed)
        got = {}
        for fn in order:
            w0, c0 = time.perf_counter(), time.process_time()
            fn() if fn is xaurora_embed else fn(ds, model.module)
            got[fn] = (time.perf_counter() - w0, time.process_time() - c0)
        (wx, cx), (wb, cb) = got[xaurora_embed], got[bare_loop]
        t_x.append(wx)
        t_b.append(wb)
        wall.append(wx / wb)
        cpu.append(cx / cb)
    if a.json:
        print(json.dumps({"wall": wall, "cpu": cpu, "x": t_x, "b": t_b}))
        return
    print(f"grid 1° (181 × 360), tiny, {a.times - 1} analysis times, {a.repeats} paired "
          f"repeats (order alternating), {a.threads} torch thread(s), prefetch {a.prefetch}")
    print(f"xaurora embed: median {statistics.median(t_x):.3f} s")
    print(f"bare encoder loop: median {statistics.median(t_b):.3f} s")
    print(f"overhead ratio, wall time (median of paired ratios): {statistics.median(wall):.3f} "
          f"({_spread(wall)}) (target ≤ 1.05)")
    print(f"overhead ratio, process CPU time (median of paired ratios): "
          f"{statistics.median(cpu):.3f} ({_spread(cpu)})")


def pooled(a) -> None:
    """Run the measurement in ``a.processes`` fresh processes; print each one's and the pooled."""
    args = [sys.executable, __file__, "--json", "--times", str(a.times), "--repeats",
            str(a.repeats), "--threads", str(a.threads)]
    if a.prefetch is not None:
        args += ["--prefetch", str(a.prefetch)]
    runs = []
    for i in range(a.processes):
        out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
        print(f"process {i + 1}: median paired ratio {statistics.median(runs[-1]['wall']):.3f}")
    wall = [r for run in runs for r in run["wall"]]
    cpu = [r for run in runs for r in run["cpu"]]
    print(f"grid 1° (181 × 360), tiny, {a.times - 1} analysis times, {a.processes} processes × "
          f"{a.repeats} paired repeats (order alternating), {a.threads} torch thread(s)")
    print(f"overhead ratio, wall time (median of all {len(wall)} paired ratios): "
          f"{statistics.median(wall):.3f} ({_spread(wall)}) (target ≤ 1.05)")
    print(f"overhead ratio, process CPU time (median of paired ratios): "
          f"{statistics.median(cpu):.3f} ({_spread(cpu)})")


if __name__ == "__main__":
    main()
