"""Write streamed results into a laid-out zarr store from a background thread, resumably.

``xaurora embed`` (Aurora models and :class:`~xaurora.encoders.Encoder` s) lays its store out
in advance (an ``embedding`` array with one chunk per time step and a ``done`` flag per step)
and then fills it batch by batch. :class:`RegionWriter` takes those writes off the model's
path: the model computes batch k + 1 while batch k is written. Per batch, every run of
consecutive steps is written with one assignment into the zarr array (opened once, with
``zarr`` itself: an ``xarray.Dataset.to_zarr(region=...)`` per step re-opened and re-checked
the store each time), and its ``done`` flags only after its values, so a run killed at any
moment leaves only finished steps flagged.

A plain thread and a bounded queue, as in :mod:`xaurora.run.prefetch`: writing is I/O and
compression, which release the GIL. An error in the thread is raised in the caller (at the
next :meth:`RegionWriter.put` or at the end), and leaving the ``with`` block waits until what
was handed over is written. An :class:`OSError` of the store (a full disk) is raised as a
:class:`StoreWriteError`, which names the store.

The layout itself (:func:`lay_out`) is finished by consolidating the store's metadata, its
last write: a run killed while laying out leaves a store without it, which
:func:`is_laid_out` does not accept, so the next run lays it out again instead of trusting
coordinates that were never written. :func:`done_flags` reads the flags, a flag it cannot read
(a chunk torn by a store that does not replace files atomically) counting as not done.

>>> import numpy as np, xarray as xr, tempfile, os
>>> store = os.path.join(tempfile.mkdtemp(), "out.zarr")
>>> xr.Dataset({"embedding": (("time", "x"), np.zeros((4, 3), np.float32)),
...             "done": ("time", np.zeros(4, np.int8))}).to_zarr(store, zarr_format=2)
<xarray.backends.zarr.ZarrStore object at ...>
>>> with RegionWriter(store) as w:
...     w.put(np.array([1, 2]), np.ones((2, 3), np.float32))
>>> xr.open_zarr(store)["done"].values.tolist()
[0, 1, 1, 0]
"""

from __future__ import annotations

import errno
import os
import queue
import threading

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.io.names import TIME_NAMES

#: Name of the writing thread (tests look for it).
THREAD_NAME = "xaurora-writer"


class StoreWriteError(OSError):
    """Writing the zarr store ``store`` failed with the OS error ``error`` (e.g. a full disk).

    An :class:`OSError` with the original's ``errno`` and ``strerror``; steps written before it
    stay flagged, so running the same command again (once fixed) resumes.

    >>> import errno
    >>> str(StoreWriteError("o.zarr", OSError(errno.ENOSPC, "No space left on device")))
    'cannot write o.zarr: No space left on device (ENOSPC)'
    """

    def __init__(self, store, error: OSError) -> None:
        super().__init__(error.errno, error.strerror or str(error))
        self.store = store

    def __str__(self) -> str:
        name = errno.errorcode.get(self.errno) if self.errno is not None else None
        return f"cannot write {self.store}: {self.strerror}" + (f" ({name})" if name else "")


def lay_out(dataset, store) -> None:
    """Lay ``dataset`` out in ``store`` (zarr v2): metadata and in-memory values, not Dask ones.

    Its metadata are consolidated last, as the mark of a finished layout (:func:`is_laid_out`).
    """
    import zarr  # heavy

    try:
        dataset.to_zarr(store, mode="w", compute=False, zarr_format=2, consolidated=False)
        _zero_unfilled(store, dataset)
        zarr.consolidate_metadata(store)
    except OSError as err:
        raise StoreWriteError(store, err) from err


def _zero_unfilled(store, dataset) -> None:
    """Write zeros into the Dask-backed variables of ``dataset`` that have no zarr fill value.

    xarray lays an integer variable (the ``done`` flags) out with ``fill_value: null``, and what
    a never-written chunk reads as then depends on the library: zarr 3 reads the dtype's zero,
    but zarr 2 returns uninitialised memory (often nonzero), so every step looked done and
    nothing was embedded. Writing the zeros makes the flags mean "not done" under both; zarr 3
    skips chunks equal to its fill value, so there this writes nothing. (A zarr fill value of 0
    would instead make xarray decode 0 as missing and the flags as floats.)
    """
    import zarr  # heavy

    group = zarr.open_group(store, mode="r+")
    for name, var in dataset.data_vars.items():
        if var.chunks is not None and group[name].fill_value is None:
            group[name][...] = 0


def is_laid_out(store):
    """``store`` opened with xarray if :func:`lay_out` finished it (else None)."""
    try:  # consolidated only: without the consolidated metadata the layout was cut short
        ds = xr.open_zarr(store, consolidated=True)
    except Exception:  # noqa: BLE001 - anything unreadable is laid out afresh
        return None
    return ds if {"embedding", "done"} <= set(ds.variables) else None


