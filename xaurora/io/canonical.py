"""Turn any supported ERA5 layout into Aurora's canonical Dataset, failing early and clearly.

Canonical form: Aurora variable names (statics prefixed ``static_``), dims ``time``, ``level``
(int hPa), ``lat`` (descending), ``lon`` ([0, 360) ascending), float32. Each variable keeps its
user-facing name in ``attrs["source_name"]`` so results can be named as in the input. Checks
that need the data (NaNs, units) run eagerly on in-memory data and inside the task on Dask data,
so a lazy dataset stays lazy.

>>> import xaurora as xa
>>> ds = xa.testing.synthetic_dataset(naming="cds")
>>> sorted(canonicalize(ds).data_vars)[:3]
['10u', '10v', '2t']
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.io.names import (
    ATMOS_NAMES,
    DIM_NAMES,
    HINTS,
    STATIC_NAMES,
    STATIC_PREFIX,
    SURFACE_NAMES,
    UNITS,
    in_scheme,
    naming_scheme,
)

# A field whose mean lies further than this many normalisation scales from Aurora's
# normalisation location is in the wrong units (°C vs K, hPa vs Pa, m vs m² s⁻²).
MAX_MEAN_Z = 8.0
PROBLEM = "Cannot be read as is:"


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


def _level_coord(lev: xr.Variable) -> xr.Variable:
    """The canonical ``level`` coordinate (int hPa) of a pressure-level coordinate."""
    units = str(lev.attrs.get("units", "hPa")).lower()
    values = np.asarray(lev.values).astype(np.float64)
    if units in ("pa", "pascal") or values.max() > 1100:
        raise XauroraError(
            f"level: pressure levels look like Pa ({values.tolist()}); xaurora expects hPa. "
            f"Fix: ds = ds.assign_coords(level=ds.level / 100) (and set units='hPa')."
        )
    if not np.allclose(values, np.round(values)):
        raise XauroraError(f"level: non-integer pressure levels {values.tolist()}. Fix: use hPa.")
    return xr.Variable("level", values.round().astype(int), {"units": "hPa"})


def _check_levels(levels, names) -> None:
    from aurora.normalisation import level_to_str, locations

    for v in names:
        bad = [int(p) for p in levels if f"{v}_{level_to_str(p)}" not in locations]
        if bad:
            ok = sorted({int(k.split("_")[1]) for k in locations if k.startswith(f"{v}_")
                         and k.split("_")[1].isdigit()})
            raise XauroraError(
                f"{v}: pressure level(s) {bad} hPa are not supported (Aurora has normalisation "
                f"statistics only for {ok}). Fix: ds.sel(level={ok}) or interpolate."
            )


def canonicalize(ds: xr.Dataset, static=None, info=None, check_values: bool = True) -> xr.Dataset:
    """Read ``ds`` (Aurora, ECMWF/CDS or WeatherBench2 names) into the canonical Aurora layout.

    ``static`` (Dataset, DataArray or path) supplies or overrides static fields. ``info`` (a
    registry entry) restricts the check to the variables the model needs.
    """
    if isinstance(ds, xr.DataArray):
        raise XauroraError(
            "dataset: got a DataArray; Aurora needs several variables. Fix: pass an xr.Dataset."
        )
    ds = _rename_dims(ds)
    _check_grid(ds)
    lat_order, wrapped, lon_order = _grid_order(ds)
    # Built from xarray Variables and assembled into a Dataset once: every intermediate
    # Dataset or DataArray would re-align the coordinates (this runs on every call of embed,
    # forecast, relevance: measured 10 ms → 2 ms on a 1° dataset)
    # canon → (variable, source name, kind: surf, atmos, static or "given" with static=)
    picked: dict[str, tuple[xr.Variable, str, str]] = {}
    for name in ds.data_vars:
        var = ds.variables[name]
        role = _classify(str(name), var)
        if role is None:
            continue
        kind, canon = role
        if canon in picked:
            raise XauroraError(
                f"{name}: maps to Aurora's '{canon}', which another variable "
                f"({picked[canon][1]}) already provides. Fix: drop one of them."
            )
        if kind == "static" and "time" in var.dims:
            var = var.isel(time=0)  # static fields do not vary; ERA5 files carry one time
        picked[canon] = (var, str(name), kind)
    extra_coords: dict[str, xr.Variable] = {}
    if static is not None or (info is not None and not any(k == "static" for _, _, k in
                                                            picked.values())):
        extra = _statics(static, info)
        if extra.data_vars:
            _check_grid(extra)
            lat = ds["lat"].values if lat_order is None else ds["lat"].values[lat_order]
            lon = wrapped if lon_order is None else wrapped[lon_order]
            extra = _on_grid(_normalise_lon(extra), lat, lon)
        for canon in extra.data_vars:
            da = _squeeze_time(extra[canon], str(canon))
            extra_coords.update({c: da.coords[c].variable for c in da.coords
                                 if c not in da.dims and c not in ds.coords})
            picked[str(canon)] = (da.variable.copy(deep=False), da.attrs["source_name"],
                                  "given")  # already on the canonical grid
    if not picked:
        raise XauroraError(
            f"dataset: none of the variables {list(ds.data_vars)} is an Aurora input. Fix: use "
            f"ERA5 names (t2m/2t/2m_temperature, msl, u10, v10, z, u, v, t, q, lsm, slt)."
        )
    cds = _assemble(ds, picked, extra_coords, lat_order, wrapped, lon_order)
    if "time" in cds.dims:
        if np.any(np.diff(cds["time"].values) < np.timedelta64(0)):
            cds = cds.sortby("time")
        t = cds["time"].values
        if np.unique(t).size != t.size:
            raise XauroraError(
                "time: repeated time stamps. Fix: ds.drop_duplicates('time')."
            )
    atmos = [v for v in cds.data_vars if "level" in cds.variables[v].dims]
    if atmos:
        _check_levels(cds["level"].values, atmos)
    if info is not None:
        require(cds, info)
    if check_values:
        for name in cds.data_vars:
            if not _is_lazy(cds.variables[name]):
                check_values_of(cds[name], str(name))
    return cds


def _statics(static, info) -> xr.Dataset:
    """Static fields passed with ``static=``, else the checkpoint's released ones if cached."""
    if static is None:
        from xaurora.io.static import released_static

        static = released_static(info)  # the checkpoint's own statics, if cached
    return _static_from(static)


