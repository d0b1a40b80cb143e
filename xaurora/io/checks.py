"""Checks of a canonical dataset: the variables a model needs, their values, the grid.

Every message names the variable as the user does (``attrs["source_name"]``), says what is
wrong and how to fix it. The value checks run eagerly on in-memory data; on Dask data the
callers run them inside the task that reads the values, so a lazy dataset stays lazy.

>>> import xaurora as xa
>>> cds = xa.canonicalize(xa.testing.synthetic_dataset(), check_values=False)
>>> check_values_of(cds["2t"], "2t")  # passes silently
>>> value_problems(cds["2t"] - 273.15, "2t")[0].split(":")[0]
'2t'
"""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.io.names import HINTS, STATIC_PREFIX, UNITS, in_scheme, naming_scheme
from xaurora.io.normalisation import norm_stats
from xaurora.io.tensors import float32_tensor

# A field whose mean lies further than this many normalisation scales from Aurora's
# normalisation location is in the wrong units (°C vs K, hPa vs Pa, m vs m² s⁻²).
MAX_MEAN_Z = 8.0


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


def check_values_of(da: xr.DataArray, name: str, threads: bool = True) -> None:
    """NaN and unit checks of one canonical variable (computes it).

    One pass: a NaN or infinity makes the sum non-finite, so the mean per level checks both the
    units and the missing values; the position of a bad value is only searched for when there
    is one. ``threads=False`` from a thread that runs beside the model (the prefetch thread):
    torch's intra-op pool is shared with the model, so there NumPy reduces instead.
    """
    levels = None
    if "level" in da.dims:  # the index when there is one: no DataArray built
        levels = da.indexes["level"] if "level" in da.indexes else da["level"].values
    times = da["time"].values if "time" in da.dims and "time" in da.coords else None
    check_array(np.asarray(da.values), da.dims, name, da.attrs, levels=levels, times=times,
                threads=threads)


