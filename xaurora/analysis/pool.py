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
from xaurora.io.orientation import cell_weights
from xaurora.results.pooled import pooled
from xaurora.run.pooling import STATS

__all__ = ["STATS", "pool", "region_weights"]


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
    return pooled(da, stats, regions)
