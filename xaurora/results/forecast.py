"""Forecasts: Aurora's predictions as a Dataset with the input's names and grid.

>>> import xaurora as xa
>>> ds = xa.testing.synthetic_dataset(n_times=2)
>>> fc = ds.aurora.forecast(xa.load_model("tiny"), steps=2)
>>> fc["2t"].dims
('time', 'lead_time', 'lat', 'lon')
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.io.canonical import canonicalize
from xaurora.io.checks import check_read, warn_grid
from xaurora.io.uncanonical import uncanonicalize
from xaurora.run.edit import as_edits, edit_text
from xaurora.run.hooks import rollout_pass
from xaurora.run.source import make_batch
from xaurora.run.times import batch_slices, select_times


def _arrays(pred) -> dict[str, np.ndarray]:
    arrays = {k: v[:, 0].float().cpu().numpy() for k, v in pred.surf_vars.items()}
    arrays.update({k: v[:, 0].float().cpu().numpy() for k, v in pred.atmos_vars.items()})
    return arrays


def rollout_arrays(module, batch, steps: int, edits=None) -> list[dict[str, np.ndarray]]:
    """Run ``steps`` autoregressive steps; per step a dict of (B, [C,] H', W') arrays.

    Runs under the module's lock (:mod:`xaurora.run.hooks`), with ``edits`` applied in every step.
    """

    return rollout_pass(module, batch, steps, edits=edits, on_pred=_arrays)[0]


def _pad_rows(a: np.ndarray, n_lat: int) -> np.ndarray:
    """Put the row Aurora cropped back as NaN."""
    missing = n_lat - a.shape[-2]
    if missing <= 0:
        return a
    pad = [(0, 0)] * (a.ndim - 2) + [(0, missing), (0, 0)]
    return np.pad(a, pad, constant_values=np.nan)


def forecast(ds: xr.Dataset, model, steps: int = 1, static=None, time=None,
             batch_size: int = 1, check_values: bool = True, edit=None) -> xr.Dataset:
    """Predictions ``steps`` × timestep ahead for every analysis time.

    Variables keep the input's names; dims ``(time, lead_time, [level,] lat, lon)`` on the input
    grid (its latitude order and longitude convention); the cropped latitude row is NaN.
    ``check_values=False`` skips the unit/NaN checks (attrs ``check_values`` = 0).
    ``edit`` (``xa.edit`` objects) changes a layer inside every step's forward pass.
    """
    if steps < 1:
        raise XauroraError(f"steps: must be ≥ 1, got {steps}.")
    if edit is not None:
        edit = as_edits(edit)
    # loaded whole: checked after loading (canonicalize leaves Dask values to their reader)
    cds = canonicalize(ds, static=static, info=model.info, check_values=False).load()
    warn_grid(cds, model)
    times = select_times(cds, model.timestep, time)
    if check_values:
        check_read(cds, times, model.timestep)
    module = model.module
    per_step: list[list[dict]] = [[] for _ in range(steps)]
    for sl in batch_slices(len(times), batch_size):
        batch = make_batch(cds, times[sl], module, model.timestep)
        for i, arrays in enumerate(rollout_arrays(module, batch, steps, edit)):
            per_step[i].append(arrays)
    n_lat = cds.sizes["lat"]
    lead = pd.to_timedelta([model.timestep * (i + 1) for i in range(steps)])
    data = {}
    for name in per_step[0][0]:
        stacked = np.stack(
            [np.concatenate([a[name] for a in per_step[i]], axis=0) for i in range(steps)], axis=1
        )
        stacked = _pad_rows(stacked, n_lat)
        dims = ("time", "lead_time", "level", "lat", "lon") if stacked.ndim == 5 else (
            "time", "lead_time", "lat", "lon")
        attrs = {k: v for k, v in (cds[name].attrs if name in cds else {}).items()
                 if k in ("units", "long_name", "standard_name")}
        data[name] = (dims, stacked.astype(np.float32), attrs)
    coords = {"time": times, "lead_time": lead, "lat": cds["lat"], "lon": cds["lon"]}
    if "level" in cds.coords:
        coords["level"] = cds["level"]
    # the user's names, latitude order and lon convention, as canonicalize recorded them
    out = uncanonicalize(xr.Dataset(data, coords=coords), cds)
    out = out.assign_coords(valid_time=out["time"] + out["lead_time"])
    out.attrs = {**model.provenance(), "timestep_hours": model.timestep.total_seconds() / 3600,
                 "check_values": int(check_values)}
    if edit:
        out.attrs["edit"] = edit_text(edit)
    return out

