"""The input grid's orientation: Aurora's dim names, latitude descending, longitude in [0, 360).

Labels, masks and relevance arrive on the user's grid; these put them on the grid the model
reads, by renaming and reordering only (never interpolating).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.io.names import LAT_ATTRS, LAT_NAMES, LON_ATTRS, LON_NAMES, TIME_NAMES


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
