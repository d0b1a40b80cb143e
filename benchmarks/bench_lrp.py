"""Cost of one LRP relevance map vs one forward pass (CPU, 1° grid).

Run: ``.venv/bin/python benchmarks/bench_lrp.py [--models tiny small] [--repeat 2]``.
The goal: LRP for one target costs ≤ 3× a forward pass (one forward + one backward).
"""

from __future__ import annotations

import argparse
import time

import torch

import xaurora as xa
from xaurora.attribution import Target
from xaurora.attribution.relevance import _gradients, prepare

CONFIGS = {"tiny": ("tiny", {}),
           "small": ("aurora-0.25-small-pretrained", {"random_weights": True})}


def bench(label: str, repeat: int, levels, n_lat: int = 181, n_lon: int = 360) -> dict:
    name, kw = CONFIGS[label]
    model = xa.load_model(name, device="cpu", **kw)
    ds = xa.testing.synthetic_dataset(n_lat=n_lat, n_lon=n_lon, n_times=2, levels=levels)
    target = Target("msl", region=(30, 72, -12, 45))
    prep = prepare(ds, model)
    lat, lon = prep.cds["lat"].values, prep.cds["lon"].values

    def forward():
        with torch.no_grad():
            model.module(prep.batch)

    def lrp():
        _gradients(prep.module, prep.batch, target, lat, lon, "cp-lrp", True, False)

    forward()  # warm-up (window masks, allocator)
    lrp()
    out = {}
    for key, fn in (("forward", forward), ("lrp", lrp)):
        ts = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        out[key] = min(ts)
    out["ratio"] = out["lrp"] / out["forward"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", nargs="+", default=["tiny", "small"], choices=list(CONFIGS))
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--levels", type=int, nargs="+", default=[50, 250, 500, 850])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"CPU, 1° grid (181 × 360), levels {args.levels}, torch threads "
          f"{torch.get_num_threads()}")
    for label in args.models:
        r = bench(label, args.repeat, tuple(args.levels))
        ok = "ok" if r["ratio"] <= 3 else "ABOVE 3×"
        print(f"{label:6s} forward {r['forward']:8.2f} s   LRP (forward+backward) "
              f"{r['lrp']:8.2f} s   ratio {r['ratio']:.2f}× ({ok})")


if __name__ == "__main__":
    main()
