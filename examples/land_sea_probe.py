"""Does the encoder know land from sea? A linear probe with a held-out longitude band.

Protocol (as in the "Exploring the latent space of Aurora's encoder" study): the surface level
of the encoder output at one analysis time; labels from ERA5's land–sea mask reduced to patches
(a patch is land when more than half of it is land); logistic regression on the 512 channels;
the 120–210° E band (Australia, East Asia, the West Pacific) is the test set. Then the same
probe on the raw inputs and on a random-weights copy of the model — a probe score means little
without those baselines — and a map of the misclassified patches (mostly coastlines).

Offline (bundled 1.5° sample data with the real ERA5 land–sea mask, ``tiny`` model):

    python examples/land_sea_probe.py

Real data (0.25° ERA5 with t − 6 h and t, released weights):

    python examples/land_sea_probe.py --data era5_2022-08-07.nc --static era5_static.nc \\
        --model aurora-0.25-pretrained --checkpoint aurora-0.25-pretrained.ckpt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import xarray as xr

import xaurora as xa


def open_data(path: str | None):
    if path is None:
        return xa.sample.sample_dataset("2022-08-07", periods=2, with_static=True)
    return xr.open_zarr(path) if path.rstrip("/").endswith(".zarr") else xr.open_dataset(path)


def main(argv: list[str] | None = None) -> xr.Dataset:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="NetCDF/zarr with t − 6 h and t (default: bundled sample)")
    ap.add_argument("--static", help="file with lsm, z, slt (if not in --data)")
    ap.add_argument("--model", default="tiny", help="registry name, e.g. aurora-0.25-pretrained")
    ap.add_argument("--checkpoint", help="local checkpoint file (else the Hugging Face cache)")
    ap.add_argument("--time", help="analysis time (default: the first one)")
    ap.add_argument("--band", type=float, nargs=2, default=(120.0, 210.0),
                    metavar=("LON_MIN", "LON_MAX"), help="test longitude band")
    ap.add_argument("--out", default="xaurora-examples", help="folder for the figure and data")
    ap.add_argument("--no-baselines", action="store_true", help="skip inputs/random probes")
    args = ap.parse_args(argv)

    ds = open_data(args.data)
    static = xr.open_dataset(args.static) if args.static else None
    model = xa.load_model(args.model, checkpoint=args.checkpoint)
    land = xa.labels.land_sea(static if static is not None else ds)
    split = ("lon", *args.band)

    emb = ds.aurora.embed(model, layer="encoder", static=static, time=args.time)
    emb = emb.isel(time=[0]).sel(level="surface")
    res = emb.aurora.probe(land, split=split)
    print(f"land-sea probe on {model.name} encoder, surface level, "
          f"{emb.sizes['lat']}x{emb.sizes['lon']} patches x {emb.sizes['channel']} channels, "
          f"test band {args.band[0]:g}-{args.band[1]:g} E ({int(res.n_test)} test patches):")
    for k in ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc"):
        print(f"  {k:18s} {float(res[k]):.4f}")
    err = res.error.where(res.is_test).isel(time=0)
    print(f"  misclassified test patches: {int(err.sum())} of {int(res.n_test)}")

    if not args.no_baselines:
        table = ds.aurora.probe_layers(model, land, layers=("inputs", "encoder"), split=split,
                                       level={"encoder": "surface"}, static=static,
                                       time=emb.time.values[0])
        print("balanced accuracy, trained vs random weights (inputs = no model at all):")
        print(table.balanced_accuracy.to_pandas().round(4).to_string())

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res.to_netcdf(out / "land_sea_probe.nc")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(9, 4.2))
        res.label.isel(time=0).plot(ax=ax, cmap="Greys", vmin=-1, vmax=2, add_colorbar=False)
        err.where(err > 0).plot(ax=ax, cmap="autumn", add_colorbar=False)
        for lon in args.band:
            ax.axvline(lon % 360, color="tab:blue", ls="--")
        ax.set_title(f"Misclassified test patches (red); land grey; "
                     f"accuracy {float(res.accuracy):.3f}")
        fig.savefig(out / "land_sea_errors.png", dpi=120, bbox_inches="tight")
        print(f"wrote {out / 'land_sea_errors.png'} and {out / 'land_sea_probe.nc'}")
    except ImportError:
        print(f"wrote {out / 'land_sea_probe.nc'} (matplotlib missing: no figure)")
    return res


if __name__ == "__main__":
    main()
