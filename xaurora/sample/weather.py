"""Bundled sample data: real ERA5 statics and a deterministic, plausible weather generator.

Everything here runs offline from the small files in ``xaurora/data`` (see its README for the
sources and licences):

* :func:`sample_static` – the real ERA5 land–sea mask, surface geopotential and soil type on a
  1.5° grid (121 latitudes 90 → −90 × 240 longitudes 0 → 358.5; ``121 % 4 == 1``, so Aurora's
  crop leaves 30 × 60 patches of 4 × 4 pixels).
* :func:`sample_climatology` – real ERA-Interim January and July mean ``z``, ``u``, ``v`` at
  200/500/850 hPa on the same grid.
* :func:`sample_dataset` – weather generated from those: the annual cycle interpolated between
  January and July, moving mid-latitude storms and Rossby waves with geostrophic winds,
  temperature from the geopotential thickness, humidity from temperature, a diurnal cycle of
  2 m temperature over land. Deterministic for a given ``seed`` and independent of the window
  asked for (a shorter run is a slice of a longer one).
* :func:`storm_events` / :func:`sample_events` – dates with a deep low planted over the North
  Atlantic and calm dates without one: a ready-made regime classification problem.

The fields are *plausible*, not a reanalysis: use them to try the library, not to learn about
the atmosphere.

>>> import xaurora.sample as xs
>>> ds = xs.sample_dataset(periods=4)
>>> sorted(ds.data_vars)
['msl', 'q', 't', 't2m', 'u', 'u10', 'v', 'v10', 'z']
>>> ds["t"].dims, ds["t"].shape
(('valid_time', 'pressure_level', 'latitude', 'longitude'), (4, 3, 121, 240))
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "NORTH_ATLANTIC",
    "sample_climatology",
    "sample_dataset",
    "sample_events",
    "sample_static",
    "storm_events",
]

DATA_DIR = Path(__file__).parent / "data"
STATIC_FILE = DATA_DIR / "era5_static_1.5deg.nc"
CLIMATOLOGY_FILE = DATA_DIR / "erainterim_monthly_1.5deg.nc"

#: ``(lat_min, lat_max, lon_min, lon_max)`` of the box where :func:`storm_events` plants storms.
NORTH_ATLANTIC: tuple[float, float, float, float] = (40.0, 65.0, -60.0, -10.0)

G = 9.80665  # m s-2
R_D = 287.05  # J kg-1 K-1
EARTH_RADIUS = 6.371e6  # m
OMEGA = 7.292e-5  # s-1
LAPSE = 6.5e-3  # K m-1
BASE_LEVELS = (200, 500, 850)
AURORA_LEVELS = (50, 100, 150, 200, 250, 300, 400, 500, 600, 700, 850, 925, 1000)

# How a storm's (or wave's) geopotential anomaly grows with height, relative to its msl anomaly
# divided by the air density near the surface: cold-core mid-latitude lows deepen upwards.
_VERTICAL = {200: 1.3, 500: 1.2, 850: 1.0}
_RHO_SURFACE = 1.2  # kg m-3

_NAMES = {
    "cds": {"2t": "t2m", "10u": "u10", "10v": "v10", "msl": "msl", "z": "z", "u": "u",
            "v": "v", "t": "t", "q": "q"},
    "aurora": {k: k for k in ("2t", "10u", "10v", "msl", "z", "u", "v", "t", "q")},
    "wb2": {"2t": "2m_temperature", "10u": "10m_u_component_of_wind",
            "10v": "10m_v_component_of_wind", "msl": "mean_sea_level_pressure",
            "z": "geopotential", "u": "u_component_of_wind", "v": "v_component_of_wind",
            "t": "temperature", "q": "specific_humidity"},
}
_DIMS = {  # (time, level) dim names per naming scheme
    "cds": ("valid_time", "pressure_level"),
    "aurora": ("time", "level"),
    "wb2": ("time", "level"),
}
_STATIC_NAMES = {
    "cds": {"lsm": "lsm", "z": "z", "slt": "slt"},
    "aurora": {"lsm": "lsm", "z": "z", "slt": "slt"},
    "wb2": {"lsm": "land_sea_mask", "z": "geopotential_at_surface", "slt": "soil_type"},
}
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
_STATIC_ATTRS = {
    "lsm": ("1", "Land-sea mask", "land_binary_mask"),
    "z": ("m**2 s**-2", "Geopotential at the surface", "surface_geopotential"),
    "slt": ("1", "Soil type", None),
}


# --------------------------------------------------------------------------------------------
# bundled real data
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _read_static() -> xr.Dataset:
    with xr.open_dataset(STATIC_FILE) as ds:
        return ds.load()


@functools.lru_cache(maxsize=1)
def _read_climatology() -> xr.Dataset:
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
    names = _names(naming, _STATIC_NAMES)
    ds = _read_static().copy(deep=True)
    for key, (units, long_name, std) in _STATIC_ATTRS.items():
        attrs = {"units": units, "long_name": long_name}
        if std:
            attrs["standard_name"] = std
        ds[key].attrs = attrs
    ds = ds.rename({k: v for k, v in names.items() if k != v})
    ds.attrs = dict(_read_static().attrs)
    return ds


def sample_climatology() -> xr.Dataset:
    """Real ERA-Interim January/July monthly means of ``z``, ``u``, ``v`` at 200/500/850 hPa (1.5°).

    >>> clim = sample_climatology()
    >>> dict(clim.sizes)
    {'month': 2, 'level': 3, 'latitude': 121, 'longitude': 240}
    """
    return _read_climatology().copy(deep=True)


# --------------------------------------------------------------------------------------------
# the generator
# --------------------------------------------------------------------------------------------


def _names(naming: str, table: dict) -> dict:
    if naming not in table:
        raise ValueError(
            f"naming={naming!r} is not known. Fix: use one of {sorted(table)} "
            "('cds' = ECMWF short names, 'wb2' = WeatherBench2 long names, 'aurora' = Aurora's)."
        )
    return table[naming]


def _season_weight(times: pd.DatetimeIndex) -> np.ndarray:
    """0 in mid-January, 1 in mid-July: ½(1 − cos(2π (doy − 15) / 365.25))."""
    doy = times.day_of_year.values + times.hour.values / 24.0
    return 0.5 * (1.0 - np.cos(2.0 * np.pi * (doy - 15.5) / 365.25))


def _hours(times: pd.DatetimeIndex) -> np.ndarray:
    """Hours since 2000-01-01 (the generator's absolute clock)."""
    return np.asarray((times - pd.Timestamp("2000-01-01")) / pd.Timedelta(hours=1), dtype=float)


def _great_circle_sq(lat, lon, lat0, lon0) -> np.ndarray:
    """Squared great-circle distance in units of Earth radii (broadcasting)."""
    lat, lon, lat0, lon0 = (np.deg2rad(a) for a in (lat, lon, lat0, lon0))
    cosd = np.sin(lat) * np.sin(lat0) + np.cos(lat) * np.cos(lat0) * np.cos(lon - lon0)
    return np.arccos(np.clip(cosd, -1.0, 1.0)) ** 2


def _storm_tracks(day0: int, day1: int, seed: int) -> np.ndarray:
    """Random storms born on days [day0, day1) since 2000-01-01, both hemispheres.

    Each row: birth hour, lifetime h, lat0, lon0, dlon/h, dlat/h, depth Pa, radius (Earth radii).
    A storm's draws depend only on (seed, day), so any window sees the same storms.
    """
    rows = []
    for day in range(day0, day1):
        rng = np.random.default_rng([seed, 7919, day + 100_000])
        n = rng.poisson(4.0)
        for _ in range(n):
            hemi = 1.0 if rng.random() < 0.5 else -1.0
            rows.append(
                [
                    day * 24.0 + rng.uniform(0, 24),
                    rng.uniform(72, 144),
                    hemi * rng.uniform(35, 58),
                    rng.uniform(0, 360),
                    rng.uniform(0.35, 0.6),  # ° lon per hour: 8-14° per day
                    hemi * rng.uniform(0.0, 0.08),
                    rng.uniform(800, 2500),
                    rng.uniform(0.10, 0.17),  # 650-1100 km
                ]
            )
    return np.asarray(rows, dtype=np.float64).reshape(-1, 8)


def _in_box(lat, lon, box) -> np.ndarray:
    lat_min, lat_max, lon_min, lon_max = box
    lon = np.mod(lon, 360.0)
    lo, hi = lon_min % 360.0, lon_max % 360.0
    in_lon = (lon >= lo) & (lon <= hi) if lo <= hi else (lon >= lo) | (lon <= hi)
    return (lat >= lat_min) & (lat <= lat_max) & in_lon


def _msl_anomaly(
    hours: np.ndarray, lat: np.ndarray, lon: np.ndarray, seed: int, events: np.ndarray | None
) -> np.ndarray:
    """Mean-sea-level pressure anomaly (Pa) of moving storms and Rossby waves, (time, lat, lon)."""
    lat2, lon2 = lat[:, None], lon[None, :]
    out = np.zeros((hours.size, lat.size, lon.size))
    # Rossby waves: wavenumbers 3-7 drifting east in each hemisphere's storm track.
    rng = np.random.default_rng([seed, 31])
    for hemi in (1.0, -1.0):
        env = np.exp(-(((hemi * lat2) - 50.0) / 14.0) ** 2)
        for k in range(3, 8):
            amp = rng.uniform(300, 700) / np.sqrt(k - 2)
            speed = rng.uniform(0.25, 0.45)  # ° lon per hour
            phase = rng.uniform(0, 2 * np.pi)
            arg = np.deg2rad(k * (lon2[None] - speed * hours[:, None, None])) + phase
            out += amp * env[None] * np.cos(arg)
    # Storms born up to 7 days before the window.
    day0 = int(np.floor(hours.min() / 24.0)) - 7
    day1 = int(np.floor(hours.max() / 24.0)) + 1
    for birth, life, la0, lo0, dlo, dla, depth, radius in _storm_tracks(day0, day1, seed):
        age = hours - birth
        alive = (age > 0) & (age < life)
        if not alive.any():
            continue
        a = age[alive]
        env = np.sin(np.pi * a / life) ** 2
        la = la0 + dla * a
        lo = lo0 + dlo * a
        d2 = _great_circle_sq(lat2[None], lon2[None], la[:, None, None], lo[:, None, None])
        low = -depth * env[:, None, None] * np.exp(-d2 / (2 * radius**2))
        if events is not None:  # calm dates: no storm centre inside the North Atlantic box
            centre_in = _in_box(la, lo, NORTH_ATLANTIC) & ~events[alive]
            low = low * np.where(centre_in, 0.0, 1.0)[:, None, None]
        out[alive] += low
    if events is not None:
        out += _planted_storms(hours, lat, lon, seed, events)
    return out


def _planted_storms(hours, lat, lon, seed, events) -> np.ndarray:
    """Deep lows over the North Atlantic at the event times (one per run of True values)."""
    lat2, lon2 = lat[:, None], lon[None, :]
    out = np.zeros((hours.size, lat.size, lon.size))
    idx = np.flatnonzero(events)
    if idx.size == 0:
        return out
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
    for run in runs:
        rng = np.random.default_rng([seed, 271, int(hours[run[0]])])
        la0 = rng.uniform(48, 58)
        lo0 = rng.uniform(315, 335)
        depth = rng.uniform(3000, 4000)
        radius = rng.uniform(0.13, 0.17)
        a = hours[run] - hours[run[0]]
        d2 = _great_circle_sq(
            lat2[None], lon2[None], (la0 + 0.05 * a)[:, None, None], (lo0 + 0.4 * a)[:, None, None]
        )
        out[run] -= depth * np.exp(-d2 / (2 * radius**2))
    return out


def _geostrophic(phi: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, ...]:
    """Geostrophic wind (m s⁻¹) of a geopotential anomaly (..., lat, lon); damped in the tropics."""
    phi_rad, lam = np.deg2rad(lat), np.deg2rad(lon)
    f = 2 * OMEGA * np.sin(phi_rad)
    f_min = 2 * OMEGA * np.sin(np.deg2rad(15.0))
    f = np.where(np.abs(f) < f_min, np.copysign(f_min, f + 1e-30), f)[:, None]
    coslat = np.maximum(np.cos(phi_rad), 0.05)[:, None]
    dlam = lam[1] - lam[0]
    dphidx = (np.roll(phi, -1, axis=-1) - np.roll(phi, 1, axis=-1)) / (
        2 * dlam * EARTH_RADIUS * coslat
    )
    dphidy = np.gradient(phi, phi_rad, axis=-2) / EARTH_RADIUS
    taper = (1.0 - np.exp(-((lat / 12.0) ** 2)))[:, None]
    ug, vg = -dphidy / f * taper, dphidx / f * taper
    # soft cap at 40 m/s: where storms and waves pile up, keep jets plausible
    speed = np.hypot(ug, vg)
    factor = np.where(speed > 0, 40.0 * np.tanh(speed / 40.0) / np.maximum(speed, 1e-9), 1.0)
    return ug * factor, vg * factor


def _q_sat(t: np.ndarray, p_pa: float | np.ndarray) -> np.ndarray:
    """Saturation specific humidity (kg/kg) from Tetens' formula over water."""
    es = 611.2 * np.exp(17.67 * (t - 273.15) / (t - 29.65))
    return 0.622 * es / np.maximum(p_pa - 0.378 * es, 1.0)


def _relative_humidity(p: float) -> float:
    """A climatological relative-humidity profile: moist boundary layer, dry upper troposphere."""
    x = (np.log(p) - np.log(200.0)) / (np.log(1000.0) - np.log(200.0))
    return float(np.clip(0.2 + 0.45 * x, 0.05, 0.8))


def _temperature_profile(tb: dict[int, np.ndarray], p: int) -> np.ndarray:
    """Temperature at ``p`` hPa from the base-level temperatures (piecewise linear in ln p)."""
    if p in tb:
        return tb[p]
    if p < 200:  # lower stratosphere: roughly isothermal
        return tb[200]
    if p > 850:  # boundary layer: standard lapse rate below 850 hPa
        t = tb[850]
        return t + LAPSE * R_D * t / G * np.log(p / 850.0)
    lo, hi = (200, 500) if p < 500 else (500, 850)
    w = (np.log(p) - np.log(lo)) / (np.log(hi) - np.log(lo))
    return (1 - w) * tb[lo] + w * tb[hi]


def _wind_profile(wb: dict[int, np.ndarray], p: int) -> np.ndarray:
    if p in wb:
        return wb[p]
    if p < 200:
        return wb[200] * (1.0 - 0.5 * np.log(200.0 / p) / np.log(4.0))
    if p > 850:
        return wb[850] * (1.0 - 0.3 * np.log(p / 850.0) / np.log(1000.0 / 850.0))
    lo, hi = (200, 500) if p < 500 else (500, 850)
    w = (np.log(p) - np.log(lo)) / (np.log(hi) - np.log(lo))
    return (1 - w) * wb[lo] + w * wb[hi]


def _check_levels(levels: Sequence[int]) -> tuple[int, ...]:
    levels = tuple(int(p) for p in levels)
    bad = [p for p in levels if p not in AURORA_LEVELS]
    if bad or not levels:
        raise ValueError(
            f"levels={levels}: {bad or 'none'} not among Aurora's pressure levels. "
            f"Fix: choose from {AURORA_LEVELS} (hPa)."
        )
    return levels


def storm_events(
    start: str = "2020-01-01",
    periods: int = 40,
    freq: str = "6h",
    *,
    episode: int = 2,
    seed: int = 0,
) -> xr.DataArray:
    """Which time steps get a planted North-Atlantic storm: alternating storm and calm episodes.

    Each episode lasts ``episode`` consecutive steps (so both of Aurora's history steps see the
    same regime); storm episodes are chosen at random, about half of them. Pass the result to
    ``sample_dataset(events=...)``; it is also a ready-made label for a probe.

    >>> ev = storm_events(periods=8, episode=2)
    >>> ev.dtype, ev.sizes["valid_time"]
    (dtype('bool'), 8)
    """
    times = pd.date_range(start, periods=periods, freq=freq)
    n_ep = -(-periods // episode)
    rng = np.random.default_rng([seed, 577])
    ep = np.zeros(n_ep, dtype=bool)
    ep[rng.permutation(n_ep)[: (n_ep + 1) // 2]] = True
    flags = np.repeat(ep, episode)[:periods]
    return xr.DataArray(
        flags,
        dims="valid_time",
        coords={"valid_time": times},
        name="north_atlantic_storm",
        attrs={
            "long_name": "deep low planted over the North Atlantic",
            "region": "lat 40-65 N, lon 60-10 W",
        },
    )


def sample_dataset(
    start: str = "2020-01-01",
    periods: int = 8,
    freq: str = "6h",
    levels: Sequence[int] = (200, 500, 850),
    seed: int = 0,
    naming: str = "cds",
    *,
    with_static: bool = False,
    events: xr.DataArray | np.ndarray | None = None,
    times: Sequence | pd.DatetimeIndex | None = None,
) -> xr.Dataset:
    """Plausible ERA5-like weather on the 1.5° sample grid, generated deterministically.

    Surface ``2t, 10u, 10v, msl`` and atmospheric ``z, u, v, t, q`` at ``levels`` (hPa, any of
    Aurora's), in ERA5 units (K, m s⁻¹, Pa, m² s⁻², kg kg⁻¹). Built from real ERA-Interim
    January/July means (interpolated with the annual cycle), moving storms and Rossby waves with
    geostrophic winds, temperature from geopotential thickness, humidity from temperature, and a
    diurnal cycle of 2 m temperature over land.

    Parameters
    ----------
    start, periods, freq
        The time axis, as for :func:`pandas.date_range`.
    levels
        Pressure levels in hPa.
    seed
        Random seed; the same seed gives the same weather for the same date in any window.
    naming
        ``"cds"`` (``t2m, u10, …``; dims ``valid_time, pressure_level, latitude, longitude``),
        ``"wb2"`` (``2m_temperature, …``; ``time, level, …``) or ``"aurora"`` (``2t, 10u, …``).
    with_static
        Add the real ERA5 statics under their WeatherBench2 names ``land_sea_mask``,
        ``geopotential_at_surface`` and ``soil_type`` (the CDS name ``z`` is taken by the
        atmospheric geopotential). Otherwise pass ``static=sample_static()`` to model calls.
    events
        Boolean per time step (e.g. from :func:`storm_events`): True plants a deep low over the
        North Atlantic, False keeps storms out of it.
    times
        Explicit (irregular) time steps instead of ``start/periods/freq``, e.g. pairs
        ``(t − 6 h, t)`` spread over a year: the weather at each time is the same as in a
        continuous run, so Aurora's two history steps stay consistent.

    Examples
    --------
    >>> ds = sample_dataset("2020-07-01", periods=2, levels=(500, 850), naming="wb2")
    >>> float(ds["2m_temperature"].mean()) > 270, ds.level.values.tolist()
    (True, [500, 850])
    >>> import pandas as pd
    >>> t = pd.to_datetime(["2020-01-01 18:00", "2020-01-02 00:00", "2020-07-01 18:00",
    ...                     "2020-07-02 00:00"])
    >>> sample_dataset(times=t).sizes["valid_time"]
    4
    """
    names = _names(naming, _NAMES)
    tdim, ldim = _DIMS[naming]
    levels = _check_levels(levels)
    if times is None:
        times = pd.date_range(start, periods=periods, freq=freq)
    else:
        times = pd.DatetimeIndex(pd.to_datetime(np.asarray(times))).sort_values().unique()
    if len(times) == 0:
        raise ValueError("periods must be at least 1. Fix: pass periods=2 or more.")
    if events is not None:
        events = np.asarray(getattr(events, "values", events), dtype=bool)
        if events.shape != (len(times),):
            raise ValueError(
                f"events has shape {events.shape} but there are {len(times)} time steps. "
                "Fix: use storm_events() with the same start/periods/freq."
            )

    static = _read_static()
    clim = _read_climatology()
    lat = static.latitude.values
    lon = static.longitude.values
    lsm = static.lsm.values.astype(np.float64)
    zs = static.z.values.astype(np.float64)

    hours = _hours(times)
    w = _season_weight(times)[:, None, None]
    msl_anom = _msl_anomaly(hours, lat, lon, seed, events)  # (time, lat, lon), Pa

    zb, ub, vb, tb = {}, {}, {}, {}
    for p in BASE_LEVELS:
        jan = clim.sel(month=1, level=p)
        jul = clim.sel(month=7, level=p)
        dphi = msl_anom / _RHO_SURFACE * _VERTICAL[p]
        zb[p] = (1 - w) * jan.z.values + w * jul.z.values + dphi
        ug, vg = _geostrophic(dphi, lat, lon)
        ub[p] = (1 - w) * jan.u.values + w * jul.u.values + ug
        vb[p] = (1 - w) * jan.v.values + w * jul.v.values + vg
    # Layer-mean temperatures from the hypsometric equation, split with a standard lapse rate.
    # (-2 K: the thickness gives the virtual temperature, slightly warmer than T.)
    t_low = (zb[500] - zb[850]) / (R_D * np.log(850.0 / 500.0)) - 2.0
    dt_low = LAPSE * (zb[500] - zb[850]) / G
    tb[850] = t_low + 0.5 * dt_low
    tb[500] = t_low - 0.5 * dt_low
    t_up = (zb[200] - zb[500]) / (R_D * np.log(500.0 / 200.0))
    tb[200] = np.maximum(2 * t_up - tb[500], 0.5 * (t_up + 195.0))
    tb = {p: np.clip(t, 185.0, 325.0) for p, t in tb.items()}

    atmos = {k: [] for k in ("z", "u", "v", "t", "q")}
    for p in levels:
        t = _temperature_profile(tb, p)
        if p in zb:
            z = zb[p]
        else:  # hypsometric step from the nearest base level
            ref = min(BASE_LEVELS, key=lambda b: abs(np.log(b / p)))
            z = zb[ref] - R_D * 0.5 * (t + tb[ref]) * np.log(p / ref)
        rh = _relative_humidity(p) * (1.0 + 0.25 * np.clip(-msl_anom / 2000.0, -0.5, 1.0))
        q = np.clip(rh, 0.02, 0.95) * _q_sat(t, 100.0 * p)
        if p < 200:
            q = np.minimum(q, 3e-6)
        atmos["z"].append(z)
        atmos["u"].append(_wind_profile(ub, p))
        atmos["v"].append(_wind_profile(vb, p))
        atmos["t"].append(t)
        atmos["q"].append(np.clip(q, 1e-7, 0.03))

    # Surface: msl from the 1000 hPa height under the 850 hPa column, 2 m temperature from
    # 850 hPa with a standard lapse rate to the orography plus a land diurnal cycle, 10 m wind
    # as a damped, cross-isobaric-turned 850 hPa wind.
    t_bl = tb[850] + LAPSE * R_D * tb[850] / G * np.log(1000.0 / 850.0) * 0.5
    z1000 = zb[850] - R_D * t_bl * np.log(1000.0 / 850.0)
    msl = 100000.0 * np.exp(z1000 / (R_D * (t_bl + 4.0)))
    msl = np.clip(msl, 94000.0, 106000.0)
    local_hour = (times.hour.values[:, None, None] + lon[None, None, :] / 15.0) % 24.0
    diurnal = 5.0 * lsm[None] * np.cos(2 * np.pi * (local_hour - 15.0) / 24.0)
    t2m = tb[850] + LAPSE * (zb[850] - zs[None]) / G + diurnal - 1.5
    noise = [np.random.default_rng([seed, 101, int(h)]).standard_normal(lsm.shape) for h in hours]
    t2m = t2m + 0.5 * np.stack(noise)
    t2m = np.clip(t2m, 190.0, 330.0)
    damp = 0.75 - 0.25 * lsm[None]
    turn = np.deg2rad(20.0 * np.sign(lat))[None, :, None]
    u10 = damp * (ub[850] * np.cos(turn) - vb[850] * np.sin(turn))
    v10 = damp * (ub[850] * np.sin(turn) + vb[850] * np.cos(turn))

    level_attrs = {"units": "hPa", "long_name": "pressure", "standard_name": "air_pressure"}
    level_values = np.asarray(levels, dtype=np.float64 if naming == "cds" else np.int64)
    coords = {
        tdim: (tdim, times.values, {"long_name": "time", "standard_name": "time"}),
        ldim: (ldim, level_values, level_attrs),
        "latitude": ("latitude", lat, dict(static.latitude.attrs)),
        "longitude": ("longitude", lon, dict(static.longitude.attrs)),
    }
    data = {}
    for key, arr in (("2t", t2m), ("10u", u10), ("10v", v10), ("msl", msl)):
        data[names[key]] = ((tdim, "latitude", "longitude"), arr.astype(np.float32), _attrs(key))
    for key, arrs in atmos.items():
        arr = np.stack(arrs, axis=1).astype(np.float32)
        data[names[key]] = ((tdim, ldim, "latitude", "longitude"), arr, _attrs(key))
    ds = xr.Dataset(data, coords=coords)
    ds.attrs = {
        "title": "xaurora sample weather (synthetic, ERA5-like)",
        "source": "generated by xaurora.sample.sample_dataset from ERA-Interim January/July means "
        "(ECMWF) and ERA5 static fields (Copernicus C3S, CC-BY 4.0); not a reanalysis",
        "seed": seed,
        "Conventions": "CF-1.7",
    }
    if with_static:
        st = sample_static(naming="wb2")
        ds = ds.assign({name: st[name] for name in st.data_vars})
    if events is not None:
        ds.attrs["north_atlantic_storm_box"] = "lat 40-65 N, lon 60-10 W"
    return ds


def _attrs(key: str) -> dict[str, str]:
    units, long_name, std = _ATTRS[key]
    return {"units": units, "long_name": long_name, "standard_name": std}


def sample_events(
    start: str = "2020-01-01",
    periods: int = 40,
    freq: str = "6h",
    levels: Sequence[int] = (200, 500, 850),
    seed: int = 0,
    naming: str = "cds",
    *,
    episode: int = 2,
    with_static: bool = False,
) -> tuple[xr.Dataset, xr.DataArray]:
    """Weather with and without a planted North-Atlantic storm, and the per-time label.

    Returns ``(ds, label)`` where ``label`` is :func:`storm_events` (True = storm planted in
    :data:`NORTH_ATLANTIC`), on ``ds``'s time dim. Useful for "are storm and calm regimes
    separable in the embedding?" examples.

    >>> ds, storm = sample_events(periods=8)
    >>> bool(storm.any()) and bool((~storm).any())
    True
    """
    label = storm_events(start, periods, freq, episode=episode, seed=seed)
    ds = sample_dataset(
        start, periods, freq, levels, seed, naming, with_static=with_static, events=label
    )
    tdim = _DIMS[naming][0]
    if tdim != "valid_time":
        label = label.rename(valid_time=tdim)
    return ds, label