def _assemble(ds: xr.Dataset, picked: dict, extra_coords: dict, lat_order, wrapped,
              lon_order) -> xr.Dataset:
    """The canonical Dataset from the picked variables: canonical dim order, float32, lat
    descending, lon in [0, 360) ascending, int hPa levels, attrs with source name and units."""
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
        coords["level"] = _level_coord(ds.variables["level"])
    return xr.Dataset(variables, coords=coords)


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


def _is_lazy(da: xr.DataArray | xr.Variable) -> bool:
    return da.chunks is not None


def require(cds: xr.Dataset, info) -> None:
    """Raise if a variable the model needs is missing, naming it in the user's naming scheme."""
    problem = missing_message(cds, info)
    if problem:
        raise XauroraError(problem)
    bad = [v for v in info.atmos_vars if "level" not in cds[v].dims]
    if bad:
        raise XauroraError(
            f"{bad}: atmospheric variables need a pressure-level dim. "
            f"Fix: add level."
        )


def missing_message(cds: xr.Dataset, info) -> str | None:
    """The missing-variable problem of ``cds`` for the model ``info`` (None when complete).

    Missing variables are named in the scheme the dataset uses (a CDS file is told ``t2m``,
    not Aurora's ``2t``).
    """
    need = [*info.surf_vars, *info.atmos_vars, *(STATIC_PREFIX + v for v in info.static_vars)]
    missing = [v for v in need if v not in cds.data_vars]
    if not missing:
        return None
    scheme = naming_scheme(cds[v].attrs.get("source_name", v) for v in cds.data_vars)
    names = [in_scheme(v, scheme) + (" (static)" if v.startswith(STATIC_PREFIX) else "")
             for v in missing]
    return (
        f"dataset: missing variable(s) {names} needed by {info.name} (named as in the "
        f"{scheme} scheme your dataset uses). Fix: add them under an Aurora, ECMWF/CDS or "
        f"WeatherBench2 name; static fields can be passed with static= (a Dataset or a "
        f"netCDF path), or come from the checkpoint's released statics "
        f"(xaurora.io.static.released_static(info, download=True) caches them)."
    )


def norm_stats(var: str, level: int | None = None) -> tuple[float, float]:
    """Aurora's normalisation (location, scale) for a canonical variable name."""
    from aurora.normalisation import level_to_str, locations, scales

    key = var.removeprefix(STATIC_PREFIX)
    if level is not None:
        key = f"{key}_{level_to_str(level)}"
    return float(locations[key]), float(scales[key])


