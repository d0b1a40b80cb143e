"""Bootstrap confidence intervals of probe test metrics (resampling the test patches).

scikit-learn has no bootstrap of its metrics, and calling its metric functions once per
resample costs seconds on a 0.25° test set. Here each resample is a row of case weights (how
often each test patch was drawn, from one vectorised ``bincount``), and every metric is a
function of weighted sums: confusion counts for accuracy, balanced accuracy, precision, recall
and F1, a weighted Mann–Whitney statistic for ROC AUC, weighted moments for r² and RMSE. That
is the ordinary (multinomial) bootstrap, computed for many resamples at once.

Every quantile of bootstrap draws in xaurora (these intervals, the probe-control intervals, the
ratio intervals of ``perturbation_test`` and ``intervention_test``) goes through
:func:`quantiles`, one rule for draws that are not finite: an infinite draw (a ratio over a zero
denominator: the random baseline never changed the target) is a value, larger than any other,
so a quantile falling among infinite draws is infinite, never NaN; a NaN draw (0/0, or a metric
undefined on that resample) is left out and counted, and the bound is NaN only when every draw
is. :func:`draws_note` says so in words, for a result's ``note`` attribute.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = rng.integers(0, 2, 400)
>>> pred = np.where(rng.random(400) < 0.8, y, 1 - y)
>>> ci = bootstrap_intervals("classification", y, pred, pred.astype(float), n_boot=500)
>>> lo, hi = ci["accuracy"]
>>> bool(lo < (pred == y).mean() < hi), round(hi - lo, 2)
(True, 0.08)
"""

from __future__ import annotations

import numpy as np

__all__ = ["Interval", "bootstrap_intervals", "draws_note", "metric_draws", "percentile_interval",
           "quantiles", "ratio_interval", "resample_weights"]

#: Resamples of the test patches behind each interval (0 switches the intervals off).
N_BOOT = 1000
LEVEL = 0.95


def _ratio(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), empty)


