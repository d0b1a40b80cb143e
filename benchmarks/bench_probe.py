"""Benchmark: a logistic-regression probe on one full 0.25° latent level (synthetic data).

64,800 patches (180 × 360) × 512 channels, float32, labels on the 721 × 1440 input grid,
longitude-band split (120–210° E is the test set, as in the land–sea study). Compares
``xaurora.analysis.probe.probe`` with scikit-learn called directly on the same arrays
(StandardScaler + LogisticRegression, fit on the train patches, predict the test patches,
same metrics). Targets: ≤ 15 s, ≤ 1.2 × scikit-learn.

    python benchmarks/bench_probe.py [--repeat 2] [--channels 512]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import xarray as xr


def make_data(n_channel: int = 512, seed: int = 0, decay: float = 0.0):
    """A synthetic encoder level and a planted label on the input grid.

    ``decay > 0`` mixes the channels with singular values ``k ** -decay`` (plus an offset), so
    they are correlated and badly conditioned like real latents: lbfgs then needs hundreds of
    iterations instead of ten.
    """
    from xaurora.grids.patches import patch_coords

    rng = np.random.default_rng(seed)
    lat = np.linspace(90, -90, 721)
    lon = np.arange(1440) * 0.25
    coords = patch_coords(lat, lon, 4)
    n_lat, n_lon = coords["lat"].size, coords["lon"].size
    x = rng.standard_normal((1, n_lat, n_lon, n_channel), dtype=np.float32)
    if decay > 0:
        sv = np.arange(1, n_channel + 1, dtype=np.float64) ** -decay
        q, _ = np.linalg.qr(rng.normal(size=(n_channel, n_channel)))
        x = x @ (sv[:, None] * q.T).astype(np.float32) + np.float32(3.0)
    emb = xr.DataArray(x, dims=("time", "lat", "lon", "channel"), name="embedding",
                       coords={"time": [np.datetime64("2022-08-07T06:00", "ns")], **coords,
                               "channel": np.arange(n_channel)},
                       attrs={"patch_size": 4, "layer": "encoder", "model": "synthetic"})
    # label: a noisy linear read-out of all channels, spread back onto the 0.25° pixels
    w = rng.normal(size=n_channel).astype(np.float32)
    score = x[0] @ w
    score = score - np.median(score) + rng.normal(scale=0.3 * score.std(), size=score.shape)
    fine = np.repeat(np.repeat(score > 0, 4, axis=0), 4, axis=1).astype(np.float32)
    fine = np.concatenate([fine, fine[-1:]], axis=0)  # the 721st row Aurora crops
    labels = xr.DataArray(fine, dims=("latitude", "longitude"), name="planted",
                          coords={"latitude": lat, "longitude": lon})
    return emb, labels


def run_xaurora(emb, labels):
    from xaurora.analysis.probe import probe

    t0 = time.perf_counter()
    res = probe(emb, labels, split=("lon", 120, 210))
    return time.perf_counter() - t0, res


def run_sklearn(emb, labels):
    """The same probe written directly with numpy + scikit-learn (the reference)."""
    from sklearn import metrics as skm
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    t0 = time.perf_counter()
    X = emb.values.reshape(-1, emb.sizes["channel"])
    y = (labels.values[:720].reshape(180, 4, 360, 4).mean(axis=(1, 3)) > 0.5).ravel()
    lon = np.broadcast_to(emb.lon.values, (emb.sizes["lat"], emb.sizes["lon"])).ravel()
    test = (lon >= 120) & (lon <= 210)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(X[~test], y[~test])
    proba = model.predict_proba(X[test])[:, 1]
    pred = proba > 0.5
    scores = {
        "accuracy": skm.accuracy_score(y[test], pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y[test], pred),
        "precision": skm.precision_score(y[test], pred),
        "recall": skm.recall_score(y[test], pred),
        "f1": skm.f1_score(y[test], pred),
        "roc_auc": skm.roc_auc_score(y[test], proba),
    }
    return time.perf_counter() - t0, scores


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--channels", type=int, default=512)
    ap.add_argument("--decay", type=float, nargs="+", default=(0.0, 1.0),
                    help="channel conditioning: 0 = independent, 1 = singular values 1/k")
    args = ap.parse_args(argv)
    import os

    for decay in args.decay:
        emb, labels = make_data(args.channels, decay=decay)
        kind = "independent channels" if decay == 0 else f"correlated channels (sv ~ k^-{decay:g})"
        print(f"probe benchmark: {emb.sizes['lat'] * emb.sizes['lon']:,} patches x "
              f"{emb.sizes['channel']} channels (float32), {kind}, labels on the 721x1440 grid, "
              f"lon-band split 120-210E; {os.cpu_count()} CPU cores")
        run_sklearn(emb, labels)  # warm-up: imports, BLAS threads
        t_x, t_s = [], []
        for _ in range(args.repeat):  # interleaved, best of N: the machine is shared
            dt, res = run_xaurora(emb, labels)
            t_x.append(dt)
            dt, ref = run_sklearn(emb, labels)
            t_s.append(dt)
        diff = max(abs(float(res[k]) - ref[k]) for k in ref)
        assert diff < 1e-3, diff  # float64 vs float32 decision: at most a borderline patch
        runs = ", ".join(f"{t:.2f}" for t in t_x)
        print(f"  xaurora probe     : {min(t_x):6.2f} s (runs: {runs})")
        runs = ", ".join(f"{t:.2f}" for t in t_s)
        print(f"  scikit-learn only : {min(t_s):6.2f} s (runs: {runs})")
        print(f"  ratio             : {min(t_x) / min(t_s):6.2f} x   (target <= 1.2 x)")
        print(f"  target <= 15 s    : {'met' if min(t_x) <= 15 else 'NOT met'}")
        print("  test metrics: " + ", ".join(f"{k}={float(res[k]):.4f}" for k in ref)
              + f" (max difference to scikit-learn's {diff:.1e})")
        print(f"  lbfgs iterations  : {res.attrs['n_iter']}")


if __name__ == "__main__":
    main()
