"""Peak memory of ``xaurora embed`` for 24 vs 4 time steps (issue 2: ratio ≤ 1.3).

Each run is a fresh process (``xaurora embed IN OUT.zarr`` on a 1° netCDF, ``tiny`` model);
its peak resident set size is read with ``resource.getrusage(RUSAGE_CHILDREN)`` in a wrapper
process so that the runs do not share a high-water mark.

Run: ``.venv/bin/python benchmarks/bench_embed_memory.py``
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import xaurora as xa

WRAPPER = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
    "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def peak_rss_mib(n_steps: int, tmp: Path) -> float:
    src = tmp / f"in_{n_steps}.nc"
    xa.testing.synthetic_dataset(n_lat=181, n_lon=360, n_times=n_steps + 1,
                                 levels=(50, 250, 500, 850, 1000), naming="cds").to_netcdf(src)
    cmd = [sys.executable, "-m", "xaurora.app.cli", "embed", str(src),
           str(tmp / f"o{n_steps}.zarr"), "--model", "tiny", "--no-progress"]
    out = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True,
                         check=True)
    return int(out.stdout.strip()) / 1024


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        small, large = peak_rss_mib(4, tmp), peak_rss_mib(24, tmp)
    print("xaurora embed, 1° grid (181 × 360), 5 levels, tiny model")
    print(f"peak RSS  4 steps: {small:.0f} MiB")
    print(f"peak RSS 24 steps: {large:.0f} MiB")
    print(f"ratio 24/4: {large / small:.3f} (target ≤ 1.3)")


if __name__ == "__main__":
    main()
