"""Variable and dimension names of the layouts xaurora reads: the one table of each.

Every module that looks for a dim or a variable by name (canonical reading, the patch grid,
labels, plots, the sample data and ``xa.testing``) takes its names from here, so a new alias
(another naming scheme) is added once.

>>> SURFACE_NAMES["t2m"], ATMOS_NAMES["temperature"], STATIC_NAMES["land_sea_mask"]
('2t', 't', 'lsm')
>>> DIM_NAMES["valid_time"], DIM_NAMES["longitude"], LSM_NAMES[:2]
('time', 'lon', ('lsm', 'land_sea_mask'))
"""

from __future__ import annotations

from xaurora.errors import XauroraError

#: Names of each canonical dim, the canonical name first.
TIME_NAMES = ("time", "valid_time")
LEVEL_NAMES = ("level", "pressure_level", "isobaricInhPa")
LAT_NAMES = ("lat", "latitude")
LON_NAMES = ("lon", "longitude")
#: The dim of cell-based grids (HEALPix, mesh points; xdggs layout) and its id coordinate.
CELL_DIM = "cells"
CELL_IDS = "cell_ids"
#: CF attributes of canonical latitude/longitude coordinates.
LAT_ATTRS = {"units": "degrees_north", "standard_name": "latitude", "long_name": "latitude"}
LON_ATTRS = {"units": "degrees_east", "standard_name": "longitude", "long_name": "longitude"}

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
#: Every known dim name → its canonical name.
DIM_NAMES = {name: names[0] for names in (TIME_NAMES, LEVEL_NAMES, LAT_NAMES, LON_NAMES)
             for name in names}
#: Prefix of static fields in the canonical dataset (``z`` is both static and atmospheric).
STATIC_PREFIX = "static_"
#: Names a land–sea mask goes by: Aurora/ECMWF, WeatherBench2, xaurora's canonical dataset.
LSM_NAMES = (*(k for k, v in STATIC_NAMES.items() if v == "lsm"), STATIC_PREFIX + "lsm")

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

#: The name of each canonical variable in each naming scheme (for messages in the user's terms).
SCHEMES: dict[str, dict[str, str]] = {
    "aurora": {"2t": "2t", "10u": "10u", "10v": "10v", "msl": "msl", "z": "z", "u": "u",
               "v": "v", "t": "t", "q": "q", "static_lsm": "lsm", "static_z": "z",
               "static_slt": "slt"},
    "ECMWF/CDS": {"2t": "t2m", "10u": "u10", "10v": "v10", "msl": "msl", "z": "z", "u": "u",
                  "v": "v", "t": "t", "q": "q", "static_lsm": "lsm", "static_z": "z",
                  "static_slt": "slt"},
    "WeatherBench2": {"2t": "2m_temperature", "10u": "10m_u_component_of_wind",
                      "10v": "10m_v_component_of_wind", "msl": "mean_sea_level_pressure",
                      "z": "geopotential", "u": "u_component_of_wind",
                      "v": "v_component_of_wind", "t": "temperature",
                      "q": "specific_humidity", "static_lsm": "land_sea_mask",
                      "static_z": "geopotential_at_surface", "static_slt": "soil_type"},
}

#: ``(time, level, lat, lon)`` dim names of each scheme (as ERA5 from the CDS, WeatherBench2 and
#: Aurora's own examples name them).
SCHEME_DIMS: dict[str, tuple[str, str, str, str]] = {
    "aurora": ("time", "level", "lat", "lon"),
    "ECMWF/CDS": ("valid_time", "pressure_level", "latitude", "longitude"),
    "WeatherBench2": ("time", "level", "latitude", "longitude"),
}
#: The short ``naming=`` arguments of the data generators (sample data, ``xa.testing``).
NAMING = {"aurora": "aurora", "cds": "ECMWF/CDS", "wb2": "WeatherBench2"}


def scheme_of(naming: str) -> str:
    """The scheme of a ``naming=`` argument (``"cds"``, ``"wb2"``, ``"aurora"`` or a scheme).

    >>> scheme_of("cds"), scheme_of("WeatherBench2")
    ('ECMWF/CDS', 'WeatherBench2')
    """
    if naming in SCHEMES:
        return naming
    if naming not in NAMING:
        raise XauroraError(
            f"naming={naming!r} is not known. Fix: use one of {sorted(NAMING)} "
            "('cds' = ECMWF short names, 'wb2' = WeatherBench2 long names, 'aurora' = Aurora's)."
        )
    return NAMING[naming]


def variable_names(naming: str, static: bool = False) -> dict[str, str]:
    """The name in ``naming`` of each Aurora variable (``static=True``: of the static fields).

    Keys are Aurora's names (``2t``, ``z``, …; statics ``lsm``, ``z``, ``slt``).

    >>> variable_names("cds")["2t"], variable_names("wb2", static=True)["lsm"]
    ('t2m', 'land_sea_mask')
    """
    table = SCHEMES[scheme_of(naming)]
    if static:
        return {k.removeprefix(STATIC_PREFIX): v for k, v in table.items()
                if k.startswith(STATIC_PREFIX)}
    return {k: v for k, v in table.items() if not k.startswith(STATIC_PREFIX)}


def find_land_sea_mask(ds, what: str = "land_sea"):
    """The land–sea mask variable of ``ds``, under any of :data:`LSM_NAMES`.

    Raises an error naming what the dataset holds and how to fix it. ``what`` names the
    caller's argument in that message.

    >>> import xarray as xr
    >>> ds = xr.Dataset({"land_sea_mask": ("x", [0.0, 1.0]), "soil_type": ("x", [0, 3])})
    >>> find_land_sea_mask(ds).name
    'land_sea_mask'
    """
    found = next((n for n in LSM_NAMES if n in ds.data_vars), None)
    if found is None:
        raise XauroraError(
            f"{what}: the dataset has no land-sea mask (looked for {', '.join(LSM_NAMES)}; it "
            f"has {', '.join(sorted(map(str, ds.data_vars))) or 'no variables'}). Fix: pass the "
            "static dataset that holds the mask (e.g. xa.sample.sample_static() or ERA5's "
            "'lsm'), or the mask DataArray itself, e.g. ds['<mask name>']."
        )
    return ds[found]


def naming_scheme(names) -> str:
    """The naming scheme most of ``names`` belong to (``"aurora"`` when none tells them apart).

    Names shared by several schemes (``msl``, ``z``, ``u``) do not count.

    >>> naming_scheme(["t2m", "u10", "msl", "z"])
    'ECMWF/CDS'
    >>> naming_scheme(["2m_temperature", "geopotential"])
    'WeatherBench2'
    """
    names = {str(n) for n in names}
    votes = {}
    for scheme, table in SCHEMES.items():
        own = set(table.values()) - {v for s, t in SCHEMES.items() if s != scheme
                                     for v in t.values()}
        votes[scheme] = len(names & own)
    best = max(votes, key=lambda s: votes[s])
    return best if votes[best] else "aurora"


def in_scheme(canon: str, scheme: str) -> str:
    """A canonical variable's name in ``scheme``, e.g. ``2t`` → ``t2m`` in ECMWF/CDS.

    >>> in_scheme("2t", "ECMWF/CDS"), in_scheme("static_z", "WeatherBench2")
    ('t2m', 'geopotential_at_surface')
    """
    return SCHEMES.get(scheme, {}).get(canon, canon.removeprefix(STATIC_PREFIX))