def done_flags(store) -> np.ndarray:
    """The ``done`` flags of ``store`` as booleans; one that cannot be read is not done."""
    import zarr  # heavy

    done = zarr.open_group(store, mode="r")["done"]
    try:
        return np.asarray(done[:]) != 0
    except Exception:  # noqa: BLE001 - a torn chunk: look at each flag on its own
        pass

    def flag(i: int) -> bool:
        try:
            return bool(np.asarray(done[i]) != 0)
        except Exception:  # noqa: BLE001 - unreadable: its step is written again
            return False

    return np.array([flag(i) for i in range(done.shape[0])], dtype=bool)


def runs(positions: np.ndarray) -> list[tuple[int, int, int]]:
    """``(start, stop, offset)`` of each run of consecutive ``positions``.

    >>> runs(np.array([3, 4, 5, 9, 10]))
    [(3, 6, 0), (9, 11, 3)]
    """
    positions = np.asarray(positions, dtype=np.int64)
    if positions.size == 0:
        return []
    cut = np.flatnonzero(np.diff(positions) != 1) + 1
    starts = np.r_[0, cut]
    stops = np.r_[cut, positions.size]
    return [(int(positions[a]), int(positions[b - 1]) + 1, int(a)) for a, b in zip(starts, stops)]


class RegionWriter:
    """Fill ``embedding[time=positions]`` and then ``done[positions]`` of ``store``.

    Args:
        store: zarr store (a path, or a zarr store object) laid out with ``embedding`` (time
            first) and ``done``.
        depth: batches handed over but not yet written (memory: ``depth`` batches).
        background: write in a thread (False: write in the caller, e.g. for debugging).
    """

    def __init__(self, store, depth: int = 2, background: bool = True) -> None:
        import zarr  # heavy

        self.store = store
        group = zarr.open_group(store, mode="r+")
        self._embedding, self._done = group["embedding"], group["done"]
        self._queue: queue.Queue = queue.Queue(maxsize=max(depth, 1))
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
            self._thread.start()

    def _write(self, positions: np.ndarray, values: np.ndarray) -> None:
        for start, stop, offset in runs(positions):
            self._embedding[start:stop] = values[offset : offset + stop - start]
            self._done[start:stop] = 1  # only after the values: a killed run leaves no lie

    def _write_or_fail(self, positions: np.ndarray, values: np.ndarray) -> None:
        try:
            self._write(positions, values)
        except StoreWriteError:
            raise
        except OSError as err:  # the store's own error (a full disk): say which store
            raise StoreWriteError(self.store, err) from err

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is None:  # after an error, drain without writing (the caller raises)
                try:
                    self._write_or_fail(*item)
                except BaseException as err:  # noqa: BLE001 - raised in the caller
                    self._error = err

    def _raise(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def put(self, positions, values: np.ndarray) -> None:
        """Hand over the rows ``values`` for time ``positions`` of the store (in order)."""
        self._raise()
        item = (np.asarray(positions), np.asarray(values))
        if self._thread is None:
            self._write_or_fail(*item)
        else:
            self._queue.put(item)

    def close(self) -> None:
        """Write what was handed over, stop the thread, and raise its error if it had one."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._raise()

    def __enter__(self) -> RegionWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        try:  # leaving on an error (or Ctrl-C): still write what is finished, raise the original
            self.close()
        except BaseException:  # noqa: BLE001, S110 - the caller's exception is the one to see
            pass


def steps_written(store) -> tuple[int, int] | None:
    """(steps flagged done, steps in all) of a laid-out ``store``; None when it has no layout."""
    try:
        done = done_flags(store)
    except Exception:  # noqa: BLE001 - no store, or not one of ours: nothing written
        return None
    return int(done.sum()), int(done.size)


def open_any(source, name: str = "input") -> xr.Dataset:
    """``source`` as a Dataset: a Dataset as it is, a netCDF file or zarr store opened lazily.

    ``name`` is what the caller calls ``source``, for the error when the path does not exist.
    """
    if isinstance(source, xr.Dataset):
        return source
    path = os.fspath(source)
    if not os.path.exists(path):
        raise XauroraError(f"{name}: {path!r} does not exist. Fix: pass a netCDF file or zarr "
                           "store.")
    if path.rstrip("/").endswith(".zarr") or os.path.isdir(path):
        return xr.open_zarr(path)
    with xr.open_dataset(path) as probe:  # one time step per chunk: stream, never load all
        tdims = [d for d in probe.dims if d in TIME_NAMES]
    return xr.open_dataset(path, chunks={d: 1 for d in tdims})


def prepare_run(store, template, attrs: dict) -> np.ndarray:
    """The done flags of ``store`` for a run whose result is ``template`` (a lazy DataArray with
    a ``time`` dim), laid out first unless ``store`` is a finished layout of this very run
    (the same ``attrs`` and times): a store from another run, or one whose layout was cut short,
    is laid out afresh; a finished one is resumed."""
    import dask.array as dsa  # heavy: only when a run starts

    times = template["time"].values.astype("datetime64[ns]")
    old = is_laid_out(store)
    same = old is not None and all(str(old.attrs.get(k)) == str(v) for k, v in attrs.items())
    if not (same and np.array_equal(old["time"].values.astype("datetime64[ns]"), times)):
        lay_out(xr.Dataset({"embedding": template,
                            "done": ("time", dsa.zeros(times.size, chunks=1, dtype=np.int8))},
                           attrs=attrs), store)
    return done_flags(store)
