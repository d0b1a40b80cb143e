"""``xaurora demo``: the whole pipeline, offline, on the bundled sample with the ``tiny`` model.

Embeddings → pooled PCA (coloured by season) → land–sea probe on inputs/encoder/backbone with
random-weight controls → probe error map → LRP relevance of a European msl forecast → a
perturbation test. Figures (PNG), ``report.md``, ``report.html`` and ``results.json`` go to
``out_dir``. The same report runs on real weights and data with ``model=``, ``checkpoint=`` and
``data=`` (a netCDF/zarr path or an ``xr.Dataset``).

The ``tiny`` model has random weights: its numbers show that the machinery works and what a
control looks like, not what Aurora has learned.

>>> from xaurora.app.demo import run_demo                       # doctest: +SKIP
>>> out = run_demo("xaurora-demo", fast=True)               # doctest: +SKIP
>>> sorted(p.name for p in out.glob("*.png"))[:2]           # doctest: +SKIP
['fig1_pca_season.png', 'fig2_probe_table.png']
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from xaurora.app.demo_steps import (
    DEMO_REGION,
    DEMO_SPLIT,
    FAST,
    FIGURES,
    FULL,
    STEPS,
    DemoRun,
    time_dim,
    with_history,
)
from xaurora.errors import XauroraError
from xaurora.io.static import load_static
from xaurora.io.store import open_any
from xaurora.models import load_model
from xaurora.sample import sample_dataset

__all__ = ["DEMO_REGION", "DEMO_SPLIT", "FIGURES", "run_demo"]


class _Progress:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self.last = self.t0
        self.timings: dict[str, float] = {}

    def __call__(self, step: str, msg: str) -> None:
        now = time.perf_counter()
        self.timings[step] = round(now - self.last, 2)
        self.last = now
        if self.enabled:
            print(f"[xaurora demo {now - self.t0:6.1f}s] {msg}", flush=True)


def _sample_data(n_times: int, timestep: pd.Timedelta, seed: int) -> xr.Dataset:
    """Pairs (t − Δ, t) spread evenly over 2020, so the PCA sees every season."""

    t = pd.date_range("2020-01-15 12:00", periods=n_times, freq=f"{366 // n_times}D")
    times = np.sort(np.concatenate([(t - timestep).values, t.values]))
    return sample_dataset(times=times, seed=seed, with_static=True)


def _select_times(ds: xr.Dataset, timestep: pd.Timedelta, n: int) -> tuple[xr.Dataset, list]:
    """Up to ``n`` analysis times spread over ``ds`` (with their t − Δ), and ``ds`` cut to them."""
    times = pd.DatetimeIndex(ds[time_dim(ds)].values)
    ok = [t for t in times if (t - timestep) in times]
    if not ok:
        raise XauroraError(
            f"data: no time has its previous step t − {timestep} (Aurora needs both). Fix: "
            "include consecutive time steps."
        )
    idx = np.unique(np.linspace(0, len(ok) - 1, min(n, len(ok))).round().astype(int))
    chosen = [ok[i] for i in idx]
    return with_history(ds, chosen, timestep), chosen


def run_demo(
    out_dir: str | os.PathLike = "xaurora-demo",
    fast: bool = False,
    model: str = "tiny",
    checkpoint: str | os.PathLike | None = None,
    data: str | os.PathLike | xr.Dataset | None = None,
    progress: bool = True,
    *,
    static: xr.Dataset | str | os.PathLike | None = None,
    seed: int = 0,
) -> Path:
    """Run the whole xaurora pipeline and write figures and a report into ``out_dir``.

    Parameters
    ----------
    out_dir
        Output folder (created). Receives ``fig1_…png`` … ``fig6_…png``, ``report.md``,
        ``report.html`` and ``results.json`` (every number of the report).
    fast
        Fewer time steps and random draws (a smoke test, ~1 minute on 2 CPU cores).
    model, checkpoint
        A key of ``xa.MODELS`` and optionally a local checkpoint file (no network then).
    data
        None for the bundled sample; else a netCDF/zarr path or an ``xr.Dataset`` in any
        supported layout (statics included, or via ``static=``), on the model's grid.
    progress
        Print what runs.
    static, seed
        Static fields for ``data`` (Dataset or path); random seed of everything random.

    Returns
    -------
    pathlib.Path
        The output folder.

    Examples
    --------
    >>> out = run_demo("demo-out", fast=True)                   # doctest: +SKIP
    >>> (out / "report.md").exists()                            # doctest: +SKIP
    True
    """
    import matplotlib  # heavy

    settings = FAST if fast else FULL
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    say = _Progress(progress)
    results: dict[str, Any] = {"settings": settings.__dict__.copy(), "model": model}

    raw = None if data is None else open_any(data, "data")  # a bad path fails before loading
    aurora_model = load_model(model, checkpoint=checkpoint, seed=seed)
    timestep = pd.Timedelta(aurora_model.timestep)
    say("model", f"loaded model {aurora_model.name!r} (patch {aurora_model.patch_size}, "
        f"step {timestep.total_seconds() / 3600:g} h, "
        f"weights {aurora_model.provenance()['model_weights']})")
    if data is None:
        ds = _sample_data(settings.n_times, timestep, seed)
        source = "bundled sample (synthetic weather on real ERA5 statics, 1.5°)"
        times = list(pd.DatetimeIndex(ds.valid_time.values)[1::2])
    else:
        ds, times = _select_times(raw, timestep, settings.n_times)
        source = str(data) if not isinstance(data, xr.Dataset) else "user Dataset"
    if isinstance(static, (str, os.PathLike)):
        static = load_static(static)
    results["data"] = {"source": source, "n_times": len(times),
                       "first": str(times[0]), "last": str(times[-1])}
    say("data", f"data: {source}; {len(times)} analysis times")
    run = DemoRun(ds, times, timestep, aurora_model, static, settings, out, say, results, seed)
    with matplotlib.rc_context({"figure.max_open_warning": 0}):
        for step in STEPS:
            step(run)
    results["timings_s"] = say.timings
    (out / "results.json").write_text(json.dumps(results, indent=2, default=float))
    say("report", f"wrote {out / 'report.md'}, report.html, results.json and "
                  f"{len(FIGURES)} figures")
    return out
