"""The weather generator's physics: storms, Rossby waves, winds, temperature and humidity.

Pure NumPy helpers used by :func:`~xaurora.sample.sample_dataset`: the season weight
(January ↔ July), deterministic storm tracks and planted North-Atlantic lows, the msl
pressure anomaly they make, geostrophic winds of a geopotential anomaly, saturation humidity,
the vertical temperature, humidity and wind profiles between the base levels, and the check
of the requested pressure levels. Constants are in SI units.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from xaurora.errors import XauroraError
from xaurora.grids.base import lon_in_band

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
VERTICAL = {200: 1.3, 500: 1.2, 850: 1.0}
RHO_SURFACE = 1.2  # kg m-3


def season_weight(times: pd.DatetimeIndex) -> np.ndarray:
    """0 in mid-January, 1 in mid-July: ½(1 − cos(2π (doy − 15) / 365.25))."""
    doy = times.day_of_year.values + times.hour.values / 24.0
    return 0.5 * (1.0 - np.cos(2.0 * np.pi * (doy - 15.5) / 365.25))


def hours_since_2000(times: pd.DatetimeIndex) -> np.ndarray:
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


def in_box(lat, lon, box) -> np.ndarray:
    lat_min, lat_max, lon_min, lon_max = box
    return (lat >= lat_min) & (lat <= lat_max) & lon_in_band(lon, lon_min, lon_max)


def msl_anomaly(
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
            centre_in = in_box(la, lo, NORTH_ATLANTIC) & ~events[alive]
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


def geostrophic(phi: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, ...]:
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


def q_sat(t: np.ndarray, p_pa: float | np.ndarray) -> np.ndarray:
    """Saturation specific humidity (kg/kg) from Tetens' formula over water."""
    es = 611.2 * np.exp(17.67 * (t - 273.15) / (t - 29.65))
    return 0.622 * es / np.maximum(p_pa - 0.378 * es, 1.0)


def relative_humidity(p: float) -> float:
    """A climatological relative-humidity profile: moist boundary layer, dry upper troposphere."""
    x = (np.log(p) - np.log(200.0)) / (np.log(1000.0) - np.log(200.0))
    return float(np.clip(0.2 + 0.45 * x, 0.05, 0.8))


def temperature_profile(tb: dict[int, np.ndarray], p: int) -> np.ndarray:
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


def wind_profile(wb: dict[int, np.ndarray], p: int) -> np.ndarray:
    if p in wb:
        return wb[p]
    if p < 200:
        return wb[200] * (1.0 - 0.5 * np.log(200.0 / p) / np.log(4.0))
    if p > 850:
        return wb[850] * (1.0 - 0.3 * np.log(p / 850.0) / np.log(1000.0 / 850.0))
    lo, hi = (200, 500) if p < 500 else (500, 850)
    w = (np.log(p) - np.log(lo)) / (np.log(hi) - np.log(lo))
    return (1 - w) * wb[lo] + w * wb[hi]


def checked_levels(levels: Sequence[int]) -> tuple[int, ...]:
    levels = tuple(int(p) for p in levels)
    bad = [p for p in levels if p not in AURORA_LEVELS]
    if bad or not levels:
        raise XauroraError(
            f"levels={levels}: {bad or 'none'} not among Aurora's pressure levels. "
            f"Fix: choose from {AURORA_LEVELS} (hPa)."
        )
    return levels
