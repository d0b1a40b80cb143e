"""Georeferenced maps of anything on a lat/lon grid, with coastlines that never need the network.

cartopy downloads Natural Earth coastlines the first time ``ax.coastlines()`` is drawn. On an
offline machine (a compute node, a CI runner) that fails at draw time. :func:`draw_coastlines`
checks whether the shapefile is already on disk and, when it is not, draws the coastline as the
0.5 contour of a land–sea mask instead (the one passed, or the bundled ERA5 sample mask).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.grids import as_map
from xaurora.plot.common import (
    color_limits,
    edges,
    grid_dims,
    is_binary,
    is_geoaxes,
    label_of,
    lsm_field,
    natural_earth_available,
    squeeze_to_map,
    title_of,
    unit_interval,
)

__all__ = ["draw_coastlines", "map"]


def _projection(projection: Any, global_: bool):
    import cartopy.crs as ccrs  # optional

    if projection is None:
        return ccrs.Robinson() if global_ else ccrs.PlateCarree()
    if isinstance(projection, str):
        try:
            return getattr(ccrs, projection)()
        except AttributeError:
            raise XauroraError(
                f"projection={projection!r} is not a cartopy.crs class. Fix: pass e.g. "
                "'PlateCarree', 'Robinson', 'EqualEarth' or a cartopy.crs instance."
            ) from None
    return projection


def draw_coastlines(ax, lsm: Any = None, resolution: str = "110m", **kwargs) -> str:
    """Draw coastlines on ``ax`` without ever downloading; return which source was used.

    Uses cartopy's Natural Earth coastlines when the shapefile is already on disk
    (``"natural_earth"``); otherwise the 0.5 contour of the land–sea mask ``lsm`` (a DataArray or
    a Dataset holding ``lsm``/``land_sea_mask``; default: the bundled ERA5 1.5° mask), returning
    ``"lsm"``. Works on cartopy GeoAxes and on plain lon/lat Axes.

    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> draw_coastlines(ax)  # plain axes: always the land-sea-mask contour
    'lsm'
    >>> plt.close(fig)
    """
    style = {"colors": "0.15", "linewidths": 0.6}
    style.update(kwargs)
    if is_geoaxes(ax) and natural_earth_available(resolution):
        ax.coastlines(resolution=resolution, color=style["colors"],
                      linewidth=style["linewidths"])
        return "natural_earth"
    mask = lsm_field(lsm)
    lat, lon = grid_dims(mask)
    mask = mask.transpose(lat, lon).astype(np.float64)
    lons = np.asarray(mask[lon].values, dtype=np.float64)
    if not is_geoaxes(ax):  # follow the axis' own longitude convention
        x0, x1 = ax.get_xlim()
        if max(x0, x1) <= 180.5:
            lons = (lons + 180.0) % 360.0 - 180.0
    else:
        lons = lons % 360.0
    order = np.argsort(lons)
    lons, values = lons[order], mask.values[:, order]
    lons = np.append(lons, lons[0] + 360.0)  # close the contour across the seam
    values = np.concatenate([values, values[:, :1]], axis=1)
    lats = np.asarray(mask[lat].values, dtype=np.float64)
    extra = {}
    if is_geoaxes(ax):
        import cartopy.crs as ccrs  # optional

        extra["transform"] = ccrs.PlateCarree()
    ax.contour(lons, lats, values, levels=[0.5], **style, **extra)
    return "lsm"


def map(  # shadows the builtin on purpose: the public name is xa.plot.map
    da: xr.DataArray,
    ax=None,
    projection: Any = None,
    cmap: Any = None,
    robust: bool = True,
    symmetric: bool | None = None,
    title: str | None = None,
    coastlines: bool = True,
    lsm: Any = None,
    *,
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
    **kwargs: Any,
):
    """Georeferenced map of one field: lat/lon (input grid, Aurora's patches) or latent cells.

    Parameters
    ----------
    da
        A DataArray with ``lat``/``latitude`` and ``lon``/``longitude`` dims (longitudes in
        [0, 360) or [−180, 180)), or a ``cells`` dim of HEALPix cells or mesh points (each map
        pixel shows its cell or nearest node); other dims must have length 1 (select them first).
    ax
        Axes to draw on: a cartopy GeoAxes, or a plain Axes (drawn in lon/lat degrees). By
        default a new figure with ``projection``.
    projection
        A ``cartopy.crs`` projection or its class name (default: Robinson for global fields,
        PlateCarree for regional ones).
    cmap
        Colour map (default ``"RdBu_r"`` for signed data, ``"Reds"`` for 0/1 data such as probe
        errors, else ``"viridis"``). Fractions (all values in [0, 1], e.g. a land fraction or
        an error rate) keep the limits 0…1 unless ``vmin``/``vmax`` say otherwise.
    robust, symmetric
        Colour limits from the 2–98 % percentiles; symmetric about 0 (``None``: when the data
        take both signs, as relevance, loadings or anomalies do).
    title
        Default: the array's name and its scalar coords.
    coastlines, lsm
        Draw coastlines; offline, they come from the 0.5 contour of ``lsm`` (default: the
        bundled ERA5 land–sea mask), see :func:`draw_coastlines`.
    vmin, vmax, colorbar, **kwargs
        Explicit colour limits, whether to add a colour bar (labelled ``long_name [units]``),
        extra arguments for ``pcolormesh``.

    Returns
    -------
    matplotlib.axes.Axes
        The map's Axes; the colour bar is ``ax.figure.axes[-1]``.

    Examples
    --------
    >>> import xaurora as xa
    >>> st = xa.sample.sample_static()
    >>> ax = xa.plot.map(st["z"] / 9.80665)
    >>> type(ax).__name__
    'GeoAxes'
    """
    # One figure drawn in order (grid, projection, colours, coastlines, labels): kept whole,
    # since each step reads the choices of the ones before.
    import matplotlib.pyplot as plt  # heavy

    da, lat, lon = squeeze_to_map(as_map(da))  # HEALPix / mesh cells: imaged on a lat-lon grid
    lats = np.asarray(da[lat].values, dtype=np.float64)
    lons = np.asarray(da[lon].values, dtype=np.float64)
    values = np.asarray(da.values)
    binary = is_binary(values)
    values = values.astype(np.float64)
    lon_span = float(np.ptp(lons)) + (abs(lons[1] - lons[0]) if lons.size > 1 else 0)
    global_ = lon_span >= 300 and float(np.ptp(lats)) >= 120

    if (binary or (unit_interval(values) and not symmetric)) and vmin is None and vmax is None:
        lo, hi, sym = 0.0, 1.0, False  # fractions and 0/1 data keep their range
    else:
        lo, hi, sym = color_limits(values, robust=robust, symmetric=symmetric)
    lo = lo if vmin is None else vmin
    hi = hi if vmax is None else vmax
    if cmap is None:
        cmap = "RdBu_r" if sym else ("Reds" if binary else "viridis")

    if ax is None:
        proj = _projection(projection, global_)
        fig = plt.figure(figsize=(8.0, 4.6) if global_ else (7.0, 5.0), layout="constrained")
        ax = fig.add_subplot(1, 1, 1, projection=proj)
    geo = is_geoaxes(ax)

    lon_e = edges(lons)
    lat_e = edges(lats, -90.0, 90.0)
    extra = dict(kwargs)
    if geo:
        import cartopy.crs as ccrs  # optional

        extra.setdefault("transform", ccrs.PlateCarree())
    mesh = ax.pcolormesh(lon_e, lat_e, values, cmap=cmap, vmin=lo, vmax=hi, shading="flat",
                         **extra)
    if geo:
        if global_:
            ax.set_global()
        else:
            x0, x1 = float(lon_e.min()), float(lon_e.max())
            if x1 - x0 >= 359.0:  # all longitudes, part of the latitudes
                x0, x1 = -180.0, 180.0
            ax.set_extent([x0, x1, lat_e.min(), lat_e.max()], crs=extra["transform"])
        gl = ax.gridlines(linewidth=0.3, color="0.5", alpha=0.5, linestyle=":",
                          draw_labels=True)  # lat/lon labels on every map
        gl.top_labels = gl.right_labels = False
        gl.xlabel_style = gl.ylabel_style = {"size": 7 if global_ else 8}
    else:
        ax.set_xlim(lon_e.min(), lon_e.max())
        ax.set_ylim(lat_e.min(), lat_e.max())
        ax.set_xlabel("longitude [°E]")
        ax.set_ylabel("latitude [°N]")
    if coastlines:
        draw_coastlines(ax, lsm=lsm)
    if colorbar:
        finite = values[np.isfinite(values)]
        over = finite.size and finite.max() > hi
        under = finite.size and finite.min() < lo
        extend = {(True, True): "both", (True, False): "max", (False, True): "min"}.get(
            (bool(over), bool(under)), "neither"
        )
        ax.figure.colorbar(
            mesh, ax=ax, orientation="horizontal" if global_ else "vertical",
            shrink=0.75, pad=0.04, extend=extend, label=label_of(da),
        )
    ax.set_title(title if title is not None else title_of(da), fontsize=10)
    return ax
