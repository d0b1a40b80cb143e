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
from xaurora.analysis.metrics import METRIC_ATTRS, classification_metrics, regression_metrics
from xaurora.analysis.stacking import Stacker
from xaurora.errors import XauroraError
from xaurora.grids import grid_of
from xaurora.grids.patches import patch_labels
from xaurora.io.names import LAT_ATTRS, LON_ATTRS

__all__ = ["SAMPLE_DIMS", "labels_on_grid", "labels_on_patches", "probe"]

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
    from sklearn.linear_model import LogisticRegression, Ridge  # heavy
    from sklearn.model_selection import train_test_split  # heavy
    from sklearn.pipeline import make_pipeline  # heavy
    from sklearn.preprocessing import StandardScaler  # heavy

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
    test_size = size

    sample_dims, feature_dims = _probe_dims(emb)
    y_da = labels_on_grid(labels, emb, task, opts["patch_size"], what="labels")
    grid = emb.isel({d: 0 for d in feature_dims}, drop=True)
    y_da = y_da.broadcast_like(grid).transpose(*sample_dims)
    y = y_da.values.astype(np.float64).ravel()
    if np.isinf(y).any():
        # NaN means "unlabelled"; an infinite label would otherwise vanish the same way
        raise XauroraError(
            f"{_label_name(labels)}: holds infinite values on the patch grid. Fix: mask them "
            "as NaN (unlabelled) or clip them, e.g. labels.where(np.isfinite(labels))."
        )
    valid = np.isfinite(y)
    if task == "classification":
        y_int = np.where(valid, y, 0).astype(np.int64)

    if isinstance(split, str) and split == "random":
        idx = np.flatnonzero(valid)
        strat = y_int[idx] if task == "classification" else None
        if task == "classification":
            _check_classes(y_int[idx], "the labelled patches", "use labels with both classes")
        try:
            _, test_idx = train_test_split(idx, test_size=test_size, random_state=seed,
                                           stratify=strat)
        except ValueError as err:
            raise XauroraError(
                f"labels: a stratified random split failed ({err}). Fix: use more labelled "
                "patches per class or a different test_size."
            ) from err
        is_test = np.zeros(y.size, bool)
        is_test[test_idx] = True
    else:
        is_test = _split_mask(split, emb, grid, sample_dims, opts["patch_size"]).ravel() & valid
    is_train = valid & ~is_test
    if not is_train.any() or not is_test.any():
        raise XauroraError(
            f"split: {_split_text(split)} leaves {int(is_train.sum())} training and "
            f"{int(is_test.sum())} test patches with labels. Fix: choose a split with labelled "
            "patches on both sides."
        )
    if task == "classification":
        _check_classes(y_int[is_train], "the training set",
                       "choose a split whose training part contains both classes")
        _check_classes(y_int[is_test], "the test set",
                       "widen the test band/period or use split='random' (stratified)")
    else:
        # constant labels: nothing to fit, or an r² that is 0/0 (scikit-learn reports 1 or 0)
        for part, where in ((is_train, "training"), (is_test, "test")):
            if np.ptp(y[part]) == 0:
                raise XauroraError(
                    f"{_label_name(labels)}: every label in the {where} set is {y[part][0]:g}; "
                    "a regression probe needs labels that vary there (r2 is undefined "
                    "otherwise). Fix: choose a split or labels that vary on both sides."
                )

    X = _feature_matrix(emb, sample_dims, feature_dims)
    if task == "classification":
        est = LogisticRegression(C=opts["C"], class_weight=opts["class_weight"],
                                 max_iter=opts["max_iter"], tol=opts["tol"],
                                 solver=opts["solver"])
    else:
        est = Ridge(alpha=opts["alpha"])
    model = make_pipeline(StandardScaler(), est)
    y_fit = y_int if task == "classification" else y
    model.fit(X[is_train], y_fit[is_train])

    shape = tuple(grid.sizes[d] for d in sample_dims)
    coords = {k: v for k, v in grid.coords.items()}
    coords["lat"] = grid["lat"].assign_attrs({**LAT_ATTRS, **grid["lat"].attrs})
    coords["lon"] = grid["lon"].assign_attrs({**LON_ATTRS, **grid["lon"].attrs})
    out = {"label": y.reshape(shape)}
    linear = _linear_function(X, model[0], est)  # scaler folded in: no standardised copy of X
    if task == "classification":
        from scipy.special import expit  # heavy

        proba = expit(linear)  # classes_ == [0, 1]: as predict/predict_proba
        pred = (linear > 0).astype(np.float64)
        scores = classification_metrics(y_int[is_test], pred[is_test], proba[is_test])
        out["probability"] = proba.reshape(shape)
        error = np.where(valid, (pred != y_int).astype(np.float64), np.nan)
    else:
        pred = linear
        scores = regression_metrics(y[is_test], pred[is_test])
        error = np.where(valid, pred - y, np.nan)
    out.update(prediction=pred.reshape(shape), error=error.reshape(shape),
               is_test=is_test.reshape(shape), is_train=is_train.reshape(shape))
    ds = xr.Dataset({k: (sample_dims, v, _VAR_ATTRS[task].get(k, {})) for k, v in out.items()},
                    coords=coords)
    f_shape = [emb.sizes[d] for d in feature_dims]
    f_coords = {k: v for k, v in emb.coords.items() if v.dims and set(v.dims) <= set(feature_dims)}
    ds["coef"] = xr.DataArray(np.ravel(est.coef_).reshape(f_shape), dims=feature_dims,
                              coords=f_coords, attrs={"long_name": "probe weight per "
                                                      "standardised feature"})
    ds["intercept"] = float(np.ravel(est.intercept_)[0])
    for name, value in scores.items():
        ds[name] = xr.DataArray(value, attrs=METRIC_ATTRS[name])
    if opts["n_boot"]:
        y_obs = y_int if task == "classification" else y
        score = proba[is_test] if task == "classification" else None
        cis = bootstrap_intervals(task, y_obs[is_test], pred[is_test], score,
                                  n_boot=int(opts["n_boot"]), seed=seed)
        for name, ci in cis.items():
            for end, v in (("low", ci[0]), ("high", ci[1])):
                q = 50 * (1 - LEVEL) if end == "low" else 100 - 50 * (1 - LEVEL)
                # resamples where the metric is undefined are left out: the note says how many
                why = {"note": ci.note} if getattr(ci, "note", "") else {}
                ds[f"{name}_{end}"] = xr.DataArray(v, attrs={
                    "long_name": f"{q:g} % bootstrap quantile of {name} "
                                 f"({int(opts['n_boot'])} resamples of the test patches)",
                    "units": METRIC_ATTRS[name].get("units", ""), **why})
    ds["n_train"] = int(is_train.sum())
    ds["n_test"] = int(is_test.sum())
    ds["n_times"] = int(grid.sizes.get("time", 1))
    ds.attrs = {
        "task": task,
        "split": _split_text(split),
        "test_size": float(test_size),
        "seed": int(seed),
        "estimator": f"StandardScaler + {est!r}",
        "label_name": str(getattr(labels, "name", None) or "label"),
        "n_iter": int(np.max(getattr(est, "n_iter_", None) or [0])),
        **{k: v for k, v in emb.attrs.items() if k in ("model", "layer", "patch_size")},
    }
    return ds


