"""A probe's samples: its labels on the latent grid, and which samples it trains and is scored on.

Labels on the model's input grid are reduced to the latent grid by the grid itself (patch mean,
mean of a HEALPix cell's children, nearest points), then ``≥ 0.5`` for classification.

``split`` is ``"random"`` (stratified for classification), a band ``("lon"|"lat", lo, hi)``
(bounds included; longitude bands may cross 0°), a period ``("time", start, end)``, or a boolean
DataArray (True = test) on the patch or input grid.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.grids import grid_of
from xaurora.grids.patches import patch_labels

__all__ = [
    "check_classes", "label_name", "labels_on_grid", "labels_on_patches", "split_text",
    "train_test_masks",
]


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


def label_name(labels) -> str:
    """How the user calls ``labels`` in messages: the argument, and its name when it has one."""
    name = getattr(labels, "name", None)
    return f"labels ({name!r})" if name is not None else "labels"


def _as_task(lab: xr.DataArray, task: str) -> xr.DataArray:
    """Reduced labels as the task reads them: ``≥ 0.5`` (1/0, NaN kept) for classification."""
    name = lab.name
    if task == "classification":
        lab = xr.where(lab.isnull(), np.nan, lab >= 0.5)
    return lab.astype(np.float64).rename(name)


def train_test_masks(split, labels, y, y_fit, valid, task: str, test_size: float, seed: int, emb,
                grid, sample_dims, opts) -> tuple[np.ndarray, np.ndarray]:
    """Boolean training and test masks over the samples; raise where either cannot be fitted or
    scored (no labels, one class, constant regression labels)."""
    if isinstance(split, str) and split == "random":
        is_test = _random_test(y_fit, valid, task, test_size, seed)
    else:
        is_test = _split_mask(split, emb, grid, sample_dims, opts["patch_size"]).ravel() & valid
    is_train = valid & ~is_test
    if not is_train.any() or not is_test.any():
        raise XauroraError(
            f"split: {split_text(split)} leaves {int(is_train.sum())} training and "
            f"{int(is_test.sum())} test patches with labels. Fix: choose a split with labelled "
            "patches on both sides."
        )
    if task == "classification":
        check_classes(y_fit[is_train], "the training set",
                       "choose a split whose training part contains both classes")
        check_classes(y_fit[is_test], "the test set",
                       "widen the test band/period or use split='random' (stratified)")
        return is_train, is_test
    # constant labels: nothing to fit, or an r² that is 0/0 (scikit-learn reports 1 or 0)
    for part, where in ((is_train, "training"), (is_test, "test")):
        if np.ptp(y[part]) == 0:
            raise XauroraError(
                f"{label_name(labels)}: every label in the {where} set is {y[part][0]:g}; "
                "a regression probe needs labels that vary there (r2 is undefined "
                "otherwise). Fix: choose a split or labels that vary on both sides."
            )
    return is_train, is_test


def _random_test(y_fit, valid, task: str, test_size: float, seed: int) -> np.ndarray:
    """A random test mask over the labelled samples, stratified for classification."""
    from sklearn.model_selection import train_test_split  # heavy

    idx = np.flatnonzero(valid)
    strat = y_fit[idx] if task == "classification" else None
    if task == "classification":
        check_classes(y_fit[idx], "the labelled patches", "use labels with both classes")
    try:
        _, test_idx = train_test_split(idx, test_size=test_size, random_state=seed,
                                       stratify=strat)
    except ValueError as err:
        raise XauroraError(
            f"labels: a stratified random split failed ({err}). Fix: use more labelled "
            "patches per class or a different test_size."
        ) from err
    is_test = np.zeros(y_fit.size, bool)
    is_test[test_idx] = True
    return is_test


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


def check_classes(y: np.ndarray, where: str, fix: str) -> None:
    counts = np.bincount(y, minlength=2)
    if np.count_nonzero(counts) < 2:
        only = int(np.argmax(counts)) if y.size else "none"
        raise XauroraError(
            f"labels: {where} has a single class ({only}); the probe needs both 0 and 1 there "
            f"(balanced accuracy and ROC AUC are undefined otherwise). Fix: {fix}."
        )


def split_text(split) -> str:
    if isinstance(split, xr.DataArray):
        return f"boolean mask {split.name or ''}".strip()
    return str(tuple(str(s) for s in split)) if isinstance(split, tuple | list) else str(split)
