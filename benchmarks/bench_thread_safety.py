"""Cost of thread safety (issue 8, bug 1): one lock per module around each pass vs lock-free.

xaurora holds a per-module re-entrant lock around every hooked pass (``xaurora.run.hooks``). The
lock-free alternative measured here keeps one *permanent* hook on the layer that acts only in
threads that asked for it (filtered by thread id through ``threading.local``), so passes of
different threads run at the same time. Both give the eager values; the question is speed.

Printed, median of paired repeats on a 1° grid with the ``tiny`` model:

* threaded Dask compute of a chunked ``embed`` (lock) / eager ``embed``;
* the same Dask compute with the lock-free capture / eager;
* lock / lock-free for the Dask compute, and for 4 plain threads embedding at once.

Run: ``.venv/bin/python benchmarks/bench_thread_safety.py``
"""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

import xaurora as xa
import xaurora.run.tokens as embedding  # the module whose capture runs the model
from xaurora.run.hooks import _Stop, resolve_layer

_TLS = threading.local()
_INSTALLED: set[int] = set()
_INSTALL = threading.Lock()
_CALLS = [0]


def lockfree_capture(module, batch, layer: str, autocast: bool = False, edits=None):
    """Capture ``layer`` with a permanent hook that acts only in the thread that asked."""
    target = resolve_layer(module, layer)
    with _INSTALL:
        if id(target) not in _INSTALLED:
            def hook(_mod, _args, output):
                want = getattr(_TLS, "want", None)
                if want is not None and want[0] is _mod:
                    want[1]["value"] = output
                    raise _Stop

            target.register_forward_hook(hook)  # never removed: shared state on the module
            _INSTALLED.add(id(target))
    _CALLS[0] += 1  # not exact under threads; only checks that this path ran at all
    out: dict = {}
    _TLS.want = (target, out)
    try:
        with torch.no_grad():
            module(batch)
    except _Stop:
        pass
    finally:
        _TLS.want = None
    return out["value"]


def _timed(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def main(n_times: int = 9, repeats: int = 7) -> None:
    torch.set_num_threads(2)
    model = xa.load_model("tiny")
    ds = xa.testing.synthetic_dataset(n_lat=181, n_lon=360, n_times=n_times,
                                      levels=(50, 250, 500, 850, 1000))
    eager = xa.embed(ds, model).values
    lazy = ds.chunk(time=2).aurora.embed(model)
    locked_capture = embedding.capture

    def dask_locked():
        embedding.capture = locked_capture
        return lazy.compute(scheduler="threads", num_workers=4).values

    def dask_lockfree():
        embedding.capture = lockfree_capture
        try:
            return lazy.compute(scheduler="threads", num_workers=4).values
        finally:
            embedding.capture = locked_capture

    np.testing.assert_array_equal(dask_locked(), eager)
    np.testing.assert_array_equal(dask_lockfree(), eager)
    assert _CALLS[0] > 0, "embed no longer calls embedding.capture: update this benchmark"

    def threads(capture):
        def one():
            embedding.capture = capture
            return xa.embed(ds, model)

        with ThreadPoolExecutor(4) as pool:
            [f.result() for f in [pool.submit(one) for _ in range(4)]]
        embedding.capture = locked_capture

    r_lock, r_free, r_ratio, r_thr = [], [], [], []
    for _ in range(repeats):
        t_eager = _timed(lambda: xa.embed(ds, model))
        t_lock = _timed(dask_locked)
        t_free = _timed(dask_lockfree)
        r_lock.append(t_lock / t_eager)
        r_free.append(t_free / t_eager)
        r_ratio.append(t_lock / t_free)
        r_thr.append(_timed(lambda: threads(locked_capture))
                     / _timed(lambda: threads(lockfree_capture)))
    med = statistics.median
    print(f"1° grid, tiny model, {n_times - 1} analysis times in chunks of 2, 4 Dask threads, "
          f"torch threads 2, median of {repeats} paired repeats")
    print(f"threaded Dask embed, lock      / eager embed : {med(r_lock):.3f}")
    print(f"threaded Dask embed, lock-free / eager embed : {med(r_free):.3f}")
    print(f"lock / lock-free, threaded Dask embed        : {med(r_ratio):.3f}")
    print(f"lock / lock-free, 4 threads embedding at once: {med(r_thr):.3f}")


if __name__ == "__main__":
    main()
