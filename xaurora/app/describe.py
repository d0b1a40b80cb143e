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
from xaurora.io.canonical import _check_levels, _classify, _level_dim, _rename_dims, canonicalize
from xaurora.io.checks import grid_mismatch, is_lazy, missing_message, value_problems
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
    lazy = is_lazy(cds)
    head.append(f"Backed by {'Dask (lazy)' if lazy else 'memory'}")
    if info is not None:
        missing = missing_message(cds, info)
        if missing:
            problems.append(missing)
    try:
        _check_levels(cds, _level_dim(ds))
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
