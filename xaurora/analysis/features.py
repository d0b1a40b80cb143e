"""Reading an SAE's features: where each fires hardest, and which match a label.

* :func:`top_activations` — each feature's n strongest samples and their coordinates, in one
  pass over the chunks (partial top-n lists merged), so a year of activations is never held;
* :func:`match_features` — the ROC AUC of every feature's activation for a label (reduced to
  the latent grid as ``probe`` reduces it), with the same scores for a control SAE (e.g. one
  trained on the random-weights model's tokens): a feature that also matches in a random
  network reads the input, not what the model learned. Out of core through per-feature
  histograms (the Mann–Whitney count over bins, with its bound): scikit-learn's
  ``roc_auc_score`` needs every score in memory, one feature at a time.

>>> import numpy as np, xarray as xr
>>> acts = xr.DataArray(np.array([[0.0, 2.0], [5.0, 0.0], [1.0, 3.0]], np.float32),
...                     dims=("time", "feature"), coords={"time": [10, 20, 30]})
>>> top = top_activations(acts, n=2)
>>> top.activation.sel(feature=0).values.tolist(), top.time.sel(feature=0).values.tolist()
([5.0, 1.0], [20.0, 30.0])
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from xaurora.analysis.chunked import map_rows
from xaurora.analysis.samples import labels_on_grid
from xaurora.analysis.stacking import Stacker
from xaurora.errors import XauroraError

__all__ = ["match_features", "top_activations"]


def _checked(acts: xr.DataArray, what: str = "acts") -> Stacker:
    if not isinstance(acts, xr.DataArray) or "feature" not in acts.dims:
        raise XauroraError(f"{what}: expected the activations of sae_transform (an "
                           "xr.DataArray with a 'feature' dim). Fix: pass "
                           "xa.analysis.sae_transform(sae, X).")
    return Stacker.of(acts, tuple(d for d in acts.dims if d != "feature"), what=what)


def top_activations(acts: xr.DataArray, n: int = 16) -> xr.Dataset:
    """Each feature's ``n`` strongest samples: ``activation`` over (``feature``, ``rank``) and,
    named after the sample dims (``time``, ``lat``, ``lon``, …), their coordinates.

    Rank 1 is the strongest. Where a feature is active on fewer than ``n`` samples the
    remaining ranks hold activation 0 and missing coordinates (NaN, NaT). One pass over the
    chunks of Dask input.
    """
    import dask.array as dsa  # heavy

    stk = _checked(acts)
    n = int(n)
    if n < 1:
        raise XauroraError(f"n: {n} must be ≥ 1. Fix: e.g. n=16.")
    shape = tuple(stk.sizes[d] for d in stk.sample_dims)
    index = dsa.arange(stk.n_samples, chunks=-1).reshape(shape)

    def part(x, idx):
        if x.shape[0] > n:
            keep = np.argpartition(-x, n - 1, axis=0)[:n]
            return np.take_along_axis(x, keep, 0), idx[keep]
        return x, np.broadcast_to(idx[:, None], x.shape).copy()

    vals, ids = map_rows(acts, stk, part, _merge(n), [index])
    order = np.argsort(-vals, axis=0, kind="stable")
    vals, ids = np.take_along_axis(vals, order, 0), np.take_along_axis(ids, order, 0)
    n_feat = acts.sizes["feature"]
    out_vals = np.zeros((n, n_feat))
    got = vals.shape[0]
    out_vals[:got] = vals
    active = out_vals > 0
    out_vals[~active] = 0.0
    full_ids = np.full((n, n_feat), -1, np.int64)
    full_ids[:got] = ids
    full_ids[~active] = -1
    data = {"activation": (("feature", "rank"), out_vals.T.astype(np.float32),
                           {"long_name": "activation, strongest first"})}
    pos = np.unravel_index(np.where(full_ids >= 0, full_ids, 0), shape)
    for d, p in zip(stk.sample_dims, pos, strict=True):
        values = acts[d].values if d in acts.coords else np.arange(stk.sizes[d])
        col = values[p].T
        if np.issubdtype(col.dtype, np.datetime64):
            col = np.where(~active.T, np.datetime64("NaT"), col)
        else:
            col = np.where(~active.T, np.nan, col.astype(np.float64))
        data[d] = (("feature", "rank"), col, {"long_name": f"{d} of the sample"})
    return xr.Dataset(data, coords={"feature": acts["feature"].values if "feature" in acts.coords
                                    else np.arange(n_feat), "rank": np.arange(1, n + 1)},
                      attrs={"n": n})


def _merge(n: int):
    def merge(a, b):
        vals, ids = np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]])
        if vals.shape[0] <= n:
            return vals, ids
        keep = np.argpartition(-vals, n - 1, axis=0)[:n]
        return np.take_along_axis(vals, keep, 0), np.take_along_axis(ids, keep, 0)

    return merge


#: Bins of a feature's activations between 0 and its largest value (0 has a bin of its own; as
#: many again below 0 where a feature has negative values).
AUC_BINS = 1024


def _histograms(acts: xr.DataArray, stk: Stacker, y, bins: int,
                what: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Per feature, counts of labelled samples per activation bin, positives and negatives.

    Two passes over the chunks: each feature's range, then the counts in ``bins`` equal bins
    of (0, largest] beside an exact-zero bin — and, where a feature has negative values (not
    an SAE's, which are ReLU'd; e.g. PCA scores), ``bins`` more over [smallest, 0). Returns
    ``pos`` and ``neg`` (features × all bins, lowest first) and the exact-zero bin's index.
    """
    def extremes(x, lab):
        x = x[np.isfinite(lab)]
        if not np.isfinite(x).all():
            return np.full((2, x.shape[1]), np.nan)
        return np.stack([x.min(axis=0, initial=0.0), x.max(axis=0, initial=0.0)])

    def merge(a, b):
        return np.stack([np.minimum(a[0], b[0]), np.maximum(a[1], b[1])])

    lo, hi = map_rows(acts, stk, extremes, merge, [y])
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        raise XauroraError(f"{what}: holds NaN or infinite activations on labelled samples. "
                           "Fix: drop or fill them first (e.g. .fillna(0)).")
    below = bins if (lo < 0).any() else 0  # bins for negative values, when there are any
    up = np.where(hi > 0, hi, 1.0) / bins
    down = np.where(lo < 0, -lo, 1.0) / max(below, 1)
    n_feat, width = hi.size, below + 1 + bins

    def counts(x, lab):
        keep = np.isfinite(lab)
        x = x[keep]
        idx = np.full(x.shape, below, np.int64)  # exact zeros
        np.copyto(idx, below + np.clip(np.ceil(x / up), 1, bins).astype(np.int64),
                  where=x > 0)
        if below:
            np.copyto(idx, below - np.clip(np.ceil(-x / down), 1, below).astype(np.int64),
                      where=x < 0)
        idx += np.arange(n_feat) * width
        pos = lab[keep] > 0.5
        return (np.bincount(idx[pos].ravel(), minlength=n_feat * width),
                np.bincount(idx[~pos].ravel(), minlength=n_feat * width))

    pos, neg = map_rows(acts, stk, counts, lambda a, b: (a[0] + b[0], a[1] + b[1]), [y])
    return pos.reshape(n_feat, width), neg.reshape(n_feat, width), below


