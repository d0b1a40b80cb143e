"""Turn any supported ERA5 layout into Aurora's canonical Dataset, failing early and clearly.

Canonical form: Aurora variable names (statics prefixed ``static_``), dims ``time``, ``level``
(int hPa), ``lat`` (descending), ``lon`` ([0, 360) ascending), float32. Each variable keeps its
user-facing name in ``attrs["source_name"]`` so results can be named as in the input, and the
dataset records the user's grid in its attrs (``xaurora_source_lat``/``xaurora_source_lon``, and
in words ``xaurora_lat_order``/``xaurora_lon_convention``), so :func:`uncanonicalize` puts results
back on it without reading the input again. Checks that need the data (NaNs, units) run eagerly
on in-memory data and inside the task on Dask data, so a lazy dataset stays lazy.

>>> import xaurora as xa
>>> ds = xa.testing.synthetic_dataset(naming="cds")
>>> sorted(canonicalize(ds).data_vars)[:3]
['10u', '10v', '2t']
"""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.io.checks import (
    check_read,
    is_lazy,
    require,
)
from xaurora.io.levels import check_levels, check_no_level, level_coord, level_dim
from xaurora.io.names import (
    ATMOS_NAMES,
    DIM_NAMES,
    STATIC_NAMES,
    STATIC_PREFIX,
    SURFACE_NAMES,
    TIME_NAMES,
    UNITS,
)
from xaurora.io.static import load_static, released_static
from xaurora.io.uncanonical import source_grid_attrs


