"""The attribution study's protocol: LRP for MSL over Europe at +6 h, then a perturbation test.

Protocol (as in the Aurora interpretability study, "masking relevant regions degrades forecasts
3.31× more than random masking"):

1. target: mean-sea-level pressure, cos(lat)-weighted mean over Europe (30–72° N, 12° W–45° E),
   one step (+6 h) ahead;
2. relevance: LRP (CP-LRP rules) through the whole model;
3. candidates: the North-Atlantic sector (20–75° N, 80° W–20° E);
4. mask the 1 % most relevant candidate patches (fill: Aurora's normalisation mean) and 10
   random sets of the same size; report error ratio with a bootstrap interval.

Offline (synthetic data, ``tiny`` random-weights model):

    python examples/attribution_protocol.py

Real data, e.g. the Great Storm of 1987 on ERA5 at 0.25° (needs the weights and a GPU):

    python examples/attribution_protocol.py --data era5_1987-10-15_16.nc \\
        --model aurora-0.25-pretrained --checkpoint aurora-0.25-pretrained.ckpt \\
        --time 1987-10-16T00:00 --static era5_static.nc --checkpointing
"""

from __future__ import annotations

import argparse

import xarray as xr

import xaurora as xa

EUROPE = (30, 72, -12, 45)
NORTH_ATLANTIC = (20, 75, -80, 20)


def main(argv: list[str] | None = None) -> xr.Dataset:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="NetCDF/zarr with t − 6 h and t (default: synthetic data)")
    ap.add_argument("--static", help="file with lsm, z (surface geopotential), slt")
    ap.add_argument("--model", default="tiny", help="registry name, e.g. aurora-0.25-pretrained")
    ap.add_argument("--checkpoint", help="local checkpoint file (else the Hugging Face cache)")
    ap.add_argument("--time", help="analysis time t, e.g. 1987-10-16T00:00")
    ap.add_argument("--fraction", type=float, default=0.01, help="share of candidate cells")
    ap.add_argument("--n-random", type=int, default=10, help="random mask draws")
    ap.add_argument("--rule", default="cp-lrp", choices=["cp-lrp", "attnlrp"])
    ap.add_argument("--checkpointing", action="store_true", help="save memory in LRP")
    args = ap.parse_args(argv)

    if args.data:
        ds = xr.open_dataset(args.data) if not args.data.endswith(".zarr") else \
            xr.open_zarr(args.data)
    else:
        ds = xa.testing.synthetic_dataset(n_lat=121, n_lon=240, n_times=2, levels=(500, 850))
    model = xa.load_model(args.model, checkpoint=args.checkpoint)
    target = xa.Target("msl", region=EUROPE, lead_steps=1)

    rel = ds.aurora.relevance(model, target, time=args.time, method="lrp", static=args.static,
                              rule=args.rule, checkpointing=args.checkpointing)
    a = rel.attrs
    print(f"target f = {a['target_value']:.1f} Pa ({target.describe()})")
    total = a["input_relevance_sum"] + a["sink_relevance_sum"]
    print(f"conservation: inputs {a['input_relevance_sum']:.3f} + sinks "
          f"{a['sink_relevance_sum']:.3f} = {total:.3f} (error {a['conservation_error']:.2e})")
    prof = xa.attribution.vertical_profile(rel, absolute=True).sum("time")
    for name in prof.data_vars:
        print(f"  |R| per level for {name}: "
              + ", ".join(f"{int(lev)} hPa {float(v):.3g}" for lev, v in
                          zip(prof.level.values, prof[name].values)))

    test = ds.aurora.perturbation_test(model, rel, target, fractions=(args.fraction,),
                                       n_random=args.n_random, candidates=NORTH_ATLANTIC,
                                       fill="mean", seed=0, static=args.static)
    r = test.isel(fraction=0)
    print(f"masking {int(r.n_cells)} of {test.attrs['n_candidates']} North-Atlantic patches: "
          f"error relevant {float(r.error_relevant):.2f} Pa, random "
          f"{float(r.error_random.mean()):.2f} Pa → ratio {float(r.ratio):.2f}× "
          f"[{float(r.ratio_low):.2f}, {float(r.ratio_high):.2f}]")
    return test


if __name__ == "__main__":
    main()
