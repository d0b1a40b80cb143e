"""Pooled-latent PCA over dates: do seasons organise the latent space? Are storms separable?

Protocol (after "Does Aurora encode atmospheric structure?"): encoder embeddings at dates
spread over a year are pooled over the globe (cos-lat weighted mean/std/rms per level and
channel); a PCA of the pooled series over dates; the share of PC1/PC2 variance explained by the
annual cycle (regression on sin/cos of the day of year). Then storm versus calm dates: the
cross-validated balanced accuracy of a linear classifier on the pooled latents, with a
permutation-test p-value — the study found seasons dominate and storms are not a linearly
separable cluster.

Offline (bundled 1.5° sample weather with a real annual cycle and planted North-Atlantic
storms, ``tiny`` model):

    python examples/seasonal_pca.py

Real data (pairs t − 6 h, t spread over a year; optional event flags per time):

    python examples/seasonal_pca.py --data era5_weekly_pairs.zarr --static era5_static.nc \\
        --model aurora-0.25-pretrained --checkpoint aurora-0.25-pretrained.ckpt \\
        --events storms.nc
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

import xaurora as xa
from xaurora.analysis.regimes import seasonality, separability


def year_of_pairs(year: int = 2020, every_days: int = 10) -> pd.DatetimeIndex:
    """Analysis times every ``every_days`` days, each with its t − 6 h history step."""
    t = pd.date_range(f"{year}-01-01T06", f"{year}-12-31T06", freq=f"{every_days}D")
    return t.append(t - pd.Timedelta("6h")).sort_values()


def open_data(path: str | None, every: int):
    if path is None:
        return xa.sample.sample_dataset(times=year_of_pairs(2020, every), with_static=True)
    return xr.open_zarr(path) if path.rstrip("/").endswith(".zarr") else xr.open_dataset(path)


def main(argv: list[str] | None = None) -> xr.Dataset:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="NetCDF/zarr of (t − 6 h, t) pairs (default: bundled sample)")
    ap.add_argument("--static", help="file with lsm, z, slt (if not in --data)")
    ap.add_argument("--model", default="tiny", help="registry name, e.g. aurora-0.25-pretrained")
    ap.add_argument("--checkpoint", help="local checkpoint file (else the Hugging Face cache)")
    ap.add_argument("--layer", default="encoder")
    ap.add_argument("--every", type=int, default=10, help="days between sample dates (offline)")
    ap.add_argument("--events", help="NetCDF with one boolean variable on time (storm flags)")
    ap.add_argument("--permutations", type=int, default=50)
    ap.add_argument("--out", default="xaurora-examples", help="folder for the figure")
    args = ap.parse_args(argv)

    ds = open_data(args.data, args.every)
    static = xr.open_dataset(args.static) if args.static else None
    model = xa.load_model(args.model, checkpoint=args.checkpoint)

    emb = ds.aurora.embed(model, layer=args.layer, static=static)
    pooled = emb.aurora.pool()  # (time, level, channel, stat)
    res = pooled.aurora.pca(4)
    season = seasonality(res, n_components=2)
    print(f"pooled PCA of {model.name} {args.layer}: {pooled.sizes['time']} dates, "
          f"{int(np.prod([pooled.sizes[d] for d in pooled.dims if d != 'time']))} pooled "
          "features")
    for c in res.component.values[:4]:
        line = f"  PC{c}: {float(res.explained_variance_ratio.sel(component=c)):6.1%} of variance"
        if c in season.component.values:
            s = season.sel(component=c)
            line += (f"; annual cycle explains {float(s.annual_cycle_r2):.1%} of it "
                     f"(peak near day {float(s.peak_day):.0f})")
        print(line)
    print(f"  PC1+PC2 together: {float(season.annual_cycle_fraction):.1%} annual cycle")

    if args.events or args.data is None:
        if args.events:
            flags = xr.open_dataset(args.events)
            events, storms_emb = flags[list(flags.data_vars)[0]], emb
        else:
            storm_ds, events = xa.sample.sample_events("2020-01-01", periods=40, with_static=True)
            storms_emb = storm_ds.aurora.embed(model, layer=args.layer, static=static)
        storm_pooled = storms_emb.aurora.pool()
        sep = separability(storm_pooled, events, n_permutations=args.permutations)
        print(f"storm vs calm ({int(sep.n_events)} of {int(sep.n_samples)} dates): balanced "
              f"accuracy {float(sep.balanced_accuracy):.3f} "
              f"(chance {float(sep.chance_level):.3f}), permutation p = {float(sep.p_value):.3f}")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        doy = season.time.dt.dayofyear
        fig, ax = plt.subplots(figsize=(7, 3.8))
        for c, color in zip(season.component.values, ("tab:red", "tab:blue")):
            ax.scatter(doy, season.scores.sel(component=c), s=12, color=color, label=f"PC{c}")
            ax.plot(doy, season.annual_fit.sel(component=c), color=color, lw=1)
        ax.set_xlabel("day of year")
        ax.set_ylabel("PC score")
        ax.legend()
        ax.set_title("Pooled-latent PCs and their annual-cycle fit")
        fig.savefig(out / "seasonal_pca.png", dpi=120, bbox_inches="tight")
        print(f"wrote {out / 'seasonal_pca.png'}")
    except ImportError:
        pass
    return season


if __name__ == "__main__":
    main()
