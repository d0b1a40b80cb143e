"""Latent grids (``xa.grids``): where each latent vector sits on the sphere.

Three kinds share one interface (:class:`~xaurora.grids.base.LatentGrid`): Aurora's lat–lon
``Patches``, ``HEALPix`` cells and mesh ``Points``. Each knows its coordinates, area weights,
how to reduce labels from a finer grid onto itself, how to select a longitude band or a region
and how to show itself on a map; ``pool``, ``probe`` and ``xa.plot.map`` ask the grid and never
branch on its kind. :func:`grid_of` recovers the grid of an embedding from its dims, coords and
attrs, so nothing but the DataArray has to travel between calls.

>>> import xaurora as xa
>>> g = xa.grids.HEALPix(level=1)
>>> g.n_cells, g.cell_ids[:3].tolist()
(48, [0, 1, 2])
>>> import numpy as np, xarray as xr
>>> emb = xr.DataArray(np.zeros((48, 2)), dims=("cells", "channel"), coords=g.coords())
>>> grid_of(emb) == g
True
"""

from __future__ import annotations

import xarray as xr

from xaurora.grids.base import LatentGrid, grid_of, lon_in_band
from xaurora.grids.healpix import HEALPix
from xaurora.grids.patches import Patches
from xaurora.grids.points import Points

__all__ = ["HEALPix", "LatentGrid", "Patches", "Points", "as_map", "grid_of", "lon_in_band"]


def as_map(da: xr.DataArray, resolution: float | None = None) -> xr.DataArray:
    """``da`` on a lat–lon grid for drawing: cells become the image of their nearest cell.

    Arrays already on a lat–lon grid (any naming) are returned unchanged.
    """
    if "cells" not in da.dims:
        return da
    return grid_of(da).to_map(da, resolution)
