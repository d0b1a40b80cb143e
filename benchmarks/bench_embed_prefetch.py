"""Does preparing batch k + 1 during batch k hide the glue behind a slow model? (issue 11).

The ``tiny`` model's encoder is replaced by a fake that sleeps 50 ms per sample (releasing the
GIL, as a GPU kernel or a real encoder's native code does) and returns zeros of the encoder's
shape, allocated once per batch size (as a GPU's output costs the CPU nothing; ``--alloc``
allocates them on every call instead, which on a 2-vCPU VM costs ~5 ms a call: the first
multi-threaded torch operation after a pause wakes PyTorch's OpenMP workers). 32 analysis
times on the 1° grid (5 levels) are read lazily from a zarr store (one time step per chunk) and
embedded by the streaming loop that ``xaurora embed`` uses, with the prefetch thread off and on,
and on again with the interpreter's heap left unfrozen (``xaurora.run.heap.FREEZE = False``: a full
garbage collection then scans every object, ~0.3 s with the GIL held). The encoder alone would
reach 1 / 50 ms = 20 samples/s; the target is ≥ 0.9 × that with prefetch on. Repeats
rotate the three settings. Printed: medians and ranges, the full collections seen in each
setting and their total pause, the rate of the model alone on encoder inputs already prepared in
memory (what hiding the glue completely would give), and the time per step of the reading side
(the whole loop with an encoder that returns at once, and of that the reading of the zarr
chunks by Dask) and the model thread's CPU time besides the encoder.

Run: ``.venv/bin/python benchmarks/bench_embed_prefetch.py [--repeats 3] [--sleep 0.05]
[--device cuda] [--alloc]`` (on a GPU, Aurora's own preparation of each sample runs on the device)
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import statistics
import tempfile
import time
from pathlib import Path

import dask
import torch
import xarray as xr

import xaurora as xa
from xaurora.io.canonical import canonicalize
from xaurora.models.forward import encoder_input, run_encoder
from xaurora.run import heap
from xaurora.run.source import BatchSource
from xaurora.run.times import select_times
from xaurora.run.tokens import embed_values, iter_embeddings


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
        settings = {"prefetch 0": (0, True), "prefetch 1": (1, True),
                    "prefetch 1, heap not frozen": (1, False)}
        rates: dict[str, list[float]] = {k: [] for k in settings}
        pauses: dict[str, list[float]] = {k: [] for k in settings}
        started: list[float] = []
        current = ["warm-up"]

        def on_gc(phase, info):  # full collections: count them and their pause, per setting
            if info["generation"] != 2:
                return
            if phase == "start":
                started.append(time.perf_counter())
            elif started and current[0] in pauses:
                pauses[current[0]].append(time.perf_counter() - started.pop())

        gc.callbacks.append(on_gc)
        embed_values(cds, times[:2], model, "encoder", check_values=True)  # warm-up
        names = list(settings)
        for r in range(a.repeats):
            for name in names[r % 3 :] + names[: r % 3]:  # rotate the order
                prefetch, heap.FREEZE = settings[name]
                current[0] = name
                t0 = time.perf_counter()
                embed_values(cds, times, model, "encoder", check_values=True, prefetch=prefetch)
                rates[name].append(times.size / (time.perf_counter() - t0))
        current[0], heap.FREEZE = "after", True
        gc.callbacks.remove(on_gc)
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
        # the reading side per step: the whole loop in one thread with an encoder that returns
        # at once (wall and CPU), and of that the reading of the chunks by Dask (8 steps a
        # compute, as the loop reads); it is hidden while it stays below the encoder's time
        slow_encoder(m, 0.0, a.alloc)
        loop_wall, loop_cpu, dask_wall = [], [], []
        steps = [cds[v].data for v in src.names]
        for _ in range(3):
            c0, t0 = time.process_time(), time.perf_counter()
            embed_values(cds, times, model, "encoder", check_values=True, prefetch=0)
            loop_wall.append((time.perf_counter() - t0) / times.size)
            loop_cpu.append((time.process_time() - c0) / times.size)
            t0 = time.perf_counter()
            for i in range(0, times.size, 8):
                dask.compute(*[x[i : i + 8] for x in steps])
            dask_wall.append((time.perf_counter() - t0) / times.size)
        # the model thread's own CPU time besides the encoder
        batches = [encoder_input(m, src.read(times[i : i + 1], times[i + 1 : i + 5]))
                   for i in range(times.size)]
        c0 = time.process_time()
        for b in batches:
            run_encoder(m, b)
        model_cpu = (time.process_time() - c0) / times.size
        read_wall = statistics.median(loop_wall)
    ideal = 1 / a.sleep
    print(f"fake encoder sleeping {a.sleep * 1e3:.0f} ms per sample (alone: {ideal:.1f} "
          f"samples/s; output {'allocated per call' if a.alloc else 'allocated once'}); "
          f"{times.size} steps, 1° grid, 5 levels, read from zarr (lazy), "
          f"values checked, batch 1, {a.repeats} repeats of the settings in rotating order")
    for name, xs in rates.items():
        med = statistics.median(xs)
        print(f"{name}: {med:5.2f} samples/s = {med / ideal:.3f} × encoder alone "
              f"(range {min(xs) / ideal:.3f}–{max(xs) / ideal:.3f})"
              + (" (target ≥ 0.9)" if name == "prefetch 1" else "")
              + f"; {len(pauses[name])} full collections, {sum(pauses[name]) * 1e3:.0f} ms "
              "in all")
    med_alone = statistics.median(alone)
    print(f"the model alone (same fake encoder, inputs prepared in memory): {med_alone:5.2f} "
          f"samples/s = {med_alone / ideal:.3f} × encoder alone; embed with prefetch reaches "
          f"{statistics.median(rates['prefetch 1']) / med_alone:.3f} × the model alone")
    print(f"one run with prefetch: first result after {gaps[0] * 1e3:.0f} ms (the encoder's "
          f"{a.sleep * 1e3:.0f} ms included), then a result every "
          f"{statistics.median(gaps[1:]) * 1e3:.1f} ms (median; = "
          f"{a.sleep / statistics.median(gaps[1:]):.3f} × encoder alone)")
    print(f"reading side per step (read, check, assemble, prepare; median of 3): "
          f"{read_wall * 1e3:.1f} ms wall, {statistics.median(loop_cpu) * 1e3:.1f} ms CPU; "
          f"of that, Dask reading the zarr chunks {statistics.median(dask_wall) * 1e3:.1f} ms "
          f"wall; model thread {model_cpu * 1e3:.1f} ms CPU besides the encoder")
    if read_wall < a.sleep:
        print(f"with a core free for the reader: expected "
              f"{a.sleep / (a.sleep + model_cpu):.3f} × encoder alone")


if __name__ == "__main__":
    main()
