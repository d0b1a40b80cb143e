"""The fields a reference encoder reads: one row per (history step, variable, pressure level).

Both reference encoders normalise each field with Aurora's normalisation statistics, fixed
when the encoder is built, so an encoder pickles with everything it needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.io.names import ATMOS_NAMES, STATIC_NAMES, SURFACE_NAMES, UNITS
from xaurora.io.normalisation import norm_stats


@dataclass(frozen=True)
class Fields:
    """Canonical variables, pressure levels and history of an encoder's input."""

    names: tuple[str, ...]          # canonical names, surface/static before atmospheric
    atmos: tuple[bool, ...]
    levels: tuple[int, ...]         # pressure levels (hPa) of the atmospheric variables
    history: int
    loc: np.ndarray                 # (n_fields,) per history step
    scale: np.ndarray

    @classmethod
    def build(cls, variables: Sequence[str], levels: Sequence[int], history: int) -> Fields:
        variables = (variables,) if isinstance(variables, str) else tuple(variables)
        names, atmos = [], []
        for v in variables:
            is_atmos = v in ATMOS_NAMES and v not in SURFACE_NAMES and (
                v not in STATIC_NAMES or bool(levels))
            canon = ATMOS_NAMES[v] if is_atmos else (SURFACE_NAMES.get(v) or STATIC_NAMES.get(v))
            if canon is None:
                raise XauroraError(
                    f"{v}: not a variable xaurora reads. "
                    f"Fix: use e.g. 2t, msl, z, t."
                )
            names.append(canon)
            atmos.append(is_atmos)
        levels = tuple(int(p) for p in levels)
        if any(atmos) and not levels:
            raise XauroraError(
                f"{[v for v, a in zip(variables, atmos) if a]}: atmospheric variables need "
                f"pressure levels. Fix: pass pressure_levels=(500, 850) (the data's levels)."
            )
        loc, scale = [], []
        for n, a in zip(names, atmos):
            for p in levels if a else (None,):
                lo, sc = norm_stats(n, p)
                loc.append(lo)
                scale.append(sc)
        return cls(tuple(names), tuple(atmos), levels if any(atmos) else (), int(history),
                   np.asarray(loc, np.float32), np.asarray(scale, np.float32))

    @property
    def n_fields(self) -> int:
        """Fields per sample: history × (surface variables + atmospheric × levels)."""
        return self.history * self.loc.size

    def stack(self, sample: xr.Dataset, spatial: Sequence[str]) -> np.ndarray:
        """``(n_fields, n_points)`` normalised float32 array of one sample."""
        rows = []
        for n, a in zip(self.names, self.atmos):
            if n not in sample.data_vars:
                raise XauroraError(f"{n}: the reference encoder needs it; the sample lacks it.")
            da = sample[n]
            if a:
                got = [int(p) for p in np.atleast_1d(da["level"].values)]
                if got != list(self.levels):
                    raise XauroraError(
                        f"{da.attrs.get('source_name', n)}: pressure levels {got}, but the "
                        f"encoder was built for {list(self.levels)}. Fix: select those levels "
                        f"(ds.sel(level=[...])) or build the encoder with pressure_levels={got}."
                    )
                da = da.transpose("time", "level", *spatial)
            else:
                da = da.transpose("time", *spatial).expand_dims("level", axis=1)
            rows.append(np.asarray(da.values, np.float32))
        x = np.concatenate(rows, axis=1)              # (history, fields, *spatial)
        bshape = (1, -1) + (1,) * len(spatial)
        x = (x - self.loc.reshape(bshape)) / self.scale.reshape(bshape)
        return x.reshape(self.n_fields, -1)

    def unstack(self, x: np.ndarray, spatial: dict[str, int], coords: dict) -> xr.Dataset:
        """The analysis time's fields (last history step) of ``(n_fields, n_points)`` values.

        ``spatial``: the spatial dims and their sizes; ``coords``: their coordinates.
        """
        shape = list(spatial.values())
        per_step = self.loc.size
        x = x[-per_step:] * self.scale[:, None] + self.loc[:, None]
        out, i = {}, 0
        for n, a in zip(self.names, self.atmos):
            if a:
                k = len(self.levels)
                vals = x[i:i + k].reshape(k, *shape)
                out[n] = xr.DataArray(vals, dims=("level", *spatial), coords={
                    "level": ("level", np.asarray(self.levels), {"units": "hPa"}), **coords},
                    attrs={"units": UNITS.get(n, "")})
            else:
                k = 1
                out[n] = xr.DataArray(x[i].reshape(shape), dims=tuple(spatial), coords=coords,
                                      attrs={"units": UNITS.get(n, "")})
            i += k
        return xr.Dataset(out)