def one_time_axis(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with one of ``time``/``valid_time`` when it has both: the dimension is the time axis.

    cfgrib gives a ``time`` dim with a ``valid_time`` coordinate, the CDS's netCDF a
    ``valid_time`` dim with a scalar ``time``. The other one is dropped: without checks when
    it is a scalar (the reference time of a file), else only when it holds the same times, so
    that forecast steps (cfgrib's ``valid_time = time + step``) are never silently taken for
    analysis times. When neither is a dim, ``time`` is kept.

    >>> import numpy as np, xarray as xr
    >>> t = np.array(["2020-01-01T00", "2020-01-01T06"], dtype="datetime64[ns]")
    >>> grib = xr.Dataset(coords={"time": t, "valid_time": ("time", t)})
    >>> list(one_time_axis(grib).coords)
    ['time']
    >>> cds = xr.Dataset(coords={"valid_time": t, "time": t[0]})
    >>> list(one_time_axis(cds).coords)
    ['valid_time']
    """
    names = TIME_NAMES[:2]  # ("time", "valid_time")
    if not all(n in ds.variables or n in ds.dims for n in names):
        return ds
    dims = [n for n in names if n in ds.dims]
    if len(dims) == 2:
        raise XauroraError(
            "time: the dataset has both a 'time' and a 'valid_time' dimension (forecasts: "
            "reference time × valid time). Fix: select the analysis times you mean, e.g. "
            "ds.isel(time=0), so that one time dimension remains."
        )
    axis = dims[0] if dims else "time"
    other = names[1] if axis == names[0] else names[0]
    var = ds.variables[other]
    if var.ndim == 0:
        return ds.drop_vars(other)
    same = (var.dims == (axis,) and axis in ds.variables
            and np.array_equal(np.asarray(var.values), np.asarray(ds.variables[axis].values)))
    if same:
        return ds.drop_vars(other)
    steps = [str(d) for d in var.dims if d != axis]  # e.g. cfgrib's forecast step
    swap = f"swap_dims({axis}='{other}').drop_vars('{axis}')"
    if var.dims == (axis,) and axis in ds.dims:
        fix = f"ds = ds.drop_vars('{other}') to use {axis}, or ds = ds.{swap} to use {other}"
    elif axis in var.dims and len(steps) == 1:
        fix = (f"take one {steps[0]} and its {other} as the time axis, e.g. "
               f"ds = ds.isel({steps[0]}=0).{swap}, or ds = ds.drop_vars('{other}') to use "
               f"{axis}")
    else:
        fix = f"ds = ds.drop_vars('{other}') to use {axis}, or select the times you mean"
    raise XauroraError(
        f"{other}: differs from the time axis '{axis}' (dims {var.dims}, {var.size} values): "
        f"xaurora takes the dimension as the time axis and drops the other only when both "
        f"hold the same times. Fix: {fix}."
    )


def rename_dims(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with its time, level, lat and lon dims under the canonical names (one time axis)."""
    ds = one_time_axis(ds)
    mapping = {k: v for k, v in DIM_NAMES.items() if k in ds.variables or k in ds.dims}
    mapping = {k: v for k, v in mapping.items() if k != v}
    clash = [v for v in set(mapping.values()) if list(mapping.values()).count(v) > 1]
    if clash:
        raise XauroraError(
            f"coordinates: more than one coordinate maps to {clash}. Fix: keep one of "
            f"{[k for k, v in mapping.items() if v in clash]}."
        )
    return ds.rename(mapping) if mapping else ds  # rename({}) still copies every variable


def classify(name: str, da: xr.DataArray) -> tuple[str, str] | None:
    """(role, aurora name) of a variable, or None if xaurora does not read it."""
    if "level" in da.dims and name in ATMOS_NAMES:
        return "atmos", ATMOS_NAMES[name]
    if name in SURFACE_NAMES:
        return "surf", SURFACE_NAMES[name]
    if name in STATIC_NAMES and "level" not in da.dims:
        return "static", STATIC_PREFIX + STATIC_NAMES[name]
    return None


def _static_from(static) -> xr.Dataset:
    if static is None:
        return xr.Dataset()
    if isinstance(static, (str, os.PathLike)):
        static = load_static(static)
    if isinstance(static, xr.DataArray):
        static = static.to_dataset()
    for name in static.data_vars:
        if name in STATIC_NAMES:
            check_no_level(static, str(name), "static", STATIC_PREFIX + STATIC_NAMES[name],
                      given=True)
    out = rename_dims(static)
    renamed = {}
    for name in out.data_vars:
        if name in STATIC_NAMES:
            renamed[name] = STATIC_PREFIX + STATIC_NAMES[name]
    return out[list(renamed)].rename(renamed).assign(
        **{v: out[k].assign_attrs(source_name=k) for k, v in renamed.items()}
    )


def _on_grid(static: xr.Dataset, lat: np.ndarray, lon: np.ndarray) -> xr.Dataset:
    """Put static fields on the dataset's (canonical) grid, which they must match to 1e-4°."""
    for c, b in (("lat", lat), ("lon", lon)):
        a = static[c].values
        if a.size != b.size or not np.allclose(a, b, atol=1e-4):
            raise XauroraError(
                f"static: the {c} grid of the static fields ({a.size} values, {a[0]:g} … "
                f"{a[-1]:g}) differs from the dataset's ({b.size}, {b[0]:g} … {b[-1]:g}). "
                f"Fix: regrid the static fields to the dataset grid."
            )
    return static.assign_coords(lat=lat, lon=lon)


def _squeeze_time(da: xr.DataArray, name: str) -> xr.DataArray:
    if "time" in da.dims:
        da = da.isel(time=0, drop=True)  # static fields do not vary; ERA5 files carry one time
    elif "time" in da.coords:
        da = da.drop_vars("time")
    return da


def _check_grid(ds: xr.Dataset) -> None:
    for dim in ("lat", "lon"):
        if dim not in ds.dims:
            raise XauroraError(
                f"grid: no '{dim}' dimension (found dims {tuple(ds.dims)}). Fix: name the grid "
                f"dims latitude/lat and longitude/lon."
            )
    lat = ds["lat"].values
    if np.any(np.abs(lat) > 90):
        raise XauroraError(
            "latitude: values outside [-90, 90]. "
            "Fix: check the latitude coordinate."
        )
    if np.unique(lat).size != lat.size:
        raise XauroraError("latitude: repeated values. Fix: remove duplicate rows.")


def _grid_order(ds: xr.Dataset) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None]:
    """Canonical lat/lon order: (lat positions or None, wrapped longitudes, lon positions or None).

    Positions are None when already in order (no variable needs reordering, so none is copied).
    """
    lon = ds["lon"].values.astype(np.float64)
    wrapped = np.mod(lon, 360.0)
    if np.unique(np.round(wrapped, 6)).size != lon.size:
        raise XauroraError(
            "longitude: some longitudes coincide after wrapping to [0, 360) (e.g. both -180 "
            "and 180). Fix: drop the duplicated column."
        )
    lon_order = np.argsort(wrapped, kind="stable") if np.any(np.diff(wrapped) <= 0) else None
    lat = ds["lat"].values
    lat_order = np.argsort(-lat, kind="stable") if np.any(np.diff(lat) >= 0) else None
    return lat_order, wrapped, lon_order


def _normalise_lon(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with longitudes in [0, 360) ascending and latitudes descending."""
    lat_order, wrapped, lon_order = _grid_order(ds)
    ds = ds.assign_coords(lon=("lon", wrapped, {"units": "degrees_east"}))
    if lon_order is not None:
        ds = ds.isel(lon=lon_order)
    return ds if lat_order is None else ds.isel(lat=lat_order)


def canonicalize(ds: xr.Dataset, static=None, info=None, check_values: bool = True) -> xr.Dataset:
    """Read ``ds`` (Aurora, ECMWF/CDS or WeatherBench2 names) into the canonical Aurora layout.

    ``static`` (Dataset, DataArray or path) supplies or overrides static fields. ``info`` (a
    registry entry) restricts the check to the variables the model needs. The attrs record how
    to undo the reading (see :func:`uncanonicalize`).
    """
    if isinstance(ds, xr.DataArray):
        raise XauroraError(
            "dataset: got a DataArray; Aurora needs several variables. Fix: pass an xr.Dataset."
        )
    user_level_dim = level_dim(ds)  # the user's names, for messages
    raw = ds
    ds = rename_dims(ds)
    _check_grid(ds)
    lat_order, wrapped, lon_order = _grid_order(ds)
    # Built from xarray Variables and assembled into a Dataset once: every intermediate
    # Dataset or DataArray would re-align the coordinates, and this runs on every call of
    # embed, forecast and relevance.
    picked = _pick(ds, raw)
    extra_coords: dict[str, xr.Variable] = {}
    if static is not None or (info is not None and not any(k == "static" for _, _, k in
                                                            picked.values())):
        lat = ds["lat"].values if lat_order is None else ds["lat"].values[lat_order]
        lon = wrapped if lon_order is None else wrapped[lon_order]
        extra_coords = _pick_statics(_statics(static, info), lat, lon, ds, picked)
    if not picked:
        raise XauroraError(
            f"dataset: none of the variables {list(ds.data_vars)} is an Aurora input. Fix: use "
            f"ERA5 names (t2m/2t/2m_temperature, msl, u10, v10, z, u, v, t, q, lsm, slt)."
        )
    cds = _assemble(ds, picked, extra_coords, lat_order, wrapped, lon_order)
    # how to undo the reading (uncanonicalize): the user's coordinates as given
    cds.attrs = source_grid_attrs(ds.variables["lat"].values, ds.variables["lon"].values)
    cds = _in_order(cds)
    check_levels(cds, user_level_dim)
    cds = _load_statics(cds)
    if info is not None:
        require(cds, info)
    if check_values:  # every value in memory; Dask values are checked by the task reading them
        check_read(cds, lazy=False)
    return cds


def _pick(ds: xr.Dataset, raw: xr.Dataset) -> dict[str, tuple[xr.Variable, str, str]]:
    """canonical name → (variable, the user's name, kind: surf, atmos or static) of the
    variables of ``ds`` (dims renamed) that Aurora reads; ``raw`` is the user's own ``ds``."""
    picked: dict[str, tuple[xr.Variable, str, str]] = {}
    for name in ds.data_vars:
        var = ds.variables[name]
        role = classify(str(name), var)
        if role is None and name in STATIC_NAMES:  # a static field with a level dim
            check_no_level(raw, str(name), "static", STATIC_PREFIX + STATIC_NAMES[name])
        if role is None:
            continue
        kind, canon = role
        if kind in ("surf", "static"):
            check_no_level(raw, str(name), kind, canon)
        if canon in picked:
            raise XauroraError(
                f"{name}: maps to Aurora's '{canon}', which another variable "
                f"({picked[canon][1]}) already provides. Fix: drop one of them."
            )
        if kind == "static" and "time" in var.dims:
            var = var.isel(time=0)  # static fields do not vary; ERA5 files carry one time
        picked[canon] = (var, str(name), kind)
    return picked


def _pick_statics(extra: xr.Dataset, lat, lon, ds: xr.Dataset, picked: dict) -> dict:
    """Add the static fields of ``extra`` (from ``static=`` or the checkpoint's), put on the
    canonical grid ``lat``/``lon``, to ``picked`` (kind ``given``); their extra coordinates."""
    extra_coords: dict[str, xr.Variable] = {}
    if extra.data_vars:
        _check_grid(extra)
        extra = _on_grid(_normalise_lon(extra), lat, lon)
    for canon in extra.data_vars:
        da = _squeeze_time(extra[canon], str(canon))
        extra_coords.update({c: da.coords[c].variable for c in da.coords
                             if c not in da.dims and c not in ds.coords})
        picked[str(canon)] = (da.variable.copy(deep=False), da.attrs["source_name"],
                              "given")  # already on the canonical grid
    return extra_coords


def _in_order(cds: xr.Dataset) -> xr.Dataset:
    """Times and pressure levels ascending; repeated times are an error."""
    if "time" in cds.dims:
        if np.any(np.diff(cds["time"].values) < np.timedelta64(0, "ns")):
            cds = cds.sortby("time")
        t = cds["time"].values
        if np.unique(t).size != t.size:
            raise XauroraError(
                "time: repeated time stamps. Fix: ds.drop_duplicates('time')."
            )
    if "level" in cds.dims and np.any(np.diff(cds["level"].values) < 0):
        # one order whatever the file's: Aurora's sums over levels then give the same latents to
        # the last bit for the same data however it is stored (from 1000 hPa up differs by
        # round-off otherwise); the user's order is recorded, and results go back to it
        order = cds["level"].values.copy()
        cds = cds.sortby("level")
        cds.attrs["xaurora_source_level"] = order
    return cds


def _load_statics(cds: xr.Dataset) -> xr.Dataset:
    """``cds`` with Dask-backed statics loaded when its time-dependent fields are in memory.

    Such a dataset is read in memory (:func:`~xaurora.io.checks.is_lazy`: there is no time to
    chunk by), and in-memory values are checked before the model runs; a static is one small
    field.
    """
    timed = [v for v in cds.data_vars if "time" in cds.variables[v].dims]
    if not timed or is_lazy(cds):
        return cds
    dask = [v for v in cds.data_vars if cds.variables[v].chunks is not None]
    return cds.assign({v: cds[v].load() for v in dask}) if dask else cds


def _statics(static, info) -> xr.Dataset:
    """Static fields passed with ``static=``, else the checkpoint's released ones if cached."""
    if static is None:
        static = released_static(info)  # the checkpoint's own statics, if cached
    return _static_from(static)


def _assemble(ds: xr.Dataset, picked: dict, extra_coords: dict, lat_order, wrapped,
              lon_order) -> xr.Dataset:
    """The canonical Dataset from the picked variables: canonical dim order, float32, lat
    descending, lon in [0, 360) ascending, int hPa levels ascending, attrs with source name and
    units."""
    dims_used = {d for var, _, _ in picked.values() for d in var.dims}
    reorder = {k: v for k, v in (("lat", lat_order), ("lon", lon_order)) if v is not None}
    variables = {}
    for name, (var, source, kind) in picked.items():
        extra_dims = set(var.dims) - {"time", "level", "lat", "lon"}
        if extra_dims:
            raise XauroraError(
                f"{source}: unexpected dimension(s) {sorted(extra_dims)}. "
                f"Fix: select one value, e.g. ds.isel({sorted(extra_dims)[0]}=0)."
            )
        order = [d for d in ("time", "level", "lat", "lon") if d in var.dims]
        index = {d: i for d, i in reorder.items() if d in var.dims and kind != "given"}
        if index:
            var = var.isel(index)
        attrs = dict(var.attrs, source_name=source)
        attrs["units"] = UNITS.get(name, attrs.get("units", ""))
        if tuple(order) != var.dims:
            var = var.transpose(*order)
        data = var.data if var.dtype == np.float32 else var.astype(np.float32).data
        variables[name] = xr.Variable(var.dims, data, attrs)
    coords: dict[str, xr.Variable] = {}
    dynamic = any(kind not in ("static", "given") for _, _, kind in picked.values())
    for c in ds.coords:
        var = ds.variables[c]
        if c in ("lat", "lon", "level") or not set(var.dims) <= dims_used:
            continue
        if c == "time" and not dynamic:  # statics alone carry no time
            continue
        coords[str(c)] = var.isel({d: i for d, i in reorder.items() if d in var.dims})
    coords.update(extra_coords)
    lat = ds.variables["lat"]
    coords["lat"] = lat if lat_order is None else lat.isel(lat=lat_order)
    lon = wrapped if lon_order is None else wrapped[lon_order]
    coords["lon"] = xr.Variable("lon", lon, {"units": "degrees_east"})
    if "level" in dims_used:
        coords["level"] = level_coord(ds.variables["level"])
    return xr.Dataset(variables, coords=coords)
