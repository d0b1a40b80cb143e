"""Pooled statistics of latents as labelled xarray: the implementation behind ``pool`` and
``embed(..., pool=...)``.

:func:`pooled` is what ``emb.aurora.pool`` computes (:mod:`xaurora.analysis.pool` documents
it); ``embed`` uses it to label statistics that were computed on the model's device, so both
give the same dims, coords and attrs.

>>> import numpy as np, xarray as xr
>>> emb = xr.DataArray(np.ones((2, 3, 4, 5), "float32"), dims=("time", "lat", "lon", "channel"),
...                    coords={"lat": [10.0, 0.0, -10.0], "lon": [0.0, 90, 180, 270]})
>>> pooled(emb).dims
('time', 'channel', 'stat')
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.grids import grid_of
from xaurora.run.pooling import STATS, pool_array

__all__ = ["checked_stats", "pooled"]


def checked_stats(stats) -> tuple[str, ...]:
    """``stats`` as a tuple of known statistics, or an error naming the choices."""
    stats = (stats,) if isinstance(stats, str) else tuple(stats)
    bad = [s for s in stats if s not in STATS]
    if bad or not stats:
        raise XauroraError(
            f"pool: unknown statistic(s) {bad or stats!r}. Fix: choose from {STATS}."
        )
    return stats


def pooled(da: xr.DataArray, stats: Sequence[str] = STATS, regions=None) -> xr.DataArray:
    """Area-weighted statistics of ``da`` over its latent grid (see ``xaurora.analysis.pool``)."""
    stats = checked_stats(stats)
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
    return pool_array(x[..., None, :], weights[:, None, :], stats)


def _pool_block(x: np.ndarray, *, weights: np.ndarray, stats: tuple[str, ...]) -> np.ndarray:
    """numpy kernel: x (..., lat, lon), weights (region, lat, lon) → (..., region, stat)."""
    return pool_array(x, weights, stats)
