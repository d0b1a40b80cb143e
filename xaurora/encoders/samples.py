"""Reading for an :class:`~xaurora.encoders.Encoder` and one sample per analysis time.

The seam shared by ``embed`` and the autoencoder analyses.

>>> import numpy as np, xaurora as xa
>>> from datetime import timedelta
>>> cds = xa.canonicalize(xa.testing.synthetic_dataset(n_times=3))
>>> enc = xa.Encoder(lambda s: np.zeros((48, 1)), grid=xa.grids.HEALPix(1),
...                  variables=("2t", "msl"), history=2, timestep=timedelta(hours=6))
>>> t = encoder_times(cds, enc)
>>> t.size, sample_at(cds, enc, t[0])["2t"].dims
(2, ('time', 'lat', 'lon'))
>>> hp = xr.Dataset({"t2m": (("time", "cells"), np.zeros((1, 12)))},
...                 coords={"cell_ids": ("cells", np.arange(12))})
>>> list(read_for(hp, enc).data_vars)
['2t']
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pandas as pd
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.io.canonical import canonicalize, one_time_axis
from xaurora.io.names import (
    ATMOS_NAMES,
    CELL_DIM,
    CELL_IDS,
    DIM_NAMES,
    STATIC_NAMES,
    STATIC_PREFIX,
    SURFACE_NAMES,
)
from xaurora.io.static import load_static


def read_for(ds: xr.Dataset, enc, static=None, check_values: bool = True) -> xr.Dataset:
    """``ds`` read for ``enc``: canonical names; lat–lon grids canonicalised, ``cells`` kept.

    A dataset on HEALPix cells (a ``cells`` dim with a ``cell_ids`` coordinate) keeps its cells
    in the given order; variables get Aurora names (statics prefixed ``static_``). ``static``
    (a Dataset, DataArray or path) supplies or overrides static fields, as for lat–lon input:
    on cells it must hold the same cells, matched by ``cell_ids`` (any order) or, without
    ids, by position; a singleton time dim (ERA5 static files carry one) is dropped.
    """
    if "cells" not in ds.dims:
        return canonicalize(ds, static=static, check_values=check_values)

    ds = one_time_axis(ds)  # cfgrib's and the CDS's time + valid_time, as on lat–lon grids
    ds = ds.rename({k: v for k, v in DIM_NAMES.items() if k in ds.dims and k != v})
    # xarray Variables, assembled into one Dataset at the end (every DataArray built on the
    # way would re-align the coordinates: this runs on every call of embed)
    out: dict[str, xr.Variable] = {}
    for name in ds.data_vars:
        n, var = str(name), ds.variables[name]
        if "level" in var.dims and n in ATMOS_NAMES:
            canon = ATMOS_NAMES[n]
        elif n in SURFACE_NAMES:
            canon = SURFACE_NAMES[n]
        elif n in STATIC_NAMES and "level" not in var.dims:
            canon = STATIC_PREFIX + STATIC_NAMES[n]
        else:
            continue
        data = var.data if var.dtype == np.float32 else var.astype(np.float32).data
        out[canon] = xr.Variable(var.dims, data, {**var.attrs, "source_name": n})
    used = {d for v in out.values() for d in v.dims}
    coords = {c: ds.variables[c] for c in ds.coords if set(ds.variables[c].dims) <= used}
    cds = xr.Dataset(out, coords=coords)
    statics = _cell_statics(static, ds)
    return cds.assign(statics) if statics else cds


def _cell_statics(static, ds: xr.Dataset) -> dict[str, xr.DataArray]:
    """Static fields from ``static`` on ``ds``'s cells, under their ``static_`` names."""
    if static is None:
        return {}
    if isinstance(static, (str, os.PathLike)):
        static = load_static(static)
    if isinstance(static, xr.DataArray):
        static = static.to_dataset(name=static.name or "static")
    if not isinstance(static, xr.Dataset):
        raise TypeError(
            f"static: expected an xr.Dataset, xr.DataArray or a path, got {type(static).__name__}."
        )
    static = static.rename({k: v for k, v in DIM_NAMES.items() if k in static.dims and k != v})
    if CELL_DIM not in static.dims:
        raise XauroraError(
            f"static: the dataset is on {CELL_DIM!r} (HEALPix or mesh cells) but the static "
            f"fields have dims {tuple(static.dims)}. Fix: pass static fields on the same cells "
            f"(a {CELL_DIM!r} dim with {CELL_IDS!r}), or add them to the dataset."
        )
    static = static.isel({CELL_DIM: _cell_positions(static, ds)})
    static = static.drop_vars([c for c in static.coords if CELL_DIM in static[c].dims])
    static = static.assign_coords({c: ds[c].variable for c in ds.coords
                                   if ds[c].dims == (CELL_DIM,)})
    out = {}
    for name, da in static.data_vars.items():
        n = str(name)
        if n not in STATIC_NAMES or "level" in da.dims:
            continue
        if "time" in da.dims:
            da = da.isel(time=0, drop=True)  # static fields do not vary
        da = da.drop_vars([c for c in da.coords if c == "time"])
        out[STATIC_PREFIX + STATIC_NAMES[n]] = da.astype("float32", copy=False).assign_attrs(
            source_name=n)
    if not out:
        raise XauroraError(
            f"static: none of {sorted(map(str, static.data_vars))} is a static field. Fix: pass "
            f"a dataset holding e.g. lsm/land_sea_mask, z/geopotential_at_surface, slt."
        )
    return out


