"""What every latent grid knows, and the shared code of the cell-based kinds.

A latent grid says where each latent vector sits on the sphere. Analyses ask it, never the dims:

| kind | dims | area weights | labels from a finer grid |
|---|---|---|---|
| ``patches`` | ``lat``, ``lon`` | cos(lat) of the centre | mean over each patch |
| ``healpix`` | ``cells`` | equal | finer level: mean of children; else mean per nearest cell |
| ``points`` | ``cells`` | ``weights`` (or equal) | lat–lon or other cells: mean per nearest cell |

Grids are recovered statelessly from an embedding's dims, coords and attrs by
:func:`xaurora.grids.grid_of`; methods take the DataArray so that a selection of cells
(``emb.isel(cells=...)``) is handled as the cells it holds.

Nearest cell centres use scipy's ``cKDTree`` on unit vectors (chord distance orders like the
great-circle distance); HEALPix parents come from the nested numbering (healpy converts ring ids).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.io.names import LAT_ATTRS, LON_ATTRS
from xaurora.io.orientation import canonical_grid


def lon_in_band(lon, lo: float, hi: float):
    """Boolean of ``lon`` (degrees, any convention) inside [lo, hi], bounds included.

    The one rule for longitude bands and boxes (probe splits, ``xa.Target`` boxes, the sample
    data's storm box, ``LatentGrid.band``): ``lon``, ``lo`` and ``hi`` may use [0, 360) or
    [-180, 180); when ``lo`` lies east of ``hi`` after wrapping to [0, 360) the band crosses 0°
    (``(350, 10)`` and ``(-10, 10)`` are the same band); ``hi − lo ≥ 360`` is the whole circle.
    Both ends are wrapped, never computed as ``lo + width``, so a grid point exactly on a bound
    is inside whichever convention the bounds use. NumPy arrays and DataArrays work alike.

    >>> lon_in_band(np.array([355.0, 5.0, 180.0]), 350, 10).tolist()
    [True, True, False]
    >>> lon_in_band(np.array([-5.0, 5.0, 180.0]), -10, 10).tolist()
    [True, True, False]
    """
    lo, hi = float(lo), float(hi)
    lon = lon % 360
    if hi - lo >= 360:
        return lon == lon  # everything (NaN longitudes excepted)
    a, b = lo % 360, hi % 360
    if a <= b:
        return (lon >= a) & (lon <= b)
    return (lon >= a) | (lon <= b)  # crosses 0°


def _unit_vectors(lat, lon) -> np.ndarray:
    la, lo = np.deg2rad(np.asarray(lat, np.float64)), np.deg2rad(np.asarray(lon, np.float64))
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def nearest_cell(cell_lat, cell_lon, lat, lon) -> np.ndarray:
    """Index of the cell centre nearest to each point (``lat``, ``lon`` of equal shape)."""
    from scipy.spatial import cKDTree  # heavy

    tree = cKDTree(_unit_vectors(cell_lat, cell_lon))
    return tree.query(_unit_vectors(np.ravel(lat), np.ravel(lon)))[1].reshape(np.shape(lat))


def group_mean(values: xr.DataArray, dim: str, index: np.ndarray, n: int,
               out_dim: str = "cells") -> xr.DataArray:
    """Mean of ``values`` along ``dim`` per group ``index`` (0 … n − 1), NaNs skipped.

    Groups without a finite value are NaN. A sparse (point → cell) matrix keeps memory at
    O(points), also for a 0.25° grid onto 49,152 cells; lazy input stays lazy.
    """
    from scipy import sparse  # heavy

    onehot = sparse.csr_matrix((np.ones(index.size), (np.arange(index.size), index)),
                               shape=(index.size, n))

    def _sum(v: np.ndarray) -> np.ndarray:
        flat = v.reshape(-1, v.shape[-1])
        return np.asarray((onehot.T @ flat.T).T).reshape(*v.shape[:-1], n)

    if dim == out_dim:  # finer cells onto coarser cells: same dim name, other size
        values, dim = values.rename({dim: "_from"}), "_from"
    x = values.astype(np.float64)
    kw = {"input_core_dims": [[dim]], "output_core_dims": [[out_dim]], "dask": "parallelized",
          "output_dtypes": [np.float64], "dask_gufunc_kwargs": {"output_sizes": {out_dim: n}}}
    sums = xr.apply_ufunc(lambda v: _sum(np.nan_to_num(v, nan=0.0)), x, **kw)
    nums = xr.apply_ufunc(lambda v: _sum(np.isfinite(v).astype(np.float64)), x, **kw)
    return sums / nums.where(nums > 0)


def checked_labels(lab: xr.DataArray, name: str, what: str, allowed: tuple[str, ...],
                   besides: str) -> xr.DataArray:
    """``lab`` if it has no dims but ``allowed`` (else an actionable error), booleans as 0/1."""
    extra = [d for d in lab.dims if d not in allowed]
    if extra:
        raise XauroraError(
            f"{name}: has dim(s) {extra} besides {besides}. "
            f"Fix: select one value, e.g. {what}.isel({extra[0]}=0)."
        )
    return lab.astype(np.float32) if lab.dtype == bool else lab


def align_time(lab: xr.DataArray, da: xr.DataArray, name: str, what: str) -> xr.DataArray:
    """``lab`` on ``da``'s times: dropped when ``da`` has none (one time allowed), else selected."""
    if "time" not in lab.dims:
        return lab
    if "time" not in da.dims:
        if lab.sizes["time"] != 1:
            raise XauroraError(
                f"{name}: has {lab.sizes['time']} times but the embedding has no time dim. "
                f"Fix: select the matching time, e.g. {what}.sel(time=...)."
            )
        return lab.isel(time=0, drop=True)
    missing = ~np.isin(da["time"].values, lab["time"].values)
    if missing.any():
        raise XauroraError(
            f"{name}: lacks {int(missing.sum())} of the embedding's times (first: "
            f"{da['time'].values[missing][0]}). Fix: give labels for every embedded time, or "
            "select those times from the embedding."
        )
    return lab.sel(time=da["time"].values).assign_coords(time=da["time"])


def _label_centres(labels: xr.DataArray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Centres of ``labels``' cells: their ``lat``/``lon`` coordinates or their HEALPix ids."""
    if "lat" in labels.coords and "lon" in labels.coords:
        return (np.asarray(labels["lat"].values, np.float64),
                np.asarray(labels["lon"].values, np.float64))
    grid = recognised(labels)  # a grid kind that knows its cells' centres (HEALPix ids)
    if grid is not None:
        lat, lon = grid.centres(labels)
        return lat.values, lon.values
    raise XauroraError(
        f"{name}: its cells are not this grid's cells and carry neither lat/lon coordinates nor "
        "HEALPix cell_ids attrs. Fix: give labels on the embedding's cells, on HEALPix cells "
        "(xdggs attrs) or with cell-centre lat/lon, or on a lat–lon grid."
    )


#: Grid kinds, registered by defining :meth:`LatentGrid.recognise` (the base imports none).
_KINDS: list[type[LatentGrid]] = []


def recognised(da: xr.DataArray | xr.Dataset) -> LatentGrid | None:
    """The grid of the first registered kind (lowest ``precedence``) that recognises ``da``."""
    for kind in sorted(_KINDS, key=lambda k: k.precedence):
        grid = kind.recognise(da)
        if grid is not None:
            return grid
    return None


def grid_of(da: xr.DataArray | xr.Dataset) -> LatentGrid:
    """The latent grid of ``da``, from its dims, coords and attrs (nothing else is needed).

    Each registered kind is asked in turn (lowest ``precedence`` first): ``cells`` with a
    ``cell_ids`` coordinate whose attrs say ``grid_name="healpix"`` → ``HEALPix``; other
    ``cells`` with ``lat``/``lon`` coordinates → ``Points`` (weights from a ``cell_weight``
    coordinate); ``lat``/``lon`` dims → ``Patches`` (patch size from the ``patch_size`` attr).
    """
    grid = recognised(da)
    if grid is not None:
        return grid
    name = getattr(da, "name", None) or "array"
    if "cells" in da.dims:
        raise XauroraError(
            f"{name}: has a 'cells' dim but neither HEALPix cell_ids attrs (grid_name, level, "
            "indexing_scheme) nor lat/lon coordinates on the cells. Fix: pass the output of "
            ".aurora.embed, or assign cell-centre lat/lon."
        )
    raise XauroraError(
        f"{name}: needs 'lat' and 'lon' dims (Aurora patches) or a 'cells' dim (HEALPix, mesh) "
        f"to find its latent grid; its dims are {tuple(da.dims)}. Fix: pass an embedding from "
        ".aurora.embed, or rename its grid dims."
    )


class LatentGrid(ABC):
    """The interface analyses use; subclasses: ``Patches``, ``HEALPix``, ``Points``.

    A subclass that defines :meth:`recognise` is a grid kind :func:`grid_of` can find.
    """

    kind: ClassVar[str]
    precedence: ClassVar[int] = 100  #: order in which :func:`grid_of` asks the kinds
    dims: ClassVar[tuple[str, ...]]
    weighting: ClassVar[str]  #: how cells are weighted, for ``cell_methods`` attrs

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "recognise" in cls.__dict__:
            _KINDS.append(cls)

    @classmethod
    def recognise(cls, da: xr.DataArray | xr.Dataset) -> LatentGrid | None:
        """This kind's grid of ``da`` when its dims, coords and attrs are this kind's, else None."""
        return None

    @abstractmethod
    def coords(self) -> dict:
        """Coordinates an embedding on this grid carries (xarray ``(dims, values, attrs)``)."""

    def attrs(self) -> dict:
        """netCDF-safe attrs that name the grid kind."""
        return {"latent_grid": self.kind}

    def check(self, da: xr.DataArray, what: str = "embedding") -> None:
        """Raise an actionable error unless ``da`` has this grid's dims and coordinates."""
        missing = [d for d in self.dims if d not in da.dims]
        missing += [c for c in ("lat", "lon") if c not in da.coords]
        if missing:
            raise XauroraError(
                f"{da.name or what}: lacks {missing} of a {self.kind} grid (dims are "
                f"{tuple(da.dims)}). Fix: pass the output of .aurora.embed."
            )

    def centres(self, da: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
        """Cell-centre latitude and longitude ([0, 360)) on this grid's dims of ``da``."""
        lat = da["lat"].astype(np.float64)
        lon = da["lon"].astype(np.float64) % 360
        lat, lon = xr.broadcast(lat, lon)
        return (lat.transpose(*self.dims).drop_vars(list(lat.coords)),
                lon.transpose(*self.dims).drop_vars(list(lon.coords)))

    @abstractmethod
    def area_weights(self, da: xr.DataArray) -> xr.DataArray:
        """Area weights of ``da``'s cells on this grid's dims, summing to 1."""

    def region_weights(self, da: xr.DataArray, regions=None) -> xr.DataArray:
        """Normalised area weights per region, dims ``(region, *dims)``, each summing to 1.

        Without ``regions`` one region, ``"global"``; with a ``regionmask.Regions``, the area
        weight times regionmask's mask on the cell centres (regions without a centre dropped).
        """
        w = self.area_weights(da)
        if regions is None:
            mask = xr.ones_like(w).expand_dims(region=["global"])
        else:
            if not hasattr(regions, "mask_3D"):
                raise TypeError(
                    f"regions: expected a regionmask.Regions, got {type(regions).__name__}. "
                    "Fix: pass e.g. regionmask.defined_regions.giorgi."
                )
            mask = self._regions_mask(da, regions)
            if mask.sizes["region"] == 0:
                raise XauroraError(
                    "regions: no region contains a cell centre of this grid. "
                    "Fix: check the regions' longitude convention or use larger regions."
                )
        weights = mask.astype(np.float64) * w
        return (weights / weights.sum(self.dims)).rename("weight")

    @abstractmethod
    def _regions_mask(self, da: xr.DataArray, regions) -> xr.DataArray:
        """regionmask's 3-D mask on the cell centres, dims ``(region, *dims)``."""

    def band(self, da: xr.DataArray, coord: str, lo: float, hi: float) -> xr.DataArray:
        """Boolean on this grid's dims: cell centre ``coord`` (``"lat"``/``"lon"``) in [lo, hi].

        Longitude bands may cross 0° (``lo > hi``, e.g. ``(350, 10)``).
        """
        lat, lon = self.centres(da)
        if coord == "lon":
            return lon_in_band(lon, lo, hi)
        return (lat >= float(lo)) & (lat <= float(hi))

    @abstractmethod
    def labels(self, labels: xr.DataArray, da: xr.DataArray, patch_size=None,
               what: str = "labels") -> xr.DataArray:
        """``labels`` on ``da``'s cells: dims ⊂ (``time``, *dims), the mean over each cell.

        Labels already on the cells are taken as they are; labels on a finer grid are reduced.
        """

    def to_map(self, da: xr.DataArray, resolution: float | None = None) -> xr.DataArray:
        """``da`` on a lat–lon grid that ``xa.plot.map`` draws (cells: nearest cell)."""
        return da

    def spectrum(self, da: xr.DataArray) -> xr.DataArray:
        """Power of ``da`` (…, grid dims, ``channel``) per spatial scale (see grids.spectra)."""
        raise XauroraError(
            f"{da.name or 'array'}: a power spectrum is defined on lat–lon patches (zonal "
            f"wavenumbers) and full-sphere HEALPix cells (degrees ℓ), not on {self.kind}. "
            "Fix: embed onto one of those grids, or regrid the latents first."
        )


class CellGrid(LatentGrid):
    """Shared code of the ``cells`` kinds (HEALPix, Points)."""

    dims: ClassVar[tuple[str, ...]] = ("cells",)

    def cell_coords(self, lat, lon, extra: dict | None = None) -> dict:
        """``cell_ids``, ``lat``, ``lon`` (and ``extra``) coordinates on ``cells``."""
        out = {
            "cell_ids": ("cells", self.cell_ids, self.cell_ids_attrs()),
            "lat": ("cells", np.asarray(lat, np.float64), LAT_ATTRS),
            "lon": ("cells", np.asarray(lon, np.float64), LON_ATTRS),
        }
        out.update(extra or {})
        return out

    def _regions_mask(self, da, regions) -> xr.DataArray:
        lat, lon = self.centres(da)
        lon = xr.DataArray(lon.values, dims="cells")
        lat = xr.DataArray(lat.values, dims="cells")
        mask = regions.mask_3D(lon, lat).transpose("region", "cells")
        return mask.drop_vars([c for c in ("lat", "lon") if c in mask.coords])

    def _from_cells(self, labels: xr.DataArray, da: xr.DataArray, name: str) -> xr.DataArray:
        """Labels with a ``cells`` dim: the same cells (matched by ``cell_ids``), finer cells of
        this grid (their parents), or other cells (the mean per nearest cell centre)."""
        if "cell_ids" not in labels.coords:
            if labels.sizes["cells"] == da.sizes["cells"]:
                return labels
            raise XauroraError(
                f"{name}: has {labels.sizes['cells']} cells but no 'cell_ids' coordinate, and "
                f"the embedding has {da.sizes['cells']}. Fix: add cell_ids (xdggs layout)."
            )
        ids = labels["cell_ids"].values
        own = da["cell_ids"].values if "cell_ids" in da.coords else self.cell_ids
        if labels.sizes["cells"] == own.size and np.array_equal(ids, own):
            return labels
        parent = self.parents(labels, name)
        if parent is None:  # not this grid's cells: by their centres
            lat, lon = _label_centres(labels, name)
            return self._by_nearest(labels, "cells", lat, lon, da)
        pos = {int(c): i for i, c in enumerate(own)}
        index = np.array([pos.get(int(p), -1) for p in parent])
        keep = index >= 0
        lab = labels.isel(cells=np.flatnonzero(keep))
        return group_mean(lab.drop_vars([c for c in lab.coords if "cells" in lab[c].dims]),
                          "cells", index[keep], own.size)

    def parents(self, labels: xr.DataArray, name: str) -> np.ndarray | None:
        """The cell of this grid that holds each of ``labels``' cells (None: not known)."""
        return None

    def _by_nearest(self, labels: xr.DataArray, dim: str, lat, lon,
                    da: xr.DataArray) -> xr.DataArray:
        """Mean of ``labels`` along ``dim`` (points at ``lat``/``lon``) per nearest cell."""
        c_lat, c_lon = self.centres(da)
        index = nearest_cell(c_lat.values, c_lon.values, lat, lon).ravel()
        labels = labels.drop_vars([c for c in labels.coords if dim in labels[c].dims])
        return group_mean(labels, dim, index, da.sizes["cells"])

    def labels(self, labels, da, patch_size=None, what="labels") -> xr.DataArray:
        name = labels.name or what
        if "cells" in labels.dims:
            lab = self._from_cells(labels, da, str(name))
        else:
            lab = canonical_grid(labels)
            la2, lo2 = np.meshgrid(lab["lat"].values, lab["lon"].values, indexing="ij")
            lab = self._by_nearest(lab.stack(point=("lat", "lon")), "point", la2, lo2, da)
        lab = checked_labels(lab, str(name), what, ("time", "cells"), "time and the grid")
        lab = align_time(lab, da, str(name), what)
        keep = {k: v for k, v in da.coords.items() if v.dims and set(v.dims) <= {"cells"}}
        lab = lab.drop_vars([c for c in lab.coords if c not in lab.dims or c == "cells"])
        return lab.assign_coords(keep).rename(str(name))

    def _pixel_cells(self, da: xr.DataArray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Position along ``cells`` of the cell shown at each map pixel (−1: none)."""
        c_lat, c_lon = self.centres(da)
        return nearest_cell(c_lat.values, c_lon.values, lat, lon)

    def to_map(self, da: xr.DataArray, resolution: float | None = None) -> xr.DataArray:
        """Values on a regular lat–lon grid (each grid point shows the cell it falls in)."""
        res = resolution or float(np.clip(np.sqrt(41253.0 / da.sizes["cells"]) / 2, 0.25, 5))
        lat = np.arange(90 - res / 2, -90, -res)
        lon = np.arange(res / 2, 360, res)
        la2, lo2 = np.meshgrid(lat, lon, indexing="ij")
        index = self._pixel_cells(da, la2, lo2)
        out = da.isel(cells=xr.DataArray(np.maximum(index, 0), dims=("lat", "lon")))
        if (index < 0).any():  # pixels whose cell is not in ``da`` (a selection of cells)
            out = out.where(xr.DataArray(index >= 0, dims=("lat", "lon")))
        out = out.drop_vars([c for c in out.coords if c in ("lat", "lon", "cell_ids")
                             or "lat" in out[c].dims])
        return out.assign_coords(lat=("lat", lat, LAT_ATTRS), lon=("lon", lon, LON_ATTRS))
