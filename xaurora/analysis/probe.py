"""Linear probes on embeddings (``emb.aurora.probe``): can a linear model read a label?

Samples are the (time, lat, lon) patches; features are ``channel`` and every other dim
(``level`` stacked with ``channel`` unless a level is selected first). Features are standardised
on the training set; classification fits ``LogisticRegression`` (lbfgs), regression ``Ridge``.
Labels on the model's input grid are reduced to patches with
:func:`xaurora.grids.patches.to_patches` (mean over each patch, then ``≥ 0.5`` for
classification: with a land *fraction* this is the
land–sea study's rule, a patch is land when its mean land fraction is at least one half);
labels already on the patch grid are used as they are (``≥ 0.5`` for classification). NaN
labels mark patches left out of training and testing (they still get a prediction).

>>> import numpy as np, xarray as xr
>>> rng = np.random.default_rng(0)
>>> emb = xr.DataArray(rng.normal(size=(2, 8, 16, 4)).astype("float32"),
...                    dims=("time", "lat", "lon", "channel"),
...                    coords={"lat": np.linspace(80, -80, 8), "lon": np.arange(0, 360, 22.5)})
>>> res = probe(emb, emb.isel(channel=0) > 0, split=("lon", 120, 210))
>>> float(res.accuracy) > 0.9, res.label.dims
(True, ('time', 'lat', 'lon'))
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from xaurora.analysis.bootstrap import LEVEL, bootstrap_intervals
from xaurora.analysis.chunked import is_lazy, lazy_rows
from xaurora.analysis.linear import LinearFit, fit_chunked
from xaurora.analysis.metrics import METRIC_ATTRS, classification_metrics, regression_metrics
from xaurora.analysis.samples import label_name, labels_on_grid, split_text, train_test_masks
from xaurora.analysis.stacking import Stacker
from xaurora.errors import XauroraError
from xaurora.grids import grid_of
from xaurora.io.names import LAT_ATTRS, LON_ATTRS

__all__ = ["SAMPLE_DIMS", "probe"]

SAMPLE_DIMS = ("time", "lat", "lon")
_TASKS = ("classification", "regression")
_OPTIONS = {"class_weight": None, "C": 1.0, "alpha": 1.0, "max_iter": 1000, "tol": 1e-4,
            "solver": "lbfgs", "patch_size": None, "n_boot": 1000}


def probe(
    emb: xr.DataArray,
    labels: xr.DataArray,
    task: str = "classification",
    split="random",
    test_size: float = 0.25,
    seed: int = 0,
    **kwargs,
) -> xr.Dataset:
    """Fit a linear probe of ``labels`` on ``emb`` and score it on a held-out test set.

    ``split``: ``"random"`` (stratified for classification), ``("lon", lon_min, lon_max)`` or
    ``("lat", lat_min, lat_max)`` (that band, bounds included, is the test set; longitude bands
    may cross 0°), ``("time", t_start, t_end)``, or a boolean DataArray (True = test) on the patch
    or input grid. Keyword options: ``class_weight`` (e.g. ``"balanced"``), ``C`` (inverse L2
    strength, logistic), ``alpha`` (ridge), ``max_iter``, ``tol``, ``solver`` (logistic;
    default ``"lbfgs"``), ``patch_size`` (only when ``emb`` lacks the ``patch_size`` attr),
    ``n_boot`` (bootstrap resamples of the test patches for the intervals; 0: none).

    Returns an ``xr.Dataset`` on the patch grid: ``label``, ``prediction``, ``probability``
    (classification), ``is_test``, ``is_train``, ``error`` (1 = misclassified, or prediction −
    label), ``coef`` (feature dims, per standardised feature) and ``intercept``, plus scalar test
    metrics ``accuracy, balanced_accuracy, precision, recall, f1, roc_auc`` or ``r2, rmse``, each
    with its 95 % bootstrap interval over the test patches (``accuracy_low``/``accuracy_high``,
    …, see :mod:`xaurora.analysis.bootstrap`), and ``n_train``/``n_test``/``n_times``.

    >>> import numpy as np, xarray as xr
    >>> emb = xr.DataArray(np.random.default_rng(1).normal(size=(1, 8, 8, 3)),
    ...                    dims=("time", "lat", "lon", "channel"),
    ...                    coords={"lat": np.arange(8.0), "lon": np.arange(8.0)})
    >>> res = probe(emb, 2 * emb.isel(channel=1), task="regression")
    >>> round(float(res.r2), 3)
    1.0
    """
    opts, test_size = _options(task, test_size, kwargs)
    sample_dims, feature_dims = _probe_dims(emb)
    grid = emb.isel({d: 0 for d in feature_dims}, drop=True)
    y = _label_vector(labels, emb, grid, task, opts, sample_dims)
    valid = np.isfinite(y)
    y_fit = np.where(valid, y, 0).astype(np.int64) if task == "classification" else y
    is_train, is_test = train_test_masks(split, labels, y, y_fit, valid, task, test_size, seed, emb,
                                    grid, sample_dims, opts)
    fit, linear, linear_test = _fitted(emb, sample_dims, feature_dims, y_fit, is_train, is_test,
                                       task, opts)
    if task == "classification":
        from scipy.special import expit  # heavy

        score = expit(linear)  # classes_ == [0, 1]: as predict/predict_proba
        pred = (linear > 0).astype(np.float64)
        pred_test, score_test = (linear_test > 0).astype(np.float64), expit(linear_test)
        scores = classification_metrics(y_fit[is_test], pred_test, score_test)
        error = np.where(valid, (pred != y_fit).astype(np.float64), np.nan)
    else:
        score, pred, pred_test, score_test = None, linear, linear_test, None
        scores = regression_metrics(y[is_test], pred_test)
        error = np.where(valid, pred - y, np.nan)
    fields = {"label": y, "probability": score, "prediction": pred, "error": error,
              "is_test": is_test, "is_train": is_train}
    ds = _on_grid(fields, grid, sample_dims, task)
    f_shape = [emb.sizes[d] for d in feature_dims]
    f_coords = {k: v for k, v in emb.coords.items() if v.dims and set(v.dims) <= set(feature_dims)}
    ds["coef"] = xr.DataArray(fit.coef.reshape(f_shape), dims=feature_dims,
                              coords=f_coords, attrs={"long_name": "probe weight per "
                                                      "standardised feature"})
    ds["intercept"] = fit.intercept
    for name, value in scores.items():
        ds[name] = xr.DataArray(value, attrs=METRIC_ATTRS[name])
    if opts["n_boot"]:
        _add_intervals(ds, task, y_fit[is_test], pred_test,
                       score_test, int(opts["n_boot"]), seed)
    ds["n_train"] = int(is_train.sum())
    ds["n_test"] = int(is_test.sum())
    ds["n_times"] = int(grid.sizes.get("time", 1))
    ds.attrs = {
        "task": task,
        "split": split_text(split),
        "test_size": float(test_size),
        "seed": int(seed),
        "estimator": fit.estimator,
        "label_name": str(getattr(labels, "name", None) or "label"),
        "n_iter": fit.n_iter,
        **{k: v for k, v in emb.attrs.items() if k in ("model", "layer", "patch_size")},
    }
    return ds


def _options(task: str, test_size, kwargs: dict) -> tuple[dict, float]:
    """The probe's options with their defaults, and ``test_size`` as a float; raise on bad ones."""
    if task not in _TASKS:
        raise XauroraError(f"probe: task={task!r} is not one of {_TASKS}. Fix: pick one of them.")
    unknown = sorted(set(kwargs) - set(_OPTIONS))
    if unknown:
        raise TypeError(f"probe: unexpected option(s) {unknown}; accepted: {sorted(_OPTIONS)}.")
    opts = {**_OPTIONS, **kwargs}
    if task == "regression" and opts["class_weight"] is not None:
        raise XauroraError("probe: class_weight only applies to task='classification'.")
    try:
        size = float(test_size)
    except (TypeError, ValueError):
        size = float("nan")  # reported just below, with the fix
    if not 0.0 < size < 1.0:
        raise XauroraError(f"test_size: {test_size!r} must lie strictly between 0 and 1. "
                           "Fix: e.g. test_size=0.25.")
    return opts, size


