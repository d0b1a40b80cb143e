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
from xaurora.errors import XauroraError
from xaurora.grids.base import LatentGrid, align_time, checked_labels
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
        return patch_labels(labels, da, patch_size or self.patch_size, what)


def patch_labels(labels: xr.DataArray, emb: xr.DataArray, patch_size: int | None = None,
                 what: str = "labels") -> xr.DataArray:
    """``labels`` on ``emb``'s patch grid: kept when already on it, else reduced from the input
    grid by the mean over each patch (:func:`xaurora.grid.to_patches`); named ``labels``' name.
    """
    name = labels.name or what
    lab = checked_labels(_grid.canonical_grid(labels), str(name), what, ("time", "lat", "lon"),
                         "time/lat/lon")
    e_lat, e_lon = np.sort(emb["lat"].values), np.sort(emb["lon"].values % 360)
    if not (_same(np.sort(lab["lat"].values), e_lat) and _same(lab["lon"].values, e_lon)):
        p = patch_size or emb.attrs.get("patch_size")
        ok = False
        if p:
            try:
                c_lat, c_lon = _grid.patch_centres(lab["lat"].values, lab["lon"].values, int(p))
                ok = _same(np.sort(c_lat), e_lat) and _same(c_lon, e_lon)
            except ValueError:
                ok = False
        if not ok:
            raise XauroraError(
                f"{name}: its grid ({_grid_text(lab)}) is neither the embedding's patch grid "
                f"({_grid_text(emb)}) nor an input grid that patches of size {p} reduce to it"
                f"{_input_grid_text(emb)}. Fix: regrid the labels onto the dataset that was "
                "embedded (e.g. labels.interp_like(ds)) or onto the patch grid (emb.lat, emb.lon)."
            )
        lab = _grid.to_patches(lab, int(p))
    # same values up to 1e-6 (checked above): take the embedding's order and exact coords
    lab = lab.sel(lat=emb["lat"].values, lon=emb["lon"].values % 360, method="nearest")
    lab = lab.assign_coords(lat=emb["lat"], lon=emb["lon"])
    lab = align_time(lab, emb, str(name), what)
    return lab.drop_vars([c for c in lab.coords if c not in lab.dims]).rename(str(name))




def _same(a, b) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=0, atol=1e-6))


def _grid_text(da) -> str:
    la, lo = da["lat"].values, da["lon"].values
    return f"{la.size}x{lo.size}, lat {la[0]:g}..{la[-1]:g}, lon {lo[0]:g}..{lo[-1]:g}"


def _input_grid_text(emb) -> str:
    a = emb.attrs
    if "grid_n_lat" in a:
        return (f" (the embedded input grid was {a['grid_n_lat']}x{a.get('grid_n_lon', '?')}, "
                f"lat {a.get('grid_lat_first', '?')}..{a.get('grid_lat_last', '?')})")
    return ""