def check_values_of(da: xr.DataArray, name: str, threads: bool = True) -> None:
    """NaN and unit checks of one canonical variable (computes it).

    One pass: a NaN or infinity makes the sum non-finite, so the mean per level checks both the
    units and the missing values; the position of a bad value is only searched for when there
    is one. ``threads=False`` from a thread that runs beside the model (the prefetch thread):
    torch's intra-op pool is shared with the model, so there NumPy reduces instead.
    """
    values = np.asarray(da.values)
    src = da.attrs.get("source_name", name)
    per_level = "level" in da.dims
    axis = da.dims.index("level") if per_level else None
    reduce = tuple(i for i in range(values.ndim) if i != axis)
    count = max(values.size // (values.shape[axis] if per_level else 1), 1)
    # float32 sums: the sum of finite ERA5-range values cannot overflow float32, and pairwise
    # (NumPy) or cascade (torch) summation keeps them accurate to far below one normalisation
    # scale; a float64 mean would first convert every value (measured 4× slower)
    if threads:
        import torch

        with warnings.catch_warnings():  # read-only arrays (netCDF-backed) are only read
            warnings.simplefilter("ignore", UserWarning)
            tensor = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))
        sums = tensor.sum(dim=reduce).double().numpy() if reduce else tensor.double().numpy()
    else:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is handled below
            sums = np.asarray(values, dtype=np.float32).sum(axis=reduce, dtype=np.float32)
    means = np.atleast_1d(np.asarray(sums, dtype=np.float64) / count)
    if not np.isfinite(means).all():
        if not np.isfinite(values).all():
            raise XauroraError(_nan_message(da, values, src))
        # finite but huge values (fill values such as 9.97e36) overflowed the float32 sum
        means = np.atleast_1d(values.mean(axis=reduce, dtype=np.float64))
    levels = da["level"].values if per_level else [None]
    for mean, lev in zip(means, levels):
        loc, scale = norm_stats(name, lev)
        z = (mean - loc) / scale
        if abs(z) > MAX_MEAN_Z:
            raise XauroraError(_units_message(src, name, lev, mean, loc, z))


def _nan_message(da: xr.DataArray, values: np.ndarray, src: str) -> str:
    bad = ~np.isfinite(values)
    idx: dict = dict(zip(da.dims, np.argwhere(bad)[0].tolist()))
    if "time" in idx and "time" in da.coords:  # the time itself: data may be checked in pieces
        idx["time"] = str(np.datetime_as_string(da["time"].values[idx["time"]], unit="m"))
    return (
        f"{src}: contains NaN or infinite values ({int(bad.sum())} of {bad.size}, first at index "
        f"{idx}). Fix: fill or drop them (Aurora cannot take missing data), e.g. "
        f"ds['{src}'].fillna(...) or select other times; or pass check_values=False if you "
        f"mean it."
    )


def _units_message(src: str, name: str, lev, mean: float, loc: float, z: float) -> str:
    at = "" if lev is None else f" at {int(lev)} hPa"
    return (
        f"{src}: values{at} average {mean:.4g}, far from the expected "
        f"≈{loc:.4g} {UNITS.get(name, '')} ({z:+.0f} normalisation scales). "
        f"Fix: {HINTS.get(name, 'convert to ERA5 units')}."
    )


def value_problems(da: xr.DataArray, name: str) -> list[str]:
    """Every problem :func:`check_values_of` would raise for, not only the first (for ``info``).

    >>> import xaurora as xa
    >>> cds = canonicalize(xa.testing.synthetic_dataset(), check_values=False)
    >>> value_problems(cds["2t"], "2t")
    []
    >>> [p.split(":")[0] for p in value_problems(cds["2t"] - 273.15, "2t")]
    ['2t']
    """
    values = np.asarray(da.values, dtype=np.float64)
    src = da.attrs.get("source_name", name)
    out = []
    if not np.isfinite(values).all():
        out.append(_nan_message(da, values, src))
    per_level = "level" in da.dims
    levels = da["level"].values if per_level else [None]
    for i, lev in enumerate(levels):
        sub = np.take(values, i, axis=da.dims.index("level")) if per_level else values
        sub = sub[np.isfinite(sub)]
        if not sub.size:
            continue
        mean = float(sub.mean())
        loc, scale = norm_stats(name, lev)
        z = (mean - loc) / scale
        if abs(z) > MAX_MEAN_Z:
            out.append(_units_message(src, name, lev, mean, loc, z))
    return out


class GridWarning(UserWarning):
    """The data's grid differs from the grid the checkpoint was trained on."""


