"""Aurora called directly, without xaurora: the independent side of the tests' comparisons."""

from __future__ import annotations

import numpy as np
import torch
from aurora import Batch, Metadata


def direct_batch(ds, t_index: int):
    """An aurora.Batch built by hand from the Aurora-named dataset (independent of xaurora)."""
    sl = slice(t_index - 1, t_index + 1)

    def surf(v):
        return torch.from_numpy(ds[v].isel(time=sl).values[None].astype(np.float32))

    return Batch(
        surf_vars={v: surf(v) for v in ("2t", "10u", "10v", "msl")},
        static_vars={"lsm": torch.from_numpy(ds["lsm"].values), "slt": torch.from_numpy(
            ds["slt"].values), "z": torch.from_numpy(ds["geopotential_at_surface"].values)},
        atmos_vars={v: surf(v) for v in ("z", "u", "v", "t", "q")},
        metadata=Metadata(
            lat=torch.tensor(ds.lat.values), lon=torch.tensor(ds.lon.values),
            time=(ds.time.to_index()[t_index].to_pydatetime(),),
            atmos_levels=tuple(int(p) for p in ds.level.values),
        ),
    )
