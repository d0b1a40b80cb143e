"""Label helpers for probes: land–sea masks and exceedances (public as ``xa.labels``).

Every helper returns a ``float32`` DataArray (NaN where the input is NaN) on the canonical grid:
dims ``lat``/``lon``, lat descending, lon ascending in [0, 360) — or, for input on HEALPix or
mesh cells (a ``cells`` dim, xdggs layout), on those cells in their order with their
``cell_ids``/``lat``/``lon`` coordinates: the land *fraction* for :func:`land_sea`, 0/1 for
the exceedances. Give the result to ``emb.aurora.probe(labels)``: the embedding's latent grid
reduces labels on the input grid (the mean over each patch, or over each latent cell's
children) and a patch or cell is class 1 when that mean is ``≥ 0.5``.

>>> import numpy as np, xarray as xr
>>> t = xr.DataArray(np.arange(8.0).reshape(4, 2, 1), dims=("time", "latitude", "longitude"),
...                  coords={"latitude": [-10.0, 10.0], "longitude": [-20.0]})
>>> hot = exceeds_quantile(t, 0.5)
>>> hot.dims, float(hot.lat[0]), float(hot.lon[0])
(('time', 'lat', 'lon'), 10.0, 340.0)
>>> hot.isel(lat=0, lon=0).values.tolist()
[0.0, 0.0, 1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.io.names import CELL_DIM, LAT_NAMES, LON_NAMES, find_land_sea_mask
from xaurora.io.orientation import canonical_grid

__all__ = ["canonical_grid", "exceeds", "exceeds_quantile", "land_sea"]


def land_sea(ds_or_lsm: xr.Dataset | xr.DataArray, threshold: float | None = None
             ) -> xr.DataArray:
    """The land fraction from a land–sea mask, on the canonical grid: the land–sea label.

    ``ds_or_lsm`` is a Dataset holding ``lsm``, ``land_sea_mask`` or ``static_lsm`` (any naming
    scheme, any lat order, lon in [0, 360) or [-180, 180), or HEALPix/mesh ``cells``), or the
    mask DataArray itself. A singleton time dim (static fields from the CDS carry
    ``valid_time: 1``) is dropped. On cells the fraction stays on the cells, with their
    ``cell_ids`` (xdggs attrs) and centre coordinates, so that ``probe`` reduces it to a
    coarser latent HEALPix level by the mean of each latent cell's children.

    The fraction is kept, not binarised per pixel, so that ``probe`` labels a patch land when
    the **mean land fraction over its pixels is ≥ 0.5** — the land–sea study's definition.
    Binarising pixels first (land where fraction ≥ 0.5, then the patch majority) is a different
    rule that flips coastal patches (231 of 64,800 patches at 0.25°); pass ``threshold=0.5``
    only if you want 0/1 pixels.

    >>> lsm = xr.DataArray([[0.2, 0.9]], dims=("latitude", "longitude"),
    ...                    coords={"latitude": [0.0], "longitude": [0.0, 1.0]}, name="lsm")
    >>> land_sea(lsm).values.astype(float).round(2).tolist()
    [[0.2, 0.9]]
    >>> land_sea(lsm, threshold=0.5).values.tolist()
    [[0.0, 1.0]]
    """
    if isinstance(ds_or_lsm, xr.Dataset):
        lsm = find_land_sea_mask(ds_or_lsm, "land_sea")
    elif isinstance(ds_or_lsm, xr.DataArray):
        lsm = ds_or_lsm
    else:
        raise TypeError(f"land_sea: expected an xr.Dataset or xr.DataArray, got {type(ds_or_lsm)}")
    lsm = _input_grid(lsm)
    space = _space_dims(lsm)
    for dim in [d for d in lsm.dims if d not in space]:
        if lsm.sizes[dim] != 1:
            raise XauroraError(
                f"{_name(lsm)}: a land-sea mask must be a single field on {space} but has "
                f"{dim!r} of size {lsm.sizes[dim]}. Fix: select one, e.g. .isel({dim}=0)."
            )
        lsm = lsm.isel({dim: 0}, drop=True)
    lsm = lsm.drop_vars([c for c in lsm.coords
                         if c not in lsm.dims and not set(lsm[c].dims) <= {CELL_DIM}])
    vmin, vmax = float(lsm.min()), float(lsm.max())
    if vmin < -1e-6 or vmax > 1 + 1e-6:
        raise XauroraError(
            f"{_name(lsm)}: land-sea mask values must be land fractions in [0, 1]; found "
            f"[{vmin:g}, {vmax:g}]. Fix: pass ERA5's 'lsm' field (not e.g. soil type or a percent)."
        )
    if threshold is None:
        out = lsm.astype(np.float32)
        out.attrs = {
            "long_name": "land fraction (a patch or cell is land when its mean is >= 0.5)",
            "units": "1",
            "source_name": str(lsm.name),
        }
        return out.rename("land")
    out = xr.where(lsm.isnull(), np.nan, lsm >= threshold).astype(np.float32)
    out.attrs = {
        "long_name": "land (1) or sea (0)",
        "flag_values": np.array([0, 1], dtype=np.int8),
        "flag_meanings": "sea land",
        "threshold": float(threshold),
        "source_name": str(lsm.name),
    }
    return out.rename("land")


def exceeds(da: xr.DataArray, threshold: float | xr.DataArray) -> xr.DataArray:
    """1 where ``da > threshold``, 0 where not, NaN where either is NaN.

    ``threshold`` is a number or a DataArray that broadcasts against ``da`` (e.g. a per-location
    climatology, in any grid naming). Lazy (Dask) input stays lazy.

    >>> t = xr.DataArray([[[280.0, 300.0]]], dims=("time", "lat", "lon"),
    ...                  coords={"lat": [0.0], "lon": [0.0, 1.0]})
    >>> exceeds(t, 290.0).values.ravel().tolist()
    [0.0, 1.0]
    """
    da = _input_grid(da)
    if isinstance(threshold, xr.DataArray):
        threshold = canonical_grid(threshold) if {"lat", "lon"} <= _grid_dims(threshold) else (
            threshold
        )
    else:
        threshold = float(threshold)
    undefined = da.isnull() | (threshold.isnull() if isinstance(threshold, xr.DataArray) else False)
    out = xr.where(undefined, np.nan, da > threshold).astype(np.float32)
    out.attrs = {
        "long_name": f"{da.name or 'value'} exceeds threshold",
        "flag_values": np.array([0, 1], dtype=np.int8),
        "flag_meanings": "below_or_equal above",
    }
    if not isinstance(threshold, xr.DataArray):
        out.attrs["threshold"] = threshold
    return out.rename(f"{da.name or 'value'}_exceeds")


def exceeds_quantile(
    da: xr.DataArray, q: float | Sequence[float], dim: str = "time"
) -> xr.DataArray:
    """1 where ``da`` exceeds its own per-location ``q`` quantile along ``dim``.

    The threshold is computed separately at every grid point (and any other dim) from the
    values along ``dim``, so "hot" means hot for that place. With several ``q`` the result has
    a ``quantile`` dim (select one before probing). Lazy input stays lazy; input on ``cells``
    stays on its cells.

    >>> t = xr.DataArray(np.arange(10.0).reshape(10, 1, 1), dims=("time", "lat", "lon"),
    ...                  coords={"lat": [0.0], "lon": [0.0]})
    >>> float(exceeds_quantile(t, 0.75).sum())
    3.0
    """
    da = _input_grid(da)
    if dim not in da.dims:
        raise XauroraError(
            f"{_name(da)}: has no {dim!r} dimension to compute quantiles over (dims are "
            f"{tuple(da.dims)}). Fix: pass dim= one of them."
        )
    qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
    if np.any((qs <= 0) | (qs >= 1)):
        raise XauroraError(
            f"exceeds_quantile: q must lie strictly between 0 and 1, got {q!r}. "
            "Fix: use fractions, e.g. 0.9 for the 90th percentile."
        )
    src = da.chunk({dim: -1}) if da.chunks is not None else da
    thresh = src.quantile(qs, dim=dim)
    out = exceeds(da, thresh)
    if np.ndim(q) == 0:
        out = out.squeeze("quantile", drop=True)
    else:
        out = out.transpose("quantile", ...)
    out.attrs.update(
        long_name=f"{da.name or 'value'} exceeds its per-location quantile along {dim}",
        quantile=qs.tolist() if qs.size > 1 else float(qs[0]),
        quantile_dim=dim,
    )
    return out


def _input_grid(da: xr.DataArray) -> xr.DataArray:
    """``da`` on the canonical lat–lon grid, or as it is when it lies on ``cells``.

    Cells (HEALPix, mesh) keep their order and ``cell_ids``: the embedding's latent grid
    matches or reduces them by id (``xaurora.grids``).
    """
    return da if CELL_DIM in da.dims else canonical_grid(da)


def _space_dims(da: xr.DataArray) -> tuple[str, ...]:
    return (CELL_DIM,) if CELL_DIM in da.dims else ("lat", "lon")


def _grid_dims(obj) -> set[str]:
    dims = set(obj.dims)
    return {
        "lat" if dims & set(LAT_NAMES) else "",
        "lon" if dims & set(LON_NAMES) else "",
    } - {""}


def _name(obj) -> str:
    return str(getattr(obj, "name", None) or "array")