def _cell_positions(static: xr.Dataset, ds: xr.Dataset) -> np.ndarray:
    """Position in ``static`` of each of ``ds``'s cells (by ``cell_ids``, else by position)."""
    n, m = ds.sizes[CELL_DIM], static.sizes[CELL_DIM]
    if CELL_IDS not in static.coords or CELL_IDS not in ds.coords:
        if n != m:
            raise XauroraError(
                f"static: has {m} cells but the dataset has {n}, and one of them has no "
                f"{CELL_IDS!r} coordinate to match them by. Fix: add {CELL_IDS} (xdggs layout)."
            )
        return np.arange(n)
    keys = ("grid_name", "level", "indexing_scheme")
    a, b = static[CELL_IDS].attrs, ds[CELL_IDS].attrs
    differ = [k for k in keys if k in a and k in b and str(a[k]) != str(b[k])]
    if differ:
        raise XauroraError(
            f"static: its cells are on {', '.join(f'{k}={a[k]}' for k in differ)} but the "
            f"dataset's on {', '.join(f'{k}={b[k]}' for k in differ)}. Fix: pass static fields "
            "on the dataset's grid."
        )
    own, theirs = ds[CELL_IDS].values, static[CELL_IDS].values
    order = np.argsort(theirs)
    pos = np.searchsorted(theirs, own, sorter=order).clip(max=max(m - 1, 0))
    found = theirs[order[pos]] == own
    if not found.all():
        raise XauroraError(
            f"static: lacks {int((~found).sum())} of the dataset's cells (first: cell id "
            f"{own[~found][0]}). Fix: pass static fields that cover every cell of the dataset."
        )
    return order[pos]


def step_of(enc) -> np.timedelta64:
    if enc.timestep is None:
        return np.timedelta64(0, "ns")
    return np.timedelta64(int(enc.timestep.total_seconds()), "s").astype("timedelta64[ns]")


def encoder_times(cds: xr.Dataset, enc, time=None) -> np.ndarray:
    """Analysis times t of ``cds`` whose ``history − 1`` earlier steps are all present."""
    t = cds["time"].values.astype("datetime64[ns]")
    ok = np.ones(t.size, dtype=bool)
    for k in range(1, int(enc.history)):
        ok &= np.isin(t - k * step_of(enc), t)
    out = t[ok]
    if time is not None:
        if isinstance(time, slice):
            sel = cds["time"].sel(time=time).values.astype("datetime64[ns]")
        else:
            sel = np.atleast_1d(pd.to_datetime(time).to_numpy()).astype("datetime64[ns]")
        out = out[np.isin(out, sel)]
    if out.size == 0:
        raise XauroraError(
            f"time: no analysis time has its {int(enc.history) - 1} earlier step(s) "
            f"{enc.timestep} apart in the dataset. Fix: include the earlier steps."
        )
    return out


def input_names(cds: xr.Dataset, enc) -> list[str]:
    """Names in ``cds`` of the encoder's variables (statics under their ``static_`` name)."""
    names = []
    for v in enc.canonical_variables:
        if v in cds.data_vars:
            names.append(v)
        elif STATIC_PREFIX + v in cds.data_vars:
            names.append(STATIC_PREFIX + v)
        else:
            raise XauroraError(
                f"{v}: the encoder {enc.name!r} needs it but the dataset lacks it. Fix: add it "
                "under an Aurora, ECMWF/CDS or WeatherBench2 name, or drop it from variables=."
            )
    return names


def sample_at(cds: xr.Dataset, enc, t) -> xr.Dataset:
    """The encoder's input for analysis time ``t``: its variables, ``time`` of length history."""
    return next(samples_at(cds, enc, [t]))


def samples_at(cds: xr.Dataset, enc, times) -> Iterator[xr.Dataset]:
    """:func:`sample_at` for each of ``times``; the variable selection is made once."""
    names = input_names(cds, enc)
    statics = {n: n.removeprefix(STATIC_PREFIX) for n in names if n.startswith(STATIC_PREFIX)}
    base = cds[names].rename(statics) if statics else cds[names]
    tv = cds["time"].values.astype("datetime64[ns]") if "time" in cds.dims else None
    back = np.arange(int(enc.history) - 1, -1, -1) * step_of(enc)
    for t in times:
        if tv is None:
            yield base
            continue
        t = np.datetime64(t, "ns")
        want = t - back
        # positions instead of labels: 4x faster than .sel, and a slice (a view) when the
        # history steps are consecutive, which is what keeps embed's overhead small
        pos = np.searchsorted(tv, want)
        if pos.max() >= tv.size or not np.array_equal(tv[pos], want):
            raise XauroraError(f"time: {t} or its history steps are not in the dataset.")
        sel = slice(int(pos[0]), int(pos[-1]) + 1) if np.all(np.diff(pos) == 1) else pos
        yield base.isel(time=sel)
