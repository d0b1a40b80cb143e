"""CF attributes of the sample data; its names per naming scheme come from ``xaurora.io.names``.

``"cds"`` (ECMWF short names, as the Copernicus Climate Data Store serves ERA5), ``"wb2"``
(WeatherBench2 long names) and ``"aurora"`` (Aurora's own names), used by
:func:`~xaurora.sample.sample_static`, :func:`~xaurora.sample.sample_dataset` and
:func:`~xaurora.sample.sample_events`.
"""

from __future__ import annotations

from xaurora.io.names import SCHEME_DIMS, scheme_of, variable_names

__all__ = ["dims_of", "variable_names"]


def dims_of(naming: str) -> tuple[str, str]:
    """The (time, level) dim names of the sample data in ``naming`` (``"cds"``, ``"wb2"``, …).

    >>> dims_of("cds")
    ('valid_time', 'pressure_level')
    """
    time, level = SCHEME_DIMS[scheme_of(naming)][:2]
    return time, level


_ATTRS = {
    "2t": ("K", "2 metre temperature", "air_temperature"),
    "10u": ("m s**-1", "10 metre U wind component", "eastward_wind"),
    "10v": ("m s**-1", "10 metre V wind component", "northward_wind"),
    "msl": ("Pa", "Mean sea level pressure", "air_pressure_at_mean_sea_level"),
    "z": ("m**2 s**-2", "Geopotential", "geopotential"),
    "u": ("m s**-1", "U component of wind", "eastward_wind"),
    "v": ("m s**-1", "V component of wind", "northward_wind"),
    "t": ("K", "Temperature", "air_temperature"),
    "q": ("kg kg**-1", "Specific humidity", "specific_humidity"),
}
STATIC_ATTRS = {
    "lsm": ("1", "Land-sea mask", "land_binary_mask"),
    "z": ("m**2 s**-2", "Geopotential at the surface", "surface_geopotential"),
    "slt": ("1", "Soil type", None),
}


def cf_attrs(key: str) -> dict[str, str]:
    units, long_name, std = _ATTRS[key]
    return {"units": units, "long_name": long_name, "standard_name": std}