def _label_vector(labels, emb, grid, task: str, opts: dict, sample_dims) -> np.ndarray:
    """The labels on the patch grid, flattened over ``sample_dims`` (NaN: unlabelled)."""
    y_da = labels_on_grid(labels, emb, task, opts["patch_size"], what="labels")
    y = y_da.broadcast_like(grid).transpose(*sample_dims).values.astype(np.float64).ravel()
    if np.isinf(y).any():
        # NaN means "unlabelled"; an infinite label would otherwise vanish the same way
        raise XauroraError(
            f"{label_name(labels)}: holds infinite values on the patch grid. Fix: mask them "
            "as NaN (unlabelled) or clip them, e.g. labels.where(np.isfinite(labels))."
        )
    return y


def _fit(X, y_fit, is_train, task: str, opts: dict):
    """The fitted scikit-learn pipeline: standardise, then logistic regression or ridge."""
    from sklearn.linear_model import LogisticRegression, Ridge  # heavy
    from sklearn.pipeline import make_pipeline  # heavy
    from sklearn.preprocessing import StandardScaler  # heavy

    if task == "classification":
        est = LogisticRegression(C=opts["C"], class_weight=opts["class_weight"],
                                 max_iter=opts["max_iter"], tol=opts["tol"],
                                 solver=opts["solver"])
    else:
        est = Ridge(alpha=opts["alpha"])
    return make_pipeline(StandardScaler(), est).fit(X[is_train], y_fit[is_train])


