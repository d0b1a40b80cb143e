"""Charts of what the analyses return: the PCA scatter and the probe table.

Every function takes the object an xaurora method returns, draws on ``ax`` (a new figure when
None) and returns the matplotlib Axes. matplotlib is imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.io.names import TIME_NAMES
from xaurora.plot.common import label_of

__all__ = ["pca_scatter", "probe_table"]

SEASONS = ("DJF", "MAM", "JJA", "SON")
SEASON_COLORS = {"DJF": "#2166ac", "MAM": "#1b9e77", "JJA": "#d6604d", "SON": "#e6ab02"}


def new_axes(ax, figsize=(5.5, 4.2)):
    import matplotlib.pyplot as plt  # heavy

    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _season(times: np.ndarray) -> np.ndarray:
    months = (np.asarray(times).astype("datetime64[M]").astype(int) % 12) + 1
    return np.array([SEASONS[(m % 12) // 3] for m in months])


def _time_coord(da: xr.DataArray) -> xr.DataArray | None:
    for name, coord in da.coords.items():
        if np.issubdtype(coord.dtype, np.datetime64) and name in TIME_NAMES:
            return coord
    for coord in da.coords.values():
        if np.issubdtype(coord.dtype, np.datetime64):
            return coord
    return None


def _isnan(vals: np.ndarray) -> np.ndarray:
    return np.isnan(vals) if np.issubdtype(vals.dtype, np.floating) else np.zeros(vals.shape, bool)


def _fmt(u) -> str:
    if isinstance(u, (bool, np.bool_)):
        return str(bool(u))
    if isinstance(u, (float, np.floating)) and float(u).is_integer():
        return str(int(u))
    return str(u)


def pca_scatter(
    pca_ds: xr.Dataset,
    color_by: str | xr.DataArray | None = None,
    components: Sequence[int] = (0, 1),
    ax=None,
    **kwargs: Any,
):
    """Scatter of two PCA score components, optionally coloured by season or by a label.

    ``pca_ds`` is what ``X.aurora.pca(...)`` returns. ``components`` are 0-based positions
    along ``component`` (``(0, 1)`` = PC1 vs PC2). ``color_by``: ``"season"`` (DJF/MAM/JJA/SON
    from the datetime coord of the scores), the name of a coord of ``scores``, or a DataArray
    aligned with the samples (categorical when it has ≤ 10 distinct values, else a colour bar).

    >>> import numpy as np, pandas as pd, xarray as xr
    >>> t = pd.date_range("2020-01-01", periods=12, freq="MS")
    >>> scores = xr.DataArray(np.random.default_rng(0).normal(size=(12, 2)),
    ...                       dims=("time", "component"), coords={"time": t, "component": [1, 2]})
    >>> ds = xr.Dataset({"scores": scores,
    ...                  "explained_variance_ratio": ("component", [0.6, 0.3])})
    >>> ax = pca_scatter(ds, color_by="season")
    >>> ax.get_xlabel()
    'PC1 (60.0 %)'
    """
    # One figure drawn in order (scores, colours or legend, axes): kept whole, since each step
    # reads the choices of the ones before.
    scores = pca_ds["scores"]
    i, j = (int(c) for c in components)
    comp = scores["component"].values if "component" in scores.coords else np.arange(
        scores.sizes["component"]) + 1
    sdims = [d for d in scores.dims if d != "component"]
    s = scores.stack(sample=sdims) if len(sdims) > 1 else scores.rename({sdims[0]: "sample"})
    x = s.isel(component=i).values
    y = s.isel(component=j).values
    ax = new_axes(ax)
    style = {"s": 22, "alpha": 0.85, "edgecolors": "none"}
    style.update(kwargs)

    colors = None
    if isinstance(color_by, str) and color_by == "season":
        tc = _time_coord(s)
        if tc is None:
            raise XauroraError(
                "color_by='season' needs a datetime coordinate ('time') on the scores. Fix: "
                "keep 'time' in sample_dims, or pass color_by=<DataArray of labels>."
            )
        colors = xr.DataArray(_season(tc.values), dims="sample", name="season")
    elif isinstance(color_by, str):
        if color_by not in s.coords:
            raise XauroraError(
                f"color_by={color_by!r}: not a coordinate of the scores (they have "
                f"{sorted(map(str, s.coords))}). Fix: use 'season' or pass a DataArray."
            )
        colors = s[color_by]
    elif isinstance(color_by, xr.DataArray):
        lab = color_by
        if "time" in sdims:
            lab = lab.rename({d: "time" for d in TIME_NAMES[1:] if d in lab.dims})
        lab = lab.broadcast_like(scores.isel(component=0)).transpose(*sdims)
        lab = lab.stack(sample=sdims) if len(sdims) > 1 else lab.rename({sdims[0]: "sample"})
        colors = lab.rename(color_by.name or "label")

    if colors is None:
        ax.scatter(x, y, color="#3b6ea5", **style)
    else:
        vals = np.asarray(colors.values)
        uniq = [u for u in np.unique(vals[~_isnan(vals)])]
        if colors.name == "season":
            uniq = [u for u in SEASONS if u in set(vals)]
        if len(uniq) <= 10:
            import matplotlib.pyplot as plt  # heavy

            palette = plt.get_cmap("tab10")
            for k, u in enumerate(uniq):
                sel = vals == u
                col = SEASON_COLORS.get(str(u), palette(k % 10))
                ax.scatter(x[sel], y[sel], color=col, label=_fmt(u), **style)
            ax.legend(title=str(colors.name), fontsize=8, title_fontsize=8, frameon=False)
        else:
            sc = ax.scatter(x, y, c=vals.astype(float), cmap="viridis", **style)
            ax.figure.colorbar(sc, ax=ax, label=label_of(colors))
    evr = pca_ds.get("explained_variance_ratio")
    for setter, k in ((ax.set_xlabel, i), (ax.set_ylabel, j)):
        name = f"PC{comp[k]}"
        if evr is not None:
            name += f" ({100 * float(evr.isel(component=k)):.1f} %)"
        setter(name)
    ax.axhline(0, color="0.8", lw=0.6, zorder=0)
    ax.axvline(0, color="0.8", lw=0.6, zorder=0)
    return ax


def probe_table(metrics_ds: xr.Dataset | xr.DataArray, metric: str = "balanced_accuracy",
                ax=None, cmap: str = "viridis"):
    """Heat map of one probe metric by layer × weights (``probe_layers``' table), annotated.

    >>> import xarray as xr
    >>> m = xr.Dataset({"balanced_accuracy": (("layer", "weights"), [[0.7, 0.7], [0.9, 0.6]])},
    ...                coords={"layer": ["inputs", "encoder"], "weights": ["trained", "random"]})
    >>> ax = probe_table(m)
    >>> len(ax.texts)
    4
    """
    da = metrics_ds[metric] if isinstance(metrics_ds, xr.Dataset) else metrics_ds
    if isinstance(metrics_ds, xr.Dataset) and metric not in metrics_ds:
        raise XauroraError(f"probe_table: no {metric!r}; the table has {sorted(metrics_ds)}.")
    if da.ndim == 1:
        da = da.expand_dims(weights=["trained"]).transpose()
    rows, cols = da.dims[0], da.dims[1]
    if "layer" in da.dims:
        rows = "layer"
        cols = next(d for d in da.dims if d != "layer")
    da = da.transpose(rows, cols)
    vals = np.asarray(da.values, dtype=float)
    ax = new_axes(ax, figsize=(1.6 + 1.5 * da.sizes[cols], 1.2 + 0.55 * da.sizes[rows]))
    bounded = metric in ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc")
    vmin, vmax = (0.5 if metric in ("balanced_accuracy", "roc_auc") else 0.0, 1.0) if bounded \
        else (np.nanmin(vals), np.nanmax(vals))
    im = ax.imshow(vals, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    for r in range(vals.shape[0]):
        for c in range(vals.shape[1]):
            v = vals[r, c]
            frac = 0.5 if not np.isfinite(v) else (v - vmin) / ((vmax - vmin) or 1.0)
            ax.text(c, r, "–" if not np.isfinite(v) else f"{v:.3f}", ha="center", va="center",
                    color="white" if frac < 0.6 else "black", fontsize=9)
    attrs = metrics_ds.attrs if isinstance(metrics_ds, xr.Dataset) else da.attrs
    ax.set_xticks(range(vals.shape[1]), [  # say what the weights really were
        f"{v}\n{attrs['weights_' + str(v)]}" if f"weights_{v}" in attrs else str(v)
        for v in da[cols].values], fontsize=8)
    ax.set_yticks(range(vals.shape[0]), [str(v) for v in da[rows].values])
    ax.set_xlabel(cols)
    ax.set_ylabel(rows)
    ax.figure.colorbar(im, ax=ax, label=metric.replace("_", " "))
    ax.set_title(f"probe {metric.replace('_', ' ')} (test set)", fontsize=10)
    return ax
