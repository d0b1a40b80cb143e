"""Feeding Aurora: read, check and assemble batch k+1 while the model runs on batch k.

``embed`` and ``xaurora embed`` (the CLI) share this loop. These keep the Python glue off
the model's critical path:

* :class:`BatchSource` does the dataset-level work once (variable lists, static fields, grid
  tensors, the time index) and reads every time step once: the history step t − Δ of analysis
  time t is the previous step's t, so consecutive steps share it, inside a batch (one block of
  B + 1 steps, viewed as B overlapping pairs without a copy) and across batches (the last step
  read is kept for the next batch). With ``check=True`` it checks every value it reads exactly
  once: in-memory data in one pass over all of it, lazy data as each step is read.
* :func:`batches` runs the source in one bounded background thread (a queue of ``prefetch``
  ready batches; for lazy data, the batches of one whole read), so reading, checking and
  assembling overlap the model. On CUDA the tensors are
  pinned and copied with ``non_blocking=True``. An error in the thread is raised in the caller
  unchanged, and leaving the loop early (an error, Ctrl-C, ``break``) stops and joins the thread.
* With ``prepare`` (:func:`xaurora.models.forward.encoder_input` when embedding stops at the
  encoder) the background thread also turns each Batch into what the model consumes, so that
  Aurora's own preparation of its input is off the model's thread too (on a CPU; on a GPU it
  runs on the device after the move).
* While the loop runs, the objects that existed before it are frozen for the garbage collector
  (:func:`xaurora.heap.frozen_heap`): a full collection, which holds the GIL, then scans only
  the loop's own objects instead of the whole interpreter's (a 0.3 s pause of the model's
  thread every few hundred steps of lazy data, with Aurora imported).
* :func:`auto_batch_size` picks the largest batch that fits the device from a one-sample probe.

A plain thread rather than ``torch.utils.data.DataLoader``: the work is one reader over an
xarray Dataset (often already in memory), where worker processes would copy the data and pickle
the model's inputs; a thread shares memory, and NumPy, Dask and torch release the GIL while they
work.

>>> import xaurora as xa, numpy as np
>>> from xaurora.io.canonical import canonicalize
>>> model = xa.load_model("tiny")
>>> cds = canonicalize(xa.testing.synthetic_dataset(n_times=4))
>>> src = BatchSource(cds, model.module, model.timestep)
>>> with batches(src, cds.time.values[1:], batch_size=2) as it:
...     [tuple(b.surf_vars["2t"].shape[:2]) for _, b in it]
[(2, 2), (1, 2)]
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta

import numpy as np
import xarray as xr

from xaurora.batch import batch_slices
from xaurora.errors import XauroraError
from xaurora.heap import frozen_heap
from xaurora.io.checks import is_lazy
from xaurora.io.names import STATIC_PREFIX

#: Name of the background thread (tests look for it to prove it never outlives the loop).
THREAD_NAME = "xaurora-prefetch"

#: Batches prepared ahead (0: prepare each in the caller's thread); None: :func:`prefetch_for`.
PREFETCH: int | None = None

#: Most time steps of lazy data read by one compute (amortises Dask's per-compute and per-chunk
#: cost and lets it read the chunks in parallel) ...
READ_AHEAD = 16
#: ... and the memory one read may take: at 1° (7.5 MB a step) a read is 8 steps, at 0.25°
#: (about 290 MB a step) one.
READ_BYTES = 64 * 2**20

#: Working memory ``batch_size="auto"`` may use on a CPU. Larger CPU batches do not run faster
#: (every operator already uses all cores) but hold more memory, so the budget is modest.
CPU_BUDGET_BYTES = 256 * 2**20


def _td64(step) -> np.timedelta64:
    if isinstance(step, timedelta):
        step = np.timedelta64(int(step.total_seconds()), "s")
    return np.timedelta64(step).astype("timedelta64[ns]")


def _reads_lazily(var: xr.Variable) -> bool:
    """True when reading ``var``'s values does I/O or computes (Dask, lazily indexed files)."""
    return not isinstance(var._data, np.ndarray)  # noqa: SLF001 - xarray has no public test


