"""The bundled real data in ``xaurora/data``: ERA5 statics and ERA-Interim climatology.

The two small netCDF files (see ``xaurora/data/README.md`` for sources and licences) are read
once and cached; :func:`sample_static` and :func:`sample_climatology` hand out copies.
"""

from __future__ import annotations

import functools
from pathlib import Path

import xarray as xr

from xaurora.sample.naming import STATIC_ATTRS, variable_names

DATA_DIR = Path(__file__).parent.parent / "data"
STATIC_FILE = DATA_DIR / "era5_static_1.5deg.nc"
CLIMATOLOGY_FILE = DATA_DIR / "erainterim_monthly_1.5deg.nc"


@functools.lru_cache(maxsize=1)
def read_static() -> xr.Dataset:
    with xr.open_dataset(STATIC_FILE) as ds:
        return ds.load()


@functools.lru_cache(maxsize=1)
def read_climatology() -> xr.Dataset:
    with xr.open_dataset(CLIMATOLOGY_FILE) as ds:
        return ds.load()


def sample_static(naming: str = "cds") -> xr.Dataset:
    """Real ERA5 static fields on the 1.5° sample grid.

    Returns ``lsm`` (land fraction 0–1), ``z`` (surface geopotential, m² s⁻²) and ``slt``
    (soil type 0–7) with dims ``(latitude, longitude)``; ``naming="wb2"`` gives
    ``land_sea_mask``, ``geopotential_at_surface``, ``soil_type``. Pass it as ``static=`` to any
    method that runs the model, or use ``sample_dataset(with_static=True)``.

    >>> st = sample_static()
    >>> st.lsm.shape, float(st.latitude[0]), float(st.longitude[-1])
    ((121, 240), 90.0, 358.5)
    """
    names = variable_names(naming, static=True)
    ds = read_static().copy(deep=True)
    for key, (units, long_name, std) in STATIC_ATTRS.items():
        attrs = {"units": units, "long_name": long_name}
        if std:
            attrs["standard_name"] = std
        ds[key].attrs = attrs
    ds = ds.rename({k: v for k, v in names.items() if k != v})
    ds.attrs = dict(read_static().attrs)
    return ds


def sample_climatology() -> xr.Dataset:
    """Real ERA-Interim January/July monthly means of ``z``, ``u``, ``v`` at 200/500/850 hPa (1.5°).

    >>> clim = sample_climatology()
    >>> dict(clim.sizes)
    {'month': 2, 'level': 3, 'latitude': 121, 'longitude': 240}
    """
    return read_climatology().copy(deep=True)
