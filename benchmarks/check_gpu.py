"""GPU against CPU: every xaurora method, and Aurora submodule by submodule where they differ.

Issue 22 measured, on an H200 with identical weights, TF32 off and float64 everywhere, encoder
outputs 4.0 % apart (max |difference| / max |value|) between the GPU's and the CPU's
``module.forward``, and 2 m temperature 0.46 % apart, while float32 and float64 agree to
2.6e-6 on the CPU. This script finds where the two devices part:

1. the same model on both devices in float64 (``--dtype float32`` to compare that too), TF32
   off, one forward pass of Aurora's own ``module(batch)`` with a hook on every submodule;
   prints, in call order, each submodule's output difference and whether its *input* already
   differed — the first submodule whose inputs agree but whose output does not is where the
   devices part (Aurora's arithmetic, torch's kernels, or ours);
2. xaurora's methods on both devices (float32, as users run them): ``embed`` (encoder,
   backbone, float16, pooled), ``forecast``, ``relevance`` and an edited forecast.

Run on a GPU machine: ``python benchmarks/check_gpu.py --model tiny`` (and with
``--model aurora-0.25-pretrained --grid 0.25`` for the full model). ``--device cpu`` checks
the script itself anywhere (every difference is then 0).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import xaurora as xa
from xaurora.io.canonical import canonicalize
from xaurora.run.source import make_batch
from xaurora.run.times import select_times


def rel(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = np.nanmax(np.abs(a)) or 1.0
    return float(np.nanmax(np.abs(a - b)) / scale)


def _first_tensor(x):
    if torch.is_tensor(x):
        return x
    if isinstance(x, (tuple, list)):
        for item in x:
            t = _first_tensor(item)
            if t is not None:
                return t
    if hasattr(x, "surf_vars"):  # an aurora.Batch (the encoder's input, the decoder's output)
        return _first_tensor(x.surf_vars)
    if isinstance(x, dict):
        for item in x.values():
            t = _first_tensor(item)
            if t is not None:
                return t
    return None


def trace(module, batch) -> list[tuple[str, np.ndarray | None, np.ndarray | None]]:
    """(submodule name, its first input tensor, its first output tensor) in call order."""
    calls = []

    def hook(name):
        def fn(_mod, args, out):
            t_in, t_out = _first_tensor(args), _first_tensor(out)
            calls.append((name, None if t_in is None else t_in.detach().cpu().double().numpy(),
                          None if t_out is None else t_out.detach().cpu().double().numpy()))
        return fn

    handles = [m.register_forward_hook(hook(n or "<Aurora>")) for n, m in module.named_modules()]
    try:
        with torch.no_grad():
            module(batch)
    finally:
        for h in handles:
            h.remove()
    return calls


def submodules(name: str, grid: float, device: str, dtype: torch.dtype, tol: float) -> None:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    cpu_model = xa.load_model(name, seed=0)
    ds = xa.testing.synthetic_dataset(n_lat=int(180 / grid) + 1, n_lon=int(360 / grid),
                                      n_times=2)
    cds = canonicalize(ds, info=cpu_model.info)
    times = select_times(cds, cpu_model.timestep)
    batch = make_batch(cds, times[:1], cpu_model.module, cpu_model.timestep)
    module = cpu_model.module.to(dtype).eval()
    on_cpu = trace(module, batch.type(dtype))
    on_dev = trace(module.to(device), batch.type(dtype).to(device))
    module.to("cpu").float()
    print(f"\n{name}, {grid}° grid, {dtype}, {device} vs cpu: {len(on_cpu)} submodule calls")
    print(f"{'submodule':60s} {'input':>10s} {'output':>10s}")
    first = None
    for (n, i_c, o_c), (_, i_d, o_d) in zip(on_cpu, on_dev):
        d_in = rel(i_c, i_d) if i_c is not None and i_c.shape == i_d.shape else float("nan")
        d_out = rel(o_c, o_d) if o_c is not None and o_c.shape == o_d.shape else float("nan")
        if first is None and not d_in > tol and d_out > tol:
            first = (n, d_in, d_out)
        if d_out > tol or n in ("encoder", "backbone", "decoder", "<Aurora>"):
            print(f"{n[:60]:60s} {d_in:10.2e} {d_out:10.2e}")
    if first is None:
        print(f"no submodule parts the devices beyond {tol:g}")
    else:
        print(f"first submodule whose inputs agree (≤ {tol:g}) but whose output does not: "
              f"{first[0]} (input {first[1]:.2e}, output {first[2]:.2e})")


def methods(name: str, grid: float, device: str) -> None:
    ds = xa.testing.synthetic_dataset(n_lat=int(180 / grid) + 1, n_lon=int(360 / grid),
                                      n_times=3)
    cpu = xa.load_model(name, seed=0)
    dev = xa.load_model(name, seed=0, device=device)
    rows = []
    for label, kw in (("embed encoder", {}), ("embed backbone", {"layer": "backbone"}),
                      ("embed float16", {"dtype": "float16"}), ("embed pool=True", {"pool": True})):
        rows.append((label, rel(ds.aurora.embed(cpu, **kw).values,
                                ds.aurora.embed(dev, **kw).values)))
    fc_c, fc_d = ds.aurora.forecast(cpu), ds.aurora.forecast(dev)
    rows.append(("forecast 2t", rel(fc_c["2t"].values, fc_d["2t"].values)))
    n_channel = ds.aurora.embed(cpu).sizes["channel"]
    import xarray as xr

    direction = xr.DataArray(np.random.default_rng(0).normal(size=n_channel), dims="channel")
    edit = xa.edit.steer(direction, 4.0, "encoder")
    rows.append(("forecast, encoder steered (alpha 4, random direction)",
                 rel(ds.aurora.forecast(cpu, edit=edit)["2t"].values,
                     ds.aurora.forecast(dev, edit=edit)["2t"].values)))
    try:
        from xaurora.attribution import Target, relevance

        target = Target("2t")
        rows.append(("relevance of the global-mean 2 m temperature",
                     rel(relevance(ds, cpu, target)["2t"].values,
                         relevance(ds, dev, target)["2t"].values)))
    except Exception as err:  # noqa: BLE001 - report and go on: the other rows still count
        rows.append((f"relevance: not compared ({type(err).__name__}: {err})"[:70], float("nan")))
    print(f"\nxaurora's methods, {name}, {grid}° grid, float32, {device} vs cpu "
          "(max |difference| / max |value|)")
    for label, value in rows:
        print(f"  {label:50s} {value:.2e}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--grid", type=float, default=1.0)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    ap.add_argument("--tol", type=float, default=1e-9)
    args = ap.parse_args()
    if args.device.startswith("cuda"):
        print("device:", torch.cuda.get_device_name(0))
    submodules(args.model, args.grid, args.device, getattr(torch, args.dtype),
               args.tol if args.dtype == "float64" else max(args.tol, 1e-5))
    methods(args.model, args.grid, args.device)


if __name__ == "__main__":
    main()
