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
from xaurora.io.checks import (  # noqa: F401  (re-exported: imported from here elsewhere)
    MAX_MEAN_Z,
    SMALL_CHECK_BYTES,
    GridWarning,
    check_values_of,
    grid_mismatch,
    missing_message,
    require,
    value_problems,
    warn_grid,
)
from xaurora.io.names import (
    ATMOS_NAMES,
    DIM_NAMES,
    STATIC_NAMES,
    STATIC_PREFIX,
    SURFACE_NAMES,
    UNITS,
)
from xaurora.io.normalisation import has_stats, levels_with_stats

# Names that lived here before the checks and ``describe`` got modules of their own; other
# modules import them from here.
_MOVED = {"describe": "xaurora.io.description", "PROBLEM": "xaurora.io.description"}


def __getattr__(name: str):
    # describe imports this module: re-exported on first use, so that there is no import cycle
    if name in _MOVED:
        from importlib import import_module

        return getattr(import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _rename_dims(ds: xr.Dataset) -> xr.Dataset:
    mapping = {k: v for k, v in DIM_NAMES.items() if k in ds.variables or k in ds.dims}
    mapping = {k: v for k, v in mapping.items() if k != v}
    clash = [v for v in set(mapping.values()) if list(mapping.values()).count(v) > 1]
    if clash:
        raise XauroraError(
            f"coordinates: more than one coordinate maps to {clash}. Fix: keep one of "
            f"{[k for k, v in mapping.items() if v in clash]}."
        )
    return ds.rename(mapping)


def _classify(name: str, da: xr.DataArray) -> tuple[str, str] | None:
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
        from xaurora.io.static import load_static

        static = load_static(static)
    if isinstance(static, xr.DataArray):
        static = static.to_dataset()
    out = _rename_dims(static)
    renamed = {}
    for name in out.data_vars:
        if name in STATIC_NAMES:
            renamed[name] = STATIC_PREFIX + STATIC_NAMES[name]
    return out[list(renamed)].rename(renamed).assign(
        **{v: out[k].assign_attrs(source_name=k) for k, v in renamed.items()}
    )


def _on_grid(static: xr.Dataset, ds: xr.Dataset) -> xr.Dataset:
    """Put static fields on the dataset's grid, which they must match to 1e-4°."""
    for c in ("lat", "lon"):
        a, b = static[c].values, ds[c].values
        if a.size != b.size or not np.allclose(a, b, atol=1e-4):
            raise XauroraError(
                f"static: the {c} grid of the static fields ({a.size} values, {a[0]:g} … "
                f"{a[-1]:g}) differs from the dataset's ({b.size}, {b[0]:g} … {b[-1]:g}). "
                f"Fix: regrid the static fields to the dataset grid."
            )
    return static.assign_coords(lat=ds["lat"].values, lon=ds["lon"].values)


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


def _normalise_lon(ds: xr.Dataset) -> xr.Dataset:
    lon = ds["lon"].values.astype(np.float64)
    wrapped = np.mod(lon, 360.0)
    if np.unique(np.round(wrapped, 6)).size != lon.size:
        raise XauroraError(
            "longitude: some longitudes coincide after wrapping to [0, 360) (e.g. both -180 "
            "and 180). Fix: drop the duplicated column."
        )
    ds = ds.assign_coords(lon=("lon", wrapped, {"units": "degrees_east"}))
    # sortby copies every variable: only reorder what is out of order
    if np.any(np.diff(wrapped) <= 0):
        ds = ds.sortby("lon")
    if np.any(np.diff(ds["lat"].values) >= 0):
        ds = ds.sortby("lat", ascending=False)
    return ds


def _normalise_levels(ds: xr.Dataset) -> xr.Dataset:
    if "level" not in ds.dims:
        return ds
    lev = ds["level"]
    units = str(lev.attrs.get("units", "hPa")).lower()
    values = lev.values.astype(np.float64)
    if units in ("pa", "pascal") or values.max() > 1100:
        raise XauroraError(
            f"level: pressure levels look like Pa ({values.tolist()}); xaurora expects hPa. "
            f"Fix: ds = ds.assign_coords(level=ds.level / 100) (and set units='hPa')."
        )
    if not np.allclose(values, np.round(values)):
        raise XauroraError(f"level: non-integer pressure levels {values.tolist()}. Fix: use hPa.")
    return ds.assign_coords(level=("level", values.round().astype(int), {"units": "hPa"}))


def _check_levels(levels, names) -> None:
    for v in names:
        bad = [int(p) for p in levels if not has_stats(v, p)]
        if bad:
            ok = levels_with_stats(v)
            raise XauroraError(
                f"{v}: pressure level(s) {bad} hPa are not supported (Aurora has normalisation "
                f"statistics only for {ok}). Fix: ds.sel(level={ok}) or interpolate."
            )


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
    ds = _rename_dims(ds)
    _check_grid(ds)
    undo = _source_grid(ds["lat"].values, ds["lon"].values)
    ds = _normalise_lon(ds)
    out: dict[str, xr.DataArray] = {}
    for name, da in ds.data_vars.items():
        role = _classify(str(name), da)
        if role is None:
            continue
        kind, canon = role
        if canon in out:
            raise XauroraError(
                f"{name}: maps to Aurora's '{canon}', which another variable "
                f"({out[canon].attrs['source_name']}) already provides. Fix: drop one of them."
            )
        if kind == "static":
            da = _squeeze_time(da, str(name))
        out[canon] = da.assign_attrs(source_name=str(name))
    extra = _static_from(static)
    if static is None and info is not None and not any(
        _classify(str(n), ds[n]) and _classify(str(n), ds[n])[0] == "static"
        for n in ds.data_vars
    ):
        from xaurora.io.static import released_static

        released = released_static(info)  # the checkpoint's own statics, if cached
        if released is not None:
            extra = _static_from(released)
    if extra.data_vars:
        _check_grid(extra)
        extra = _on_grid(_normalise_lon(extra), ds)
    for canon in extra.data_vars:
        out[str(canon)] = _squeeze_time(extra[canon], str(canon))
    if not out:
        raise XauroraError(
            f"dataset: none of the variables {list(ds.data_vars)} is an Aurora input. Fix: use "
            f"ERA5 names (t2m/2t/2m_temperature, msl, u10, v10, z, u, v, t, q, lsm, slt)."
        )
    cds = xr.Dataset(out)
    cds = _normalise_levels(cds)
    variables = {}
    for name, da in cds.data_vars.items():
        extra_dims = set(da.dims) - {"time", "level", "lat", "lon"}
        if extra_dims:
            raise XauroraError(
                f"{da.attrs['source_name']}: unexpected dimension(s) {sorted(extra_dims)}. "
                f"Fix: select one value, e.g. ds.isel({sorted(extra_dims)[0]}=0)."
            )
        order = [d for d in ("time", "level", "lat", "lon") if d in da.dims]
        attrs = dict(da.attrs, units=UNITS.get(str(name), da.attrs.get("units", "")))
        var = da.variable.transpose(*order).astype(np.float32, copy=False)
        variables[name] = xr.Variable(var.dims, var.data, attrs)
    # built in one go: assigning variables one by one re-merges the dataset each time
    cds = xr.Dataset(variables, coords=cds.coords, attrs=undo)
    if "time" in cds.dims:
        if np.any(np.diff(cds["time"].values) < np.timedelta64(0)):
            cds = cds.sortby("time")
        t = cds["time"].values
        if np.unique(t).size != t.size:
            raise XauroraError(
                "time: repeated time stamps. Fix: ds.drop_duplicates('time')."
            )
    atmos = [v for v in cds.data_vars if "level" in cds[v].dims]
    if atmos:
        _check_levels(cds["level"].values, atmos)
    if info is not None:
        require(cds, info)
    if check_values:
        for name in cds.data_vars:
            if not _is_lazy(cds[name]):
                check_values_of(cds[name], str(name))
    return cds


def result_names(cds: xr.Dataset) -> dict[str, str]:
    """The name each canonical variable gets in a result (relevance, forecast, ``info``).

    A variable keeps the user's own name (``attrs["source_name"]``). Names must never collide:
    ECMWF/CDS calls both the atmospheric geopotential and the surface geopotential (a static
    field, often in its own file passed as ``static=``) ``z``. Dynamic variables keep the
    user's name; a static field whose name is taken gets the ``static_`` prefix (``static_z``)
    and keeps its own name in ``attrs["source_name"]``.

    >>> import xaurora as xa
    >>> ds = xa.testing.synthetic_dataset(naming="cds", with_static=False)
    >>> cds = canonicalize(ds, static=xa.testing.synthetic_static())
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


def _is_lazy(da: xr.DataArray) -> bool:
    return da.chunks is not None


def _source_grid(lat: np.ndarray, lon: np.ndarray) -> dict:
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

    ``obj`` (Dataset or DataArray) has ``cds``'s ``lat``/``lon`` (or a subset of them): rows and
    columns come back in the user's order with the user's own coordinate values (e.g. latitude
    ascending, longitudes in [-180, 180)); values are only reordered. Variables named as in
    ``cds`` (Aurora's names) get the user's names (:func:`result_names`). The user's dataset is
    not read again: :func:`canonicalize` recorded what is needed in ``cds.attrs``.

    >>> import xaurora as xa
    >>> ds = xa.testing.synthetic_dataset(naming="wb2")  # latitude ascending
    >>> cds = canonicalize(ds)
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
