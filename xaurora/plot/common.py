"""Shared helpers for xaurora's plots: grid dims, colour limits, labels, offline coastlines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.io.names import LAT_NAMES, LON_NAMES, find_land_sea_mask
from xaurora.sample import sample_static


def grid_dims(da: xr.DataArray) -> tuple[str, str]:
    """The (lat, lon) dim names of ``da``, or a ValueError that says how to fix it."""
    lat = next((d for d in LAT_NAMES if d in da.dims), None)
    lon = next((d for d in LON_NAMES if d in da.dims), None)
    if lat is None or lon is None:
        raise XauroraError(
            f"{da.name or 'array'}: a map needs latitude and longitude dims ('lat'/'latitude', "
            f"'lon'/'longitude'); it has {tuple(da.dims)}. Fix: rename its grid dims."
        )
    return lat, lon


def squeeze_to_map(da: xr.DataArray) -> tuple[xr.DataArray, str, str]:
    """Drop length-1 dims; fail (naming the dims to select) if more than lat/lon remain."""
    lat, lon = grid_dims(da)
    da = da.squeeze([d for d in da.dims if da.sizes[d] == 1 and d not in (lat, lon)])
    extra = [d for d in da.dims if d not in (lat, lon)]
    if extra:
        example = ", ".join(f"{d}=0" for d in extra)
        raise XauroraError(
            f"{da.name or 'array'}: map() draws one lat/lon field but the array also has dims "
            f"{extra} ({', '.join(str(da.sizes[d]) for d in extra)} values). Fix: select or "
            f"reduce them first, e.g. da.isel({example}) or da.mean({extra!r})."
        )
    return da.transpose(lat, lon), lat, lon


def is_binary(values: np.ndarray) -> bool:
    """True for boolean data or data whose finite values are all 0 or 1."""
    if values.dtype == bool:
        return True
    finite = values[np.isfinite(values)]
    return finite.size > 0 and bool(np.isin(finite, (0.0, 1.0)).all())


def color_limits(
    values: np.ndarray, robust: bool = True, symmetric: bool | None = None
) -> tuple[float, float, bool]:
    """(vmin, vmax, symmetric): 2–98 % percentiles when ``robust``; ±max|x| when symmetric.

    ``symmetric=None`` means: symmetric about 0 when the data take both signs, neither of them
    marginally (relevance, loadings, anomalies, residuals; not orography with a few values
    below sea level).

    >>> color_limits(np.array([-1.0, 0.5, 2.0]), robust=False)
    (-2.0, 2.0, True)
    >>> color_limits(np.array([1.0, 3.0]), robust=False)
    (1.0, 3.0, False)
    >>> color_limits(np.array([-1.0] + [500.0] * 99), robust=False)[2]
    False
    >>> color_limits(np.r_[np.zeros(99), 0.5])  # mostly zeros: never below 0
    (0.0, 0.5, False)
    """
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return 0.0, 1.0, bool(symmetric)
    lo, hi = float(finite.min()), float(finite.max())
    if symmetric is None:  # both signs, each with a real share of the range
        p_lo, p_hi = (float(x) for x in np.percentile(finite, [2, 98]))
        symmetric = lo < 0.0 < hi and min(-p_lo, p_hi) >= 0.05 * max(-p_lo, p_hi)
    if symmetric:
        top = float(np.percentile(np.abs(finite), 98)) if robust else max(abs(lo), abs(hi))
        top = top if top > 0 else max(abs(lo), abs(hi), 1e-12)
        return -top, top, True
    if robust:
        lo, hi = (float(x) for x in np.percentile(finite, [2, 98]))
    if hi <= lo:  # percentiles collapse (e.g. mostly zeros): the full range instead
        lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:  # a constant field: pad, without crossing zero for non-negative data
        pad = abs(lo) * 0.01 or 1.0
        lo, hi = (lo, lo + pad) if lo >= 0 else (lo - pad, hi + pad)
    return lo, hi, False


def unit_interval(values: np.ndarray) -> bool:
    """True for fractions and probabilities: all finite values in [0, 1], the largest ≥ 0.5.

    Such fields (land fraction, probe error rates, probabilities) keep the limits 0…1, so that
    colours mean the same on every map.

    >>> unit_interval(np.array([0.0, 0.5, 1.0])), unit_interval(np.array([0.0, 1e-3]))
    (True, False)
    """
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return bool(finite.size and finite.min() >= 0.0 and 0.5 <= finite.max() <= 1.0)


def label_of(da: xr.DataArray) -> str:
    """``long_name [units]`` (or the name) for a colour bar or axis."""
    name = str(da.attrs.get("long_name") or da.name or "")
    units = da.attrs.get("units")
    return f"{name} [{units}]" if units not in (None, "") else name


def title_of(da: xr.DataArray) -> str:
    """The array's name plus its scalar coordinates (e.g. ``embedding  time=… level=surface``)."""
    parts = [str(da.name)] if da.name is not None else []
    for name, coord in da.coords.items():
        if coord.ndim == 0 and name not in LAT_NAMES + LON_NAMES:
            value = coord.values
            if np.issubdtype(coord.dtype, np.datetime64):
                value = np.datetime_as_string(value, unit="h")
            elif isinstance(value, np.ndarray):
                value = value.item()
            if isinstance(value, float):
                value = f"{value:g}"
            parts.append(f"{name}={value}")
    return "  ".join(parts)