def _on_grid(fields: dict, grid: xr.DataArray, sample_dims, task: str) -> xr.Dataset:
    """The per-sample ``fields`` (flat arrays; None: left out) as a Dataset on the patch grid."""
    shape = tuple(grid.sizes[d] for d in sample_dims)
    coords = dict(grid.coords.items())
    coords["lat"] = grid["lat"].assign_attrs({**LAT_ATTRS, **grid["lat"].attrs})
    coords["lon"] = grid["lon"].assign_attrs({**LON_ATTRS, **grid["lon"].attrs})
    return xr.Dataset({k: (sample_dims, v.reshape(shape), _VAR_ATTRS[task].get(k, {}))
                       for k, v in fields.items() if v is not None}, coords=coords)


def _add_intervals(ds: xr.Dataset, task: str, y_obs, pred, score, n_boot: int,
                   seed: int) -> None:
    """Each metric's 95 % bootstrap interval over the test patches, as ``<metric>_low/_high``."""
    cis = bootstrap_intervals(task, y_obs, pred, score, n_boot=n_boot, seed=seed)
    for name, ci in cis.items():
        for end, v in (("low", ci[0]), ("high", ci[1])):
            q = 50 * (1 - LEVEL) if end == "low" else 100 - 50 * (1 - LEVEL)
            # resamples where the metric is undefined are left out: the note says how many
            why = {"note": ci.note} if getattr(ci, "note", "") else {}
            ds[f"{name}_{end}"] = xr.DataArray(v, attrs={
                "long_name": f"{q:g} % bootstrap quantile of {name} "
                             f"({n_boot} resamples of the test patches)",
                "units": METRIC_ATTRS[name].get("units", ""), **why})


def _probe_dims(emb: xr.DataArray) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not isinstance(emb, xr.DataArray):
        raise TypeError(f"probe: expected an embedding xr.DataArray, got {type(emb).__name__}.")
    g = grid_of(emb)  # patches (lat, lon) or cells: the grid names the sample dims
    g.check(emb)
    sample_dims = tuple(d for d in ("time", *g.dims) if d in emb.dims)
    feature_dims = tuple(d for d in emb.dims if d not in sample_dims)
    if not feature_dims:
        raise XauroraError(
            f"{emb.name or 'embedding'}: has no feature dim (e.g. 'channel'). "
            "Fix: keep the channel dim."
        )
    return sample_dims, feature_dims


def _fitted(emb, sample_dims, feature_dims, y_fit, is_train, is_test, task: str, opts: dict):
    """The fitted model, its decision function on every sample (flat; lazy on Dask input) and
    on the test samples (in memory, for the metrics).

    In memory: scikit-learn on the (samples × features) matrix. Dask-backed: the same
    objectives fitted over the chunks (:mod:`xaurora.analysis.linear`); the decision function
    stays lazy and only its test entries are computed.
    """
    stk = Stacker(tuple(sample_dims), tuple(feature_dims), dict(emb.sizes),
                  str(emb.name or "embedding"))
    if is_lazy(emb):
        fit = fit_chunked(emb, stk, y_fit, is_train, task, opts)
        linear = lazy_rows(emb, stk, fit.linear).reshape(-1)
        return fit, linear, np.asarray(linear[is_test].compute())
    X = stk.matrix(emb, fix="embed complete input fields")
    fit = LinearFit.from_sklearn(_fit(X, y_fit, is_train, task, opts))
    linear = fit.linear(X)  # scaler folded in: no standardised copy of X
    return fit, linear, linear[is_test]


_VAR_ATTRS = {
    "classification": {
        "label": {"long_name": "label (1/0) per patch"},
        "prediction": {"long_name": "predicted class"},
        "probability": {"long_name": "predicted probability of class 1", "units": "1"},
        "error": {"long_name": "misclassified (1) or not (0)"},
        "is_test": {"long_name": "patch in the test set"},
        "is_train": {"long_name": "patch in the training set"},
    },
    "regression": {
        "label": {"long_name": "label (patch mean)"},
        "prediction": {"long_name": "predicted label"},
        "error": {"long_name": "residual: prediction minus label"},
        "is_test": {"long_name": "patch in the test set"},
        "is_train": {"long_name": "patch in the training set"},
    },
}
