"""Which times a model can run at: history pairs found by time value, and batches of them.

Aurora reads two steps, t − Δ and t. Pairs are found by time *value*, so hourly or irregular
data works and a time without its previous step is skipped.

>>> import xaurora as xa, numpy as np
>>> cds = xa.canonicalize(xa.testing.synthetic_dataset(n_times=3))
>>> analysis_times(cds, np.timedelta64(6, "h")).size
2
>>> batch_slices(5, 2)
[slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import xarray as xr

from xaurora.errors import XauroraError


def as_timedelta64(step) -> np.timedelta64:
    if isinstance(step, timedelta):
        step = np.timedelta64(int(step.total_seconds()), "s")
    return np.timedelta64(step).astype("timedelta64[ns]")


def analysis_times(cds: xr.Dataset, timestep, strict: bool = True) -> np.ndarray:
    """Times t of ``cds`` whose previous step t − ``timestep`` is also present."""
    if "time" not in cds.dims:
        raise XauroraError(
            "time: the dataset has no time dimension. Fix: Aurora needs two times, t − Δ and t "
            "(name the dim time or valid_time)."
        )
    t = cds["time"].values.astype("datetime64[ns]")
    prev = t - as_timedelta64(timestep).astype("timedelta64[ns]")
    ok = t[np.isin(prev, t)]
    if strict and ok.size == 0:
        hours = as_timedelta64(timestep) / np.timedelta64(1, "h")
        raise XauroraError(
            f"time: no time t in the dataset has its previous step t − {hours:g} h (Aurora needs "
            f"both). Times present: {[str(x)[:16] for x in t[:5]]}{'…' if t.size > 5 else ''}. "
            f"Fix: include the {hours:g} h earlier step of each analysis time."
        )
    return ok


def select_times(cds: xr.Dataset, timestep, time=None) -> np.ndarray:
    """Analysis times, restricted to ``time`` (a value, list or slice) when given."""
    ok = analysis_times(cds, timestep)
    if time is None:
        return ok
    if isinstance(time, slice):
        sel = cds["time"].sel(time=time).values.astype("datetime64[ns]")
        out = ok[np.isin(ok, sel)]
    else:
        want = np.atleast_1d(pd.to_datetime(time).to_numpy()).astype("datetime64[ns]")
        missing = want[~np.isin(want, ok)]
        if missing.size:
            raise XauroraError(
                f"time: {[str(m)[:16] for m in missing]} cannot be used (absent, or its t − Δ "
                f"step is absent). Fix: choose from {[str(x)[:16] for x in ok[:5]]}…"
            )
        out = want
    if out.size == 0:
        raise XauroraError(f"time: no usable analysis time in {time}. Fix: widen the selection.")
    return out


def batch_slices(n: int, batch_size: int) -> list[slice]:
    """Consecutive slices of at most ``batch_size`` items covering ``range(n)``."""
    if batch_size < 1:
        raise XauroraError(f"batch_size: must be ≥ 1, got {batch_size}.")
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
