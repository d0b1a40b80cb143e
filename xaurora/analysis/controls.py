"""Probe controls: the control task (Hewitt & Liang 2019), selectivity and bootstrap intervals.

A probe that reads a label from the latents may only be memorising *where* a patch is (Aurora's
tokens carry position embeddings), not reading the property. The control task gives every
location a random label, fixed over time, with the real labels' class balance: a probe that
scores well on it can memorise locations. ``selectivity = score − control score`` is what is
left for the property itself. Intervals come from a bootstrap over test patches (the probe's
test set resampled with replacement), paired between a probe and its control.

>>> import numpy as np, xarray as xr
>>> lab = xr.DataArray(np.r_[np.ones(30), np.zeros(70)].reshape(10, 10), dims=("lat", "lon"))
>>> ctl = control_labels(lab, seed=0)
>>> float(ctl.sum()), bool((ctl != lab).any())
(30.0, True)
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from xaurora.analysis.bootstrap import (
    metric_draws,
    percentile_interval,
    resample_weights,
    undefined_reason,
)
from xaurora.analysis.metrics import CLASSIFICATION_METRICS
from xaurora.analysis.probe import probe

__all__ = ["control_labels", "control_metrics", "control_probe", "paired_intervals"]


def control_labels(labels: xr.DataArray, seed: int = 0,
                   task: str = "classification") -> xr.DataArray:
    """Random labels per (lat, lon) location, the same at every time, with the same balance.

    ``labels`` are on the patch grid (as ``probe`` returns them in ``label``). Classification:
    exactly ``round(p × n_locations)`` locations get class 1, ``p`` the share of class 1 among
    all labelled samples. Regression: each location gets a value drawn from the labelled
    values. NaN (unlabelled) samples stay NaN.
    """
    rng = np.random.default_rng(seed)
    lab = labels.astype(np.float64)
    loc = lab.isel(time=0, drop=True) if "time" in lab.dims else lab
    n_loc = loc.size
    vals = lab.values[np.isfinite(lab.values)]
    if task == "classification":
        per_loc = np.zeros(n_loc)
        per_loc[rng.choice(n_loc, int(round(vals.mean() * n_loc)), replace=False)] = 1.0
    else:
        per_loc = rng.choice(vals, n_loc, replace=True)
    ctl = loc.copy(data=per_loc.reshape(loc.shape))
    out = ctl.broadcast_like(lab).transpose(*lab.dims)
    return out.where(lab.notnull()).rename(f"control_{lab.name or 'label'}")


def control_probe(emb: xr.DataArray, result: xr.Dataset, seed: int = 0,
                  **probe_kw) -> xr.Dataset:
    """The probe of ``emb`` on control labels, with ``result``'s test set (a paired split)."""

    task = result.attrs.get("task", "classification")
    ctl = control_labels(result["label"], seed=seed, task=task)
    kw = {k: v for k, v in probe_kw.items() if k not in ("split", "test_size", "seed", "n_boot")}
    # intervals of the pair come from paired_intervals, on shared resamples
    return probe(emb, ctl, split=result["is_test"], seed=seed, n_boot=0, **kw)


def paired_intervals(result: xr.Dataset, control: xr.Dataset | None = None,
                     n_boot: int = 1000, seed: int = 0,
                     level: float = 0.95) -> dict[str, tuple[float, float]]:
    """2.5–97.5 % bootstrap intervals of every test metric of a probe ``result``.

    Test patches are resampled with replacement ``n_boot`` times
    (:func:`xaurora.analysis.bootstrap.resample_weights`). With ``control`` (the
    :func:`control_probe` on the same test set) the *same* resamples give ``control_<metric>``
    and ``selectivity`` (accuracy − control accuracy; r2 − control r2 for regression), so the
    interval of the difference is paired. Each interval is an
    :class:`~xaurora.analysis.bootstrap.Interval` (a ``(low, high)`` pair) whose ``note`` says
    how many resamples left the metric undefined (left out; NaN bounds only when all did).
    """

    task = result.attrs.get("task", "classification")
    test = result["is_test"].values.ravel()
    head = "accuracy" if task == "classification" else "r2"

    def arrays(res):
        proba = res["probability"].values.ravel()[test] if "probability" in res else None
        return (res["label"].values.ravel()[test], res["prediction"].values.ravel()[test], proba)

    draws: dict[str, list[np.ndarray]] = {}
    for w in resample_weights(int(test.sum()), int(n_boot), seed):
        got = metric_draws(task, *arrays(result), w)
        if control is not None:
            ctl = metric_draws(task, *arrays(control), w)
            got.update({f"control_{k}": v for k, v in ctl.items()})
            got["selectivity"] = got[head] - ctl[head]
        for k, v in got.items():
            draws.setdefault(k, []).append(v)
    return {k: percentile_interval(np.concatenate(v), level, undefined_reason(k))
            for k, v in draws.items()}


def control_metrics(result: xr.Dataset, control: xr.Dataset) -> dict[str, float]:
    """``control_<metric>`` for every test metric of ``control``, and ``selectivity``."""
    task = result.attrs.get("task", "classification")
    names = CLASSIFICATION_METRICS if task == "classification" else ("r2", "rmse")
    out = {f"control_{k}": float(control[k]) for k in names if k in control}
    head = "accuracy" if task == "classification" else "r2"
    out["selectivity"] = float(result[head]) - float(control[head])
    return out
