"""The one place that labels latent tokens as an xarray DataArray, for every grid.

Aurora's patches and other encoders' HEALPix cells or mesh points all become a DataArray named
``embedding`` with dims ``(time, [lead_time,] level, *grid dims, channel)``: the grid gives its
own coordinates (``lat``/``lon`` for patches, ``cells`` with ``cell_ids`` or centres for cells)
and the caller its attrs.

>>> import numpy as np
>>> from xaurora.grids import HEALPix
>>> da = latent_dataarray(np.zeros((1, 1, 12, 2)), ["2020-01-01"], ["latent"],
...                       HEALPix(0).coords(), {"units": "1"})
>>> da.dims
('time', 'level', 'cells', 'channel')
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["latent_dataarray"]


def _dims_of(coords: dict) -> tuple[str, ...]:
    """The dims of ``coords`` given as ``(dim(s), values[, attrs])`` tuples, in order."""
    dims: dict[str, None] = {}
    for c in coords.values():
        dims.update(dict.fromkeys((c[0],) if isinstance(c[0], str) else tuple(c[0])))
    return tuple(dims)


def latent_dataarray(values, times, levels, grid_coords: dict, attrs: dict, *,
                     channel_coords: dict | None = None,
                     lead_times: np.ndarray | None = None) -> xr.DataArray:
    """``values`` (NumPy or Dask, shaped ``(time, [lead_time,] level, *grid, channel)``) labelled.

    ``grid_coords`` are the latent grid's coordinates (``LatentGrid.coords()``), ``attrs`` the
    result's attrs; ``channel_coords`` label the channels further (the ``inputs`` layer's
    variable, level, history and pixel); ``lead_times`` (timedelta64) add a ``lead_time`` dim.
    """
    coords = {
        "time": ("time", np.asarray(times, dtype="datetime64[ns]"), {"standard_name": "time"}),
        "level": ("level", np.array(levels, dtype=str)),
        **grid_coords,
        "channel": ("channel", np.arange(values.shape[-1])),
        **(channel_coords or {}),
    }
    dims = ("time", "level", *_dims_of(grid_coords), "channel")
    if lead_times is not None:
        dims = ("time", "lead_time", *dims[1:])
        coords["lead_time"] = ("lead_time", np.asarray(lead_times, dtype="timedelta64[ns]"))
    return xr.DataArray(values, dims=dims, coords=coords, name="embedding", attrs=attrs)
