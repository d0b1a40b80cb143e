"""GPU figures for issues 2 and 4: full-size 0.25° Aurora (random weights).

Prints encoder throughput (samples/s) in fp32 and bf16 with peak GPU memory, the overhead of
``embed`` over a bare encoder loop, the bf16 relative difference that ``autocast=True`` reports,
the same throughput for a forecast step, and LRP time and peak memory with and without
activation checkpointing.
Needs a CUDA device for the real figures; ``--model tiny --grid 1 --device cpu`` checks the code
path anywhere.

Run on a GPU machine:
``python benchmarks/bench_gpu.py --model aurora-0.25-pretrained --grid 0.25 --device cuda``
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np
import torch

import xaurora as xa
from xaurora.attribution import Target, relevance
from xaurora.io.canonical import canonicalize
from xaurora.models.forward import encoder_input, run_encoder
from xaurora.models.registry import ERA5_LEVELS
from xaurora.run.source import make_batch
from xaurora.run.tokens import embed_values


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _peak_gib(device: str) -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan")


def _reset(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def timed(fn, device: str, repeats: int) -> tuple[float, float]:
    """Median seconds per call after one warm-up call, and peak GPU memory (GiB)."""
    fn()
    _sync(device)
    _reset(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), _peak_gib(device)


def bare_encoder_loop(cds, times, model, batch_size: int, device: str) -> list:
    """The least a loop can do: build each Batch, move, normalise, crop, call the encoder."""
    module = model.module
    out = []
    for i in range(0, len(times), batch_size):
        batch = make_batch(cds, times[i : i + batch_size], module, copy=False).to(device)
        batch = batch.normalise(surf_stats=module.surf_stats).crop(patch_size=module.patch_size)
        b = next(iter(batch.surf_vars.values())).shape[0]
        batch.static_vars = {k: v[None, None].repeat(b, 2, 1, 1)
                             for k, v in batch.static_vars.items()}
        lead = torch.full((b,), module.timestep.total_seconds() / 3600, device=device)
        with torch.no_grad():
            out.append(module.encoder(batch, lead_times=lead).float().cpu().numpy())
    return out


def lrp(ds, model, device: str) -> None:
    """LRP of a forecast's regional mean, with and without activation checkpointing."""
    target = Target("msl", region=(30, 72, -12, 45))
    for ckpt in (False, True):
        try:
            s, mem = timed(lambda c=ckpt: relevance(ds.isel(time=[0, 1]), model, target,
                                                    checkpointing=c), device, 1)
            print(f"LRP checkpointing={ckpt!s:5}: {s:8.2f} s  peak {mem:6.1f} GiB")
        except torch.cuda.OutOfMemoryError:
            print(f"LRP checkpointing={ckpt!s:5}: out of GPU memory")
            _reset(device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="aurora-0.25-pretrained")
    p.add_argument("--grid", type=float, default=0.25, help="grid spacing in degrees")
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-lrp", action="store_true")
    p.add_argument("--only-lrp", action="store_true", help="only the LRP figures")
    a = p.parse_args()
    n_lat, n_lon = int(round(180 / a.grid)) + 1, int(round(360 / a.grid))
    model = xa.load_model(a.model, random_weights=True, device=a.device)
    ds = xa.testing.synthetic_dataset(n_lat=n_lat, n_lon=n_lon, n_times=a.batch_size + 1,
                                      levels=ERA5_LEVELS)
    cds = canonicalize(ds)
    times = cds.time.values[1:]
    gpu = torch.cuda.get_device_name() if a.device.startswith("cuda") else "cpu"
    print(f"{a.model} (random weights), {n_lat} × {n_lon} grid, 13 levels, batch {a.batch_size}, "
          f"device {a.device} ({gpu})")
    if a.only_lrp:
        return lrp(ds, model, a.device)
    for name, bf16 in (("fp32", False), ("bf16", True)):
        s, mem = timed(lambda bf16=bf16: embed_values(cds, times, model, "encoder", a.batch_size,
                                                      autocast=bf16), a.device, a.repeats)
        print(f"encoder  {name}: {a.batch_size / s:8.2f} samples/s  peak {mem:6.1f} GiB  "
              f"(embed: read, move, prepare, encoder, output back in host memory)")
    # the encoder alone: its input prepared on the device, its output left there
    inp = encoder_input(model.module, make_batch(cds, times, model.module).to(a.device))
    for name, bf16 in (("fp32", False), ("bf16", True)):
        def alone(bf16=bf16):
            ctx = (torch.autocast(device_type=a.device.split(":")[0], dtype=torch.bfloat16)
                   if bf16 else contextlib.nullcontext())
            with ctx:
                return run_encoder(model.module, inp)

        s, mem = timed(alone, a.device, a.repeats)
        print(f"encoder alone {name}: {a.batch_size / s:8.2f} samples/s  peak {mem:6.1f} GiB  "
              f"(input prepared on the device, output left there)")
        if bf16:
            s_alone = s / a.batch_size  # seconds per sample, bf16: the pace to keep
    out_bytes = run_encoder(model.module, inp).numel() * 4
    print(f"encoder output per batch: {out_bytes / 2**20:.0f} MiB (float32), copied to the host "
          f"by embed")
    n_over = max(a.batch_size, 8)
    ocds = canonicalize(xa.testing.synthetic_dataset(n_lat=n_lat, n_lon=n_lon,
                                                     n_times=n_over + 1, levels=ERA5_LEVELS))
    otimes = ocds.time.values[1:]
    s_x, _ = timed(lambda: embed_values(ocds, otimes, model, "encoder", a.batch_size), a.device,
                   a.repeats)
    s_b, _ = timed(lambda: bare_encoder_loop(ocds, otimes, model, a.batch_size, a.device),
                   a.device, a.repeats)
    print(f"embed / bare encoder loop ({n_over} samples, batch {a.batch_size}): "
          f"{s_x / s_b:.3f} ({s_x:.2f} s vs {s_b:.2f} s)")
    # issue 22: embed at the encoder's pace (bf16), full tokens, float16 tokens, pooled
    ods = xa.testing.synthetic_dataset(n_lat=n_lat, n_lon=n_lon, n_times=n_over + 1,
                                       levels=ERA5_LEVELS)
    for label, kw in (("full tokens in host memory", {}), ("float16 tokens", {"dtype": "float16"}),
                      ("pool=True (mean, std, rms on the device)", {"pool": True})):
        s_e, _ = timed(lambda kw=kw: xa.embed(ods, model, batch_size=a.batch_size, autocast=True,
                                               **kw), a.device, a.repeats)
        print(f"embed {label}, bf16: {n_over / s_e:6.2f} samples/s = "
              f"{s_alone * n_over / s_e:.3f} x the encoder alone")
    emb = xa.embed(ds, model, batch_size=a.batch_size, autocast=True)
    print(f"autocast_rel_diff (bf16 vs fp32, first sample): {emb.attrs['autocast_rel_diff']:.2e}")
    batch = make_batch(cds, times, model.module)
    for name, bf16 in (("fp32", False), ("bf16", True)):
        def step(bf16=bf16):
            ctx = (torch.autocast(device_type=a.device.split(":")[0], dtype=torch.bfloat16)
                   if bf16 else torch.no_grad())
            with torch.no_grad(), ctx:
                model.module(batch)

        s, mem = timed(step, a.device, a.repeats)
        print(f"forecast {name}: {a.batch_size / s:8.2f} samples/s  peak {mem:6.1f} GiB")
    if not a.skip_lrp:
        lrp(ds, model, a.device)


if __name__ == "__main__":
    main()
