"""Extreme 2 m temperature: accuracy, precision and recall of a probe per percentile.

Protocol (after the encoder-latent study's extreme-temperature probe): 2 m temperature reduced
to patches; a patch at a time is "extreme" when it exceeds that patch's own p75/p90/p95/p99
over the period (per-location thresholds, :func:`xa.labels.exceeds_quantile`); one logistic
regression per percentile on the encoder's surface level with a stratified random split.
Labels get rarer with the percentile, so accuracy alone flatters the probe: read precision and
recall (and the balanced accuracy) too. ``--class-weight balanced`` trades precision for recall.

Offline (bundled 1.5° sample weather, ``tiny`` model):

    python examples/extremes_probe.py

Real data (0.25° ERA5, e.g. a few heatwave days at 6-hourly steps, released weights):

    python examples/extremes_probe.py --data era5_heatwaves.zarr --static era5_static.nc \\
        --model aurora-0.25-pretrained --checkpoint aurora-0.25-pretrained.ckpt
"""

from __future__ import annotations

import argparse

import pandas as pd
import xarray as xr

import xaurora as xa
from xaurora.io.names import SURFACE_NAMES

T2M_NAMES = tuple(n for n, canon in SURFACE_NAMES.items() if canon == "2t")  # every scheme's


def open_data(path: str | None):
    if path is None:
        return xa.sample.sample_dataset("2020-07-01", periods=40, with_static=True)
    return xr.open_zarr(path) if path.rstrip("/").endswith(".zarr") else xr.open_dataset(path)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="NetCDF/zarr with 6-hourly steps (default: bundled sample)")
    ap.add_argument("--static", help="file with lsm, z, slt (if not in --data)")
    ap.add_argument("--model", default="tiny", help="registry name, e.g. aurora-0.25-pretrained")
    ap.add_argument("--checkpoint", help="local checkpoint file (else the Hugging Face cache)")
    ap.add_argument("--percentiles", type=float, nargs="+", default=(75, 90, 95, 99))
    ap.add_argument("--class-weight", default=None, choices=[None, "balanced"])
    ap.add_argument("--test-size", type=float, default=0.2)
    args = ap.parse_args(argv)

    ds = open_data(args.data)
    static = xr.open_dataset(args.static) if args.static else None
    model = xa.load_model(args.model, checkpoint=args.checkpoint)
    name = next((n for n in T2M_NAMES if n in ds.data_vars), None)
    if name is None:
        raise SystemExit(f"no 2 m temperature in the data (looked for {T2M_NAMES})")

    emb = ds.aurora.embed(model, layer="encoder", static=static).sel(level="surface")
    t_patch = xa.labels.canonical_grid(ds[name]).aurora.to_patches(model.patch_size)
    qs = [p / 100 for p in args.percentiles]
    extreme = xa.labels.exceeds_quantile(t_patch, qs, dim="time")  # (quantile, time, lat, lon)

    rows = []
    for p, q in zip(args.percentiles, qs):
        res = emb.aurora.probe(extreme.sel(quantile=q), split="random",
                               test_size=args.test_size, class_weight=args.class_weight)
        positives = float(res.label.where(res.is_test).mean())
        rows.append({"percentile": f"p{p:g}", "extreme share": positives,
                     **{k: float(res[k]) for k in
                        ("accuracy", "balanced_accuracy", "precision", "recall", "roc_auc")}})
    table = pd.DataFrame(rows).set_index("percentile")
    print(f"extreme {name} probe: {model.name} encoder surface level, {emb.sizes['time']} times x "
          f"{emb.sizes['lat']}x{emb.sizes['lon']} patches, per-location thresholds over the "
          f"period, stratified {1 - args.test_size:.0%}/{args.test_size:.0%} split")
    print(table.round(4).to_string())
    return table


if __name__ == "__main__":
    main()