def labels_on_patches(
    labels: xr.DataArray,
    emb: xr.DataArray,
    task: str = "classification",
    patch_size: int | None = None,
    what: str = "labels",
) -> xr.DataArray:
    """``labels`` on ``emb``'s patch grid (dims ⊂ time, lat, lon), reduced from the input grid
    if needed (patch mean), then ``≥ 0.5`` (1/0, NaN kept) for classification.

    >>> import numpy as np, xarray as xr
    >>> emb = xr.DataArray(np.zeros((2, 1, 1)), dims=("lat", "lon", "channel"),
    ...                    coords={"lat": [1.5, -2.5], "lon": [1.5]}, attrs={"patch_size": 4})
    >>> fine = xr.DataArray(np.r_[np.ones(6), np.zeros(3)][:, None] * np.ones((9, 4)),
    ...                     dims=("lat", "lon"), coords={"lat": np.arange(3.0, -6, -1),
    ...                     "lon": np.arange(4.0)})
    >>> labels_on_patches(fine, emb, "regression").values.ravel().tolist()
    [1.0, 0.5]
    """
    _require_dataarray(labels, what)
    return _as_task(patch_labels(labels, emb, patch_size, what), task)


def labels_on_grid(
    labels: xr.DataArray,
    emb: xr.DataArray,
    task: str = "classification",
    patch_size: int | None = None,
    what: str = "labels",
) -> xr.DataArray:
    """``labels`` on ``emb``'s latent grid (any kind), then ``≥ 0.5`` for classification.

    The grid reduces them (patch mean; mean of a HEALPix cell's children; mean over the
    lat–lon points nearest to each cell centre); labels already on the grid are kept.
    """
    _require_dataarray(labels, what)
    return _as_task(grid_of(emb).labels(labels, emb, patch_size, what), task)


