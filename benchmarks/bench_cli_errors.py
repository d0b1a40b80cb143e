"""Benchmark: how fast a user learns that a path or the weights are missing (target: < 1 s).

Each case runs ``xaurora`` in a fresh process, as a user would, and times until it exits:
a missing input file, a missing checkpoint file, and a released model whose weights are not in
an (empty) Hugging Face cache with ``HF_HUB_OFFLINE=1``. For comparison it also times
``import aurora`` (what these errors used to wait for) in a fresh process.

    python benchmarks/bench_cli_errors.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _time(cmd: list[str], env: dict, cwd: str) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    return time.perf_counter() - t0, proc.returncode, proc.stderr.strip().splitlines()[-1:]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        import xaurora as xa

        src = Path(tmp) / "in.nc"
        xa.testing.synthetic_dataset(n_lat=17, n_lon=32, naming="cds").to_netcdf(src)
        env = {**os.environ, "HF_HOME": str(Path(tmp) / "hf"), "HF_HUB_OFFLINE": "1"}
        cli = [py, "-m", "xaurora.app.cli"]
        cases = {
            "missing input file": cli + ["embed", "nope.nc", "o.zarr", "--model", "tiny"],
            "missing checkpoint": cli + ["embed", str(src), "o.zarr", "--model",
                                         "aurora-0.25-pretrained", "--checkpoint", "no.ckpt"],
            "weights not cached, offline": cli + ["embed", str(src), "o.zarr", "--model",
                                                  "aurora-0.25-small-pretrained"],
            "(reference) python -c 'import aurora'": [py, "-c", "import aurora"],
        }
        for name, cmd in cases.items():
            times = []
            for _ in range(args.repeat):
                dt, rc, last = _time(cmd, env, tmp)
                times.append(dt)
            med = sorted(times)[len(times) // 2]
            print(f"{name:40s} best {min(times):5.2f} s  median {med:5.2f} s  exit {rc}  "
                  f"{last[0][:90] if last else ''}")


if __name__ == "__main__":
    main()
