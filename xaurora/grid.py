"""The patch grid: how Aurora cuts a lat/lon grid into patches, as labelled coordinates.

Aurora drops one trailing latitude row when ``n_lat % patch_size == 1`` (721 → 720 at 0.25°) and
then cuts ``patch_size × patch_size`` pixel patches. Every module that maps between pixels and
tokens (embed, probe labels, perturbation masks, plots) uses these helpers, so the convention
lives in one place.

>>> import numpy as np
>>> lat, lon = np.linspace(90, -90, 181), np.arange(0, 360, 1.0)
>>> la, lo = patch_centres(lat, lon, 4)
>>> la.size, lo.size, float(la[0]), float(lo[0])
(45, 90, 88.5, 1.5)
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.io.names import LAT_ATTRS, LAT_NAMES, LON_ATTRS, LON_NAMES, TIME_NAMES


def used_rows(n_lat: int, patch_size: int) -> int:
    """Number of latitude rows Aurora uses: all, or all but the last when one is left over."""
    rest = n_lat % patch_size
    if rest == 0:
        return n_lat
    if rest == 1:
        return n_lat - 1
    raise XauroraError(
        f"latitude: {n_lat} rows cannot be cut into {patch_size}-pixel patches (Aurora allows "
        f"at most one extra row, so n_lat % {patch_size} must be 0 or 1). Fix: select or regrid "
        f"to e.g. {n_lat - rest} or {n_lat - rest + 1} rows."
    )


def check_lon(n_lon: int, patch_size: int) -> None:
    """Raise an actionable error when the longitude count is not a multiple of the patch size."""
    if n_lon % patch_size:
        raise XauroraError(
            f"longitude: {n_lon} columns is not a multiple of the patch size {patch_size}. "
            f"Fix: regrid to a multiple of {patch_size} (e.g. {n_lon - n_lon % patch_size})."
        )


def patch_centres(lat, lon, patch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Patch-centre latitudes and longitudes: the mean of the grid points inside each patch."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    h = used_rows(lat.size, patch_size)
    check_lon(lon.size, patch_size)
    lat_c = lat[:h].reshape(-1, patch_size).mean(axis=1)
    lon_c = lon.reshape(-1, patch_size).mean(axis=1)
    return lat_c, lon_c


def patch_coords(lat, lon, patch_size: int) -> dict[str, xr.DataArray]:
    """Patch-centre coordinates as CF-labelled DataArrays named ``lat`` and ``lon``."""
    lat_c, lon_c = patch_centres(lat, lon, patch_size)
    return {
        "lat": xr.DataArray(lat_c, dims="lat", attrs=LAT_ATTRS),
        "lon": xr.DataArray(lon_c, dims="lon", attrs=LON_ATTRS),
    }


def to_patches(da: xr.DataArray, patch_size: int) -> xr.DataArray:
    """Mean of ``da`` over each patch, on the patch-centre grid.

    ``da`` must use the canonical grid (dims ``lat``/``lon``, lat descending, lon in [0, 360)
    ascending); the trailing extra row is dropped as Aurora does. Lazy input stays lazy.
    """
    for dim in ("lat", "lon"):
        if dim not in da.dims:
            raise XauroraError(
                f"{da.name or 'array'}: needs a '{dim}' dimension to be reduced to patches; "
                f"it has {tuple(da.dims)}. Fix: rename its grid dims to 'lat'/'lon'."
            )
    h = used_rows(da.sizes["lat"], patch_size)
    check_lon(da.sizes["lon"], patch_size)
    coords = patch_coords(da["lat"].values, da["lon"].values, patch_size)
    out = (
        da.isel(lat=slice(0, h))
        .coarsen(lat=patch_size, lon=patch_size)
        .mean()
        .assign_coords(coords)
    )
    out.attrs = dict(da.attrs)
    return out


def cell_weights(lat) -> xr.DataArray:
    """cos(latitude) area weights on a ``lat`` coordinate (clipped at 0 for the poles)."""
    lat = xr.DataArray(np.asarray(lat, dtype=np.float64), dims="lat")
    w = np.cos(np.deg2rad(lat)).clip(min=0.0)
    return w.assign_coords(lat=lat.values).rename("cell_weight")


def _label(obj) -> str:
    return str(getattr(obj, "name", None) or "array")


def canonical_grid(obj: xr.DataArray | xr.Dataset) -> xr.DataArray | xr.Dataset:
    """Rename grid/time dims to ``lat``/``lon``/``time``; sort lat descending, lon in [0, 360).

    Values are only reordered, never interpolated.

    >>> da = xr.DataArray([[1, 2]], dims=("latitude", "longitude"),
    ...                   coords={"latitude": [0.0], "longitude": [-90.0, 90.0]})
    >>> canonical_grid(da).lon.values.tolist()
    [90.0, 270.0]
    """
    rename = {}
    for canon, names in (("lat", LAT_NAMES), ("lon", LON_NAMES), ("time", TIME_NAMES)):
        found = [n for n in names if n in obj.dims]
        if len(found) > 1:
            raise XauroraError(
                f"{_label(obj)}: has both {found[0]!r} and {found[1]!r} dimensions. "
                f"Fix: keep one of them (e.g. .isel({found[1]}=0))."
            )
        if found and found[0] != canon:
            rename[found[0]] = canon
    out = obj.rename(rename)
    for dim in ("lat", "lon"):
        if dim not in out.dims:
            raise XauroraError(
                f"{_label(obj)}: no latitude/longitude dimensions (dims are {tuple(obj.dims)}). "
                "Fix: name them 'lat'/'latitude' and 'lon'/'longitude'."
            )
        if dim not in out.coords:
            raise XauroraError(
                f"{_label(obj)}: dimension {dim!r} has no coordinate values. "
                f"Fix: assign them, e.g. .assign_coords({dim}=...)."
            )
    lon = out["lon"].values % 360.0
    out = out.assign_coords(lon=xr.DataArray(lon, dims="lon", attrs=LON_ATTRS))
    out = out.sortby("lon")
    if out.sizes["lat"] > 1 and out["lat"].values[0] < out["lat"].values[-1]:
        out = out.isel(lat=slice(None, None, -1))
    out = out.assign_coords(lat=xr.DataArray(out["lat"].values, dims="lat", attrs=LAT_ATTRS))
    return out
