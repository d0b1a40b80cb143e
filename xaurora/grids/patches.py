"""Aurora's lat–lon patch grid: how Aurora cuts a lat/lon grid into patches, and the latent grid
of its patch centres.

Aurora drops one trailing latitude row when ``n_lat % patch_size == 1`` (721 → 720 at 0.25°) and
then cuts ``patch_size × patch_size`` pixel patches. Every module that maps between pixels and
tokens (embed, probe labels, perturbation masks, plots) uses these functions, so the convention
lives in one place.

>>> import numpy as np
>>> lat, lon = np.linspace(90, -90, 181), np.arange(0, 360, 1.0)
>>> la, lo = patch_centres(lat, lon, 4)
>>> la.size, lo.size, float(la[0]), float(lo[0])
(45, 90, 88.5, 1.5)
>>> g = Patches.from_input(np.linspace(90, -90, 9), np.arange(0, 360, 45.0), patch_size=4)
>>> g.dims, g.lat.tolist(), g.lon.tolist()
(('lat', 'lon'), [56.25, -33.75], [67.5, 247.5])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.grids.base import LatentGrid, align_time, checked_labels
from xaurora.grids.spectra import zonal_power
from xaurora.io.names import LAT_ATTRS, LON_ATTRS
from xaurora.io.orientation import canonical_grid


def used_rows(n_lat: int, patch_size: int) -> int:
    """Number of latitude rows Aurora uses: all, or all but the last when one is left over."""
    rest = n_lat % patch_size
    if rest == 0:
        return n_lat
    if rest == 1:
        return n_lat - 1
    raise XauroraError(
        f"latitude: {n_lat} rows cannot be cut into {patch_size}-pixel patches (Aurora allows "
        f"at most one extra row, so n_lat % {patch_size} must be 0 or 1). Fix: select or regrid "
        f"to e.g. {n_lat - rest} or {n_lat - rest + 1} rows."
    )


def check_lon(n_lon: int, patch_size: int) -> None:
    """Raise an actionable error when the longitude count is not a multiple of the patch size."""
    if n_lon % patch_size:
        raise XauroraError(
            f"longitude: {n_lon} columns is not a multiple of the patch size {patch_size}. "
            f"Fix: regrid to a multiple of {patch_size} (e.g. {n_lon - n_lon % patch_size})."
        )


def patch_centres(lat, lon, patch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Patch-centre latitudes and longitudes: the mean of the grid points inside each patch."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    h = used_rows(lat.size, patch_size)
    check_lon(lon.size, patch_size)
    lat_c = lat[:h].reshape(-1, patch_size).mean(axis=1)
    lon_c = lon.reshape(-1, patch_size).mean(axis=1)
    return lat_c, lon_c


def patch_coords(lat, lon, patch_size: int) -> dict[str, xr.DataArray]:
    """Patch-centre coordinates as CF-labelled DataArrays named ``lat`` and ``lon``."""
    lat_c, lon_c = patch_centres(lat, lon, patch_size)
    return {
        "lat": xr.DataArray(lat_c, dims="lat", attrs=LAT_ATTRS),
        "lon": xr.DataArray(lon_c, dims="lon", attrs=LON_ATTRS),
    }


def to_patches(da: xr.DataArray, patch_size: int) -> xr.DataArray:
    """Mean of ``da`` over each patch, on the patch-centre grid.

    ``da`` must use the canonical grid (dims ``lat``/``lon``, lat descending, lon in [0, 360)
    ascending); the trailing extra row is dropped as Aurora does. Lazy input stays lazy.
    """
    for dim in ("lat", "lon"):
        if dim not in da.dims:
            raise XauroraError(
                f"{da.name or 'array'}: needs a '{dim}' dimension to be reduced to patches; "
                f"it has {tuple(da.dims)}. Fix: rename its grid dims to 'lat'/'lon'."
            )
    h = used_rows(da.sizes["lat"], patch_size)
    check_lon(da.sizes["lon"], patch_size)
    coords = patch_coords(da["lat"].values, da["lon"].values, patch_size)
    out = (
        da.isel(lat=slice(0, h))
        .coarsen(lat=patch_size, lon=patch_size)
        .mean()
        .assign_coords(coords)
    )
    out.attrs = dict(da.attrs)
    return out


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
    precedence: ClassVar[int] = 2

    @classmethod
    def recognise(cls, da) -> Patches | None:
        if "lat" in da.dims and "lon" in da.dims:
            p = da.attrs.get("patch_size")
            return cls(int(p) if p else None, da["lat"].values, da["lon"].values)
        return None

    @classmethod
    def from_input(cls, lat, lon, patch_size: int) -> Patches:
        """The patch grid Aurora cuts from the input grid ``lat``/``lon``."""
        la, lo = patch_centres(lat, lon, patch_size)
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

    def spectrum(self, da: xr.DataArray) -> xr.DataArray:
        """Power per zonal wavenumber (0 … n_lon // 2, cycles per latitude circle)."""
        w = self.area_weights(da)
        anom = da - (da * w).sum(("lat", "lon"))
        core = ["lat", "lon", "channel"]
        if anom.chunks is not None:
            anom = anom.chunk({d: -1 for d in core})
        n_k = da.sizes["lon"] // 2 + 1
        out = xr.apply_ufunc(
            zonal_power, anom, kwargs={"row_weights": w.sum("lon").values},
            input_core_dims=[core], output_core_dims=[["wavenumber"]], dask="parallelized",
            output_dtypes=[np.float64], dask_gufunc_kwargs={"output_sizes": {"wavenumber": n_k}})
        return out.assign_coords(wavenumber=("wavenumber", np.arange(n_k), {
            "long_name": "zonal wavenumber", "units": "cycles per latitude circle"}))


def patch_labels(labels: xr.DataArray, emb: xr.DataArray, patch_size: int | None = None,
                 what: str = "labels") -> xr.DataArray:
    """``labels`` on ``emb``'s patch grid: kept when already on it, else reduced from the input
    grid by the mean over each patch (:func:`to_patches`); named ``labels``' name.
    """
    name = labels.name or what
    lab = checked_labels(canonical_grid(labels), str(name), what, ("time", "lat", "lon"),
                         "time/lat/lon")
    e_lat, e_lon = np.sort(emb["lat"].values), np.sort(emb["lon"].values % 360)
    if not (_same(np.sort(lab["lat"].values), e_lat) and _same(lab["lon"].values, e_lon)):
        p = patch_size or emb.attrs.get("patch_size")
        ok = False
        if p:
            try:
                c_lat, c_lon = patch_centres(lab["lat"].values, lab["lon"].values, int(p))
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
        lab = to_patches(lab, int(p))
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