def metric_draws(task: str, y_true, y_pred, y_score, weights: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics for each row of case ``weights`` (shape ``(n_draws, n)``), as scikit-learn's
    metrics with ``sample_weight`` give them (precision/F1 of a probe that never predicts
    class 1: 0; ROC AUC with one class: NaN)."""
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if task == "regression":
        total = w.sum(axis=1)
        mse = w @ (p - y) ** 2 / total
        mean = w @ y / total
        var = w @ y ** 2 / total - mean ** 2
        return {"r2": 1.0 - _ratio(mse, var, np.nan), "rmse": np.sqrt(mse)}
    tp, fp = w @ (y * p), w @ ((1 - y) * p)
    fn, tn = w @ (y * (1 - p)), w @ ((1 - y) * (1 - p))
    recall = _ratio(tp, tp + fn, 0.0)
    specificity = _ratio(tn, tn + fp, 0.0)
    out = {
        "accuracy": (tp + tn) / (tp + fp + fn + tn),
        "balanced_accuracy": 0.5 * (recall + specificity),
        "precision": _ratio(tp, tp + fp, 0.0),
        "recall": recall,
        "f1": _ratio(2 * tp, 2 * tp + fp + fn, 0.0),
    }
    if y_score is not None:
        from scipy import sparse  # heavy

        _, inv = np.unique(np.asarray(y_score, dtype=np.float64), return_inverse=True)
        n, u = y.size, int(inv.max()) + 1
        rows = np.arange(n)
        pos = sparse.csr_matrix((y, (rows, inv)), shape=(n, u))
        neg = sparse.csr_matrix((1 - y, (rows, inv)), shape=(n, u))
        wp, wn = np.asarray((pos.T @ w.T).T), np.asarray((neg.T @ w.T).T)  # (draws, scores)
        below = np.cumsum(wn, axis=1) - wn  # negatives scored lower; ties count half
        auc = (wp * (below + 0.5 * wn)).sum(axis=1)
        out["roc_auc"] = _ratio(auc, wp.sum(axis=1) * wn.sum(axis=1), np.nan)
    return out


def resample_weights(n: int, n_boot: int = N_BOOT, seed: int = 0):
    """Bootstrap case weights: arrays ``(k, n)`` (how often each of ``n`` samples was drawn),
    ``n_boot`` rows in all, in chunks of at most ~4 million values so memory stays bounded."""
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, int(4e6 // max(n, 1))))
    for start in range(0, n_boot, chunk):
        k = min(chunk, n_boot - start)
        idx = rng.integers(0, n, (k, n)) + (np.arange(k) * n)[:, None]
        yield np.bincount(idx.ravel(), minlength=k * n).reshape(k, n)


def quantiles(draws, q, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles ``q`` of ``draws`` along ``axis`` that stay right when draws are ±inf.

    On finite draws this is ``np.quantile`` (linear interpolation between order statistics,
    numpy's default method). ``np.quantile``/``np.nanquantile`` interpolate as ``a + t·(b − a)``,
    which is NaN for ``b = a = inf`` (``inf − inf``); here an infinite order statistic is a
    value: interpolating towards ``+inf`` (weight > 0) gives ``+inf``, between two equal infinite
    neighbours gives that infinity, between ``-inf`` and ``+inf`` the nearer of the two. NaN draws
    are left out (sorted past the end) and counted; where every draw is NaN the quantile is NaN.

    Parameters
    ----------
    draws : array_like
        Bootstrap draws; ``axis`` runs over the draws.
    q : float or array_like
        Probabilities in [0, 1].
    axis : int
        The axis of the draws.

    Returns
    -------
    values : numpy.ndarray
        Shape ``np.shape(q) + `` the shape of ``draws`` without ``axis``.
    n_nan : numpy.ndarray
        How many NaN draws were left out, shape of ``draws`` without ``axis``.

    Examples
    --------
    >>> v, n_nan = quantiles([1.0, 2.0, np.inf, np.inf, np.nan], [0.0, 0.5, 1.0])
    >>> v.tolist(), int(n_nan)
    ([1.0, inf, inf], 1)
    >>> float(quantiles([1.0, 2.0, 3.0, 4.0], 0.25)[0]), float(np.quantile([1, 2, 3, 4], 0.25))
    (1.75, 1.75)
    """
    a = np.moveaxis(np.asarray(draws, dtype=np.float64), axis, -1)
    qs = np.asarray(q, dtype=np.float64)
    if ((qs < 0) | (qs > 1) | np.isnan(qs)).any():
        raise ValueError(f"q: quantile probabilities must lie in [0, 1], got {qs.tolist()}.")
    nan = np.isnan(a)
    n_ok = a.shape[-1] - nan.sum(axis=-1)
    s = np.sort(a, axis=-1)  # NaN sorts last: the first n_ok entries are the defined draws
    h = np.maximum(n_ok[..., None] - 1, 0) * qs.ravel()  # numpy's "linear" position
    i = np.floor(h).astype(np.intp)
    j = np.minimum(i + 1, np.maximum(n_ok[..., None] - 1, 0))
    t = h - i
    if s.shape[-1] == 0:
        lo = hi = np.full(h.shape, np.nan)
    else:
        lo = np.take_along_axis(s, i, axis=-1)
        hi = np.take_along_axis(s, j, axis=-1)
    with np.errstate(invalid="ignore"):
        lerp = lo + t * (hi - lo)
    # where a neighbour is infinite: the limit of the interpolation, never inf − inf
    edge = np.where(lo == hi, lo,
                    np.where(t == 0, lo,
                             np.where(np.isneginf(lo) & np.isposinf(hi),
                                      np.where(t < 0.5, lo, hi),
                                      np.where(np.isposinf(hi), hi, lo))))
    out = np.where(np.isfinite(lo) & np.isfinite(hi), lerp, edge)
    out = np.where((n_ok == 0)[..., None], np.nan, out)
    out = np.moveaxis(out, -1, 0).reshape(qs.shape + n_ok.shape)
    return out, nan.sum(axis=-1)


def draws_note(values, n_nan, n_draws: int, what: str = "bootstrap draws",
               undefined: str = "undefined (0/0)", infinite: str = "") -> str:
    """Why bounds from :func:`quantiles` are not finite, in words ('' when they all are).

    ``values``/``n_nan`` are what :func:`quantiles` returned for one statistic (scalars or
    arrays; arrays are summed over), ``n_draws`` the draws per statistic, ``infinite`` the
    reason a draw can be infinite (said only when a bound is).

    >>> draws_note(np.array([1.0, np.inf]), 3, 100, infinite="x / 0")
    '3 of 100 bootstrap draws undefined (0/0), left out; a bound is infinite: x / 0'
    """
    values, n_nan = np.asarray(values, dtype=np.float64), np.asarray(n_nan)
    parts = []
    if n_nan.any():
        total = int(n_draws) * n_nan.size
        parts.append(f"{int(n_nan.sum())} of {total} {what} {undefined}"
                     + (", all of them: bound NaN" if (n_nan >= n_draws).all() else
                        ", left out"))
    if np.isinf(values).any() and infinite:
        parts.append(f"a bound is infinite: {infinite}")
    return "; ".join(parts)


class Interval(tuple):
    """``(low, high)`` of a bootstrap interval; ``note`` says why a bound is not finite.

    Unpacks as a pair (``lo, hi = interval``); ``note`` is ``''`` when both bounds are finite
    and no draw was left out.
    """

    note: str

    def __new__(cls, low: float, high: float, note: str = "") -> Interval:
        self = super().__new__(cls, (float(low), float(high)))
        self.note = note
        return self


def percentile_interval(draws: np.ndarray, level: float = LEVEL,
                        undefined: str = "undefined on that resample") -> Interval:
    """The central ``level`` percentile interval of ``draws`` (:func:`quantiles`' rule).

    NaN draws (a metric undefined on a resample, e.g. ROC AUC of a single-class resample) are
    left out and counted in ``note``; the bounds are NaN only when every draw is NaN.

    >>> lo, hi = percentile_interval(np.r_[np.arange(99.0), np.nan])
    >>> round(lo, 2), round(hi, 2), percentile_interval(np.r_[np.arange(99.0), np.nan]).note
    (2.45, 95.55, '1 of 100 bootstrap draws undefined on that resample, left out')
    """
    a = (1.0 - level) / 2.0
    draws = np.ravel(np.asarray(draws, dtype=np.float64))
    (lo, hi), n_nan = quantiles(draws, [a, 1 - a])
    return Interval(lo, hi, draws_note(np.r_[lo, hi], n_nan, draws.size, undefined=undefined))


def ratio_interval(num, rand: np.ndarray, rng: np.random.Generator, n_boot: int,
                   level: float = LEVEL, baseline: str = "random baseline"):
    """``num / mean(rand)`` and its bootstrap interval over the draws of ``rand``.

    ``rand`` has the random draws on its last axis and ``num`` broadcasts against the other
    axes. The mean of ``rand`` is resampled ``n_boot`` times (draws with replacement); bounds
    follow :func:`quantiles`: a resample whose mean is 0 gives an infinite ratio (a bound may
    then be ``inf``, not NaN), a 0/0 ratio is NaN, left out and counted.

    Returns
    -------
    ratio, low, high : numpy.ndarray
        Shape of ``num`` broadcast with ``rand``'s other axes.
    note : str
        Why the ratio or a bound is infinite or NaN ('' when all are finite).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> r, lo, hi, note = ratio_interval(2.0, np.array([0.0, 0.0, 0.0, 1.0]), rng, 200)
    >>> float(r), float(hi), note.split(": ")[0]
    (8.0, inf, 'a bound is infinite')
    """
    rand = np.asarray(rand, dtype=np.float64)
    num = np.asarray(num, dtype=np.float64)
    n = rand.shape[-1]
    boot = rand[..., rng.integers(0, n, (int(n_boot), n))].mean(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = num / rand.mean(axis=-1)
        draws = num[..., None] / boot
    a = (1.0 - level) / 2.0
    (lo, hi), n_nan = quantiles(draws, [a, 1 - a], axis=-1)
    notes = []
    if np.isnan(ratio).any():
        notes.append(f"ratio 0/0: neither the tested change nor the {baseline} changed the "
                     "target")
    elif np.isinf(ratio).any():
        notes.append(f"ratio infinite: the {baseline} never changed the target")
    bounds = draws_note(np.r_[np.ravel(lo), np.ravel(hi)], n_nan, int(n_boot),
                        what="bootstrap resamples",
                        undefined="are 0/0 (tested change and resampled baseline both 0)",
                        infinite=f"the {baseline} never changed the target in some resamples")
    if bounds:
        notes.append(bounds)
    return ratio, lo, hi, "; ".join(notes)


def bootstrap_intervals(task: str, y_true, y_pred, y_score=None, n_boot: int = N_BOOT,
                        level: float = LEVEL, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap interval ``(low, high)`` of each test metric.

    The test patches are resampled with replacement ``n_boot`` times (patches, not times: the
    interval reflects how many patches were scored, and is optimistic where neighbouring
    patches are alike).
    """
    draws: dict[str, list[np.ndarray]] = {}
    for w in resample_weights(np.asarray(y_true).size, n_boot, seed):
        for name, v in metric_draws(task, y_true, y_pred, y_score, w).items():
            draws.setdefault(name, []).append(v)
    return {name: percentile_interval(np.concatenate(parts), level, undefined_reason(name))
            for name, parts in draws.items()}


def undefined_reason(metric: str) -> str:
    """Why a bootstrap draw of ``metric`` can be NaN (for the ``note`` of its interval)."""
    base = metric.removeprefix("control_")
    if metric == "selectivity":
        return "undefined (the metric or its control undefined on that resample)"
    return _UNDEFINED.get(base, "undefined on that resample")


#: Why a metric's draw is NaN (its 0/0): said in the ``note`` of its interval.
_UNDEFINED = {
    "roc_auc": "undefined (the resample holds a single class)",
    "r2": "undefined (every resampled label equal: zero variance)",
}
