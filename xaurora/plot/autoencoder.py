"""Autoencoder charts: reconstruction error against the compression ratio (FS-AE's figure).

matplotlib is imported inside the functions.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError

__all__ = ["reconstruction_curve"]

COLORS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02")


def reconstruction_curve(sweep: xr.Dataset, variable: str | None = None, level=None, ax=None):
    """Dual-axis plot: RMSE (left, solid) and PSNR (right, dashed) vs compression ratio.

    ``sweep`` is what ``xa.analysis.reconstruction_sweep`` returns; one line pair per
    ``model`` (e.g. two autoencoder families over several ratios). ``variable`` (default: the
    first) and ``level`` (for atmospheric variables) pick the row. The compression axis is
    logarithmic (base 2). Returns the RMSE Axes; the PSNR Axes is its twin,
    ``ax.figure.axes[1]`` on a new figure.

    >>> import numpy as np, xarray as xr
    >>> sweep = xr.Dataset(
    ...     {"rmse": (("encoder", "variable"), [[0.4], [0.9], [1.8]]),
    ...      "psnr": (("encoder", "variable"), [[40.0], [33.0], [27.0]])},
    ...     coords={"variable": ["t2m"], "model": ("encoder", ["fs-ae"] * 3),
    ...             "compression_ratio": ("encoder", [4.0, 16.0, 64.0])})
    >>> ax = reconstruction_curve(sweep)
    >>> ax.get_xlabel(), ax.figure.axes[1].get_ylabel()
    ('compression ratio', 'PSNR [dB]')
    """
    import matplotlib.pyplot as plt  # heavy

    for name in ("rmse", "psnr", "compression_ratio", "model"):
        if name not in sweep.variables:
            raise XauroraError(
                f"sweep: no {name!r}. Fix: pass the Dataset from "
                f"xa.analysis.reconstruction_sweep(ds, encoders)."
            )
    variable = str(sweep["variable"].values[0]) if variable is None else variable
    rows = sweep.sel(variable=variable)
    if "level" in rows.dims:
        if level is None:
            raise XauroraError(
                f"{variable}: the sweep has levels {sweep['level'].values.tolist()}. "
                f"Fix: pass level=... (one of them)."
            )
        rows = rows.sel(level=level)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.8, 4.0), layout="constrained")
    right = ax.twinx()
    models = list(dict.fromkeys(np.asarray(rows["model"].values).tolist()))
    for i, m in enumerate(models):
        sel = rows.where(rows["model"] == m, drop=True).sortby("compression_ratio")
        x = sel["compression_ratio"].values
        c = COLORS[i % len(COLORS)]
        ax.plot(x, sel["rmse"].values, "o-", color=c, label=f"{m} RMSE")
        right.plot(x, sel["psnr"].values, "s--", color=c, label=f"{m} PSNR")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("compression ratio")
    units = ""
    if "units" in rows.coords:
        units = str(np.asarray(rows["units"].values).ravel()[0])
    ax.set_ylabel(f"RMSE [{units}]" if units else "RMSE")
    right.set_ylabel("PSNR [dB]")
    title = variable if level is None else f"{variable} {level}"
    ax.set_title(f"Reconstruction of {title}")
    lines = ax.get_lines() + right.get_lines()
    ax.legend(lines, [ln.get_label() for ln in lines], fontsize="small", loc="center left")
    return ax
