"""Undo the reading: results on the canonical grid go back to the user's grid and names.

:func:`canonicalize` records the user's coordinates in the canonical Dataset's attrs
(:func:`source_grid_attrs`); :func:`uncanonicalize` reads them back from there alone, never from
the input, so a result can be put back long after the input is gone. :func:`result_names`
gives every canonical variable the name it has in the user's data.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.io.names import STATIC_PREFIX


def result_names(cds: xr.Dataset) -> dict[str, str]:
    """The name each canonical variable gets in a result (relevance, forecast, ``info``).

    A variable keeps the user's own name (``attrs["source_name"]``). Names must never collide:
    ECMWF/CDS calls both the atmospheric geopotential and the surface geopotential (a static
    field, often in its own file passed as ``static=``) ``z``. Dynamic variables keep the
    user's name; a static field whose name is taken gets the ``static_`` prefix (``static_z``)
    and keeps its own name in ``attrs["source_name"]``.

    >>> import xaurora as xa
    >>> ds = xa.testing.synthetic_dataset(naming="cds", with_static=False)
    >>> cds = xa.canonicalize(ds, static=xa.testing.synthetic_static())
    >>> names = result_names(cds)
    >>> names["z"], names["static_z"], names["2t"]
    ('z', 'static_z', 't2m')
    """
    out: dict[str, str] = {}
    taken: set[str] = set()
    # dynamic variables first: they keep the user's names
    for canon in sorted(map(str, cds.data_vars), key=lambda n: n.startswith(STATIC_PREFIX)):
        name = str(cds[canon].attrs.get("source_name", canon))
        if name in taken:
            name = STATIC_PREFIX + name if canon.startswith(STATIC_PREFIX) else canon
            while name in taken:  # e.g. a user variable already called "static_z"
                name += "_"
        taken.add(name)
        out[canon] = name
    return out


def source_grid_attrs(lat: np.ndarray, lon: np.ndarray) -> dict:
    """What :func:`uncanonicalize` needs to undo the grid: the user's coordinates as given.

    The order and convention are recorded in words for people reading the attrs; the undo uses
    the values, so even a non-dyadic grid (0.1°) comes back bit for bit.
    """
    step = np.diff(np.asarray(lat, dtype=np.float64))
    order = "descending" if (step < 0).all() else "ascending" if (step > 0).all() else "unordered"
    lo, hi = (float(lon.min()), float(lon.max())) if lon.size else (0.0, 0.0)
    convention = ("[0, 360)" if lo >= 0 and hi < 360 else "[-180, 180)" if lo >= -180 and hi < 180
                  else f"[{lo:g}, {hi:g}]")
    return {"xaurora_lat_order": order, "xaurora_lon_convention": convention,
            "xaurora_source_lat": np.array(lat), "xaurora_source_lon": np.array(lon)}


def uncanonicalize(obj, cds: xr.Dataset):
    """Put a result laid out like ``cds`` back on the user's grid and names, from ``cds.attrs``.

    ``obj`` (Dataset or DataArray) has ``cds``'s ``lat``/``lon`` (or a subset of them): rows,
    columns and pressure levels come back in the user's order with the user's own coordinate
    values (e.g. latitude ascending, longitudes in [-180, 180)); values are only reordered.
    Variables named as in ``cds`` (Aurora's names) get the user's names (:func:`result_names`).
    The user's dataset is not read again: :func:`canonicalize` recorded what is needed in
    ``cds.attrs``.

    >>> import xaurora as xa
    >>> ds = xa.testing.synthetic_dataset(naming="wb2")  # latitude ascending
    >>> cds = xa.canonicalize(ds)
    >>> cds.attrs["xaurora_lat_order"], float(cds.lat[0])
    ('ascending', 90.0)
    >>> back = uncanonicalize(cds[["2t"]], cds)
    >>> list(back.data_vars), bool((back.lat.values == ds.latitude.values).all())
    (['2m_temperature'], True)
    """
    if "xaurora_source_lat" not in cds.attrs:
        raise XauroraError(
            "cds: has no record of the user's grid (attrs xaurora_source_lat/lon). Fix: pass the "
            "Dataset that xaurora.canonicalize returned (its attrs must be kept)."
        )
    lat = np.asarray(cds.attrs["xaurora_source_lat"])
    lon = np.asarray(cds.attrs["xaurora_source_lon"])
    if "lat" in obj.dims:
        lat = lat[np.isin(lat, obj["lat"].values)]
    if "lon" in obj.dims:
        lon = lon[np.isin(np.mod(lon.astype(np.float64), 360.0), obj["lon"].values)]
    out = to_input_grid(obj, lat if "lat" in obj.dims else None, lon if "lon" in obj.dims else None)
    if "xaurora_source_level" in cds.attrs and "level" in out.dims:  # levels read reordered
        order = np.asarray(cds.attrs["xaurora_source_level"])
        out = out.sel(level=order[np.isin(order, out["level"].values)])
    names = result_names(cds)
    if isinstance(out, xr.Dataset):
        return out.rename({k: names[k] for k in map(str, out.data_vars) if k in names})
    return out.rename(names[out.name]) if out.name in names else out


def to_input_grid(obj, lat, lon):
    """Lay a result on the canonical grid out on the grid given by the user's ``lat``/``lon``.

    Values are only reordered: canonical longitudes are the user's wrapped to [0, 360). ``None``
    leaves that dim as it is.
    """
    if lat is not None:
        obj = obj.sel(lat=np.asarray(lat, dtype=obj["lat"].dtype))
        obj = obj.assign_coords(lat=("lat", np.asarray(lat), obj["lat"].attrs))
    if lon is not None:
        obj = obj.sel(lon=np.mod(np.asarray(lon, dtype=np.float64), 360.0))
        obj = obj.assign_coords(lon=("lon", np.asarray(lon), obj["lon"].attrs))
    return obj
