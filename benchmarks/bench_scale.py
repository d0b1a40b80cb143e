"""Peak memory of ``pca`` and ``probe`` on lazily generated tokens of 2, 4 and 8 GiB (issue 22).

Tokens are latent-like float32 ``(time, lat, lon, channel=512)`` generated chunk by chunk by Dask
(nothing is stored): a few strong directions, noise, and channel offsets far from zero, as
encoder outputs have. Each (size, analysis) runs in a fresh process, whose peak resident set
size (``ru_maxrss``) is printed with the wall time; the targets are ≤ 2.5 GiB at every size and
the 8 GiB run ≤ 1.1 × the 2 GiB run. Labels (per patch, in memory: 8 bytes a sample) are a
planted linear function of the hidden directions plus noise.

``--check`` first runs each analysis on a 256 MiB slice that fits in memory and prints its
agreement with scikit-learn (PCA: largest relative error of the explained variance ratios,
smallest |cos| between components; probes: largest relative coefficient error, metric
differences).

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/bench_scale.py [--sizes 2 4 8] [--check]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

N_LAT, N_LON, N_CH, N_HIDDEN = 64, 128, 512, 8
CHUNK_TIMES = 4  # 64 MiB float32 chunks


def _generator(seed: int = 0):
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(N_HIDDEN, N_CH)).astype(np.float32)
    offset = (rng.normal(size=N_CH) * 20 + 100).astype(np.float32)
    scales = np.geomspace(6.0, 1.0, N_HIDDEN).astype(np.float32)
    w_label = rng.normal(size=N_HIDDEN)
    return basis, offset, scales, w_label


def _hidden(block_id: int, n: int, scales) -> np.ndarray:
    return np.random.default_rng(1000 + block_id).normal(size=(n, N_HIDDEN)).astype(
        np.float32) * scales


def tokens(n_time: int, seed: int = 0, task: str | None = None):
    """The lazy token DataArray and its in-memory labels (classification, regression); with
    ``task``, only that task's labels (the other is None): the benchmark's own arrays should
    not weigh on the analysis's peak."""
    import dask.array as da
    import xarray as xr

    basis, offset, scales, w_label = _generator(seed)
    per = N_LAT * N_LON

    # the noise is one time step's worth, rolled by a different amount in every chunk:
    # generating fresh noise for every pass would make each pass cost seconds per GiB
    tile = (np.random.default_rng(5000).random((per, N_CH), dtype=np.float32) - 0.5) * 3.5

    def block(block_info=None):
        t0, t1 = block_info[None]["array-location"][0]
        z = _hidden(t0, (t1 - t0) * per, scales).reshape(t1 - t0, per, N_HIDDEN)
        out = z @ basis
        for i in range(t1 - t0):
            out[i] += np.roll(tile, 7919 * (t0 + i), axis=0)
        out += offset
        return out.reshape(t1 - t0, N_LAT, N_LON, N_CH)

    arr = da.map_blocks(block, dtype=np.float32, chunks=(
        (CHUNK_TIMES,) * (n_time // CHUNK_TIMES), (N_LAT,), (N_LON,), (N_CH,)))
    lat = np.linspace(89.5, -89.5, N_LAT)
    lon = np.arange(N_LON) * 360 / N_LON
    X = xr.DataArray(arr, dims=("time", "lat", "lon", "channel"), name="embedding",
                     coords={"time": np.arange(n_time), "lat": lat, "lon": lon},
                     attrs={"patch_size": 1})
    score = np.empty(n_time * per, np.float32)
    noise = np.random.default_rng(9)
    for t0 in range(0, n_time, CHUNK_TIMES):
        sl = slice(t0 * per, (t0 + CHUNK_TIMES) * per)
        score[sl] = _hidden(t0, CHUNK_TIMES * per, scales) @ w_label + noise.normal(
            size=CHUNK_TIMES * per) * 2.0
    shape = (n_time, N_LAT, N_LON)
    coords = {k: X[k] for k in ("time", "lat", "lon")}
    cls = reg = None
    if task in (None, "classification"):
        cls = xr.DataArray((score > 0).astype(np.float32).reshape(shape), dims=tuple(coords),
                           coords=coords)
    if task in (None, "regression"):
        reg = xr.DataArray(score.reshape(shape), dims=tuple(coords), coords=coords)
    del score
    return X, cls, reg


def peak_rss_gib() -> float:
    """This process's peak resident set size. ``VmHWM`` (Linux) starts afresh at ``exec``;
    ``ru_maxrss`` would carry the parent's peak over into the child."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20  # KiB → GiB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_one(analysis: str, gib: float) -> dict:
    """One analysis on ``gib`` GiB of tokens, in this process; its figures."""
    import dask

    from xaurora.analysis.pca import pca
    from xaurora.analysis.probe import probe

    n_time = max(CHUNK_TIMES, int(round(gib * 2**30 / (N_LAT * N_LON * N_CH * 4) / CHUNK_TIMES))
                 * CHUNK_TIMES)
    task = {"probe_classification": "classification",
            "probe_regression": "regression"}.get(analysis, "none")
    X, cls, reg = tokens(n_time, task=task)
    dask.config.set(scheduler="threads", num_workers=2)
    t0 = time.perf_counter()
    if analysis == "pca":
        res = pca(X, 8, sample_dims=("time", "lat", "lon"))
        out = {"evr1": float(res.explained_variance_ratio[0])}
    else:
        task = "classification" if analysis == "probe_classification" else "regression"
        res = probe(X, cls if task == "classification" else reg, task=task,
                    split=("lon", 120, 210), n_boot=0)
        key = "balanced_accuracy" if task == "classification" else "r2"
        out = {key: float(res[key]), "passes": res.attrs["estimator"].split("(")[-1][:-1]}
    wall = time.perf_counter() - t0
    rss = peak_rss_gib()
    return {"analysis": analysis, "data_gib": round(X.nbytes / 2**30, 2), "peak_rss_gib": rss,
            "wall_s": round(wall, 1), **out}


def check() -> None:
    """Agreement with scikit-learn on a 256 MiB slice that fits in memory.

    scikit-learn is given the float64 data (its float32 path is itself off by more than the
    tolerances) and, for the logistic probe, both fits a tight ``tol``: at the default ``tol``
    two L-BFGS runs stop at different points of a flat optimum (collinear latents), so their
    coefficients differ while their test metrics agree (printed too).
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from xaurora.analysis.pca import pca
    from xaurora.analysis.probe import probe

    X, cls, reg = tokens(32)
    flat = X.values.reshape(-1, N_CH)
    res = pca(X, 8, sample_dims=("time", "lat", "lon"))
    ref = PCA(8, svd_solver="full").fit(flat.astype(np.float64))
    rel = np.max(np.abs(res.explained_variance_ratio.values / ref.explained_variance_ratio_ - 1))
    cos = np.min(np.abs(np.sum(res.components.values * ref.components_, axis=1)))
    print(f"check pca (256 MiB): explained variance ratio max rel. error {rel:.1e}, "
          f"min |cos| {cos:.7f}")
    flat64 = flat.astype(np.float64)
    for task, labels in (("classification", cls), ("regression", reg)):
        tight = {"tol": 1e-9, "max_iter": 20000} if task == "classification" else {}
        got = probe(X, labels, task=task, split=("lon", 120, 210), n_boot=0, **tight)
        eager = probe(X.compute(), labels, task=task, split=("lon", 120, 210), n_boot=0)
        default = probe(X, labels, task=task, split=("lon", 120, 210), n_boot=0)
        train = got.is_train.values.ravel()
        est = LogisticRegression(**tight) if task == "classification" else Ridge()
        sk = make_pipeline(StandardScaler(), est).fit(flat64[train],
                                                      got.label.values.ravel()[train])
        coef = np.ravel(sk[-1].coef_)
        err = np.max(np.abs(got.coef.values - coef)) / np.max(np.abs(coef))
        names = ("accuracy", "balanced_accuracy", "roc_auc") if task == "classification" else (
            "r2", "rmse")
        diff = max(abs(float(default[m]) - float(eager[m])) for m in names)
        print(f"check probe {task} (256 MiB): coef max error / max |coef| {err:.1e}"
              f"{' (both tol=1e-9)' if tight else ''}; default settings: largest test-metric "
              f"difference vs the in-memory (scikit-learn) probe {diff:.1e}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=float, nargs="+", default=[2, 4, 8])
    ap.add_argument("--analyses", nargs="+",
                    default=["pca", "probe_classification", "probe_regression"])
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # (analysis, GiB): the child
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], float(args.one[1]))))
        return
    if args.check:
        check()
    rows = []
    for analysis in args.analyses:
        for gib in args.sizes:
            out = subprocess.run([sys.executable, __file__, "--one", analysis, str(gib)],
                                 capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            extra = {k: v for k, v in row.items()
                     if k not in ("analysis", "data_gib", "peak_rss_gib", "wall_s")}
            print(f"{analysis:22s} data {row['data_gib']:5.2f} GiB  peak RSS "
                  f"{row['peak_rss_gib']:.2f} GiB  wall {row['wall_s']:7.1f} s  {extra}",
                  flush=True)
    for analysis in args.analyses:
        peaks = {r["data_gib"]: r["peak_rss_gib"] for r in rows if r["analysis"] == analysis}
        lo, hi = min(peaks), max(peaks)
        print(f"{analysis}: max peak {max(peaks.values()):.2f} GiB (target <= 2.5); "
              f"{hi:g} GiB / {lo:g} GiB peak ratio {peaks[hi] / peaks[lo]:.3f} (target <= 1.1)")


if __name__ == "__main__":
    main()
