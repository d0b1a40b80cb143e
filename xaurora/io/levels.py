"""Pressure levels: the level dim as the user names it, its canonical coordinate, and the checks.

A surface or static field must not have a level dim, levels must be whole hPa (not Pa), and
every atmospheric variable must be on levels Aurora has normalisation statistics for; each
error names the variable and the dim as the user names them.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.io.names import LEVEL_NAMES, STATIC_PREFIX
from xaurora.io.normalisation import has_stats, levels_with_stats

__all__ = ["check_levels", "check_no_level", "level_coord", "level_dim"]


def level_dim(ds: xr.Dataset) -> str:
    """The user's name of the pressure-level dim (``level`` if there is none)."""
    return next((str(d) for d in ds.dims if d in LEVEL_NAMES), "level")


def check_no_level(ds: xr.Dataset, name: str, kind: str, canon: str, given: bool = False) -> None:
    """Raise if the surface or static variable ``name`` of the user's ``ds`` has a level dim.

    Named as the user names the variable and the dim: Aurora reads a surface or static field
    as one (lat, lon) field per time, and a level dim there is a mix-up (pressure-level
    geopotential passed as the surface one, a field selected from a pressure-level file).
    """
    dims = [str(d) for d in ds[name].dims if d in LEVEL_NAMES]
    if not dims:
        return
    dim = dims[0]
    where = "static=" if given else "ds"
    values = np.asarray(ds[name][dim].values).tolist() if dim in ds[name].coords else None
    what = f"a pressure-level dim '{dim}'" + ("" if values is None else f" ({values} hPa)")
    if kind == "static" and canon == STATIC_PREFIX + "z":
        fix = (f"pass the surface geopotential (ERA5's invariant 'z', WeatherBench2's "
               f"'geopotential_at_surface', in m² s⁻²) as {name}, not the geopotential on "
               f"pressure levels")
        role = "the surface geopotential, a static 2-D (lat, lon) field"
    else:
        fix = (f"select one level or drop the dim, e.g. {where}['{name}'] = "
               f"{where}['{name}'].isel({dim}=0, drop=True)")
        role = ("a surface variable, one (lat, lon) field per time" if kind == "surf"
                else "a static 2-D (lat, lon) field")
    raise XauroraError(
        f"{name}{' (static=)' if given else ''}: has {what} but is {role} (Aurora's "
        f"'{canon.removeprefix(STATIC_PREFIX)}'). Fix: {fix}."
    )


def level_coord(lev: xr.Variable) -> xr.Variable:
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


def check_levels(cds: xr.Dataset, level_dim: str = "level") -> None:
    """Raise if a variable of ``cds`` is on a level Aurora has no normalisation for.

    Named as the user names the variable (``source_name``) and its level dim (``level_dim``);
    the fix selects the dataset's levels that Aurora knows.
    """
    if "level" not in cds.dims:
        return
    levels = cds["level"].values
    for v in cds.data_vars:
        if "level" not in cds.variables[v].dims:
            continue
        bad = [int(p) for p in levels if not has_stats(str(v), p)]
        if bad:
            ok = levels_with_stats(str(v))
            keep = [int(p) for p in levels if int(p) in ok]
            src = cds.variables[v].attrs.get("source_name", v)
            fix = "interpolate to the supported levels" + (
                f", or keep those you have: ds.sel({level_dim}={keep})" if keep else "")
            raise XauroraError(
                f"{src}: pressure level(s) {bad} hPa are not supported (Aurora has "
                f"normalisation statistics for {src} only at {ok} hPa). Fix: {fix}."
            )
