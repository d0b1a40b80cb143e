"""Aurora's lat–lon patch grid as a latent grid (the convention itself lives in ``xaurora.grid``).

>>> import numpy as np
>>> g = Patches.from_input(np.linspace(90, -90, 9), np.arange(0, 360, 45.0), patch_size=4)
>>> g.dims, g.lat.tolist(), g.lon.tolist()
(('lat', 'lon'), [56.25, -33.75], [67.5, 247.5])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import xarray as xr

from xaurora import grid as _grid
from xaurora.grids.base import LatentGrid
from xaurora.io.names import LAT_ATTRS, LON_ATTRS


@dataclass(frozen=True, eq=False)
class Patches(LatentGrid):
    """Patch centres ``lat`` (descending) × ``lon`` of Aurora's ``patch_size`` patches.

    Area weights are cos(latitude) of the patch centre; labels on the input grid are reduced
    by the mean over each patch (after Aurora's crop of the extra latitude row).
    """

    patch_size: int | None
    lat: np.ndarray = field(repr=False)
    lon: np.ndarray = field(repr=False)
    weighting: ClassVar[str] = "cos(latitude)"
    kind: ClassVar[str] = "patches"
    dims: ClassVar[tuple[str, ...]] = ("lat", "lon")

    @classmethod
    def from_input(cls, lat, lon, patch_size: int) -> Patches:
        """The patch grid Aurora cuts from the input grid ``lat``/``lon``."""
        la, lo = _grid.patch_centres(lat, lon, patch_size)
        return cls(int(patch_size), la, lo)

    def coords(self) -> dict:
        return {"lat": ("lat", np.asarray(self.lat), LAT_ATTRS),
                "lon": ("lon", np.asarray(self.lon), LON_ATTRS)}

    def attrs(self) -> dict:
        out = {"latent_grid": self.kind}
        if self.patch_size:
            out["patch_size"] = int(self.patch_size)
        return out

    def area_weights(self, da: xr.DataArray) -> xr.DataArray:
        w = np.cos(np.deg2rad(np.asarray(da["lat"].values, np.float64))).clip(min=0.0)
        w2 = w[:, None] * np.ones((1, da.sizes["lon"]))
        return xr.DataArray(w2 / w2.sum(), dims=("lat", "lon"))

    def _regions_mask(self, da, regions) -> xr.DataArray:
        lat = np.asarray(da["lat"].values, np.float64)
        lon = np.asarray(da["lon"].values, np.float64)
        mask = regions.mask_3D(lon, lat).transpose("region", "lat", "lon")
        return mask.drop_vars(["lat", "lon"])

    def labels(self, labels, da, patch_size=None, what="labels") -> xr.DataArray:
        # The lat–lon reduction (with its checks and messages) is the probe's long-standing one.
        from xaurora.analysis.probe import labels_on_patches

        return labels_on_patches(labels, da, "regression", patch_size or self.patch_size,
                                 what=what)