def check_array(values: np.ndarray, dims: tuple, name: str, attrs: dict, levels=None,
                times=None, threads: bool = True) -> None:
    """:func:`check_values_of` on a bare array with its ``dims`` (no DataArray is built).

    ``attrs`` gives the user's name (``source_name``); ``levels`` the hPa of a ``level`` dim
    and ``times`` the times of a ``time`` dim (an error names the time of a bad value).
    """
    src = attrs.get("source_name", name)
    per_level = "level" in dims
    axis = dims.index("level") if per_level else None
    n_lev = values.shape[axis] if per_level else 1
    # a mean per time step and level where time leads (the canonical layout), so that one step
    # in the wrong units is found however many steps are checked together
    per_time = bool(dims) and dims[0] == "time" and axis in (None, 1) and values.ndim > 1
    # viewed as (rows, level, the rest): sums over contiguous memory, no copy
    if per_time:
        shape, over = (values.shape[0], n_lev, -1), (2,)
    elif per_level:
        shape, over = (-1, n_lev, int(np.prod(values.shape[axis + 1 :], dtype=int))), (0, 2)
    else:
        shape, over = (1, 1, -1), (0, 2)
    # float32 sums: the sum of finite ERA5-range values cannot overflow float32, and pairwise
    # (NumPy) or cascade (torch) summation keeps them accurate to far below one normalisation
    # scale; a float64 mean would first convert every value (measured 4× slower)
    if threads:
        sums = float32_tensor(values).reshape(shape).sum(dim=over).double().numpy()
    else:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is handled below
            sums = np.ascontiguousarray(values, dtype=np.float32).reshape(shape).sum(axis=over)
    sums = np.asarray(sums, dtype=np.float64).reshape(-1, n_lev)
    means = sums / max(values.size // max(sums.size, 1), 1)
    if not np.isfinite(means).all():
        if not np.isfinite(values).all():
            raise XauroraError(_nan_message(dims, times, values, src))
        # finite but huge values (fill values such as 9.97e36) overflowed the float32 sum
        means = np.asarray(values.reshape(shape).mean(axis=over, dtype=np.float64))
        means = means.reshape(-1, n_lev)
    stats = [norm_stats(name, lev) for lev in (levels if per_level else [None])]
    loc, scale = (np.array(x, dtype=np.float64) for x in zip(*stats))
    z = (means - loc) / scale
    far = np.argwhere(np.abs(z) > MAX_MEAN_Z)
    if far.size:
        row, i = far[0]
        when = None
        if per_time and times is not None:
            when = str(np.datetime_as_string(np.asarray(times)[row], unit="m"))
        raise XauroraError(_units_message(src, name, levels[i] if per_level else None,
                                          means[row, i], loc[i], z[row, i], when))


def check_read(cds: xr.Dataset, times=None, timestep=None, lazy: bool = True) -> None:
    """NaN and unit checks of the values a model reads from canonical ``cds``.

    With analysis ``times`` (and the model's ``timestep``, Δ) these are, for each variable with
    a time dim, the steps t − Δ and t; a step no analysis time uses is not read, so it is not
    checked (in memory as on Dask, where each step is checked as it is read). Statics are
    checked whole; without ``times``, every value. Neighbouring steps are checked as one block
    (a view of in-memory data). ``lazy=False`` leaves Dask-backed variables alone, for the
    task that reads them: a lazy dataset stays lazy.

    >>> import xaurora as xa
    >>> from datetime import timedelta
    >>> ds = xa.testing.synthetic_dataset(n_times=3)
    >>> ds["2t"][0] = float("nan")  # the first of three steps
    >>> cds = xa.canonicalize(ds, check_values=False)
    >>> six = timedelta(hours=6)
    >>> check_read(cds, cds.time.values[2:], six)  # reads steps 2 and 3 only: passes
    >>> check_read(cds, cds.time.values[1:2], six)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    xaurora.errors.XauroraError: 2t: contains NaN ... at index {'time': '2020-01-01T00:00', ...
    """
    tvalues = cds["time"].values.astype("datetime64[ns]") if "time" in cds.dims else None
    runs = [slice(None)]
    if times is not None and tvalues is not None:
        t = np.asarray(times, dtype="datetime64[ns]")
        step = np.timedelta64(timestep).astype("timedelta64[ns]")
        pos = np.unique(np.searchsorted(tvalues, np.concatenate([t - step, t])))
        # neighbouring steps form one block: one sum per variable and block
        runs = [slice(int(r[0]), int(r[-1]) + 1)
                for r in np.split(pos, np.flatnonzero(np.diff(pos) != 1) + 1) if r.size]
    levels = cds.indexes["level"] if "level" in cds.indexes else None
    for name in cds.data_vars:
        var = cds.variables[name]
        dask = is_lazy(var)
        if dask and not lazy:
            continue
        timed = "time" in var.dims
        whole = None if dask else np.asarray(var.values)  # in memory: views, no isel
        at = (slice(None),) * var.dims.index("time") if timed else ()
        for run in runs if timed else [slice(None)]:
            part = (whole[(*at, run)] if whole is not None
                    else np.asarray(var.isel(time=run).values))  # computes only those steps
            check_array(part, var.dims, str(name), var.attrs,
                        levels=levels if "level" in var.dims else None,
                        times=tvalues[run] if timed else None)


def is_lazy(obj: xr.Dataset | xr.DataArray | xr.Variable) -> bool:
    """Whether ``obj`` is Dask-backed: computed when read.

    A Dataset is lazy when one of its time-dependent data variables is: those are what the
    lazy path splits into one task per time chunk. Dask-backed statics beside in-memory
    dynamic fields (``ds["lsm"].chunk()``, ``static="st.zarr"``) do not make it lazy, since
    there is no time to chunk by (:func:`~xaurora.io.canonical.canonicalize` loads them). A
    Dataset without time-dependent variables is lazy when any data variable is.

    >>> import numpy as np, xarray as xr
    >>> ds = xr.Dataset({"t2m": ("time", np.zeros(2)), "lsm": ("lat", np.zeros(3))})
    >>> is_lazy(ds.assign(lsm=ds.lsm.chunk())), is_lazy(ds.chunk())
    (False, True)
    """
    if isinstance(obj, xr.Dataset):
        variables = [obj.variables[v] for v in obj.data_vars]
        timed = [v for v in variables if "time" in v.dims]
        return any(v.chunks is not None for v in timed or variables)
    return obj.chunks is not None


def _nan_message(dims: tuple, times, values: np.ndarray, src: str) -> str:
    bad = ~np.isfinite(values)
    idx: dict = dict(zip(dims, np.argwhere(bad)[0].tolist()))
    if "time" in idx and times is not None:  # the time itself: data may be checked in pieces
        idx["time"] = str(np.datetime_as_string(np.asarray(times)[idx["time"]], unit="m"))
    return (
        f"{src}: contains NaN or infinite values ({int(bad.sum())} of {bad.size}, first at index "
        f"{idx}). Fix: fill or drop them (Aurora cannot take missing data), e.g. "
        f"ds['{src}'].fillna(...) or select other times; or pass check_values=False if you "
        f"mean it."
    )


def _units_message(src: str, name: str, lev, mean: float, loc: float, z: float,
                   when: str | None = None) -> str:
    at = "" if lev is None else f" at {int(lev)} hPa"
    on = "" if when is None else f" on {when}"
    return (
        f"{src}: values{at} average {mean:.4g}{on}, far from the expected "
        f"≈{loc:.4g} {UNITS.get(name, '')} ({z:+.0f} normalisation scales). "
        f"Fix: {HINTS.get(name, 'convert to ERA5 units')}."
    )


def value_problems(da: xr.DataArray, name: str) -> list[str]:
    """Every problem :func:`check_values_of` would raise for, not only the first (for ``info``).

    >>> import xaurora as xa
    >>> cds = xa.canonicalize(xa.testing.synthetic_dataset(), check_values=False)
    >>> value_problems(cds["2t"], "2t")
    []
    >>> [p.split(":")[0] for p in value_problems(cds["2t"] - 273.15, "2t")]
    ['2t']
    """
    values = np.asarray(da.values, dtype=np.float64)
    src = da.attrs.get("source_name", name)
    out = []
    if not np.isfinite(values).all():
        times = da["time"].values if "time" in da.dims and "time" in da.coords else None
        out.append(_nan_message(da.dims, times, values, src))
    per_level = "level" in da.dims
    levels = da["level"].values if per_level else [None]
    per_time = bool(da.dims) and da.dims[0] == "time"  # as the check: a mean per step and level
    times = da["time"].values if per_time and "time" in da.coords else None
    for i, lev in enumerate(levels):
        sub = np.take(values, i, axis=da.dims.index("level")) if per_level else values
        rows = sub.reshape(sub.shape[0] if per_time else 1, -1)
        finite = np.isfinite(rows)
        count = finite.sum(axis=1)
        means = np.where(finite, rows, 0.0).sum(axis=1) / np.maximum(count, 1)
        loc, scale = norm_stats(name, lev)
        z = (means - loc) / scale
        far = np.flatnonzero((count > 0) & (np.abs(z) > MAX_MEAN_Z))
        if not far.size:
            continue
        when = None
        if times is not None:
            when = str(np.datetime_as_string(np.asarray(times)[far[0]], unit="m"))
            when += f" and {far.size - 1} more steps" if far.size > 1 else ""
        out.append(_units_message(src, name, lev, float(means[far[0]]), loc, float(z[far[0]]),
                                  when))
    return out


class GridWarning(UserWarning):
    """The data's grid differs from the grid the checkpoint was trained on."""


def grid_mismatch(cds: xr.Dataset, info) -> str | None:
    """A warning text when ``cds`` is not on ``info``'s training grid (None when it is).

    The training grid's extra latitude row (721 → 720, which Aurora crops) may be absent.

    >>> import xaurora as xa
    >>> cds = xa.canonicalize(xa.testing.synthetic_dataset(), check_values=False)
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