class BatchSource:
    """Turns analysis times into ``aurora.Batch`` objects; dataset-level work is done once here.

    Args:
        cds: a canonical Dataset (see :func:`xaurora.io.canonical.canonicalize`), in memory or
            lazy.
        module: the ``aurora.Aurora`` whose variable lists are used.
        timestep: Aurora's Δ between the two history steps.
        check: check every value read (NaN, units) exactly once: in-memory data in one pass
            now (an error before anything runs), lazy data as each time step is read.
        check_steps: whether lazy time steps are checked here as read (default: ``check``);
            False when the consumer checks them with :meth:`check_step`.
        pin: pin the Batch tensors (page-locked memory, for ``non_blocking`` copies to CUDA).
        read_ahead: lazy data is read this many time steps at a time (one compute each);
            None: as many as fit in :data:`READ_BYTES`, at most :data:`READ_AHEAD`.

    The tensors of a Batch may share memory with in-memory data and with each other (the two
    history steps of consecutive times are one array): read-only use only, such as passing the
    Batch to ``module(batch)``, which never edits its input.
    """

    def __init__(self, cds: xr.Dataset, module, timestep, check: bool = False,
                 pin: bool = False, read_ahead: int | None = None,
                 check_steps: bool | None = None) -> None:
        import torch

        self.cds, self.pin = cds, pin
        self.check = check if check_steps is None else check_steps
        self.step = _td64(timestep)
        self.tvalues = cds["time"].values.astype("datetime64[ns]")  # sorted by canonicalize
        self.surf = [v for v in module.surf_vars if v in cds.data_vars]
        self.atmos = [v for v in module.atmos_vars if v in cds.data_vars]
        self.names = self.surf + self.atmos
        statics = [v for v in module.static_vars if STATIC_PREFIX + v in cds.data_vars]
        static_ds = cds[[STATIC_PREFIX + v for v in statics]].load() if statics else None
        self.lazy = any(_reads_lazily(cds.variables[v]) for v in self.names)
        if check:  # in memory: one pass over all data now; lazy: statics now, the rest as read
            from xaurora.io.canonical import check_values_of

            for name in ([] if self.lazy else self.names) + [STATIC_PREFIX + v for v in statics]:
                da = static_ds[name] if name.startswith(STATIC_PREFIX) else cds[name]
                check_values_of(da, name)
        self.static = {v: self._tensor(static_ds.variables[STATIC_PREFIX + v].values)
                       for v in statics}
        self.lat = torch.from_numpy(cds["lat"].values.astype(np.float64))
        self.lon = torch.from_numpy(cds["lon"].values.astype(np.float64))
        self.levels = tuple(int(x) for x in cds["level"].values) if "level" in cds.dims else ()
        # in memory: the arrays themselves (slicing is free); lazy: the steps read that a later
        # batch still needs (at least the last one: the next batch's history step)
        self.arrays = {} if self.lazy else {v: np.asarray(cds.variables[v].values)
                                            for v in self.names}
        if read_ahead is None:
            step = sum(cds.variables[v].nbytes // max(cds.sizes["time"], 1) for v in self.names)
            read_ahead = int(np.clip(READ_BYTES // max(step, 1), 1, READ_AHEAD))
        self.read_ahead = int(read_ahead)
        # position → (the arrays of the read that brought it, its index in them)
        self._cache: dict[int, tuple[dict[str, np.ndarray], int]] = {}
        self._last_read = 0

    def _tensor(self, values: np.ndarray):
        from xaurora.tensors import float32_tensor

        t = float32_tensor(values)
        return t.pin_memory() if self.pin else t

    def positions(self, times) -> tuple[np.ndarray, np.ndarray]:
        """Sorted unique time positions a batch needs, and each (t − Δ, t) pair's place in them."""
        t = np.asarray(times, dtype="datetime64[ns]")
        flat = np.stack([t - self.step, t], axis=1).reshape(-1)
        # a binary search on the sorted int64 times: no pandas Index built per batch
        pos = np.minimum(np.searchsorted(self.tvalues, flat), self.tvalues.size - 1)
        bad = self.tvalues[pos] != flat
        if bad.any():
            raise XauroraError(
                f"time: {flat[bad][:3]} not in the dataset. Fix: select other times."
            )
        return np.unique(pos, return_inverse=True)

    def _load(self, positions: list[int]) -> dict[int, tuple[dict[str, np.ndarray], int]]:
        """Read (and check) time ``positions`` of every variable: one compute for all of them."""
        span = positions[-1] - positions[0] + 1 == len(positions)
        key = slice(positions[0], positions[-1] + 1) if span else positions  # no Dask shuffle
        sel = {v: self.cds.variables[v].isel(time=key) for v in self.names}
        lazy = [v for v in self.names if hasattr(sel[v].data, "dask")]
        if lazy:  # one graph: Dask reads the chunks of all variables and steps in parallel
            import dask

            for v, x in zip(lazy, dask.compute(*[sel[v].data for v in lazy])):
                sel[v] = sel[v].copy(data=x)
        values = {v: np.asarray(sel[v].values) for v in self.names}
        if self.check:
            self._check(values, key)
        return {p: (values, i) for i, p in enumerate(positions)}

    def _check(self, values: dict[str, np.ndarray], key) -> None:
        """NaN and unit checks of the lazy steps ``key`` (a slice or positions) just read."""
        from xaurora.io.checks import check_array

        # beside the model (the prefetch thread): NumPy, not torch's pool, which the model uses
        threads = threading.current_thread().name != THREAD_NAME
        times = self.tvalues[key]  # errors name the time, not a position
        for v in self.names:
            var = self.cds.variables[v]
            check_array(values[v], var.dims, v, var.attrs, levels=self.levels, times=times,
                        threads=threads)

    def check_step(self, name: str, values, time) -> None:
        """NaN and unit checks of one time step of variable ``name`` (array or tensor)."""
        from xaurora.io.checks import check_array

        var = self.cds.variables[name]
        values = values.detach().cpu().numpy() if hasattr(values, "detach") else values
        check_array(np.asarray(values)[None], var.dims, name, var.attrs, levels=self.levels,
                    times=np.array([time], dtype="datetime64[ns]"))

    def _blocks(self, unique: np.ndarray, ahead: np.ndarray, n: int) -> dict[str, np.ndarray]:
        """Per variable, the values at the ``unique`` positions (time first).

        Lazy data: steps already read are reused; a read also takes the next ``ahead``
        positions (up to ``read_ahead`` steps in all), so that one compute serves several steps.
        """
        if not self.lazy:
            span = unique[-1] - unique[0] + 1 == unique.size
            key = slice(unique[0], unique[-1] + 1) if span else unique  # a view when it can
            return {v: a[key] for v, a in self.arrays.items()}
        need = [int(p) for p in unique if int(p) not in self._cache]
        if need:
            more = [int(p) for p in ahead if int(p) not in self._cache and int(p) not in need]
            # reads grow from what the first batch needs to read_ahead, each twice the analysis
            # times the read before made ready (the first read's history steps make none): the
            # first batch comes quickly, and the model has work while the next read runs
            # (at 1°, batch 1: 2, 2, 4, 8, 8, … steps)
            size = min(self.read_ahead, max(len(need), 2 * self._last_read))
            need = sorted(need + more[: max(size - len(need), 0)])
            self._last_read = len(need) if self._last_read else n
            self._cache.update(self._load(need))
        parts = [self._cache[int(p)] for p in unique]
        whole, first = parts[0]
        if all(w is whole and i == first + k for k, (w, i) in enumerate(parts)):
            # read together: a view of that read, no copy
            blocks = {v: whole[v][first : first + len(parts)] for v in self.names}
        else:
            blocks = {v: np.stack([w[v][i] for w, i in parts]) for v in self.names}
        # keep only what a later batch needs (its history step is this batch's last step)
        keep = {int(p) for p in ahead}
        self._cache = {p: x for p, x in self._cache.items() if p in keep}
        return blocks

    def read(self, times: Sequence, ahead: Sequence = ()):
        """The ``aurora.Batch`` for analysis times ``times`` (physical units).

        ``ahead``: the analysis times of the next batches, in order (lets lazy data be read
        ahead in larger pieces, and each step only once).
        """
        import torch
        from aurora import Batch, Metadata

        n = len(times)
        unique, inverse = self.positions(times)
        # only lazy data reads ahead: in memory every step is already there
        later = self.positions(ahead)[0] if self.lazy and len(ahead) else np.zeros(0, int)
        blocks = self._blocks(unique, later, n)
        # consecutive times: pair i is block steps (i, i + 1), an overlapping view, no copy
        pairs = np.array_equal(inverse, np.repeat(np.arange(n + 1), 2)[1:-1])

        def hist(v):
            x = self._tensor(blocks[v])
            if pairs:
                return x.as_strided((n, 2, *x.shape[1:]), (x.stride(0), *x.stride()))
            return x[torch.from_numpy(inverse)].reshape(n, 2, *x.shape[1:])

        t = np.asarray(times, dtype="datetime64[ns]").astype("datetime64[us]").tolist()
        return Batch(
            surf_vars={v: hist(v) for v in self.surf},
            static_vars=dict(self.static),
            atmos_vars={v: hist(v) for v in self.atmos},
            metadata=Metadata(lat=self.lat, lon=self.lon, time=tuple(t),
                              atmos_levels=self.levels),
        )


class batches:  # noqa: N801 - used like a function: ``with batches(...) as it``
    """Iterate ``(slice, Batch)`` over ``times`` in batches, prepared ``prefetch`` ahead.

    A context manager: leaving the ``with`` block (normally, by an error or Ctrl-C) stops the
    background thread and waits for it. ``prefetch=0`` prepares each batch in the caller's thread.
    ``device`` (e.g. ``"cuda"``) moves each Batch there, asynchronously from pinned memory.
    ``prepare`` (e.g. :func:`xaurora.models.forward.encoder_input`) turns each Batch into what the
    model consumes, where the Batch lives: in the background thread for a CPU model (it overlaps
    the model), after the move for a device (it runs there, as the model would run it).
    ``on_read(sl)`` is called with each batch's slice of ``times`` where the batch is read, before
    the caller receives it: work the caller would otherwise do itself, off the model's thread
    (``embed`` touches the pages of the batch's part of its result array there, see
    :func:`touch_pages`).
    """

    def __init__(self, source: BatchSource, times: Sequence, batch_size: int = 1,
                 prefetch: int = 1, device=None, slices: list[slice] | None = None,
                 prepare: Callable | None = None,
                 on_read: Callable[[slice], None] | None = None) -> None:
        self.source, self.times = source, np.asarray(times)
        self.slices = slices if slices is not None else batch_slices(len(times), batch_size)
        self.prefetch, self.device = prefetch, device
        self.prepare, self.on_read = prepare, on_read
        self._on_host = _on_host(device)
        self._stop = threading.Event()
        self._queue: queue.Queue = queue.Queue(maxsize=_queue_size(source, self.slices,
                                                                   prefetch))
        self._thread: threading.Thread | None = None
        self._heap = contextlib.ExitStack()

    def _ahead(self, k: int) -> np.ndarray:
        """Times of the batches after batch ``k``, enough to fill a read-ahead."""
        out: list = []
        for sl in self.slices[k + 1 :]:
            if len(out) >= self.source.read_ahead:
                break
            out.extend(self.times[sl])
        return np.asarray(out, dtype="datetime64[ns]")

    def _produce(self) -> None:
        try:
            for k, sl in enumerate(self.slices):
                item = (sl, self._read(k))
                while not self._stop.is_set():  # a bounded put that notices a stop request
                    try:
                        self._queue.put(item, timeout=0.05)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
        except BaseException as err:  # noqa: BLE001 - handed to the caller, raised there
            self._queue.put(("error", err))
            return
        self._queue.put(("end", None))

    def __enter__(self) -> Iterator:
        if self.prefetch > 0:
            self._thread = threading.Thread(target=self._produce, name=THREAD_NAME, daemon=True)
            self._thread.start()
        # no 0.3 s pause of the model's thread for a full collection of the whole heap (entered
        # last: nothing after it can fail, so the freeze never outlives a failed __enter__)
        self._heap.enter_context(frozen_heap())
        return self._iterate()

    def _iterate(self) -> Iterator:
        if self._thread is None:
            for k, sl in enumerate(self.slices):
                yield sl, self._finish(self._read(k))
            return
        while True:
            sl, batch = self._queue.get()
            if isinstance(sl, str):
                if sl == "error":
                    raise batch  # the original exception, message and type unchanged
                return
            yield sl, self._finish(batch)

    def _read(self, k: int):
        """Batch ``k`` as read (and prepared, on a CPU), in the producing thread."""
        batch = self.source.read(self.times[self.slices[k]], self._ahead(k))
        if self.on_read is not None:
            self.on_read(self.slices[k])
        return self.prepare(batch) if self.prepare is not None and self._on_host else batch

    def _finish(self, batch):
        """In the caller's thread: the move to the device and the preparation there."""
        if self._on_host:
            return batch
        batch = batch._fmap(lambda x: x.to(self.device, non_blocking=True))  # noqa: SLF001
        return batch if self.prepare is None else self.prepare(batch)

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the background thread and wait for it (idempotent); end the heap's freeze."""
        try:
            if self._thread is None:
                return
            self._stop.set()
            while self._thread.is_alive():
                try:  # unblock a producer waiting on a full queue
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
                self._thread.join(timeout=0.05)
            self._thread = None
        finally:
            self._heap.close()


def touch_pages(block: np.ndarray) -> None:
    """Write one byte of each memory page of ``block`` (a C-contiguous array), in place.

    Fresh memory (``np.empty``) costs a page fault at the first write of each page, and faults
    are slow on virtual machines (on a 2-core VM, about 1 ms per MB while another thread reads:
    3.5 % of an embedding run). Touching the pages of a batch's part of a result
    array where the batch is read moves the faults off the model's thread. Values are not
    kept: the caller writes the block afterwards.
    """
    flat = block.reshape(-1).view(np.uint8)  # a view: the block is contiguous
    flat[:: os.sysconf("SC_PAGE_SIZE")] = 0


def _on_host(device) -> bool:
    return device is None or str(device).split(":")[0] == "cpu"


def _queue_size(source: BatchSource, slices: list[slice], prefetch: int) -> int:
    # lazy data: room for the batches of one whole read, so that the thread reads the next
    # steps while the model works through those (a queue of one would leave the model
    # waiting for every read); they are views of that read, or with ``prepare`` on a CPU
    # prepared inputs (views of the preparer's ring, which has room for all of them)
    size = prefetch
    if source.lazy and slices:
        per_batch = max(sl.stop - sl.start for sl in slices)
        size = max(prefetch, -(-source.read_ahead // per_batch))
    return max(size, 1)


def inputs_alive(source: BatchSource, times: Sequence, batch_size: int = 1, prefetch: int = 1,
                 device=None, slices: list[slice] | None = None) -> int:
    """How many prepared inputs :class:`batches` may still have in use when it prepares one.

    0 when each batch is prepared in the caller's thread (the caller is done with the one
    before); with a preparing thread on a CPU, the queue's length + the caller's batch. A
    preparer that reuses memory (:class:`xaurora.models.forward.Preparer`) needs it.
    """
    if prefetch <= 0 or not _on_host(device):
        return 0
    slices = slices if slices is not None else batch_slices(len(times), batch_size)
    return _queue_size(source, slices, prefetch) + 1


def prefetch_for(cds: xr.Dataset, device) -> int:
    """Batches to prepare ahead by default: 1 when there is something to overlap, else 0.

    Reading lazy data (disk, Dask) and feeding a GPU overlap with the model. In-memory data on a
    CPU has little to overlap, and a preparing thread there only competes with the model's own
    threads for the cores (measured: embed / bare loop 1.21 with it, 1.13 without, on 2 cores).
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
    import torch

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
