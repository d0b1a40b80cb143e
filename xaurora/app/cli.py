"""Command line: ``xaurora demo``, ``xaurora embed IN OUT.zarr``, ``xaurora info IN``.

``embed`` streams one batch at a time into a zarr store laid out in advance. After the
embedding of a batch is written, a per-time ``done`` flag is set in a second write; a run that is
killed at any moment and started again skips the flagged steps and rewrites the others in
place, so every time step ends up written exactly once and memory does not grow with the run.
A layout cut short is laid out again (see :mod:`xaurora.io.store`). A store that cannot be
written (a full disk) ends the command with one line naming the store, the OS error and the
fix, and exit code 1; the steps written stay flagged, so the same command resumes.

>>> from xaurora.app.cli import build_parser
>>> build_parser().parse_args(["info", "data.nc"]).command
'info'
"""

from __future__ import annotations

import argparse
import errno
import os
import sys

from xaurora.app.demo import run_demo
from xaurora.app.describe import PROBLEM, describe
from xaurora.io.store import StoreWriteError, open_any, steps_written
from xaurora.models.registry import get_info
from xaurora.results.stores import embed_to_zarr, encoder_to_zarr

_FMT = argparse.ArgumentDefaultsHelpFormatter


def _batch_size(text: str) -> int | str:
    return text if text == "auto" else int(text)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xaurora", description=__doc__.split("\n\n")[0],
                                formatter_class=_FMT)
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="run the whole pipeline offline on bundled data",
                       formatter_class=_FMT)
    d.add_argument("--out", default="xaurora-demo", help="output folder")
    d.add_argument("--fast", action="store_true", help="fewer steps (for tests)")
    d.add_argument("--model", default="tiny",
                   help="registry name (xa.MODELS); tiny has random weights")
    d.add_argument("--checkpoint", default=None, help="local checkpoint file (no download)")
    d.add_argument("--data", default=None, help="netCDF/zarr of real ERA5 (default: bundled)")
    d.add_argument("--static", default=None, help="netCDF with lsm/z/slt if not in --data")
    d.add_argument("--seed", type=int, default=0, help="seed of random-weight models")

    e = sub.add_parser("embed", help="stream embeddings to zarr (resumable)",
                       formatter_class=_FMT,
                       description="Stream embeddings of INPUT to OUTPUT.zarr; run the same "
                                   "command again to resume an interrupted run.")
    e.add_argument("input", help="netCDF file or zarr store (any supported naming)")
    e.add_argument("output", help="zarr store to write (resumed if it holds this run)")
    e.add_argument("--model", default=None,
                   help="registry name, e.g. aurora-0.25-pretrained (required unless "
                        "--random-weights)")
    e.add_argument("--random-weights", action="store_true",
                   help="random weights (the control model; with no --model: tiny)")
    e.add_argument("--checkpoint", default=None,
                   help="local checkpoint file (default: the Hugging Face cache)")
    e.add_argument("--layer", default="encoder", help="inputs, encoder, backbone or a submodule")
    e.add_argument("--start", default=None, help="first analysis time (ISO 8601)")
    e.add_argument("--end", default=None, help="last analysis time (ISO 8601)")
    e.add_argument("--batch-size", type=_batch_size, default="auto",
                   help="analysis times per forward pass, or 'auto' (the largest that fits the "
                        "device's memory)")
    e.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    e.add_argument("--static", default=None, help="netCDF with lsm/z/slt if not in INPUT")
    e.add_argument("--seed", type=int, default=0, help="seed of random weights")
    e.add_argument("--no-check-values", action="store_true",
                   help="skip the unit/NaN checks (deliberately unusual inputs)")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    e.add_argument("--dtype", choices=("float32", "float16"), default="float32",
                   help="dtype of the stored tokens (float16: half the bytes, converted on the "
                        "model's device)")
    e.add_argument("--steps", type=int, default=1,
                   help="rollout steps: write the layer during each step, with a lead_time dim "
                        "(1: no lead_time)")
    e.add_argument("--encoder", default=None,
                   help="an xa.Encoder (or a function returning one) as package.module:name, "
                        "instead of --model")

    i = sub.add_parser("info", help="explain how a dataset is read", formatter_class=_FMT)
    i.add_argument("input", help="netCDF file or zarr store")
    i.add_argument("--static", default=None, help="netCDF with lsm/z/slt if not in INPUT")
    i.add_argument("--model", default="aurora-0.25-pretrained",
                   help="check variables, patch size and grid against this registry entry")
    i.add_argument("--timestep-hours", type=float, default=None,
                   help="history step in hours (default: the model's)")
    i.add_argument("--check-times", type=int, default=4,
                   help="time steps whose values are checked (0: all)")
    return p