def grid_mismatch(cds: xr.Dataset, info) -> str | None:
    """A warning text when ``cds`` is not on ``info``'s training grid (None when it is).

    The training grid's extra latitude row (721 → 720, which Aurora crops) may be absent.

    >>> import xaurora as xa
    >>> cds = canonicalize(xa.testing.synthetic_dataset(), check_values=False)
    >>> grid_mismatch(cds, xa.MODELS["aurora-0.25-pretrained"])[:68]
    'grid: the data are on a 33 × 64 grid (5.625° × 5.625°), but aurora-0'
    >>> "trained on 721 × 1440 (0.25°)" in grid_mismatch(cds, xa.MODELS["aurora-0.25-pretrained"])
    True
    """
    if getattr(info, "grid", None) is None:  # a user module (xa.from_module): grid unknown
        return None
    n_lat, n_lon = cds.sizes["lat"], cds.sizes["lon"]
    t_lat, t_lon = info.grid
    if n_lon == t_lon and n_lat in (t_lat, t_lat - 1):
        return None
    lat, lon = cds["lat"].values, cds["lon"].values
    dlat = float(np.abs(np.diff(lat)).mean()) if lat.size > 1 else float("nan")
    dlon = float(np.diff(lon).mean()) if lon.size > 1 else float("nan")
    return (
        f"grid: the data are on a {n_lat} × {n_lon} grid ({dlat:.4g}° × {dlon:.4g}°), but "
        f"{info.name} was trained on {t_lat} × {t_lon} ({info.resolution:g}°). Aurora runs on "
        f"any grid whose size divides by the patch size, but its weights only know the "
        f"training grid: results on another grid are out of distribution. Fix: regrid to the "
        f"{info.resolution:g}° global grid, or silence this with warnings.filterwarnings("
        f"'ignore', category=xaurora.io.canonical.GridWarning) if you mean it."
    )


def warn_grid(cds: xr.Dataset, model, stacklevel: int = 3) -> None:
    """Warn (:class:`GridWarning`) when a trained model runs on another grid than its own."""
    if getattr(model, "random_weights", True):  # random weights were never trained on a grid
        return
    text = grid_mismatch(cds, model.info)
    if text:
        warnings.warn(text, GridWarning, stacklevel=stacklevel)


