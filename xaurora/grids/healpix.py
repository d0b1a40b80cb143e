"""HEALPix cells as a latent grid (geometry from healpy; xdggs conventions for the ids).

>>> g = HEALPix(level=0)
>>> g.n_cells, round(float(g.lat[0]), 4), float(g.lon[0])
(12, 41.8103, 45.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.grids.base import CellGrid
from xaurora.grids.spectra import healpix_power

INDEXING = ("nested", "ring")


@dataclass(frozen=True)
class HEALPix(CellGrid):
    """One latent value per HEALPix cell of ``level`` (nside = 2**level), ids 0 … 12·4^level − 1.

    Cells have equal areas, so every cell weighs the same in ``pool``. Labels on a finer level
    of the same indexing are reduced to this level by the mean of each cell's children.
    """

    level: int
    indexing: str = "nested"
    weighting: ClassVar[str] = "equal areas"
    kind: ClassVar[str] = "healpix"
    precedence: ClassVar[int] = 0

    @classmethod
    def recognise(cls, da) -> HEALPix | None:
        ids = da.coords.get("cell_ids") if "cells" in da.dims else None
        a = ids.attrs if ids is not None else {}
        if a.get("grid_name") == "healpix" and "level" in a:
            return cls(int(a["level"]), str(a.get("indexing_scheme", "nested")))
        return None

    def __post_init__(self) -> None:
        if int(self.level) != self.level or not 0 <= self.level <= 29:
            raise XauroraError(f"level: must be an integer in 0…29, got {self.level!r}.")
        if self.indexing not in INDEXING:
            raise XauroraError(f"indexing: {self.indexing!r} is not one of {INDEXING}.")

    @property
    def nside(self) -> int:
        return 2 ** int(self.level)

    @property
    def n_cells(self) -> int:
        return 12 * 4 ** int(self.level)

    @property
    def cell_ids(self) -> np.ndarray:
        return np.arange(self.n_cells, dtype=np.int64)

    @cached_property
    def _centres(self) -> tuple[np.ndarray, np.ndarray]:
        import healpy as hp  # optional

        lon, lat = hp.pix2ang(self.nside, self.cell_ids, nest=self.indexing == "nested",
                              lonlat=True)
        return np.asarray(lat, dtype=np.float64), np.mod(np.asarray(lon, np.float64), 360.0)

    @property
    def lat(self) -> np.ndarray:
        """Cell-centre latitudes (degrees north)."""
        return self._centres[0]

    @property
    def lon(self) -> np.ndarray:
        """Cell-centre longitudes (degrees east, [0, 360))."""
        return self._centres[1]

    @property
    def weights(self) -> np.ndarray:
        """Area weights (equal for HEALPix), summing to 1."""
        return np.full(self.n_cells, 1.0 / self.n_cells)

    def cell_ids_attrs(self) -> dict:
        """xdggs attrs of the ``cell_ids`` coordinate (so ``xdggs.decode`` works)."""
        return {"grid_name": "healpix", "level": int(self.level),
                "indexing_scheme": self.indexing}

    def coords(self) -> dict:
        return self.cell_coords(self.lat, self.lon)

    def attrs(self) -> dict:
        return {"latent_grid": self.kind, "healpix_level": int(self.level),
                "healpix_indexing": self.indexing}

    def centres(self, da: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
        """Cell centres from ``da``'s ``lat``/``lon``, else from its ``cell_ids`` (healpy)."""
        if "lat" in da.coords and "lon" in da.coords:
            return super().centres(da)
        import healpy as hp  # optional

        ids = da["cell_ids"].values if "cell_ids" in da.coords else self.cell_ids
        lon, lat = hp.pix2ang(self.nside, ids, nest=self.indexing == "nested", lonlat=True)
        return (xr.DataArray(np.asarray(lat, np.float64), dims="cells"),
                xr.DataArray(np.mod(np.asarray(lon, np.float64), 360.0), dims="cells"))

    def _pixel_cells(self, da: xr.DataArray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """The HEALPix cell containing each map pixel (healpy), as a position in ``da``."""
        import healpy as hp  # optional

        ids = hp.ang2pix(self.nside, lon, lat, nest=self.indexing == "nested", lonlat=True)
        own = da["cell_ids"].values if "cell_ids" in da.coords else self.cell_ids
        order = np.argsort(own)
        pos = np.searchsorted(own, ids, sorter=order).clip(max=own.size - 1)
        found = own[order[pos]] == ids
        return np.where(found, order[pos], -1)

    def area_weights(self, da: xr.DataArray) -> xr.DataArray:
        n = da.sizes["cells"]
        return xr.DataArray(np.full(n, 1.0 / n), dims="cells")

    def spectrum(self, da: xr.DataArray) -> xr.DataArray:
        """Power per spherical-harmonic degree ℓ (0 … 3·nside − 1), healpy's ``anafast``."""
        ids = da["cell_ids"].values if "cell_ids" in da.coords else self.cell_ids
        if da.sizes["cells"] != self.n_cells or np.unique(ids).size != self.n_cells:
            raise XauroraError(
                f"{da.name or 'array'}: holds {da.sizes['cells']} of the {self.n_cells} cells of "
                f"HEALPix level {self.level}; a spectrum per degree needs the whole sphere. "
                "Fix: embed the full sphere (no cell selection) before .aurora.spectrum()."
            )
        anom = da - da.mean("cells")
        core = ["cells", "channel"]
        if anom.chunks is not None:
            anom = anom.chunk({d: -1 for d in core})
        lmax = 3 * self.nside - 1
        out = xr.apply_ufunc(
            healpix_power, anom, kwargs={"ids": np.asarray(ids, np.int64), "nside": self.nside,
                                         "nested": self.indexing == "nested", "lmax": lmax},
            input_core_dims=[core], output_core_dims=[["ell"]], dask="parallelized",
            output_dtypes=[np.float64], dask_gufunc_kwargs={"output_sizes": {"ell": lmax + 1}})
        return out.assign_coords(ell=("ell", np.arange(lmax + 1), {
            "long_name": "spherical-harmonic degree"}))

    def parents(self, labels: xr.DataArray, name: str) -> np.ndarray:
        """Ids at this level of the cells holding ``labels``' (finer) HEALPix cells."""
        import healpy as hp  # optional

        a = labels["cell_ids"].attrs
        if a.get("grid_name") != "healpix" or "level" not in a:
            return super().parents(labels, name)
        level = int(a["level"])
        scheme = a.get("indexing_scheme", "nested")
        if level < self.level:
            raise XauroraError(
                f"{name}: is on HEALPix level {level}, coarser than the latent level "
                f"{self.level}. Fix: give labels on level {self.level} or finer."
            )
        ids = labels["cell_ids"].values.astype(np.int64)
        if scheme == "ring":
            ids = hp.ring2nest(2**level, ids)
        parent = ids >> (2 * (level - int(self.level)))  # nested: 4 children per parent
        if self.indexing == "ring":
            parent = hp.nest2ring(self.nside, parent)
        return parent
