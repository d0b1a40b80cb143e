"""How much to run at once: batches that fit the device, how far to read ahead, which device.

:func:`auto_batch_size` picks the largest batch that fits from a one-sample probe;
:func:`prefetch_for` how many batches to prepare ahead; :func:`inputs_alive` how many prepared
inputs are alive at once (so reused buffers are sized once).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import xarray as xr

from xaurora.io.checks import is_lazy
from xaurora.run.prefetch import on_host, queue_size
from xaurora.run.source import BatchSource
from xaurora.run.times import batch_slices

#: Batches prepared ahead (0: prepare each in the caller's thread); None: :func:`prefetch_for`.
PREFETCH: int | None = None


#: Working memory ``batch_size="auto"`` may use on a CPU. Larger CPU batches do not run faster
#: (every operator already uses all cores) but hold more memory, so the budget is modest.
CPU_BUDGET_BYTES = 256 * 2**20


def inputs_alive(source: BatchSource, times: Sequence, batch_size: int = 1, prefetch: int = 1,
                 device=None, slices: list[slice] | None = None) -> int:
    """How many prepared inputs :class:`batches` may still have in use when it prepares one.

    0 when each batch is prepared in the caller's thread (the caller is done with the one
    before); with a preparing thread on a CPU, the queue's length + the caller's batch. A
    preparer that reuses memory (:class:`xaurora.models.forward.Preparer`) needs it.
    """
    if prefetch <= 0 or not on_host(device):
        return 0
    slices = slices if slices is not None else batch_slices(len(times), batch_size)
    return queue_size(source, slices, prefetch) + 1


def prefetch_for(cds: xr.Dataset, device) -> int:
    """Batches to prepare ahead by default: 1 when there is something to overlap, else 0.

    Reading lazy data (disk, Dask) and feeding a GPU overlap with the model. In-memory data on a
    CPU has little to overlap, and a preparing thread there only competes with the model's own
    threads for the cores.
    """
    if PREFETCH is not None:
        return PREFETCH
    lazy = is_lazy(cds)
    return 1 if lazy or getattr(device, "type", "cpu") != "cpu" else 0


def model_device(module):
    """The device of the module's parameters."""
    return next(module.parameters()).device


def _available_ram() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def auto_batch_size(source: BatchSource, times: Sequence, module, layer: str,
                    capture, autocast: bool = False, prefetch: int = 1) -> int:
    """The largest batch of ``times`` that fits the device, from a one-sample probe.

    CUDA: the probe's peak memory per sample against ``torch.cuda.mem_get_info`` (90 % of what
    is free). CPU: the probe's input and output bytes, with room for the batches prepared ahead
    and the activations (estimated as 4 × the input), against ``min(CPU_BUDGET_BYTES, half the
    available RAM)``. Never more than the number of times.
    """
    import torch  # heavy

    device = model_device(module)
    probe = source.read(np.asarray(times)[:1])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        capture(module, probe.to(device), layer, autocast=autocast)
        torch.cuda.synchronize(device)
        per_sample = max(torch.cuda.max_memory_allocated(device) - base, 1)
        budget = 0.9 * torch.cuda.mem_get_info(device)[0]
    else:
        tensors = [*probe.surf_vars.values(), *probe.atmos_vars.values()]
        inputs = sum(t.numel() * 4 for t in tensors)
        out = capture(module, probe, layer, autocast=autocast)
        outputs = out.numel() * 4 if hasattr(out, "numel") else inputs
        per_sample = inputs * (prefetch + 1 + 4) + outputs
        budget = min(CPU_BUDGET_BYTES, _available_ram() / 2)
    return int(max(1, min(len(times), budget // per_sample)))


def rel_diff(a, b) -> float:
    """``‖a − b‖ / ‖b‖`` (Frobenius norms, float64)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), np.finfo(float).tiny))
