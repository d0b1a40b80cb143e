"""How a dataset is read, in words, with every problem at once (``xaurora info``).

The module is not called ``describe``: :mod:`xaurora.io` exports the function of that name, and
a submodule of the same name would be shadowed by it.

>>> import xaurora as xa
>>> text = describe(xa.testing.synthetic_dataset(naming="cds"), model="tiny")
>>> text.splitlines()[0]
'Variables (12):'
>>> PROBLEM in text
False
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from xaurora.grids.patches import patch_centres
from xaurora.io.canonical import canonicalize, classify, rename_dims
from xaurora.io.checks import grid_mismatch, is_lazy, missing_message, value_problems
from xaurora.io.levels import check_levels, level_dim
from xaurora.io.names import STATIC_PREFIX
from xaurora.io.static import released_static
from xaurora.io.uncanonical import result_names
from xaurora.models.registry import get_info
from xaurora.run.times import analysis_times

#: The line that starts the list of problems (the CLI exits non-zero when it is present).
PROBLEM = "Cannot be read as is:"


def describe(ds: xr.Dataset, static=None, timestep_hours: float | None = None,
             model="aurora-0.25-pretrained", check_times: int | None = 4) -> str:
    """A human-readable account of how ``ds`` is read (used by ``xaurora info``).

    Runs the checks that methods running the model run (reading, units, NaNs, pressure levels,
    the variables ``model`` needs, its patch size and training grid) and lists *every* problem
    found, after a line ``Cannot be read as is: N problem(s)``. Values are checked on
    ``check_times`` time steps spread over the data (``None``: all of them).
    """

    info = get_info(model) if isinstance(model, str) else getattr(model, "info", model)
    if timestep_hours is None:
        timestep_hours = info.timestep.total_seconds() / 3600 if info is not None else 6.0
    problems: list[str] = []
    notes: list[str] = []
    raw = rename_dims(ds)
    head = _variables(raw)
    try:
        cds = canonicalize(ds, static=static, check_values=False)
    except ValueError as err:  # say what was understood, then what stops reading it
        problems.append(str(err))
        problems += _values_read_alone(ds, raw, check_times)
        return _with_problems(head, problems, notes)
    if static is None and info is not None and not any(
            str(v).startswith(STATIC_PREFIX) for v in cds.data_vars):
        cds = _with_released_statics(ds, cds, info, problems, notes)
    head += _grid(cds, info, problems, notes)
    if "level" in cds.dims:
        head.append(f"Levels (hPa): {cds['level'].values.tolist()}")
    if "time" in cds.dims:
        head.append(_times(cds, timestep_hours, problems))
    head.append(_statics_line(cds, raw, static))
    head.append(f"Backed by {'Dask (lazy)' if is_lazy(cds) else 'memory'}")
    if info is not None:
        missing = missing_message(cds, info)
        if missing:
            problems.append(missing)
    try:
        check_levels(cds, level_dim(ds))
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


def _variables(raw: xr.Dataset) -> list[str]:
    """The variables, their dims and what each is read as."""
    lines = [f"Variables ({len(raw.data_vars)}):"]
    for name, da in raw.data_vars.items():
        role = classify(str(name), da)
        what = "ignored (not an Aurora input)" if role is None else f"{role[0]:6s} → {role[1]}"
        lines.append(f"  {str(name):28s} {str(tuple(da.dims)):40s} {what}")
    return lines


def _values_read_alone(ds: xr.Dataset, raw: xr.Dataset, check_times) -> list[str]:
    """The value problems of each variable that can be read on its own (when the whole cannot)."""
    problems = []
    for name in raw.data_vars:
        if classify(str(name), raw[name]) is None:
            continue
        try:
            one = canonicalize(ds[[name]], check_values=False)
        except ValueError:
            continue
        for canon in one.data_vars:
            problems += value_problems(_some_times(one[canon], check_times), str(canon))
    return problems


def _with_released_statics(ds, cds, info, problems: list, notes: list) -> xr.Dataset:
    """``cds`` with the checkpoint's released statics when cached, as embed reads it."""
    released = released_static(info)
    if released is None:
        return cds
    try:
        cds = canonicalize(ds, static=released, check_values=False)
    except ValueError as err:
        problems.append(f"{err} (the static fields released with {info.name})")
        return cds
    notes.append(f"Static fields from {info.name}'s released file in the Hugging Face cache.")
    return cds


def _grid(cds: xr.Dataset, info, problems: list, notes: list) -> list[str]:
    """The grid after reading, and the patches of the model's patch size (or of each one)."""
    lat, lon = cds["lat"].values, cds["lon"].values
    lines = ["Grid:",
             f"  lat {lat.size} rows {lat[0]:g} → {lat[-1]:g} (descending after reading)",
             f"  lon {lon.size} cols {lon[0]:g} → {lon[-1]:g} (wrapped to [0, 360))"]
    for p in (4, 10, 3) if info is None else (info.patch_size,):
        try:
            la, lo = patch_centres(lat, lon, p)
            lines.append(f"  patch size {p}: {la.size} × {lo.size} patches")
        except ValueError as e:
            lines.append(f"  patch size {p}: not usable ({str(e).split('.')[0]})")
            if info is not None:
                problems.append(str(e))
    if info is not None:
        mismatch = grid_mismatch(cds, info)
        if mismatch:
            notes.append("Warning: " + mismatch.split(" Fix:")[0])
    return lines


def _times(cds: xr.Dataset, timestep_hours: float, problems: list) -> str:
    t = cds["time"].values
    at = analysis_times(cds, np.timedelta64(int(timestep_hours * 3600), "s"), strict=False)
    iso = [np.datetime_as_string(np.datetime64(x, "m"), unit="m") for x in (t[0], t[-1])]
    if at.size == 0:
        problems.append(f"time: no time step has its previous step t − {timestep_hours:g} h "
                        f"(Aurora needs both). Fix: include consecutive time steps.")
    return (f"Times: {t.size} from {iso[0]} to {iso[1]}; {at.size} have their "
            f"t − {timestep_hours:g} h step (usable analysis times)")


def _statics_line(cds: xr.Dataset, raw: xr.Dataset, static) -> str:
    names = result_names(cds)
    statics = [f"{v} ({cds[v].attrs.get('source_name', v)}"
               + (" from static=" if static is not None and v not in _own_statics(raw) else "")
               + (f", named {names[v]} in results)" if names[v] != cds[v].attrs.get(
                   "source_name", v) else ")")
               for v in cds.data_vars if str(v).startswith(STATIC_PREFIX)]
    return f"Static fields: {', '.join(statics) or 'none (pass static=...)'}"


def _own_statics(raw: xr.Dataset) -> set[str]:
    """Canonical names of the static fields the dataset itself holds."""
    return {c[1] for n in raw.data_vars if (c := classify(str(n), raw[n])) and c[0] == "static"}


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
