"""Regimes of pooled latents: how seasonal are the leading PCs, and are events separable?

Two questions from the pooled-latent study (seasons dominate; storms are not a linearly
separable cluster), as reusable measurements:

* :func:`seasonality` — the fraction of each leading principal component's variance explained
  by the annual cycle (least-squares regression of its scores on sin/cos of the day of year);
* :func:`separability` — cross-validated balanced accuracy of a linear classifier telling event
  times from the others, with a permutation-test p-value
  (``sklearn.model_selection.permutation_test_score``).

>>> import numpy as np, pandas as pd, xarray as xr
>>> t = pd.date_range("2001-01-01", periods=365, freq="D")
>>> rng = np.random.default_rng(0)
>>> season = np.cos(2 * np.pi * (t.day_of_year.values - 1) / 365.25)
>>> X = xr.DataArray(season[:, None] * [3.0, 1, 2] + rng.normal(size=(365, 3)) * 0.1,
...                  dims=("time", "channel"), coords={"time": t})
>>> float(seasonality(X, n_components=1).annual_cycle_r2[0]) > 0.99
True
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import xarray as xr

from xaurora.analysis.pca import pca
from xaurora.analysis.stacking import Stacker
from xaurora.errors import XauroraError
from xaurora.io.names import TIME_NAMES

__all__ = ["annual_harmonics", "seasonality", "separability"]

YEAR_DAYS = 365.25


def annual_harmonics(time, harmonics: int = 1) -> np.ndarray:
    """Design matrix ``[sin(kφ), cos(kφ)]_{k=1..harmonics}`` with φ = 2π · day-of-year / 365.25.

    The day of year is fractional (00 UTC on 1 January is 0).
    """
    t = xr.DataArray(np.asarray(time), dims="time")
    doy = (t.dt.dayofyear - 1) + t.dt.hour / 24.0 + t.dt.minute / 1440.0
    phi = 2 * np.pi * doy.values / YEAR_DAYS
    cols = []
    for k in range(1, int(harmonics) + 1):
        cols += [np.sin(k * phi), np.cos(k * phi)]
    return np.stack(cols, axis=1)


def seasonality(
    X: xr.DataArray | xr.Dataset,
    n_components: int = 2,
    sample_dims: Sequence[str] = ("time",),
    harmonics: int = 1,
) -> xr.Dataset:
    """How much of the leading PCs' variance is the annual cycle.

    ``X`` is pooled latents (``time`` × features, e.g. ``emb.aurora.pool()``) — a PCA is fitted
    with ``n_components`` — or an existing :func:`~xaurora.analysis.pca.pca` result. Each PC's
    scores are regressed on ``harmonics`` annual harmonics. Returns an ``xr.Dataset`` with
    ``annual_cycle_r2`` (``component``: fraction of that PC's variance explained by the cycle),
    ``annual_cycle_fraction`` (the same for the leading PCs together, variance-weighted),
    ``seasonal_share_of_total`` (Σ explained_variance_ratio × r², the share of all variance that
    is seasonal through these PCs), ``amplitude`` and ``peak_day`` (first harmonic),
    ``explained_variance_ratio``, ``scores`` and ``annual_fit`` (``time``, ``component``).

    The r² is in-sample; with N samples and 2·harmonics regressors, noise alone gives about
    2·harmonics/N. Use at least a year of data.

    >>> import numpy as np, pandas as pd, xarray as xr
    >>> t = pd.date_range("2001-01-01", periods=730, freq="D")
    >>> X = xr.DataArray(np.random.default_rng(1).normal(size=(730, 4)), dims=("time", "c"),
    ...                  coords={"time": t})
    >>> float(seasonality(X).annual_cycle_fraction) < 0.05
    True
    """
    from sklearn.linear_model import LinearRegression  # heavy

    res = X if isinstance(X, xr.Dataset) else pca(X, n_components, sample_dims=sample_dims)
    if "scores" not in res:
        raise XauroraError("seasonality: expected pooled latents or a pca() result with 'scores'.")
    scores = res["scores"].isel(component=slice(0, n_components))
    if set(scores.dims) != {"time", "component"}:
        raise XauroraError(
            f"seasonality: the PC scores must have dims (time, component), got {scores.dims}. "
            "Fix: use sample_dims=('time',) (pool over space first: emb.aurora.pool())."
        )
    time = scores["time"].values
    design = annual_harmonics(time, harmonics)
    if time.size < design.shape[1] + 2:
        raise XauroraError(
            f"seasonality: {time.size} time steps cannot fit {harmonics} annual harmonic(s). "
            "Fix: use more time steps (at least a year)."
        )
    span = (time.max() - time.min()) / np.timedelta64(1, "D")
    if span < 330:
        warnings.warn(
            f"seasonality: the series spans only {span:.0f} days; the annual-cycle fit is then "
            "not a measure of seasonality. Use at least a year of data.", stacklevel=2,
        )
    y = scores.transpose("time", "component").values
    fit = LinearRegression().fit(design, y)
    pred = fit.predict(design)
    ss_res = ((y - pred) ** 2).sum(axis=0)
    ss_tot = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    r2 = 1 - ss_res / ss_tot
    a, b = fit.coef_[:, 0], fit.coef_[:, 1]  # sin, cos coefficients of the first harmonic
    peak = (np.arctan2(a, b) % (2 * np.pi)) / (2 * np.pi) * YEAR_DAYS + 1
    evr = res["explained_variance_ratio"].isel(component=slice(0, n_components))
    comp = scores["component"]
    out = xr.Dataset(
        {
            "annual_cycle_r2": ("component", r2, {
                "long_name": "fraction of the PC's variance explained by the annual cycle",
                "units": "1"}),
            "annual_cycle_fraction": ((), float(1 - ss_res.sum() / ss_tot.sum()), {
                "long_name": "fraction of the leading PCs' variance explained by the annual "
                             "cycle", "units": "1"}),
            "seasonal_share_of_total": ((), float((evr.values * r2).sum()), {
                "long_name": "share of total variance that is annual cycle via these PCs",
                "units": "1"}),
            "amplitude": ("component", np.hypot(a, b), {
                "long_name": "amplitude of the first annual harmonic (score units)"}),
            "peak_day": ("component", peak, {
                "long_name": "day of year at which the first harmonic peaks", "units": "day"}),
            "explained_variance_ratio": evr.drop_vars(
                [c for c in evr.coords if c != "component"]),
            "scores": scores,
            "annual_fit": (("time", "component"), pred,
                           {"long_name": "annual-cycle fit of the PC scores"}),
        },
        coords={"component": comp, "time": scores["time"]},
        attrs={"harmonics": int(harmonics), "period_days": YEAR_DAYS},
    )
    return out


def separability(
    X: xr.DataArray,
    events,
    sample_dims: Sequence[str] = ("time",),
    cv: int = 5,
    n_permutations: int = 200,
    n_components: int | None = None,
    C: float = 1.0,
    seed: int = 0,
) -> xr.Dataset:
    """Can a linear classifier tell event times (e.g. storms) from the rest of ``X``?

    ``X`` is pooled latents (samples along ``sample_dims``, features along the rest).
    ``events`` is a boolean/0-1 DataArray on the sample dims, or a list of event times.
    The classifier is StandardScaler → (PCA to ``n_components``) → class-balanced
    LogisticRegression, scored by balanced accuracy in ``cv`` stratified folds (not shuffled:
    neighbouring, autocorrelated times stay together). ``permutation_test_score`` refits it on
    ``n_permutations`` shuffles of the labels: ``p_value`` is the chance of a score at least as
    high with no relation between latents and events.

    Returns an ``xr.Dataset`` with scalars ``balanced_accuracy``, ``p_value``, ``chance_level``
    (mean permutation score), ``n_events``, ``n_samples`` and ``permutation_scores``
    (``permutation``).

    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(0)
    >>> X = xr.DataArray(rng.normal(size=(60, 3)), dims=("time", "channel"))
    >>> ev = xr.DataArray(np.arange(60) % 4 == 0, dims="time")
    >>> res = separability(X + 3 * ev, ev, n_permutations=20)
    >>> float(res.balanced_accuracy) > 0.9, float(res.p_value) < 0.1
    (True, True)
    """
    # One cross-validated fit and its control, read top to bottom: checks, folds, the
    # permutation test, then the Dataset.
    from sklearn.decomposition import PCA  # heavy
    from sklearn.linear_model import LogisticRegression  # heavy
    from sklearn.model_selection import StratifiedKFold, permutation_test_score  # heavy
    from sklearn.pipeline import make_pipeline  # heavy
    from sklearn.preprocessing import StandardScaler  # heavy

    stk = Stacker.of(X, sample_dims, what="separability: X")
    sample_dims, feature_dims = stk.sample_dims, stk.feature_dims
    if not isinstance(events, xr.DataArray):
        if "time" not in X.coords:
            raise XauroraError("separability: a list of event times needs X with a time coord.")
        events = X["time"].isin(np.asarray(events, dtype=X["time"].dtype))
    if "time" in sample_dims:
        events = events.rename({d: "time" for d in TIME_NAMES[1:] if d in events.dims})
    extra = [d for d in events.dims if d not in sample_dims]
    if extra:
        raise XauroraError(f"separability: events has dims {extra} that are not sample dims.")
    for d in events.dims:  # take X's samples, in X's order (events may cover more times)
        if d in events.coords and d in X.coords:
            missing = ~np.isin(X[d].values, events[d].values)
            if missing.any():
                raise XauroraError(
                    f"separability: events lacks {int(missing.sum())} of X's {d} values. "
                    f"Fix: give an event flag for every {d} of X."
                )
            events = events.sel({d: X[d].values})
    grid = X.isel({d: 0 for d in feature_dims}, drop=True)
    y_da = events.broadcast_like(grid).transpose(*sample_dims)
    y = y_da.values.astype(np.float64).ravel()
    if not np.all(np.isfinite(y)) or not set(np.unique(y)) <= {0.0, 1.0}:
        raise XauroraError("separability: events must be True/False (or 1/0) without NaN.")
    y = y.astype(np.int64)
    n_events, n = int(y.sum()), y.size
    if min(n_events, n - n_events) < cv:
        raise XauroraError(
            f"separability: {n_events} event and {n - n_events} non-event samples; each of the "
            f"{cv} folds needs both. Fix: pass cv={max(2, min(n_events, n - n_events))} or add "
            "samples."
        )
    data = stk.matrix(X, check_finite=False)
    steps = [StandardScaler()]
    if n_components is not None:
        steps.append(PCA(n_components=n_components, random_state=seed))
    steps.append(LogisticRegression(C=C, class_weight="balanced", max_iter=1000))
    folds = StratifiedKFold(n_splits=cv, shuffle=False)
    score, perm, p = permutation_test_score(
        make_pipeline(*steps), data, y, cv=folds, n_permutations=n_permutations,
        scoring="balanced_accuracy", random_state=seed,
    )
    return xr.Dataset(
        {
            "balanced_accuracy": ((), float(score), {
                "long_name": "cross-validated balanced accuracy", "units": "1"}),
            "p_value": ((), float(p), {"long_name": "permutation-test p-value", "units": "1"}),
            "chance_level": ((), float(np.mean(perm)), {
                "long_name": "mean balanced accuracy with permuted labels", "units": "1"}),
            "permutation_scores": ("permutation", perm),
            "n_events": ((), n_events),
            "n_samples": ((), n),
        },
        attrs={"cv": int(cv), "n_permutations": int(n_permutations), "seed": int(seed),
               "classifier": " -> ".join(type(s).__name__ for s in steps)},
    )
