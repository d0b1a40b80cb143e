"""Small generated ERA5-like data for tests and examples (public: test your own code with it).

Fields are Aurora's normalisation location plus a smooth, moving random pattern of about one
normalisation scale, so every variable is in ERA5 units and passes xaurora's checks.

>>> ds = synthetic_dataset(n_lat=17, n_lon=32, n_times=2, naming="cds")
>>> sorted(ds.dims)
['latitude', 'longitude', 'pressure_level', 'valid_time']
>>> hp = synthetic_healpix_dataset(level=1, n_times=2)
>>> hp["2t"].dims, hp.sizes["cells"], hp["cell_ids"].attrs["grid_name"]
(('time', 'cells'), 48, 'healpix')
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from xaurora.grids import HEALPix
from xaurora.io.names import CELL_DIM, NAMING, SCHEME_DIMS, scheme_of, variable_names
from xaurora.io.normalisation import norm_stats


def _generator_names(naming: str) -> dict:
    """Names in one generated dataset: the scheme's, and its (time, level, lat, lon) dims.

    The surface geopotential is ``zs`` → ``geopotential_at_surface`` in every scheme, since in one
    dataset the ECMWF/Aurora ``z`` is the atmospheric geopotential.
    """
    static = variable_names(naming, static=True)
    return {**variable_names(naming), "lsm": static["lsm"], "slt": static["slt"],
            "zs": "geopotential_at_surface", "dims": SCHEME_DIMS[scheme_of(naming)]}


#: Variable and dim names of the generated data per ``naming=`` (from :mod:`xaurora.io.names`).
SCHEMES = {naming: _generator_names(naming) for naming in NAMING}


def _smooth(rng, lat, lon, t_hours, n_modes: int = 4) -> np.ndarray:
    """(time, *space) field of unit-ish amplitude: a few drifting large-scale waves.

    ``lat`` and ``lon`` (degrees) broadcast to the spatial shape: ``lat[:, None]`` and
    ``lon[None, :]`` for a lat–lon grid, equal-length vectors for scattered cells.
    """
    la, lo = np.broadcast_arrays(np.deg2rad(lat), np.deg2rad(lon))
    tt = np.asarray(t_hours, dtype=np.float64).reshape(-1, *(1,) * la.ndim)
    out = np.zeros((tt.shape[0], *la.shape))
    for _ in range(n_modes):
        k, m = rng.integers(1, 5), rng.integers(1, 4)
        phase, speed = rng.uniform(0, 2 * np.pi), rng.uniform(-0.05, 0.05)
        out += rng.normal() * np.cos(m * la) * np.cos(k * lo + phase + speed * tt)
    return out / np.sqrt(n_modes)


def _era5_like(rng, lat, lon, times, levels, names: dict, space: tuple[str, ...],
               with_static: bool) -> dict:
    """The variables of both generators: ``{name: (dims, values)}`` on ``space`` dims.

    Normalisation location plus 0.8 scale times :func:`_smooth`; statics a land mask where a
    smooth field exceeds 0.3, orography on land and a soil type. The draws follow one fixed
    order, so a seed gives the same fields on any grid layout.
    """

    tdim, ldim = names["dims"][:2]
    hours = (times - times[0]) / pd.Timedelta("1h")
    data = {}
    for v in ("2t", "10u", "10v", "msl"):
        loc, scale = norm_stats(v)
        f = loc + 0.8 * scale * _smooth(rng, lat, lon, hours)
        data[names[v]] = ((tdim, *space), f.astype(np.float32))
    for v in ("z", "u", "v", "t", "q"):
        field = np.stack(
            [norm_stats(v, p)[0] + 0.8 * norm_stats(v, p)[1] * _smooth(rng, lat, lon, hours)
             for p in levels], axis=1)
        if v == "q":
            field = np.clip(field, 0, None)
        data[names[v]] = ((tdim, ldim, *space), field.astype(np.float32))
    if with_static:
        land = _smooth(rng, lat, lon, [0.0])[0] > 0.3
        data[names["lsm"]] = (space, land.astype(np.float32))
        orog = np.abs(_smooth(rng, lat, lon, [0.0])[0]) * 8000.0 * land
        data[names["zs"]] = (space, orog.astype(np.float32))
        slt = np.where(land, rng.integers(1, 8, size=land.shape), 0)
        data[names["slt"]] = (space, slt.astype(np.float32))
    return data


def synthetic_dataset(
    n_lat: int = 33,
    n_lon: int = 64,
    n_times: int = 3,
    levels=(500, 850),
    start: str = "2020-01-01",
    freq: str = "6h",
    naming: str = "aurora",
    seed: int = 0,
    lazy: bool = False,
    with_static: bool = True,
    lon_180: bool = False,
) -> xr.Dataset:
    """An ERA5-like Dataset (surface, atmospheric and static fields) on a global grid.

    ``naming`` picks the scheme ("aurora", "cds" or "wb2"); ``lazy`` chunks it by one time
    step; ``lon_180`` uses longitudes in [-180, 180).
    """
    rng = np.random.default_rng(seed)
    names = SCHEMES[naming]
    tdim, ldim, ydim, xdim = names["dims"]
    lat = np.linspace(90, -90, n_lat)
    lon = np.arange(n_lon) * 360.0 / n_lon
    times = pd.date_range(start, periods=n_times, freq=freq)
    data = _era5_like(rng, lat[:, None], lon[None, :], times, levels, names, (ydim, xdim),
                      with_static)
    ds = xr.Dataset(
        data,
        coords={tdim: times, ldim: (ldim, np.asarray(levels), {"units": "hPa"}),
                ydim: (ydim, lat, {"units": "degrees_north"}),
                xdim: (xdim, lon, {"units": "degrees_east"})},
    )
    if lon_180:  # same fields, longitudes relabelled to [-180, 180) and sorted
        ds = ds.assign_coords({xdim: np.where(lon >= 180, lon - 360, lon)}).sortby(xdim)
        ds[xdim].attrs["units"] = "degrees_east"
    if naming == "wb2":
        ds = ds.sortby(ydim)  # WeatherBench2 stores latitude ascending
    if lazy:
        ds = ds.chunk({tdim: 1})
    return ds


def synthetic_static(n_lat: int = 33, n_lon: int = 64, seed: int = 0) -> xr.Dataset:
    """Only the static fields (``lsm``, ``z``, ``slt``) in ECMWF naming, as a separate file has.

    Its ``z`` is the surface geopotential, named as the CDS names the atmospheric one.

    >>> sorted(synthetic_static(n_lat=5, n_lon=8).data_vars)
    ['lsm', 'slt', 'z']
    """
    ds = synthetic_dataset(n_lat, n_lon, n_times=1, seed=seed, naming="cds")
    return ds[["lsm", "slt", "geopotential_at_surface"]].rename(geopotential_at_surface="z")


def synthetic_healpix_dataset(
    level: int = 2,
    n_times: int = 3,
    levels=(500, 850),
    start: str = "2020-01-01",
    freq: str = "6h",
    naming: str = "aurora",
    seed: int = 0,
    lazy: bool = False,
    with_static: bool = True,
    indexing: str = "nested",
) -> xr.Dataset:
    """An ERA5-like Dataset on the HEALPix cells of ``level`` (xdggs layout).

    Variables have dims ``(time, cells)`` or ``(time, level, cells)``; the ``cells`` dim carries
    a ``cell_ids`` coordinate (0 … 12·4^level − 1) with xdggs attrs (``grid_name="healpix"``,
    ``level``, ``indexing_scheme``) and cell-centre ``lat``/``lon`` coordinates. Values are
    drawn as in :func:`synthetic_dataset`, by the same code (ERA5 units, plausible ranges).
    """

    grid = HEALPix(level, indexing)
    rng = np.random.default_rng(seed)
    names = SCHEMES[naming]
    tdim, ldim = names["dims"][:2]
    lat, lon = grid.lat, grid.lon
    times = pd.date_range(start, periods=n_times, freq=freq)
    data = _era5_like(rng, lat, lon, times, levels, names, (CELL_DIM,), with_static)
    ds = xr.Dataset(
        data,
        coords={tdim: times, ldim: (ldim, np.asarray(levels), {"units": "hPa"}),
                "cell_ids": ("cells", grid.cell_ids, grid.cell_ids_attrs()),
                "lat": ("cells", lat, {"units": "degrees_north", "standard_name": "latitude"}),
                "lon": ("cells", lon, {"units": "degrees_east", "standard_name": "longitude"})},
    )
    if lazy:
        ds = ds.chunk({tdim: 1})
    return ds
