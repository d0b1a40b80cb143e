"""SAE figures (issue 23): training throughput and peak memory by streaming, and the table on
the bundled sample with ``tiny``.

1. Throughput: tokens/s of ``sae`` training on the CPU (``tiny``'s encoder tokens at 1°,
   32 channels) and peak memory (``VmHWM`` of a fresh process, reset when training starts;
   ``VmRSS`` then is "before") for N and 4·N tokens from a
   zarr store: flat when training streams.
2. The table: on the bundled sample (tiny, surface level), held-out FVU, L0, dead fraction,
   the spliced-in score ``1 − error(SAE spliced in) / error(encoder zeroed)`` (``splice_test``:
   the global 2 m temperature forecast of the first analysis time against the unedited one,
   cos-lat weighted RMSE) next to the same score for a PCA reconstruction with as many numbers
   per token (k), and the best feature's land–sea ROC AUC against the same SAE trained on the
   random-weights model's tokens.

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/bench_sae.py``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import xarray as xr

import xaurora as xa


def _status(field: str) -> float:
    """A memory figure of this process from /proc/self/status, in GiB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 2**20


def _peak() -> float:
    return _status("VmHWM")


def _reset_peak() -> None:
    """Start the peak (VmHWM) again from the current resident memory (Linux clear_refs 5)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def throughput(n_times: int, steps: int) -> dict:
    """Train on ``n_times`` samples of tiny's 1° encoder tokens, read from zarr."""
    model = xa.load_model("tiny")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tokens.zarr")
        ds = xa.testing.synthetic_dataset(n_lat=181, n_lon=360, n_times=n_times + 1).chunk(
            time=8)
        ds.aurora.embed(model).to_dataset().to_zarr(path, consolidated=False)
        tokens = xr.open_zarr(path, consolidated=False)["embedding"]
        base = _status("VmRSS")
        _reset_peak()  # the peak from here on is training's, not the embedding's before it
        t0 = time.perf_counter()
        res = xa.analysis.sae(tokens, n_features=256, k=8, steps=steps, batch_size=4096,
                              sample_dims=("time", "level", "lat", "lon"))
        wall = time.perf_counter() - t0
    return {"tokens": int(np.prod([tokens.sizes[d] for d in ("time", "level", "lat", "lon")])),
            "GiB": tokens.nbytes / 2**30, "tokens_per_s": steps * 4096 / wall,
            "peak_gib": _peak(), "before_gib": base, "fvu": res.attrs["fvu"]}


def table() -> None:
    ds = xa.sample.sample_dataset("2020-01-01", periods=24, freq="6h", with_static=True)
    model = xa.load_model("tiny")
    dims = ("time", "lat", "lon")
    surface = ds.aurora.embed(model).sel(level="surface")
    kw = {"n_features": 256, "k": 8, "sample_dims": dims, "steps": 2000, "batch_size": 1024}
    sae = surface.aurora.sae(**kw)
    rand = model.with_random_weights(seed=model.seed + 1)
    rsurf = ds.aurora.embed(rand).sel(level="surface")
    ctl = rsurf.aurora.sae(**kw)
    land = xa.labels.land_sea(ds)
    match = xa.analysis.match_features(xa.analysis.sae_transform(sae, surface), land,
                                       control=xa.analysis.sae_transform(ctl, rsurf))
    cost = ds.aurora.splice_test(model, sae, xa.Target("2t"), tokens=surface)
    spliced, spliced_pca = float(cost.score), float(cost.score_pca)
    print("| figure | value |\n|---|---|")
    for name, value in (("held-out FVU", sae.attrs["fvu"]), ("L0", sae.attrs["l0"]),
                        ("dead fraction", sae.attrs["dead_fraction"]),
                        ("dense fraction", sae.attrs["dense_fraction"]),
                        ("spliced-in score, SAE (k = 8 of 256)", spliced),
                        ("spliced-in score, PCA with 8 components", spliced_pca),
                        ("best feature's land–sea ROC AUC", match.attrs["best_roc_auc"]),
                        ("the same, SAE on the random-weights model", match.attrs[
                            "control_best_roc_auc"])):
        print(f"| {name} | {value:.3f} |")


def device_rate(device: str, n_tokens: int, width: int, n_features: int, k: int,
                steps: int, autocast: bool = False) -> None:
    """Tokens/s of SAE training on ``device`` from tokens in host memory (the GPU figure:
    512-wide tokens, 4 096 features, k = 32), and the time for a 0.25° year's surface tokens."""
    rng = np.random.default_rng(0)
    X = xr.DataArray(rng.standard_normal((n_tokens, width), dtype=np.float32),
                     dims=("time", "channel"))
    kw = {"n_features": n_features, "k": k, "batch_size": 4096, "device": device,
          "autocast": autocast}
    xa.analysis.sae(X, steps=5, **kw)  # warm-up: allocations, kernels
    t0 = time.perf_counter()
    xa.analysis.sae(X, steps=steps, **kw)
    wall = time.perf_counter() - t0
    rate = steps * 4096 / wall
    year = 1460 * 180 * 360  # surface tokens of a 0.25° year (4 × 180 × 360 per sample, 1 level)
    prec = "bf16 autocast" if autocast else "fp32"
    print(f"SAE training on {device} ({prec}): {rate:,.0f} tokens/s ({width}-wide tokens, "
          f"{n_features} "
          f"features, k = {k}, batches of 4 096 from host memory, {steps} steps incl. the "
          f"held-out pass); a 0.25° year's surface tokens ({year / 1e6:.1f} M): "
          f"{year / rate / 60:.1f} min per pass")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--one", nargs=2, type=int, help=argparse.SUPPRESS)
    ap.add_argument("--times", type=int, default=16)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--device", default=None,
                    help="only the device figure: e.g. cuda (512 wide, 4 096 features, k 32)")
    ap.add_argument("--tokens", type=int, default=1_000_000)
    ap.add_argument("--autocast", action="store_true",
                    help="with --device: the SAE's products in bfloat16")
    a = ap.parse_args()
    if a.device:
        return device_rate(a.device, a.tokens, 512, 4096, 32, a.steps, a.autocast)
    if a.one:
        print(json.dumps(throughput(*a.one)))
        return
    for n in (a.times, 4 * a.times):
        out = subprocess.run([sys.executable, __file__, "--one", str(n), str(a.steps)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{r['tokens']:,} tokens ({r['GiB']:.2f} GiB): {r['tokens_per_s']:,.0f} tokens/s, "
              f"peak {r['peak_gib']:.2f} GiB (before training {r['before_gib']:.2f}), "
              f"FVU {r['fvu']:.3f}", flush=True)
    table()


if __name__ == "__main__":
    main()
