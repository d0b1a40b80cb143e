"""Write the small real test files in this folder from the original ERA5/ERA-Interim files.

Run by a maintainer only (tests read the generated files, never the source folder)::

    python tests/data/make_test_data.py [--src /work/shared/data]

* ``era5_static_small.nc``: ERA5 ``z``, ``lsm``, ``slt`` on a 3° grid (61 × 120, every 12th
  point of the 0.25° grid: real values, no averaging), CDS layout kept: dims
  ``valid_time, latitude, longitude``, latitude 90 → −90, longitude 0 → 357, float32, the
  ``number``/``expver`` coords and GRIB attrs as cfgrib wrote them.
* ``erainterim_small.nc``: ERA-Interim January/July ``z``, ``u``, ``v`` at 200/500/850 hPa on
  a 3° grid (every 4th point of 0.75°), original layout kept: dims
  ``month, level, latitude, longitude``, longitude −180 → 177 ascending, latitude 90 → −90,
  float64 (quantised so that the file stays small).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import xarray as xr

HERE = Path(__file__).resolve().parent


def make_static(src: Path, out: Path) -> None:
    """Every 12th point of the 0.25° ERA5 invariants, CDS/cfgrib layout unchanged."""
    with xr.open_dataset(src / "era5_static_0.25deg.nc") as raw:
        ds = raw.isel(latitude=slice(None, None, 12), longitude=slice(None, None, 12)).load()
    enc = {v: {"zlib": True, "complevel": 9} for v in ds.data_vars}
    enc["lsm"]["least_significant_digit"] = 4
    enc["z"]["least_significant_digit"] = 1
    _write(ds, out / "era5_static_small.nc", enc)


def make_erainterim(src: Path, out: Path) -> None:
    """Every 4th point of the 0.75° ERA-Interim means, original dims/order/dtype."""
    with xr.open_dataset(src / "erainterim_monthly_uvz.nc") as raw:
        ds = raw.isel(latitude=slice(None, None, 4), longitude=slice(None, None, 4)).load()
    enc = {v: {"zlib": True, "complevel": 9, "shuffle": True, "_FillValue": None,
               "least_significant_digit": 0 if v == "z" else 2} for v in ds.data_vars}
    _write(ds, out / "erainterim_small.nc", enc)


def _write(ds: xr.Dataset, path: Path, enc: dict) -> None:
    path.unlink(missing_ok=True)
    ds.to_netcdf(path, encoding=enc, engine="netcdf4")
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    make_static(args.src, args.out)
    make_erainterim(args.src, args.out)


if __name__ == "__main__":
    main()