def _missing_paths(args) -> list[str]:
    """Input paths that do not exist, found before anything heavy is imported."""
    paths = [("input", getattr(args, "input", None)), ("--checkpoint", args.__dict__.get(
        "checkpoint")), ("--static", args.__dict__.get("static")),
        ("--data", args.__dict__.get("data"))]
    return [f"{what} {path!r} does not exist" for what, path in paths
            if path is not None and not os.path.exists(path)]


def _written(store) -> str:
    """How far the run into ``store`` got, for the line that ends it."""
    n = steps_written(store)
    return f"{n[0]} of {n[1]} steps written" if n else "no step written yet"


def _store_failed(err) -> int:
    """One line for a store that cannot be written (``err``: a StoreWriteError); exit code 1."""
    where = _written(err.store)
    fix = ("free space and rerun the same command to resume" if err.errno in
           (errno.ENOSPC, errno.EDQUOT) else "make it writable and rerun the same command to "
           "resume")
    _say(f"{err}; {where}. Fix: {fix}.")
    return 1


def _say(msg: str) -> None:
    print(f"xaurora: {msg}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    missing = _missing_paths(args)
    if missing:  # before torch/aurora are imported: this answer comes at once
        _say("; ".join(missing) + ". Fix: check the path.")
        return 2
    if (args.command == "embed" and args.model is None and not args.random_weights
            and not args.encoder):
        _say("embed needs --model NAME (e.g. aurora-0.25-pretrained, with --checkpoint FILE "
             "or the Hugging Face cache), --encoder package.module:name, or --random-weights for "
             "the random-weights control (the small 'tiny' architecture unless --model is "
             "given).")
        return 2
    try:
        if args.command == "info":
            text = describe(open_any(args.input), static=args.static,
                            timestep_hours=args.timestep_hours, model=args.model,
                            check_times=args.check_times or None)
            print(text)
            return 1 if PROBLEM in text else 0
        elif args.command == "embed" and args.encoder:
            out = encoder_to_zarr(args.input, args.output, args.encoder, args.start, args.end,
                                  args.static, progress=not args.no_progress)
            print(f"embeddings written to {out}")
        elif args.command == "embed":
            return _embed(args)
        elif args.command == "demo":
            out = run_demo(args.out, fast=args.fast, model=args.model,
                           checkpoint=args.checkpoint, data=args.data, static=args.static,
                           seed=args.seed)
            print(f"demo report: {out}")
    except StoreWriteError as err:  # a full disk: say so, and that a rerun resumes
        return _store_failed(err)
    except ValueError as err:  # input problems: a clear message, no traceback
        print(f"xaurora: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
        _say("interrupted.")
        return 130
    return 0


def _embed(args) -> int:
    name = args.model or "tiny"
    info = get_info(name)
    random = args.random_weights or (info.checkpoint is None and args.checkpoint is None)
    if random:
        _say(f"WARNING: {name} with RANDOM weights (seed {args.seed}): the control model, not a "
             f"trained Aurora.")
    weights = ("random weights" if random else f"weights from {args.checkpoint}"
               if args.checkpoint else f"weights of {info.repo}/{info.checkpoint} from the "
               f"Hugging Face cache")
    _say(f"loading {name} ({weights}) …")
    try:
        out = embed_to_zarr(args.input, args.output, name, args.checkpoint, args.layer,
                            args.start, args.end, args.batch_size, args.device, args.static,
                            args.seed, progress=not args.no_progress,
                            random_weights=args.random_weights,
                            check_values=not args.no_check_values, steps=args.steps,
                            dtype=args.dtype)
    except KeyboardInterrupt:
        where = _written(args.output)
        print(file=sys.stderr)
        _say(f"interrupted: {where}; run the same command again to resume")
        return 130
    print(f"embeddings written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
