"""Variable and dimension names of the layouts xaurora reads (API.md §2).

>>> SURFACE_NAMES["t2m"], ATMOS_NAMES["temperature"], STATIC_NAMES["land_sea_mask"]
('2t', 't', 'lsm')
"""

from __future__ import annotations

SURFACE_NAMES = {
    "2t": "2t", "t2m": "2t", "2m_temperature": "2t",
    "10u": "10u", "u10": "10u", "10m_u_component_of_wind": "10u",
    "10v": "10v", "v10": "10v", "10m_v_component_of_wind": "10v",
    "msl": "msl", "mean_sea_level_pressure": "msl",
}
ATMOS_NAMES = {
    "z": "z", "geopotential": "z",
    "u": "u", "u_component_of_wind": "u",
    "v": "v", "v_component_of_wind": "v",
    "t": "t", "temperature": "t",
    "q": "q", "specific_humidity": "q",
}
STATIC_NAMES = {
    "lsm": "lsm", "land_sea_mask": "lsm",
    "z": "z", "geopotential_at_surface": "z",
    "slt": "slt", "soil_type": "slt",
}
DIM_NAMES = {
    "time": "time", "valid_time": "time",
    "level": "level", "pressure_level": "level", "isobaricInhPa": "level",
    "latitude": "lat", "lat": "lat",
    "longitude": "lon", "lon": "lon",
}
#: Prefix of static fields in the canonical dataset (``z`` is both static and atmospheric).
STATIC_PREFIX = "static_"

UNITS = {
    "2t": "K", "10u": "m s-1", "10v": "m s-1", "msl": "Pa",
    "z": "m2 s-2", "u": "m s-1", "v": "m s-1", "t": "K", "q": "kg kg-1",
    "static_lsm": "1", "static_z": "m2 s-2", "static_slt": "1",
}
HINTS = {
    "2t": "2 m temperature must be in kelvin (add 273.15 to °C)",
    "t": "temperature must be in kelvin (add 273.15 to °C)",
    "msl": "mean sea-level pressure must be in Pa (multiply hPa by 100)",
    "z": "geopotential must be in m² s⁻² (multiply geopotential height in m by 9.80665)",
    "static_z": "surface geopotential must be in m² s⁻² (multiply orography in m by 9.80665)",
    "q": "specific humidity must be in kg kg⁻¹ (divide g kg⁻¹ by 1000)",
    "static_lsm": "the land–sea mask must be a fraction in [0, 1] (divide % by 100)",
}