def edges(centres: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Cell edges from cell centres (midpoints; ends extrapolated, optionally clipped)."""
    c = np.asarray(centres, dtype=np.float64)
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = 0.5 * (c[1:] + c[:-1])
    out = np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])
    if lo is not None or hi is not None:
        out = np.clip(out, lo, hi)
    return out


def natural_earth_available(resolution: str = "110m") -> bool:
    """Whether cartopy's Natural Earth coastline shapefile is already on disk (never downloads).

    Looks where cartopy would: ``cartopy.config["pre_existing_data_dir"]`` then
    ``cartopy.config["data_dir"]``.
    """
    try:
        from cartopy import config  # optional
        from cartopy.io import Downloader  # optional
    except ImportError:  # pragma: no cover - cartopy is a dependency
        return False
    fmt = {"config": config, "category": "physical", "name": "coastline",
           "resolution": resolution}
    try:
        downloader = Downloader.from_config(
            ("shapefiles", "natural_earth", resolution, "physical", "coastline")
        )
        pre = downloader.pre_downloaded_path(fmt)
        target = downloader.target_path(fmt)
    except Exception:  # a broken cartopy config: behave as offline
        return False
    return bool((pre is not None and Path(pre).exists()) or Path(target).exists())


def lsm_field(lsm: Any = None) -> xr.DataArray:
    """A land–sea mask DataArray (lat/lon dims): from ``lsm`` or the bundled ERA5 sample.

    ``lsm`` may be a DataArray or a Dataset holding ``lsm``/``land_sea_mask``/``static_lsm``.
    """
    if lsm is None:
        return sample_static()["lsm"]
    if isinstance(lsm, xr.Dataset):
        lsm = find_land_sea_mask(lsm, "lsm")
    if not isinstance(lsm, xr.DataArray):
        raise XauroraError("lsm: pass an xr.DataArray land-sea mask (0 = sea, 1 = land) or None.")
    lat, lon = grid_dims(lsm)
    extra = [d for d in lsm.dims if d not in (lat, lon)]
    return lsm.isel({d: 0 for d in extra}) if extra else lsm


def is_geoaxes(ax: Any) -> bool:
    """Whether ``ax`` is a cartopy GeoAxes (has a map projection)."""
    return hasattr(ax, "projection") and hasattr(ax, "set_extent")


def draw_box(ax, region, color: str = "#2166ac") -> None:
    """Dashed outline of a (lat0, lat1, lon0, lon1) box on a map."""
    lat0, lat1, lon0, lon1 = region
    xs = [lon0, lon1, lon1, lon0, lon0]
    ys = [lat0, lat0, lat1, lat1, lat0]
    kw = {}
    if hasattr(ax, "projection"):
        import cartopy.crs as ccrs  # heavy: only for map axes

        kw["transform"] = ccrs.PlateCarree()
    ax.plot(xs, ys, "--", color=color, lw=1.6, **kw)

