"""What to explain: a scalar forecast quantity (``xa.Target``).

The target value f is the cos(latitude)-weighted mean of one predicted variable over the cells of
a region, ``lead_steps × timestep`` ahead, in physical units.

>>> import numpy as np
>>> t = Target("mean_sea_level_pressure", region=(30, 72, -12, 45))
>>> t.aurora_variable
'msl'
>>> lat, lon = np.linspace(90, -90, 19), np.arange(0, 360, 10.0)
>>> m = t.mask(lat, lon)
>>> bool(m[lat == 50][0][lon == 350][0]), bool(m[lat == 50][0][lon == 90][0])
(True, False)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.grids.base import lon_in_band
from xaurora.io.names import ATMOS_NAMES, DIM_NAMES, SURFACE_NAMES
from xaurora.io.orientation import canonical_grid

__all__ = ["Target", "box_mask", "region_mask"]


def box_mask(box, lat, lon) -> np.ndarray:
    """Boolean (lat, lon) mask of a ``(lat_min, lat_max, lon_min, lon_max)`` box.

    Longitudes may be given in [-180, 180) or [0, 360); a box with ``lon_min > lon_max`` after
    wrapping (e.g. ``(-12, 45)``) crosses the 0° meridian (the rule of
    :func:`xaurora.grids.lon_in_band`).
    """
    if len(box) != 4:
        raise XauroraError(
            f"region: a box needs 4 numbers (lat_min, lat_max, lon_min, lon_max), got {box!r}. "
            f"Fix: e.g. region=(30, 72, -12, 45)."
        )
    la0, la1, lo0, lo1 = (float(v) for v in box)
    if la0 > la1:
        raise XauroraError(f"region: lat_min {la0} > lat_max {la1}. Fix: swap them.")
    lat = np.asarray(lat, dtype=np.float64)
    in_lat = (lat >= la0) & (lat <= la1)
    in_lon = lon_in_band(np.asarray(lon, dtype=np.float64), lo0, lo1)
    return in_lat[:, None] & in_lon[None, :]


def _mask_from_dataarray(da: xr.DataArray, lat, lon) -> np.ndarray:
    da = da.rename({d: DIM_NAMES[d] for d in da.dims if d in DIM_NAMES and DIM_NAMES[d] != d})
    if set(da.dims) != {"lat", "lon"}:
        raise XauroraError(
            f"region: a mask DataArray must have dims (lat, lon), got {tuple(da.dims)}. "
            f"Fix: select one time/level first, e.g. mask.isel(time=0)."
        )
    da = canonical_grid(da)
    try:
        da = da.reindex(lat=np.asarray(lat), lon=np.asarray(lon), method="nearest",
                        tolerance=1e-3)
    except (KeyError, ValueError) as err:  # pragma: no cover - reindex message varies
        raise XauroraError(f"region: the mask grid does not match the data grid ({err}).") from err
    values = da.values
    if values.dtype != bool:
        if np.isnan(values.astype(float)).any():
            raise XauroraError(
                "region: the mask DataArray does not cover the data grid (NaN after aligning). "
                "Fix: build the mask on the same lat/lon as the dataset."
            )
        values = values.astype(float) > 0.5
    return values.transpose() if da.dims == ("lon", "lat") else values


def _mask_from_regions(regions, lat, lon, region_name) -> np.ndarray:
    mask3d = regions.mask_3D(np.mod(np.asarray(lon, dtype=np.float64), 360.0),
                             np.asarray(lat, dtype=np.float64))
    if region_name is None:
        return mask3d.any("region").values
    for key in ("names", "abbrevs"):
        if key in mask3d.coords and region_name in list(mask3d[key].values):
            return mask3d.isel(region=list(mask3d[key].values).index(region_name)).values
    if region_name in list(mask3d["region"].values):
        return mask3d.sel(region=region_name).values
    raise XauroraError(
        f"region_name: {region_name!r} is not a region of {getattr(regions, 'name', 'Regions')} "
        f"(regions on this grid: {list(mask3d.names.values)[:8]}…). Fix: pass a name, abbrev "
        f"or number from regions.names / regions.abbrevs."
    )


def region_mask(region, lat, lon, region_name=None) -> np.ndarray:
    """Boolean (lat, lon) mask of ``region`` (None = whole globe, box, Regions or DataArray)."""
    lat, lon = np.asarray(lat), np.asarray(lon)
    if region is None:
        return np.ones((lat.size, lon.size), dtype=bool)
    if isinstance(region, xr.DataArray):
        return _mask_from_dataarray(region, lat, lon)
    if hasattr(region, "mask_3D"):
        return _mask_from_regions(region, lat, lon, region_name)
    if isinstance(region, (tuple, list, np.ndarray)):
        return box_mask(region, lat, lon)
    raise XauroraError(
        f"region: {type(region).__name__} is not supported. Fix: pass a (lat_min, lat_max, "
        f"lon_min, lon_max) box, a regionmask.Regions or a boolean DataArray on the grid."
    )


@dataclass
class Target:
    """The forecast quantity to explain.

    Args:
        variable: predicted variable, in any naming scheme (``"msl"``, ``"t2m"``,
            ``"temperature"``, …).
        region: ``(lat_min, lat_max, lon_min, lon_max)`` box (lon may cross 0°), a
            ``regionmask.Regions`` (with ``region_name=`` to pick one) or a boolean
            DataArray on the grid; ``None`` = whole globe.
        lead_steps: lead time in model steps (1 = one ``model.timestep`` ahead).
        level: pressure level in hPa, required for atmospheric variables.
        region_name: which region of a ``regionmask.Regions`` (name, abbrev or number).

    >>> Target("t", level=850, region=(40, 60, 0, 30)).describe()
    't at 850 hPa, mean over (40, 60, 0, 30), lead 1 step(s)'
    """

    variable: str
    region: Any = None
    lead_steps: int = 1
    level: int | float | None = None
    region_name: str | int | None = None

    def __post_init__(self) -> None:
        name = self.variable
        if name in SURFACE_NAMES and not (name in ATMOS_NAMES and self.level is not None):
            self._aurora, self._kind = SURFACE_NAMES[name], "surface"
        elif name in ATMOS_NAMES:
            self._aurora, self._kind = ATMOS_NAMES[name], "atmospheric"
        else:
            known = sorted(set(SURFACE_NAMES) | set(ATMOS_NAMES))
            raise XauroraError(
                f"variable: {name!r} is not a predicted variable. Fix: use one of {known}."
            )
        if self._kind == "atmospheric" and self.level is None:
            raise XauroraError(
                f"level: {name!r} is atmospheric, so the target needs a pressure level. "
                f"Fix: Target({name!r}, level=500, ...)."
            )
        if self._kind == "surface" and self.level is not None:
            raise XauroraError(
                f"level: {name!r} is a surface variable; level={self.level} makes no sense. "
                f"Fix: drop level=."
            )
        if int(self.lead_steps) != self.lead_steps or self.lead_steps < 1:
            raise XauroraError(f"lead_steps: must be an integer ≥ 1, got {self.lead_steps!r}.")
        self.lead_steps = int(self.lead_steps)

    @property
    def aurora_variable(self) -> str:
        """The variable's Aurora name (``msl``, ``2t``, ``t``, …)."""
        return self._aurora

    @property
    def is_atmospheric(self) -> bool:
        return self._kind == "atmospheric"

    def mask(self, lat, lon) -> np.ndarray:
        """Boolean (lat, lon) mask of the region's cells on the grid ``lat``/``lon``."""
        m = region_mask(self.region, lat, lon, self.region_name)
        if not m.any():
            raise XauroraError(
                f"region: no grid cell of the target region {self.region_text()} lies on this "
                f"grid. Fix: widen the region or check its latitude/longitude order."
            )
        return m

    def weights(self, lat, lon, n_rows: int | None = None) -> np.ndarray:
        """cos(lat) × mask weights summing to 1, on the first ``n_rows`` rows (Aurora's crop)."""
        m = self.mask(lat, lon)
        w = np.clip(np.cos(np.deg2rad(np.asarray(lat, dtype=np.float64))), 0.0, None)
        w = (w[:, None] * m)[: n_rows if n_rows is not None else len(lat)]
        if w.sum() <= 0:
            raise XauroraError(
                f"region: the target region {self.region_text()} only covers the poles or the "
                f"latitude row Aurora crops, where the weight is 0. Fix: widen the region."
            )
        return w / w.sum()

    def region_text(self) -> str:
        """Short netCDF-safe description of the region."""
        r = self.region
        if r is None:
            return "globe"
        if isinstance(r, xr.DataArray):
            return f"mask {r.name or 'DataArray'}"
        if hasattr(r, "mask_3D"):
            return f"{getattr(r, 'name', 'Regions')}:{self.region_name or 'all'}"
        return str(tuple(float(v) if float(v) % 1 else int(v) for v in r))

    def describe(self) -> str:
        """One line: variable, level, region, lead."""
        lev = f" at {self.level:g} hPa" if self.level is not None else ""
        return (f"{self.aurora_variable}{lev}, mean over {self.region_text()}, "
                f"lead {self.lead_steps} step(s)")

    def attrs(self) -> dict[str, Any]:
        """netCDF-safe attrs describing the target."""
        return {
            "target_variable": self.aurora_variable,
            "target_level": float(self.level) if self.level is not None else "surface",
            "target_region": self.region_text(),
            "target_lead_steps": self.lead_steps,
        }
