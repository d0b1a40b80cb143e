"""Does preparing batch k + 1 during batch k hide the glue behind a slow model? (issue 11).

The ``tiny`` model's encoder is replaced by a fake that sleeps 50 ms per sample (releasing the
GIL, as a GPU kernel or a real encoder's native code does) and returns zeros of the encoder's
shape, allocated once per batch size (as a GPU's output costs the CPU nothing; ``--alloc``
allocates them on every call instead, which on a 2-vCPU VM costs ~5 ms a call: the first
multi-threaded torch operation after a pause wakes PyTorch's OpenMP workers). 32 analysis
times on the 1° grid (5 levels) are read lazily from a zarr store (one time step per chunk) and
embedded by the streaming loop that ``xaurora embed`` uses, with the prefetch thread off and on.
The encoder alone would reach 1 / 50 ms = 20 samples/s; the target is ≥ 0.9 × that with
prefetch on. Repeats alternate the two settings; medians and ranges are
printed, the rate of the model alone on encoder inputs already prepared in memory (what hiding
the glue completely would give), and the CPU time per step of the reader and of the model thread
(which, unlike wall time, other jobs on a shared machine barely change).

Run: ``.venv/bin/python benchmarks/bench_embed_prefetch.py [--repeats 3] [--sleep 0.05]
[--device cuda] [--alloc]`` (on a GPU, Aurora's own preparation of each sample runs on the device)
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import torch
import xarray as xr

import xaurora as xa
from xaurora.batch import select_times
from xaurora.embedding import embed_values, iter_embeddings
from xaurora.io.canonical import canonicalize
from xaurora.models.forward import encoder_input, run_encoder
from xaurora.pipeline import BatchSource


def slow_encoder(module, sleep: float, alloc: bool = False):
    """Make ``module.encoder`` sleep ``sleep`` s per sample and return zeros of its shape."""
    enc = module.encoder
    made: dict = {}

    def forward(batch, lead_times):
        x = next(iter(batch.surf_vars.values()))
        b = x.shape[0]
        h, w = batch.spatial_shape
        time.sleep(sleep * b)
        key = (b, h, w, x.device)
        if alloc or key not in made:
            n = enc.latent_levels * (h // enc.patch_size) * (w // enc.patch_size)
            made[key] = torch.zeros(b, n, enc.embed_dim, device=x.device)
        return made[key]

    enc.forward = forward  # an instance attribute: nn.Module.__call__ (and its hooks) use it


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=32)
    p.add_argument("--sleep", type=float, default=0.05, help="fake encoder seconds per sample")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--device", default="cpu", help="where the model runs (e.g. cuda)")
    p.add_argument("--alloc", action="store_true", help="the fake allocates its output per call")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    model = xa.load_model("tiny", device=a.device)
    slow_encoder(model.module, a.sleep, a.alloc)
    with tempfile.TemporaryDirectory() as d:
        store = Path(d) / "in.zarr"
        xa.testing.synthetic_dataset(n_lat=181, n_lon=360, n_times=a.steps + 1,
                                     levels=(50, 250, 500, 850, 1000)).chunk(time=1).to_zarr(
            store, zarr_format=2)
        cds = canonicalize(xr.open_zarr(store), info=model.info)
        times = select_times(cds, model.timestep)
        rates: dict[int, list[float]] = {0: [], 1: []}
        embed_values(cds, times[:2], model, "encoder", check_values=True)  # warm-up
        for r in range(a.repeats):
            for prefetch in ((0, 1) if r % 2 == 0 else (1, 0)):
                t0 = time.perf_counter()
                embed_values(cds, times, model, "encoder", check_values=True, prefetch=prefetch)
                rates[prefetch].append(times.size / (time.perf_counter() - t0))
        # the model alone: the same fake encoder on encoder inputs already prepared in memory
        m = model.module
        src = BatchSource(cds, m, model.timestep)
        ready = [encoder_input(m, src.read(times[i : i + 1], times[i + 1 : i + 9]).to(a.device))
                 for i in range(times.size)]
        alone = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            for b in ready:
                run_encoder(m, b)
            alone.append(times.size / (time.perf_counter() - t0))
        del ready
        # where the time goes in one run with prefetch: until the first result (the first read
        # and preparation, nothing to overlap yet), then between results
        gaps, last = [], time.perf_counter()
        with contextlib.closing(iter_embeddings(cds, times, model, "encoder", 1, False, True,
                                                1)) as it:
            for _ in it:
                now = time.perf_counter()
                gaps.append(now - last)
                last = now
        # CPU time of each side per step (robust to other jobs on a shared machine): the reader
        # thread's work is hidden while it stays below the sleep; the model thread's adds to it
        slow_encoder(m, 0.0, a.alloc)
        src = BatchSource(cds, m, model.timestep, check=True)
        c0 = time.process_time()
        batches = [encoder_input(m, src.read(times[i : i + 1], times[i + 1 : i + 5]))
                   for i in range(times.size)]
        read_cpu = (time.process_time() - c0) / times.size
        c0 = time.process_time()
        for b in batches:
            run_encoder(m, b)
        model_cpu = (time.process_time() - c0) / times.size
    ideal = 1 / a.sleep
    print(f"fake encoder sleeping {a.sleep * 1e3:.0f} ms per sample (alone: {ideal:.1f} "
          f"samples/s; output {'allocated per call' if a.alloc else 'allocated once'}); "
          f"{times.size} steps, 1° grid, 5 levels, read from zarr (lazy), "
          f"values checked, batch 1, {a.repeats} alternating repeats")
    for prefetch, xs in rates.items():
        med = statistics.median(xs)
        print(f"prefetch {prefetch}: {med:5.2f} samples/s = {med / ideal:.3f} × encoder alone "
              f"(range {min(xs) / ideal:.3f}–{max(xs) / ideal:.3f})"
              + (" (target ≥ 0.9)" if prefetch else ""))
    med_alone = statistics.median(alone)
    print(f"the model alone (same fake encoder, inputs prepared in memory): {med_alone:5.2f} "
          f"samples/s = {med_alone / ideal:.3f} × encoder alone; embed with prefetch reaches "
          f"{statistics.median(rates[1]) / med_alone:.3f} × the model alone")
    print(f"one run with prefetch: first result after {gaps[0] * 1e3:.0f} ms (the encoder's "
          f"{a.sleep * 1e3:.0f} ms included), then a result every "
          f"{statistics.median(gaps[1:]) * 1e3:.1f} ms (median; = "
          f"{a.sleep / statistics.median(gaps[1:]):.3f} × encoder alone)")
    print(f"CPU per step: reader thread {read_cpu * 1e3:.1f} ms (read from zarr, check, "
          f"assemble, prepare the encoder's input), model thread {model_cpu * 1e3:.1f} ms "
          f"besides the encoder")
    if read_cpu < a.sleep:
        print(f"with a core free for the reader: expected "
              f"{a.sleep / (a.sleep + model_cpu):.3f} × encoder alone")


if __name__ == "__main__":
    main()
