"""Area-weighted spatial statistics of embeddings (``emb.aurora.pool``).

The latent grid (:func:`xaurora.grids.grid_of`) weighs the cells: an Aurora patch by
cos(latitude of its centre), HEALPix cells equally, mesh points by their ``cell_weight``; with
``regions`` the weight is multiplied by regionmask's mask of the region on the cell centres.
Statistics are computed in float64 in one pass per block (shifted sums, so ``std`` does not
cancel), block by block over latitude rows so that memory stays bounded; Dask input gives a
Dask result and computes nothing.

>>> import numpy as np, xarray as xr
>>> emb = xr.DataArray(np.ones((2, 3, 4, 5), "float32"), dims=("time", "lat", "lon", "channel"),
...                    coords={"lat": [10.0, 0.0, -10.0], "lon": [0.0, 90, 180, 270]})
>>> p = pool(emb)
>>> p.dims, p.sel(stat="mean").values.ravel()[:2].tolist(), float(p.sel(stat="std").max())
(('time', 'channel', 'stat'), [1.0, 1.0], 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.grids import grid_of
from xaurora.io.orientation import cell_weights

__all__ = ["STATS", "pool", "region_weights"]

STATS = ("mean", "std", "rms")
_BLOCK_ELEMENTS = 4_000_000  # float64 elements per working block (~32 MB)


def region_weights(lat, lon, regions=None) -> xr.DataArray:
    """Normalised area weights on the patch grid, dims ``(region, lat, lon)``, summing to 1.

    Without ``regions`` there is one region, the globe (``region = "global"``). With a
    ``regionmask.Regions``, weights are cos(lat) × ``regions.mask_3D(lon, lat)`` on the patch
    centres; regions that contain no patch centre are dropped (as regionmask does).
    """
    w = cell_weights(lat)
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    w2 = w.values[:, None] * np.ones((1, lon.size))
    if regions is None:
        mask = xr.DataArray(np.ones((1, lat.size, lon.size)), dims=("region", "lat", "lon"),
                            coords={"region": ["global"]})
    else:
        if not hasattr(regions, "mask_3D"):
            raise TypeError(
                f"regions: expected a regionmask.Regions, got {type(regions).__name__}. "
                "Fix: pass e.g. regionmask.defined_regions.giorgi."
            )
        mask = regions.mask_3D(lon, lat).transpose("region", "lat", "lon")
        if mask.sizes["region"] == 0:
            raise XauroraError(
                "regions: no region contains a patch centre of this grid. "
                "Fix: check the regions' longitude convention or use larger regions."
            )
    weights = mask.astype(np.float64) * w2[None]
    total = weights.sum(("lat", "lon"))
    weights = (weights / total).assign_coords(lat=lat, lon=lon)
    return weights.rename("weight")


def pool(
    da: xr.DataArray,
    stats: Sequence[str] = STATS,
    regions=None,
) -> xr.DataArray:
    """Area-weighted ``mean``/``std``/``rms`` over the latent grid, with a ``stat`` dim.

    The grid (:func:`xaurora.grids.grid_of`) gives the weights: cos(latitude) on Aurora's
    ``lat``/``lon`` patches, equal on HEALPix ``cells``, the ``cell_weight`` coordinate (else
    equal) on mesh points.

    Every other dim (``time``, ``level``, ``channel`` …) is kept. ``std`` is the weighted
    population standard deviation, ``rms`` the root of the weighted mean of squares. With
    ``regions`` (a ``regionmask.Regions``) each region is pooled separately, giving a ``region``
    dim with regionmask's ``names``/``abbrevs`` coords. Dask input stays lazy (``lat``/``lon`` are
    brought into one chunk per block; chunks along other dims are kept).

    >>> import numpy as np, xarray as xr
    >>> emb = xr.DataArray(np.arange(4.0).reshape(2, 2, 1), dims=("lat", "lon", "channel"),
    ...                    coords={"lat": [45.0, -45.0], "lon": [0.0, 180.0]})
    >>> pool(emb, stats=("mean",)).values.tolist()
    [[1.5]]
    """
    stats = (stats,) if isinstance(stats, str) else tuple(stats)
    bad = [s for s in stats if s not in STATS]
    if bad or not stats:
        raise XauroraError(
            f"pool: unknown statistic(s) {bad or stats!r}. Fix: choose from {STATS}."
        )
    g = grid_of(da)  # Aurora patches, HEALPix cells or mesh points: the grid knows its areas
    g.check(da, "array")
    core = list(g.dims)
    name = str(da.name or "array")
    empty = [d for d in core if da.sizes[d] == 0]
    if empty:
        raise XauroraError(f"{name}: its grid dim(s) {empty} are empty, so there is nothing to "
                           "pool. Fix: select a non-empty region of the grid.")
    # a NaN token would make every statistic of its time/level/channel NaN without a word;
    # lazy input is not computed here to look (its NaNs stay NaN in the result)
    if da.chunks is None and da.dtype.kind in "fc" and not np.isfinite(da.values).all():
        raise XauroraError(f"{name}: contains NaN or infinite values, which would make the "
                           "pooled statistics NaN. Fix: embed complete input fields, or fill "
                           "or drop them first (e.g. .fillna(0)).")
    weights = g.region_weights(da, regions).transpose("region", *core)
    if da.chunks is not None:
        da = da.chunk({d: -1 for d in core})
    n_region = weights.sizes["region"]
    out = xr.apply_ufunc(
        _pool_block if len(core) == 2 else _pool_cells,
        da,
        input_core_dims=[core],
        output_core_dims=[["region", "stat"]],
        kwargs={"weights": weights.values, "stats": stats},
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {"region": n_region, "stat": len(stats)}},
        keep_attrs=False,
    )
    out = out.assign_coords(stat=list(stats))
    region_coords = {k: v for k, v in weights.coords.items() if "region" in v.dims}
    out = out.assign_coords(region_coords)
    if regions is None:
        out = out.isel(region=0, drop=True)
    out.attrs = {
        **{k: v for k, v in da.attrs.items() if not k.startswith("grid_")},
        "cell_methods": " ".join(f"{d}:" for d in core) + f" mean (area-weighted, {g.weighting})",
        "pooled_stats": " ".join(stats),
    }
    if regions is not None and getattr(regions, "name", None):
        out.attrs["regions"] = str(regions.name)
    return out.rename(da.name if da.name is not None else "pooled")


def _pool_cells(x: np.ndarray, *, weights: np.ndarray, stats: tuple[str, ...]) -> np.ndarray:
    """numpy kernel on one ``cells`` dim: a grid of one row (views, no copies)."""
    return _pool_block(x[..., None, :], weights=weights[:, None, :], stats=stats)


def _pool_block(x: np.ndarray, *, weights: np.ndarray, stats: tuple[str, ...]) -> np.ndarray:
    """numpy kernel: x (..., lat, lon), weights (region, lat, lon) → (..., region, stat)."""
    lead = x.shape[:-2]
    n_lat, n_lon = x.shape[-2:]
    n_rows = int(np.prod(lead, dtype=np.int64))
    w = weights.reshape(weights.shape[0], n_lat * n_lon)
    step = max(1, _BLOCK_ELEMENTS // max(1, n_rows * n_lon))
    # slice x block by block (x may be a transposed view: never copy it whole)
    shift = np.ascontiguousarray(x[..., n_lat // 2, :], dtype=np.float64)
    shift = shift.reshape(n_rows, n_lon).mean(axis=1, keepdims=True)
    s1 = np.zeros((n_rows, w.shape[0]))
    s2 = np.zeros((n_rows, w.shape[0]))
    for i0 in range(0, n_lat, step):
        i1 = min(n_lat, i0 + step)
        c = np.ascontiguousarray(x[..., i0:i1, :], dtype=np.float64).reshape(n_rows, -1)
        c -= shift
        wb = w[:, i0 * n_lon : i1 * n_lon].T
        s1 += c @ wb
        c *= c
        s2 += c @ wb
    # weights sum to 1 per region, so s1/s2 are weighted means of (x - shift) and its square
    mean_c = s1
    var = np.maximum(s2 - mean_c**2, 0.0)
    parts = {
        "mean": shift + mean_c,
        "std": np.sqrt(var),
        "rms": np.sqrt(np.maximum(s2 + 2.0 * shift * mean_c + shift**2, 0.0)),
    }
    res = np.stack([parts[s] for s in stats], axis=-1)
    return res.reshape(*lead, w.shape[0], len(stats))
