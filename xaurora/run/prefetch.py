"""Feeding a model: read, check and assemble batch k + 1 while the model runs on batch k.

:class:`batches` runs a :class:`~xaurora.run.source.BatchSource` in one bounded background
thread (a queue of ``prefetch`` ready batches; for lazy data, the batches of one whole read), so
reading, checking and assembling overlap the model. On CUDA the tensors are pinned and copied
with ``non_blocking=True``. An error in the thread is raised in the caller unchanged, and
leaving the loop early (an error, Ctrl-C, ``break``) stops and joins the thread. With
``prepare`` the thread also turns each Batch into what the model consumes. While the loop runs
the collector's heap is frozen (:mod:`xaurora.run.heap`).

A plain thread rather than ``torch.utils.data.DataLoader``: the work is one reader over an
xarray Dataset (often already in memory), where worker processes would copy the data and pickle
the model's inputs; a thread shares memory, and NumPy, Dask and torch release the GIL while they
work.

>>> import xaurora as xa
>>> from xaurora.io.canonical import canonicalize
>>> from xaurora.run.source import BatchSource
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

import numpy as np

from xaurora.run.heap import frozen_heap
from xaurora.run.source import THREAD_NAME, BatchSource
from xaurora.run.times import batch_slices


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
        self._on_host = on_host(device)
        self._stop = threading.Event()
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size(source, self.slices,
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
    are slow on virtual machines while another thread reads. Touching the pages of a batch's
    part of a result array where the batch is read moves the faults off the model's thread.
    Values are not kept: the caller writes the block afterwards.
    """
    flat = block.reshape(-1).view(np.uint8)  # a view: the block is contiguous
    flat[:: os.sysconf("SC_PAGE_SIZE")] = 0


def on_host(device) -> bool:
    return device is None or str(device).split(":")[0] == "cpu"


def queue_size(source: BatchSource, slices: list[slice], prefetch: int) -> int:
    # lazy data: room for the batches of one whole read, so that the thread reads the next
    # steps while the model works through those (a queue of one would leave the model
    # waiting for every read); they are views of that read, or with ``prepare`` on a CPU
    # prepared inputs (views of the preparer's ring, which has room for all of them)
    size = prefetch
    if source.lazy and slices:
        per_batch = max(sl.stop - sl.start for sl in slices)
        size = max(prefetch, -(-source.read_ahead // per_batch))
    return max(size, 1)
