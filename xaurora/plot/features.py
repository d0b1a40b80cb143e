"""Figures of unlabelled features and compared layers: a CKA heat map, power spectra by layer,
and a gallery of SAE features at their strongest dates.

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import numpy as np, xarray as xr
>>> m = xr.DataArray([[1.0, 0.4], [0.4, 1.0]], dims=("rep_a", "rep_b"),
...                  coords={"rep_a": ["encoder", "backbone"], "rep_b": ["encoder", "backbone"]})
>>> len(cka_heatmap(m).texts)
4
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.plot.charts import new_axes
from xaurora.plot.maps import map as draw_map

__all__ = ["cka_heatmap", "feature_gallery", "spectra"]


def cka_heatmap(matrix: xr.DataArray, ax=None, cmap: str = "magma"):
    """The symmetric matrix of ``xa.analysis.cka_matrix`` as an annotated heat map (0 … 1)."""
    if not isinstance(matrix, xr.DataArray) or matrix.dims != ("rep_a", "rep_b"):
        raise XauroraError("cka_heatmap: expected the DataArray of xa.analysis.cka_matrix "
                           "(dims rep_a, rep_b).")
    vals = np.asarray(matrix.values, float)
    n = vals.shape[0]
    ax = new_axes(ax, figsize=(1.8 + 0.7 * n, 1.4 + 0.6 * n))
    im = ax.imshow(vals, cmap=cmap, vmin=0.0, vmax=1.0)
    for r in range(n):
        for c in range(n):
            ax.text(c, r, f"{vals[r, c]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if vals[r, c] < 0.6 else "black")
    names = [str(v) for v in matrix["rep_a"].values]
    ax.set_xticks(range(n), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    label = "debiased linear CKA" if "unbiased" in matrix.attrs.get("estimator", "") else \
        "linear CKA"
    ax.figure.colorbar(im, ax=ax, label=label)
    ax.set_title(label, fontsize=10)
    return ax


def spectra(power: xr.DataArray, by: str = "level", ax=None, normalise: bool = True):
    """Power spectra (``X.aurora.spectrum()``) as lines, one per value of ``by``, log–log.

    Other dims (e.g. ``time``) are averaged. ``normalise=True`` divides each line by its total,
    so that layers of different variance compare by where their variance sits.
    """
    scale = "wavenumber" if "wavenumber" in power.dims else "ell"
    if scale not in power.dims:
        raise XauroraError("spectra: expected the output of .aurora.spectrum() (a 'wavenumber' "
                           "or 'ell' dim).")
    other = [d for d in power.dims if d not in (scale, by)]
    p = power.mean(other) if other else power
    ax = new_axes(ax)
    lines = [p] if by not in p.dims else [p.sel({by: v}) for v in p[by].values]
    for line in lines:
        y = line.values / (line.values.sum() if normalise else 1.0)
        k = line[scale].values
        ax.loglog(k[1:], y[1:], label=str(line[by].values) if by in line.coords else None)
    ax.set_xlabel("zonal wavenumber" if scale == "wavenumber" else "degree ℓ")
    ax.set_ylabel("fraction of power" if normalise else "power")
    if by in p.dims:
        ax.legend(fontsize=8, title=by)
    return ax


def feature_gallery(acts: xr.DataArray, top: xr.Dataset, features=None, n_cols: int = 3):
    """Maps of features' activations at their strongest date (``top_activations``' rank 1).

    ``acts``: ``sae_transform``'s activations with ``time``, ``lat``/``lon`` (or ``cells``);
    ``features``: which (default: the six strongest). Returns the figure.
    """
    import matplotlib.pyplot as plt  # optional

    if "time" not in acts.dims:
        raise XauroraError("feature_gallery: the activations need a time dim (maps per date).")
    if features is None:
        features = top["activation"].sel(rank=1).sortby(
            top["activation"].sel(rank=1), ascending=False)["feature"].values[:6]
    features = list(np.atleast_1d(features))
    n_rows = int(np.ceil(len(features) / n_cols))
    fig = plt.figure(figsize=(4.2 * n_cols, 2.6 * n_rows))
    for i, f in enumerate(features):
        when = top["time"].sel(feature=f, rank=1).values
        ax = fig.add_subplot(n_rows, n_cols, i + 1)
        field = acts.sel(feature=f).sel(time=when) if not np.isnat(when) else \
            acts.sel(feature=f).isel(time=0)
        draw_map(field, ax=ax, cmap="viridis", robust=False, colorbar=True,
                 title=f"feature {f} · {str(when)[:13]}")
    fig.tight_layout()
    return fig
