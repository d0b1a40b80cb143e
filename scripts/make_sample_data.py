"""Derive xaurora's bundled sample data from the real ERA5/ERA-Interim files.

Run once by a maintainer (the package and its tests never read the source folder)::

    python scripts/make_sample_data.py [--src /work/shared/data] [--out xaurora/data]

Writes

* ``era5_static_1.5deg.nc``: ERA5 ``lsm``, ``z`` (surface geopotential) and ``slt`` on the
  1.5° grid, 121 latitudes (90 → −90) × 240 longitudes (0 → 358.5). ``lsm`` and ``z`` are
  area-conserving block averages of the 0.25° fields (a 7 × 7 box centred on each 1.5° point,
  half weights on the shared edges); ``slt`` is the most common non-zero soil type in that box
  where the coarse land fraction is ≥ 0.5 and 0 elsewhere.
* ``erainterim_monthly_1.5deg.nc``: ERA-Interim January and July monthly means of ``z``, ``u``,
  ``v`` at 200/500/850 hPa on the same grid (a 3 × 3 [¼ ½ ¼] box on the 0.75° grid, longitudes
  rolled from [−180, 180) to [0, 360)).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import xarray as xr

LAT = np.linspace(90.0, -90.0, 121)
LON = np.arange(240) * 1.5

COORD_ATTRS = {
    "latitude": {"units": "degrees_north", "standard_name": "latitude", "long_name": "latitude"},
    "longitude": {"units": "degrees_east", "standard_name": "longitude", "long_name": "longitude"},
}


def _box_weights(n: int) -> np.ndarray:
    """1-D weights of a centred box of n points with half weights at both ends, summing to 1."""
    w = np.ones(n)
    w[0] = w[-1] = 0.5
    return w / w.sum()


def _block_average(field: np.ndarray, factor: int) -> np.ndarray:
    """Average a (lat, lon) field onto every ``factor``-th point (poles clipped, lon periodic)."""
    n_lat, n_lon = field.shape
    w = _box_weights(factor + 1)
    half = factor // 2
    offsets = np.arange(-half, half + 1)
    lat_idx = np.arange(0, n_lat, factor)
    lon_idx = np.arange(0, n_lon, factor)
    out = np.zeros((lat_idx.size, lon_idx.size))
    wsum = np.zeros((lat_idx.size, 1))
    for wi, di in zip(w, offsets):
        rows = lat_idx + di
        valid = (rows >= 0) & (rows < n_lat)
        rows = np.clip(rows, 0, n_lat - 1)
        part = np.zeros((lat_idx.size, lon_idx.size))
        for wj, dj in zip(w, offsets):
            part += wj * field[np.ix_(rows, (lon_idx + dj) % n_lon)]
        out += wi * part * valid[:, None]
        wsum += wi * valid[:, None]
    return out / wsum


def _block_mode(slt: np.ndarray, land: np.ndarray, factor: int) -> np.ndarray:
    """Most common non-zero soil type in each block; 0 where the coarse land fraction < 0.5."""
    n_lat, n_lon = slt.shape
    half = factor // 2
    lat_idx = np.arange(0, n_lat, factor)
    lon_idx = np.arange(0, n_lon, factor)
    counts = np.zeros((8, lat_idx.size, lon_idx.size))
    for di in range(-half, half + 1):
        rows = np.clip(lat_idx + di, 0, n_lat - 1)
        for dj in range(-half, half + 1):
            vals = slt[np.ix_(rows, (lon_idx + dj) % n_lon)].astype(int)
            for k in range(1, 8):
                counts[k] += vals == k
    mode = counts[1:].argmax(axis=0) + 1
    mode = np.where(counts[1:].sum(axis=0) == 0, 0, mode)
    return np.where(land >= 0.5, mode, 0).astype(np.float32)


def make_static(src: Path) -> xr.Dataset:
    """ERA5 static fields coarsened from 0.25° to 1.5°."""
    with xr.open_dataset(src / "era5_static_0.25deg.nc") as raw:
        raw = raw.isel(valid_time=0).load()
    assert raw.latitude.size == 721 and float(raw.latitude[0]) == 90.0
    lsm = _block_average(raw["lsm"].values.astype(np.float64), 6).clip(0.0, 1.0)
    z = _block_average(raw["z"].values.astype(np.float64), 6)
    slt = _block_mode(raw["slt"].values, lsm, 6)
    coords = {
        "latitude": ("latitude", LAT, COORD_ATTRS["latitude"]),
        "longitude": ("longitude", LON, COORD_ATTRS["longitude"]),
    }
    ds = xr.Dataset(
        {
            "lsm": (("latitude", "longitude"), lsm.astype(np.float32), dict(raw["lsm"].attrs)),
            "z": (("latitude", "longitude"), z.astype(np.float32), dict(raw["z"].attrs)),
            "slt": (("latitude", "longitude"), slt, dict(raw["slt"].attrs)),
        },
        coords=coords,
    )
    for name in ds.data_vars:  # keep the CF-relevant attrs only
        ds[name].attrs = {
            k: v for k, v in ds[name].attrs.items() if k in ("units", "long_name", "standard_name")
        }
    ds["lsm"].attrs.setdefault("units", "1")
    ds["slt"].attrs.setdefault("units", "1")
    ds.attrs = {
        "title": "ERA5 static fields (land-sea mask, surface geopotential, soil type) at 1.5°",
        "source": "ERA5 reanalysis, Copernicus Climate Change Service (C3S), 0.25° invariants",
        "license": "CC-BY 4.0; contains modified Copernicus Climate Change Service information",
        "history": "coarsened to 1.5° by xaurora scripts/make_sample_data.py: lsm and z "
        "block-averaged (7x7 box, half-weight edges), slt = most common land soil type",
        "Conventions": "CF-1.7",
    }
    return ds


def make_climatology(src: Path) -> xr.Dataset:
    """ERA-Interim January/July monthly means of z, u, v at 200/500/850 hPa on the 1.5° grid."""
    with xr.open_dataset(src / "erainterim_monthly_uvz.nc") as raw:
        raw = raw.load()
    raw = raw.roll(longitude=int((raw.longitude < 0).sum()), roll_coords=True)
    raw = raw.assign_coords(longitude=(raw.longitude.values % 360.0))
    assert float(raw.longitude[0]) == 0.0 and raw.latitude.size == 241
    out = {}
    for name in ("z", "u", "v"):
        arr = raw[name].values  # (month, level, lat, lon)
        coarse = np.stack(
            [
                np.stack([_block_average(arr[m, k], 2) for k in range(arr.shape[1])])
                for m in range(arr.shape[0])
            ]
        )
        attrs = {k: v for k, v in raw[name].attrs.items() if k in ("units", "long_name",
                                                                   "standard_name")}
        out[name] = (("month", "level", "latitude", "longitude"), coarse.astype(np.float32), attrs)
    ds = xr.Dataset(
        out,
        coords={
            "month": ("month", raw.month.values.astype(np.int32)),
            "level": ("level", raw.level.values.astype(np.int32), {"units": "hPa",
                                                                    "long_name": "pressure"}),
            "latitude": ("latitude", LAT, COORD_ATTRS["latitude"]),
            "longitude": ("longitude", LON, COORD_ATTRS["longitude"]),
        },
    )
    ds["z"].attrs.setdefault("units", "m**2 s**-2")
    ds["u"].attrs.setdefault("units", "m s**-1")
    ds["v"].attrs.setdefault("units", "m s**-1")
    ds.attrs = {
        "title": "ERA-Interim January and July monthly means of z, u, v at 200/500/850 hPa, 1.5°",
        "source": "ECMWF ERA-Interim reanalysis, as distributed with xarray's tutorial data "
        "(ERA-Interim monthly means, downloaded and edited by Fabien Maussion)",
        "history": "regridded from 0.75° to 1.5° by xaurora scripts/make_sample_data.py "
        "([1/4 1/2 1/4] box average, longitudes rolled to [0, 360))",
        "Conventions": "CF-1.7",
    }
    return ds


# Decimal digits kept after the point (netCDF4 quantisation, so the files compress well):
# 1 m² s⁻² for geopotential (0.1 m of height), 0.01 m s⁻¹ for winds.
DIGITS = {"z": 0, "u": 2, "v": 2, "lsm": 4}


def write(ds: xr.Dataset, path: Path) -> None:
    """Write compressed netCDF4 (float32 fields, zlib level 9, quantised to ``DIGITS``)."""
    enc = {name: {"zlib": True, "complevel": 9, "shuffle": True} for name in ds.data_vars}
    for name, digits in DIGITS.items():
        if name in enc:
            enc[name]["least_significant_digit"] = digits
    for name in ("latitude", "longitude"):
        enc[name] = {"_FillValue": None}
    path.unlink(missing_ok=True)
    ds.to_netcdf(path, encoding=enc, engine="netcdf4")
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--out", type=Path, default=root / "xaurora" / "data")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    write(make_static(args.src), args.out / "era5_static_1.5deg.nc")
    write(make_climatology(args.src), args.out / "erainterim_monthly_1.5deg.nc")


if __name__ == "__main__":
    main()
