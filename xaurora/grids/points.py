"""Mesh nodes (e.g. an icosphere) as a latent grid, in the given order.

>>> g = Points(lat=[0.0, 10.0], lon=[-10.0, 20.0])
>>> g.n_cells, g.lon.tolist(), g.weights.tolist()
(2, [350.0, 20.0], [0.5, 0.5])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.grids.base import CellGrid


@dataclass(frozen=True, eq=False)
class Points(CellGrid):
    """Latent values on points with centres ``lat``/``lon``; ``cell_ids`` are 0 … n − 1.

    ``weights`` (e.g. each node's Voronoi area) weigh the points in ``pool``; by default equal.
    Embeddings carry them as the ``cell_weight`` coordinate, so the grid travels with the data.
    """

    lat: np.ndarray
    lon: np.ndarray
    weights: np.ndarray | None = field(default=None)
    weighting: ClassVar[str] = "cell_weight"
    kind: ClassVar[str] = "points"
    precedence: ClassVar[int] = 1

    @classmethod
    def recognise(cls, da) -> Points | None:
        if "cells" in da.dims and "lat" in da.coords and "lon" in da.coords:
            w = da["cell_weight"].values if "cell_weight" in da.coords else None
            return cls(da["lat"].values, da["lon"].values, w)
        return None

    def __post_init__(self) -> None:
        lat = np.asarray(self.lat, dtype=np.float64).ravel()
        lon = np.mod(np.asarray(self.lon, dtype=np.float64).ravel(), 360.0)
        if lat.size != lon.size or lat.size == 0:
            raise XauroraError(
                f"Points: lat and lon must be non-empty and of equal length, got {lat.size} and "
                f"{lon.size}. Fix: pass one latitude and one longitude per mesh node."
            )
        if np.any(np.abs(lat) > 90):
            raise XauroraError("Points: latitudes outside [-90, 90]. Fix: check the lat values.")
        w = np.full(lat.size, 1.0) if self.weights is None else np.asarray(
            self.weights, dtype=np.float64).ravel()
        if w.size != lat.size or np.any(~np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise XauroraError("Points: weights must be ≥ 0, not all 0, one per point.")
        object.__setattr__(self, "lat", lat)
        object.__setattr__(self, "lon", lon)
        object.__setattr__(self, "weights", w / w.sum())

    @property
    def n_cells(self) -> int:
        return int(self.lat.size)

    @property
    def cell_ids(self) -> np.ndarray:
        return np.arange(self.n_cells, dtype=np.int64)

    def cell_ids_attrs(self) -> dict:
        return {"grid_name": "points", "long_name": "mesh node index"}

    def coords(self) -> dict:
        w = ("cells", self.weights, {"long_name": "area weight of the mesh node",
                                          "units": "1"})
        return self.cell_coords(self.lat, self.lon, {"cell_weight": w})

    def area_weights(self, da: xr.DataArray) -> xr.DataArray:
        if "cell_weight" in da.coords:
            w = np.asarray(da["cell_weight"].values, np.float64)
        else:
            w = np.ones(da.sizes["cells"])
        return xr.DataArray(w / w.sum(), dims="cells")

    def __repr__(self) -> str:
        return f"Points(n={self.n_cells})"