def input_grid(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The user's latitude and longitude values, in the user's order and convention."""
    raw = _rename_dims(ds)
    return raw["lat"].values, raw["lon"].values


def to_input_grid(obj, lat, lon):
    """Lay a result on the canonical grid out on the user's grid (order and lon convention).

    Values are only reordered: canonical longitudes are the user's wrapped to [0, 360).
    """
    wrapped = np.mod(np.asarray(lon, dtype=np.float64), 360.0)
    out = obj.sel(lat=np.asarray(lat, dtype=obj["lat"].dtype), lon=wrapped)
    return out.assign_coords(
        lat=("lat", np.asarray(lat), obj["lat"].attrs),
        lon=("lon", np.asarray(lon), obj["lon"].attrs),
    )


def describe(ds: xr.Dataset, static=None, timestep_hours: float | None = None,
             model="aurora-0.25-pretrained", check_times: int | None = 4) -> str:
    """A human-readable account of how ``ds`` is read (used by ``xaurora info``).

    Runs the checks that methods running the model run (reading, units, NaNs, pressure levels,
    the variables ``model`` needs, its patch size and training grid) and lists *every* problem
    found, after a line ``Cannot be read as is: N problem(s)``. Values are checked on
    ``check_times`` time steps spread over the data (``None``: all of them).
    """
    from xaurora.models.registry import get_info

    info = get_info(model) if isinstance(model, str) else getattr(model, "info", model)
    if timestep_hours is None:
        timestep_hours = info.timestep.total_seconds() / 3600 if info is not None else 6.0
    lines, problems, notes = [], [], []
    raw = _rename_dims(ds)
    for name, da in raw.data_vars.items():
        role = _classify(str(name), da)
        what = "ignored (not an Aurora input)" if role is None else f"{role[0]:6s} → {role[1]}"
        lines.append(f"  {str(name):28s} {str(tuple(da.dims)):40s} {what}")
    head = [f"Variables ({len(raw.data_vars)}):", *lines]
    try:
        cds = canonicalize(ds, static=static, check_values=False)
    except ValueError as err:  # say what was understood, then what stops reading it
        problems.append(str(err))
        for name in raw.data_vars:  # the values of each variable that can be read alone
            if _classify(str(name), raw[name]) is None:
                continue
            try:
                one = canonicalize(ds[[name]], check_values=False)
            except ValueError:
                continue
            for canon in one.data_vars:
                problems += value_problems(_some_times(one[canon], check_times), str(canon))
        return _with_problems(head, problems, notes)
    if static is None and info is not None and not any(
            str(v).startswith(STATIC_PREFIX) for v in cds.data_vars):
        from xaurora.io.static import released_static

        released = released_static(info)  # as embed does: the checkpoint's statics, if cached
        if released is not None:
            try:
                cds = canonicalize(ds, static=released, check_values=False)
                notes.append(f"Static fields from {info.name}'s released file in the Hugging "
                             f"Face cache.")
            except ValueError as err:
                problems.append(f"{err} (the static fields released with {info.name})")
    head.append("Grid:")
    lat, lon = cds["lat"].values, cds["lon"].values
    head.append(f"  lat {lat.size} rows {lat[0]:g} → {lat[-1]:g} (descending after reading)")
    head.append(f"  lon {lon.size} cols {lon[0]:g} → {lon[-1]:g} (wrapped to [0, 360))")
    from xaurora.grid import patch_centres

    sizes = (4, 10, 3) if info is None else (info.patch_size,)
    for p in sizes:
        try:
            la, lo = patch_centres(lat, lon, p)
            head.append(f"  patch size {p}: {la.size} × {lo.size} patches")
        except ValueError as e:
            head.append(f"  patch size {p}: not usable ({str(e).split('.')[0]})")
            if info is not None:
                problems.append(str(e))
    if info is not None:
        mismatch = grid_mismatch(cds, info)
        if mismatch:
            notes.append("Warning: " + mismatch.split(" Fix:")[0])
    if "level" in cds.dims:
        head.append(f"Levels (hPa): {cds['level'].values.tolist()}")
    if "time" in cds.dims:
        from xaurora.batch import analysis_times

        t = cds["time"].values
        at = analysis_times(cds, np.timedelta64(int(timestep_hours * 3600), "s"), strict=False)
        iso = [np.datetime_as_string(np.datetime64(x, "m"), unit="m") for x in (t[0], t[-1])]
        head.append(f"Times: {t.size} from {iso[0]} to {iso[1]}; {at.size} have their "
                    f"t − {timestep_hours:g} h step (usable analysis times)")
        if at.size == 0:
            problems.append(f"time: no time step has its previous step t − {timestep_hours:g} h "
                            f"(Aurora needs both). Fix: include consecutive time steps.")
    names = result_names(cds)
    statics = [f"{v} ({cds[v].attrs.get('source_name', v)}"
               + (" from static=" if static is not None and v not in _own_statics(raw) else "")
               + (f", named {names[v]} in results)" if names[v] != cds[v].attrs.get(
                   "source_name", v) else ")")
               for v in cds.data_vars if str(v).startswith(STATIC_PREFIX)]
    head.append(f"Static fields: {', '.join(statics) or 'none (pass static=...)'}")
    lazy = any(cds.variables[v].chunks is not None for v in cds.data_vars)
    head.append(f"Backed by {'Dask (lazy)' if lazy else 'memory'}")
    if info is not None:
        missing = missing_message(cds, info)
        if missing:
            problems.append(missing)
    try:
        atmos = [v for v in cds.data_vars if "level" in cds.variables[v].dims]
        if atmos:
            _check_levels(cds["level"].values, atmos)
    except ValueError as err:
        problems.append(str(err))
    else:
        n_t = cds.sizes.get("time", 0)
        if check_times is not None and n_t > check_times:
            notes.append(f"Values (units, NaN) checked at {check_times} of {n_t} time steps; "
                         f"embed checks every step it reads.")
        for v in cds.data_vars:
            problems += value_problems(_some_times(cds[v], check_times), str(v))
    return _with_problems(head, problems, notes)


def _own_statics(raw: xr.Dataset) -> set[str]:
    """Canonical names of the static fields the dataset itself holds."""
    return {c[1] for n in raw.data_vars if (c := _classify(str(n), raw[n])) and c[0] == "static"}


def _some_times(da: xr.DataArray, n: int | None) -> xr.DataArray:
    if n is None or "time" not in da.dims or da.sizes["time"] <= n:
        return da
    return da.isel(time=np.unique(np.linspace(0, da.sizes["time"] - 1, n).round().astype(int)))


def _with_problems(head: list[str], problems: list[str], notes: list[str]) -> str:
    out = [*head, *notes]
    if problems:
        out.append(f"{PROBLEM} {len(problems)} problem(s):")
        out += [f"  {i}. {p}" for i, p in enumerate(problems, 1)]
    return "\n".join(out)