def _require_dataarray(labels, what: str) -> None:
    if not isinstance(labels, xr.DataArray):
        raise TypeError(
            f"{what}: expected an xr.DataArray, got {type(labels).__name__}. "
            "Fix: pass one variable, e.g. xa.labels.land_sea(ds)."
        )
    if labels.dtype.kind not in "biuf":
        raise XauroraError(
            f"{what}: holds {labels.dtype} values; labels and splits must be numbers or "
            "booleans (patch means are taken). Fix: convert them, e.g. (labels == 'land')."
        )


def _label_name(labels) -> str:
    """How the user calls ``labels`` in messages: the argument, and its name when it has one."""
    name = getattr(labels, "name", None)
    return f"labels ({name!r})" if name is not None else "labels"


def _as_task(lab: xr.DataArray, task: str) -> xr.DataArray:
    """Reduced labels as the task reads them: ``≥ 0.5`` (1/0, NaN kept) for classification."""
    name = lab.name
    if task == "classification":
        lab = xr.where(lab.isnull(), np.nan, lab >= 0.5)
    return lab.astype(np.float64).rename(name)


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


def _feature_matrix(emb, sample_dims, feature_dims) -> np.ndarray:
    stk = Stacker(tuple(sample_dims), tuple(feature_dims), dict(emb.sizes),
                  str(emb.name or "embedding"))
    return stk.matrix(emb, fix="embed complete input fields")


def _linear_function(X: np.ndarray, scaler, est) -> np.ndarray:
    """``est.decision_function(scaler.transform(X))`` without a standardised copy of ``X``.

    One matrix-vector product in ``X``'s precision (as scikit-learn's own float32 path), the
    centring term added in float64.
    """
    w = np.ravel(est.coef_) / scaler.scale_
    b = float(np.ravel(est.intercept_)[0]) - float(scaler.mean_ @ w)
    return (X @ w.astype(X.dtype)).astype(np.float64) + b


def _split_mask(split, emb, grid, sample_dims, patch_size) -> np.ndarray:
    if isinstance(split, xr.DataArray):
        mask = labels_on_grid(split, emb, "classification", patch_size, what="split")
        mask = mask.broadcast_like(grid).transpose(*sample_dims)
        return mask.fillna(0).values.astype(bool)
    if isinstance(split, tuple | list) and len(split) == 3 and split[0] in ("lon", "lat", "time"):
        kind, lo, hi = split
        if kind == "time":
            if "time" not in grid.dims:
                raise XauroraError("split: ('time', ...) needs an embedding with a time dim.")
            t = grid["time"]
            lo, hi = _bounds(split, lambda v: np.datetime64(v, "ns"), "dates, e.g. "
                             "('time', '2020-01-01', '2020-12-31')")
            sel = (t >= lo) & (t <= hi)
        else:  # the grid selects its band (longitude bands may cross 0°: lon_in_band)
            lo, hi = _bounds(split, float, f"degrees, e.g. ('{kind}', 120, 210)")
            sel = grid_of(emb).band(grid, kind, lo, hi)
        return sel.broadcast_like(grid).transpose(*sample_dims).values.astype(bool)
    raise XauroraError(
        f"split: {split!r} is not understood. Fix: use 'random', ('lon', lon_min, lon_max), "
        "('lat', lat_min, lat_max), ('time', t_start, t_end) or a boolean DataArray (True = test)."
    )


def _bounds(split, parse, example: str):
    """``split``'s two bounds parsed (floats or datetimes); unreadable ones are named."""
    try:
        lo, hi = parse(split[1]), parse(split[2])
    except (TypeError, ValueError) as err:
        raise XauroraError(
            f"split: the bounds of {split!r} are not {example.split(',')[0]} ({err}). "
            f"Fix: give {example}."
        ) from None
    bad = np.isnat([lo, hi]) if isinstance(lo, np.datetime64) else ~np.isfinite([lo, hi])
    if bad.any():
        raise XauroraError(f"split: the bounds of {split!r} must be finite. Fix: give {example}.")
    return lo, hi


def _check_classes(y: np.ndarray, where: str, fix: str) -> None:
    counts = np.bincount(y, minlength=2)
    if np.count_nonzero(counts) < 2:
        only = int(np.argmax(counts)) if y.size else "none"
        raise XauroraError(
            f"labels: {where} has a single class ({only}); the probe needs both 0 and 1 there "
            f"(balanced accuracy and ROC AUC are undefined otherwise). Fix: {fix}."
        )


def _split_text(split) -> str:
    if isinstance(split, xr.DataArray):
        return f"boolean mask {split.name or ''}".strip()
    return str(tuple(str(s) for s in split)) if isinstance(split, tuple | list) else str(split)


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
