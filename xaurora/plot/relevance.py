"""Figures of attribution results: the relevance map, its vertical profile, perturbation curves.

Every function takes the object an xaurora method returns, draws on ``ax`` (a new figure when
None) and returns the matplotlib Axes. matplotlib is imported inside the functions.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.io.names import LAT_NAMES, LEVEL_NAMES, LON_NAMES, TIME_NAMES
from xaurora.plot.charts import new_axes
from xaurora.plot.common import draw_box
from xaurora.plot.maps import map as map_

__all__ = ["perturbation_curves", "relevance_map", "vertical_profile"]


def _profile(
    rel: xr.Dataset | xr.DataArray,
) -> tuple[dict[str, xr.DataArray], dict[str, float], dict[str, float]]:
    """Σ|R| per pressure level (atmospheric), and Σ|R| of surface and of static variables."""
    if isinstance(rel, xr.DataArray):
        if "variable" in rel.dims:
            rel = rel.to_dataset("variable")
        else:
            rel = rel.to_dataset(name=str(rel.name or "relevance"))
    atmos, surface, static = {}, {}, {}
    for name, da in rel.data_vars.items():
        ldim = next((d for d in LEVEL_NAMES if d in da.dims), None)
        if ldim is None and not any(d in da.dims for d in LAT_NAMES + LON_NAMES) and da.ndim:
            continue
        other = [d for d in da.dims if d != ldim]
        total = np.abs(da).sum(other) if other else np.abs(da)
        is_static = str(da.attrs.get("aurora_name", "")).startswith("static_") or (
            ldim is None and not any(d in da.dims for d in TIME_NAMES)
            and rel.attrs.get("method") is not None
        )
        if ldim is None:
            (static if is_static else surface)[str(name)] = float(total)
        else:
            atmos[str(name)] = total.rename({ldim: "level"})
    return atmos, surface, static


def vertical_profile(rel_or_profile: xr.Dataset | xr.DataArray, ax=None, normalize: bool = True):
    """Relevance by pressure level, one line per atmospheric variable; surface variables below.

    Takes the Dataset from ``ds.aurora.relevance(...)`` (|R| is summed over time, lat and lon)
    or an already reduced profile (a DataArray with a ``level`` dim, optionally ``variable``).
    With ``normalize`` the x axis is the share of the total |R| in %.

    >>> import numpy as np, xarray as xr
    >>> rel = xr.Dataset({"t": (("level", "lat"), np.ones((3, 2))), "msl": ("lat", [1.0, 1.0])},
    ...                  coords={"level": [200, 500, 850], "lat": [10.0, 0.0]})
    >>> ax = vertical_profile(rel)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['surface', '850 hPa', '500 hPa', '200 hPa']
    """
    atmos, surface, static = _profile(rel_or_profile)
    if not atmos and not surface and not static:
        raise XauroraError("vertical_profile: no relevance variables found. Fix: pass the Dataset "
                         "returned by ds.aurora.relevance(...).")
    levels = sorted({int(v) for da in atmos.values() for v in da["level"].values}, reverse=True)
    total = sum(float(da.sum()) for da in atmos.values()) + sum(surface.values())
    total += sum(static.values())
    scale = 100.0 / total if normalize and total > 0 else 1.0
    rows = (["static"] if static else []) + ["surface"] + [f"{p} hPa" for p in levels]
    y_surface = 1 if static else 0
    pos = {p: y_surface + 1 + k for k, p in enumerate(levels)}
    ax = new_axes(ax, figsize=(6.4, 1.6 + 0.75 * len(rows)))
    import matplotlib.pyplot as plt  # heavy

    n_series = len(atmos) + len(surface) + len(static)
    palette = plt.get_cmap("tab10" if n_series <= 10 else "tab20")  # one colour per variable
    k = 0
    for name, da in sorted(atmos.items()):
        y = [pos[int(p)] for p in da["level"].values]
        order = np.argsort(y)
        ax.plot(np.asarray(da.values)[order] * scale, np.asarray(y)[order], marker="o",
                color=palette(k % palette.N), label=name)
        k += 1
    for group, y, marker in ((surface, y_surface, "s"), (static, 0, "D")):
        for name, value in sorted(group.items()):
            ax.scatter([value * scale], [y], marker=marker, s=42, color=palette(k % palette.N),
                       label=name, zorder=3)
            k += 1
    ax.set_yticks(range(len(rows)), rows)
    ax.set_ylim(-0.5, len(rows) - 0.5)
    ax.set_xlabel("share of total |relevance| [%]" if normalize else "Σ |relevance|")
    ax.set_xlim(left=0)
    ax.grid(axis="x", color="0.9")
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title("relevance by level", fontsize=10)
    return ax


def perturbation_curves(test_ds: xr.Dataset, ax=None, band: tuple[float, float] = (0.05, 0.95)):
    """Target-forecast error vs masked fraction: most relevant, random (mean and band), least.

    ``test_ds`` is what ``ds.aurora.perturbation_test(...)`` returns (``error_relevant``,
    ``error_random`` with a ``draw`` dim, optionally ``error_least_relevant`` and ``ratio``).

    >>> import xarray as xr
    >>> t = xr.Dataset({"error_relevant": ("fraction", [1.0, 3.0]),
    ...                 "error_random": (("fraction", "draw"), [[0.2, 0.4], [1.0, 1.4]])},
    ...                coords={"fraction": [0.01, 0.1]})
    >>> ax = perturbation_curves(t)
    >>> [line.get_label() for line in ax.get_lines()][:2]
    ['most relevant masked', 'random masks (mean)']
    """
    for name in ("error_relevant", "error_random"):
        if name not in test_ds:
            raise XauroraError(f"perturbation_curves: {name!r} missing. Fix: pass the Dataset "
                             "returned by ds.aurora.perturbation_test(...).")
    x = 100.0 * np.asarray(test_ds["fraction"].values, dtype=float)
    ax = new_axes(ax)
    rel = test_ds["error_relevant"]
    rand = test_ds["error_random"]
    ax.plot(x, rel.values, "o-", color="#b2182b", label="most relevant masked")
    ax.plot(x, rand.mean("draw").values, "s--", color="0.3", label="random masks (mean)")
    lo, hi = (rand.quantile(q, "draw").values for q in band)
    ax.fill_between(x, lo, hi, color="0.6", alpha=0.3,
                    label=f"random {int(100 * band[0])}–{int(100 * band[1])} %")
    if "error_least_relevant" in test_ds:
        ax.plot(x, test_ds["error_least_relevant"].values, "^:", color="#2166ac",
                label="least relevant masked")
    units = rel.attrs.get("units")
    metric = str(test_ds.attrs.get("error_metric", rel.attrs.get("error_metric", ""))).upper()
    ax.set_xlabel("input cells masked [%]")
    ax.set_ylabel((f"{metric} of " if metric else "") + "change of target forecast"
                  + (f" [{units}]" if units else ""))
    if x.size > 1 and x.min() > 0 and x.max() / x.min() >= 10:
        ax.set_xscale("log")
    ax.set_xticks(x, [f"{v:g}" for v in x])
    ax.set_ylim(bottom=0)
    if "ratio" in test_ds:
        r = test_ds["ratio"].values
        ax.set_title(f"relevant / random {metric or 'error'}: " + ", ".join(
            f"{v:.2g}×" for v in r), fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(color="0.92")
    return ax


def relevance_map(rel: xr.Dataset, variable: str | None = None, level: int | None = None,
                  ax=None, absolute: bool | None = None, box: bool = True, **map_kw: Any):
    """Map of relevance summed over time (both history steps) and levels.

    ``variable=None`` sums |R| over all variables ("where does the forecast look?"); a name
    maps that variable's signed relevance (``absolute=False``), optionally at one ``level``.
    The title says the method, the target (variable, region, lead) and the analysis time, and
    a box target region is outlined (``box=False``: not). Extra keywords go to
    :func:`xaurora.plot.map`.

    >>> import numpy as np, xarray as xr
    >>> rel = xr.Dataset({"msl": (("time", "lat", "lon"), np.ones((2, 3, 4)))},
    ...                  coords={"lat": [10.0, 0.0, -10.0], "lon": [0.0, 90.0, 180.0, 270.0]})
    >>> ax = relevance_map(rel, coastlines=False)
    >>> ax.get_title()
    'Σ|R| over all variables, levels and both input times'
    """

    names = [variable] if variable is not None else [
        n for n, d in rel.data_vars.items()
        if any(x in d.dims for x in LAT_NAMES) and any(x in d.dims for x in LON_NAMES)
    ]
    absolute = variable is None if absolute is None else absolute
    total = None
    for name in names:
        da = rel[name]
        ldim = next((d for d in LEVEL_NAMES if d in da.dims), None)
        if level is not None and ldim is not None:
            da = da.sel({ldim: level})
        da = np.abs(da) if absolute else da
        grid = [d for d in da.dims if d in LAT_NAMES + LON_NAMES]
        da = da.sum([d for d in da.dims if d not in grid])
        total = da if total is None else total + da
    assert total is not None
    if variable is None:
        total = total.rename("relevance")
        total.attrs = {"long_name": "Σ |relevance|"}
        title = "Σ|R| over all variables, levels and both input times"
    else:
        total = total.rename(variable)
        total.attrs = {"long_name": f"relevance of {variable}"}
        title = f"relevance of {variable}" + (f" at {level} hPa" if level is not None else "")
    units = {str(rel[n].attrs.get("units", "")) for n in names} | {""}
    units.discard("")
    if len(units) == 1:
        total.attrs["units"] = units.pop()
    head = _target_line(rel.attrs)
    map_kw.setdefault("title", f"{head}\n{title}" if head else title)
    if absolute:  # white for "no relevance", so coastlines stay visible
        map_kw.setdefault("cmap", "Reds")
    ax = map_(total, ax=ax, **map_kw)
    region = _target_box(rel.attrs) if box else None
    if region is not None:
        draw_box(ax, region, color="k")
    return ax


def _target_box(attrs: dict) -> tuple[float, float, float, float] | None:
    """The (lat0, lat1, lon0, lon1) target box from relevance attrs (None if not a box)."""

    try:
        box = ast.literal_eval(str(attrs.get("target_region", "")))
    except (ValueError, SyntaxError):
        return None
    if isinstance(box, tuple) and len(box) == 4 and all(isinstance(v, (int, float))
                                                        for v in box):
        return tuple(float(v) for v in box)
    return None


def _target_line(attrs: dict) -> str:
    """``LRP: msl over (30, 72, -12, 45), +6 h from 2020-01-15T12:00`` from relevance attrs."""
    if "target_variable" not in attrs:
        return ""
    var = str(attrs["target_variable"])
    lev = attrs.get("target_level", "surface")
    var += "" if lev == "surface" else f" at {float(lev):g} hPa"
    method = str(attrs.get("method", "relevance"))
    method = {"lrp": "LRP", "gradxinput": "gradient × input",
              "integrated_gradients": "integrated gradients"}.get(method, method)
    lead = f"+{attrs['target_lead_steps']} step(s)"
    if "timestep_hours" in attrs:
        lead = f"+{float(attrs['timestep_hours']) * int(attrs['target_lead_steps']):g} h"
    when = str(attrs.get("analysis_time", ""))[:16]
    return (f"{method}: target {var} over {attrs.get('target_region', '?')}, {lead}"
            + (f" from {when}" if when else ""))