def _auc(pos: np.ndarray, neg: np.ndarray, zero: int) -> tuple[np.ndarray, np.ndarray]:
    """ROC AUC from binned counts (Mann–Whitney; a pair in one bin counts ½) and its bound.

    Pairs in different bins are ordered exactly and ties at 0 (bin ``zero``) are exact; a pair
    within another bin may be either way round, so the AUC is within ``bound`` = ½ Σ pairs
    sharing such a bin / (P·N) of the exact one.
    """
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    lower = np.cumsum(neg, axis=1) - neg  # negatives in lower bins
    pairs = (n_pos * n_neg).astype(np.float64)
    auc = (pos * (lower + 0.5 * neg)).sum(axis=1) / pairs
    shared = (pos * neg).astype(np.float64)
    shared[:, zero] = 0.0
    return auc, 0.5 * shared.sum(axis=1) / pairs


def match_features(acts: xr.DataArray, labels: xr.DataArray,
                   control: xr.DataArray | None = None, bins: int = AUC_BINS) -> xr.Dataset:
    """Per feature, the ROC AUC of its activation for ``labels`` (a never-active feature: 0.5).

    ``labels`` are reduced to the latent grid as ``probe`` reduces them (patch mean, then
    ``≥ 0.5``); NaN labels are left out. Returns ``roc_auc`` over ``feature`` with attrs
    ``best_feature`` and ``best_roc_auc``; with ``control`` (activations of a control SAE on the
    same samples) also ``roc_auc_control`` over ``feature_control``, attr
    ``control_best_roc_auc``, and the flag ``beats_control`` over ``feature`` (its AUC above
    the control's best; attr ``n_beat_control`` counts them): a feature that a random network
    matches as well reads the input, not what the model learned.

    Out of core: two passes over the chunks (each feature's largest activation, then counts in
    ``bins`` bins up to it, positives and negatives), so memory holds features × ``bins``
    counts, never the activations. Pairs in different bins are ranked exactly, as are ties at 0
    (where a TopK feature spends most samples); ``roc_auc_bound`` (per feature) is the most
    the AUC can differ from the exact one through pairs sharing a bin.
    """
    stk = _checked(acts)
    if int(bins) < 1:
        raise XauroraError(f"bins: {bins} must be ≥ 1. Fix: e.g. bins=1024.")
    y = labels_on_grid(labels, acts.isel(feature=0, drop=True), "classification")
    y = y.broadcast_like(acts.isel(feature=0, drop=True)).transpose(*stk.sample_dims)
    y = y.astype(np.float64).data

    def scores(a: xr.DataArray, what: str) -> tuple[np.ndarray, np.ndarray]:
        s = _checked(a, what)
        if s.sample_dims != stk.sample_dims or any(s.sizes[d] != stk.sizes[d]
                                                    for d in stk.sample_dims):
            raise XauroraError(f"{what}: its samples differ from acts'. Fix: transform the "
                               "same samples with the control SAE.")
        pos, neg, zero = _histograms(a.transpose(*stk.sample_dims, "feature"), s, y,
                                     int(bins), what)
        if pos[0].sum() == 0 or neg[0].sum() == 0:
            raise XauroraError(f"{labels.name or 'labels'}: one class only on the latent grid, "
                               "so no AUC is defined. Fix: use labels with both classes.")
        return _auc(pos, neg, zero)

    auc, bound = scores(acts, "acts")
    best = int(np.argmax(auc))
    feat = acts["feature"].values if "feature" in acts.coords else np.arange(auc.size)
    out = xr.Dataset({"roc_auc": ("feature", auc, {"long_name": "ROC AUC of the activation",
                                                   "units": "1"}),
                      "roc_auc_bound": ("feature", bound, {
                          "long_name": "largest possible |AUC − exact AUC| from binning",
                          "units": "1"})},
                     coords={"feature": feat},
                     attrs={"best_feature": int(feat[best]), "best_roc_auc": float(auc[best]),
                            "label_name": str(labels.name or "label"), "bins": int(bins)})
    if control is not None:
        c, _ = scores(control, "control")
        out["roc_auc_control"] = ("feature_control", c, {"long_name": "ROC AUC, control SAE",
                                                         "units": "1"})
        out.attrs["control_best_roc_auc"] = float(c.max())
        # a feature no better than the random network's best reads the input, not the model
        out["beats_control"] = ("feature", auc > c.max(), {
            "long_name": "ROC AUC above the control SAE's best feature"})
        out.attrs["n_beat_control"] = int((auc > c.max()).sum())
    return out
