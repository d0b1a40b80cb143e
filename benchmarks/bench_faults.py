"""Faults ``xaurora embed`` survives: kill -9 at seeded moments, a disk that fills up mid-write.

Prints the table for the issue note: examples tried, kills and write faults survived, steps
lost (must be 0), with the seed. Every example ends with reruns of the same command until one
finishes, and its store compared with an uninterrupted run's: bitwise equal values and
coordinates, every done flag set, no time lost or duplicated.

Kills: ``tests.results.test_faults.drive`` in a subprocess (imports paid once, a forked child per
run, SIGKILL at the drawn call of a phase: layout write, input read, model call, value/flag write,
between batches). Write faults: a zarr 3 store that raises ENOSPC inside a drawn write (of the
layout, or of values and flags; torn or not), in this process through ``xaurora.app.cli.main``.

    python benchmarks/bench_faults.py [--kills 20] [--faults 20] [--seed 20240917]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.results import test_faults as tf  # noqa: E402 - after the repository root is on the path


def write_faults(src: str, work: str, n: int, seed: int) -> list[dict]:
    """``n`` seeded write faults, each followed by a rerun on a working disk."""
    from xaurora.app import cli

    reference = os.path.join(work, "reference.zarr")
    counter = tf.full_disk(reference)
    with contextlib.redirect_stderr(io.StringIO()):
        cli.embed_to_zarr(src, counter, batch_size=1, progress=False)
    real = cli.embed_to_zarr
    rows = []
    for k, (budget, torn) in enumerate(tf.draw_faults(counter.state["keys"], n, seed)):
        out = os.path.join(work, f"fault{k}.zarr")
        disk = tf.full_disk(out, budget, torn)
        err = io.StringIO()
        cli.embed_to_zarr = lambda s, store, *a, _d=disk, **kw: real(s, _d, *a, **kw)
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                rc = cli.main(["embed", src, out, *tf.ARGS])
        finally:
            cli.embed_to_zarr = real
        line = err.getvalue().strip().splitlines()[-1]
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            rerun = cli.main(["embed", src, out, *tf.ARGS])
        rows.append({"budget": budget, "torn": torn, "rc": rc, "rerun": rerun,
                     "one_line": "Fix: free space and rerun" in line and "Traceback" not in
                     err.getvalue(), **tf.compare(out, reference)})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=20)
    p.add_argument("--faults", type=int, default=20)
    p.add_argument("--seed", type=int, default=tf.SEED)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as work:
        src = tf.make_source(os.path.join(work, "in.nc"))
        t0 = time.perf_counter()
        os.makedirs(os.path.join(work, "kills"))
        kills = tf.drive_in_subprocess(src, os.path.join(work, "kills"), args.kills, args.seed,
                                       timeout=3600)["examples"]
        t_kills = time.perf_counter() - t0
        t0 = time.perf_counter()
        os.makedirs(os.path.join(work, "faults"))
        faults = write_faults(src, os.path.join(work, "faults"), args.faults, args.seed)
        t_faults = time.perf_counter() - t0

    def ok(r):
        return r["lost"] == 0 and r["duplicated"] == 0 and r["identical"]

    k_ok = sum(r["killed"] and r["reruns"][-1] == 0 and ok(r) for r in kills)
    f_ok = sum(r["rc"] == 1 and r["one_line"] and r["rerun"] == 0 and ok(r) for r in faults)
    lost = sum(r["lost"] for r in kills + faults)
    dup = sum(r["duplicated"] for r in kills + faults)
    phases = Counter(r["plan"][0] for r in kills)
    print(f"seed {args.seed}; input: 6 analysis times, --batch-size 1, tiny model")
    print("| examples tried | kills survived | write faults survived | steps lost | "
          "times duplicated |")
    print("|---|---|---|---|---|")
    print(f"| {len(kills)} kills + {len(faults)} write faults | {k_ok} / {len(kills)} | "
          f"{f_ok} / {len(faults)} | {lost} | {dup} |")
    print(f"kills by phase: {dict(phases)}; before/after the call: "
          f"{dict(Counter(r['plan'][2] for r in kills))}; steps flagged at the kill: "
          f"{sorted(Counter(r['flagged_at_kill'] for r in kills).items())}")
    print(f"write faults: torn {sum(r['torn'] for r in faults)}, whole "
          f"{sum(not r['torn'] for r in faults)}")
    print(f"time: kills {t_kills:.0f} s (driver start and reference run included), "
          f"write faults {t_faults:.0f} s")
    bad = [r for r in kills if not (r["killed"] and ok(r))] + [r for r in faults if not ok(r)]
    for r in bad:
        print("FAILED:", r)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
