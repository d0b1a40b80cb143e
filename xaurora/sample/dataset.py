"""``sample_dataset``: plausible ERA5-like weather on the bundled 1.5° grid.

Assembles the real climatology and statics (:mod:`xaurora.sample.bundled`) and the
generator physics (:mod:`xaurora.sample.weather`) into an ``xr.Dataset`` with ERA5
variables, units and attributes under the chosen naming scheme.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.sample.bundled import read_climatology, read_static, sample_static
from xaurora.sample.naming import cf_attrs, dims_of, variable_names
from xaurora.sample.weather import (
    BASE_LEVELS,
    LAPSE,
    R_D,
    RHO_SURFACE,
    VERTICAL,
    G,
    checked_levels,
    geostrophic,
    hours_since_2000,
    msl_anomaly,
    q_sat,
    relative_humidity,
    season_weight,
    temperature_profile,
    wind_profile,
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
    names, dims = variable_names(naming), dims_of(naming)  # an unknown naming fails first
    levels = checked_levels(levels)
    times = _time_axis(start, periods, freq, times)
    events = _events_of(events, times)
    static = read_static()
    lat, lon = static.latitude.values, static.longitude.values
    hours = hours_since_2000(times)
    msl_anom = msl_anomaly(hours, lat, lon, seed, events)  # (time, lat, lon), Pa
    zb, ub, vb, tb = _base_levels(times, msl_anom, lat, lon)
    atmos = _atmosphere(levels, zb, ub, vb, tb, msl_anom)
    surface = _surface(times, hours, static, zb, ub, vb, tb, seed)
    ds = _as_dataset(surface, atmos, times, levels, static, names, dims, seed,
                     float_levels=naming == "cds")  # as the CDS writes them
    if with_static:
        st = sample_static(naming="wb2")
        ds = ds.assign({name: st[name] for name in st.data_vars})
    if events is not None:
        ds.attrs["north_atlantic_storm_box"] = "lat 40-65 N, lon 60-10 W"
    return ds


def _time_axis(start, periods, freq, times) -> pd.DatetimeIndex:
    if times is None:
        times = pd.date_range(start, periods=periods, freq=freq)
    else:
        times = pd.DatetimeIndex(pd.to_datetime(np.asarray(times))).sort_values().unique()
    if len(times) == 0:
        raise XauroraError("periods must be at least 1. Fix: pass periods=2 or more.")
    return times


def _events_of(events, times: pd.DatetimeIndex) -> np.ndarray | None:
    if events is None:
        return None
    events = np.asarray(getattr(events, "values", events), dtype=bool)
    if events.shape != (len(times),):
        raise XauroraError(
            f"events has shape {events.shape} but there are {len(times)} time steps. "
            "Fix: use storm_events() with the same start/periods/freq."
        )
    return events


def _base_levels(times, msl_anom, lat, lon) -> tuple[dict, dict, dict, dict]:
    """Geopotential, winds and temperature at :data:`BASE_LEVELS`: the seasonal climatology plus
    the pressure anomaly carried up the column, geostrophic winds from it."""
    clim = read_climatology()
    w = season_weight(times)[:, None, None]
    zb, ub, vb, tb = {}, {}, {}, {}
    for p in BASE_LEVELS:
        jan = clim.sel(month=1, level=p)
        jul = clim.sel(month=7, level=p)
        dphi = msl_anom / RHO_SURFACE * VERTICAL[p]
        zb[p] = (1 - w) * jan.z.values + w * jul.z.values + dphi
        ug, vg = geostrophic(dphi, lat, lon)
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
    return zb, ub, vb, tb


def _atmosphere(levels, zb, ub, vb, tb, msl_anom) -> dict[str, list]:
    """``z, u, v, t, q`` at each of ``levels``, from the base levels."""
    atmos = {k: [] for k in ("z", "u", "v", "t", "q")}
    for p in levels:
        t = temperature_profile(tb, p)
        if p in zb:
            z = zb[p]
        else:  # hypsometric step from the nearest base level
            ref = min(BASE_LEVELS, key=lambda b: abs(np.log(b / p)))
            z = zb[ref] - R_D * 0.5 * (t + tb[ref]) * np.log(p / ref)
        rh = relative_humidity(p) * (1.0 + 0.25 * np.clip(-msl_anom / 2000.0, -0.5, 1.0))
        q = np.clip(rh, 0.02, 0.95) * q_sat(t, 100.0 * p)
        if p < 200:
            q = np.minimum(q, 3e-6)
        atmos["z"].append(z)
        atmos["u"].append(wind_profile(ub, p))
        atmos["v"].append(wind_profile(vb, p))
        atmos["t"].append(t)
        atmos["q"].append(np.clip(q, 1e-7, 0.03))
    return atmos


def _surface(times, hours, static, zb, ub, vb, tb, seed) -> dict[str, np.ndarray]:
    """``2t, 10u, 10v, msl``: msl from the 1000 hPa height under the 850 hPa column, 2 m
    temperature from 850 hPa with a standard lapse rate to the orography plus a land diurnal
    cycle, 10 m wind as a damped, cross-isobaric-turned 850 hPa wind."""
    lat, lon = static.latitude.values, static.longitude.values
    lsm = static.lsm.values.astype(np.float64)
    zs = static.z.values.astype(np.float64)
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
    return {"2t": t2m, "10u": u10, "10v": v10, "msl": msl}


def _as_dataset(surface, atmos, times, levels, static, names: dict, dims: tuple[str, str],
                seed: int, float_levels: bool) -> xr.Dataset:
    """The fields under the naming's ``names`` and (time, level) ``dims``, with CF attrs."""
    tdim, ldim = dims
    level_attrs = {"units": "hPa", "long_name": "pressure", "standard_name": "air_pressure"}
    level_values = np.asarray(levels, dtype=np.float64 if float_levels else np.int64)
    coords = {
        tdim: (tdim, times.values, {"long_name": "time", "standard_name": "time"}),
        ldim: (ldim, level_values, level_attrs),
        "latitude": ("latitude", static.latitude.values, dict(static.latitude.attrs)),
        "longitude": ("longitude", static.longitude.values, dict(static.longitude.attrs)),
    }
    data = {}
    for key, arr in surface.items():
        data[names[key]] = ((tdim, "latitude", "longitude"), arr.astype(np.float32), cf_attrs(key))
    for key, arrs in atmos.items():
        arr = np.stack(arrs, axis=1).astype(np.float32)
        data[names[key]] = ((tdim, ldim, "latitude", "longitude"), arr, cf_attrs(key))
    ds = xr.Dataset(data, coords=coords)
    ds.attrs = {
        "title": "xaurora sample weather (synthetic, ERA5-like)",
        "source": "generated by xaurora.sample.sample_dataset from ERA-Interim January/July means "
        "(ECMWF) and ERA5 static fields (Copernicus C3S, CC-BY 4.0); not a reanalysis",
        "seed": seed,
        "Conventions": "CF-1.7",
    }
    return ds
