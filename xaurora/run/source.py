"""From a canonical Dataset to ``aurora.Batch``: the one Batch builder.

:class:`BatchSource` does the dataset-level work once (variable lists, static fields, grid
tensors, the time index) and reads every time step once: the history step t − Δ of analysis
time t is the previous step's t, so consecutive steps share it, inside a batch (one block of
B + 1 steps, viewed as B overlapping pairs without a copy) and across batches. With
``check=True`` it checks every value it reads exactly once: in-memory data in one pass, lazy
data as each step is read. ``embed``, ``forecast``, ``relevance`` and the perturbation test all
build their batches here (:func:`make_batch` for a one-off Batch).

>>> import xaurora as xa
>>> from xaurora.io.canonical import canonicalize
>>> model = xa.load_model("tiny")
>>> cds = canonicalize(xa.testing.synthetic_dataset(n_times=3))
>>> tuple(make_batch(cds, cds.time.values[1:2], model.module).surf_vars["2t"].shape)
(1, 2, 33, 64)
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import xarray as xr

from xaurora.errors import XauroraError
from xaurora.io.checks import check_array, check_values_of
from xaurora.io.names import STATIC_PREFIX
from xaurora.io.tensors import float32_tensor
from xaurora.run.times import as_timedelta64

#: Most time steps of lazy data read by one compute (amortises Dask's per-compute and per-chunk
#: cost and lets it read the chunks in parallel) ...
READ_AHEAD = 16

#: ... and the memory one read may take: at 1° (7.5 MB a step) a read is 8 steps, at 0.25°
#: (about 290 MB a step) one.
READ_BYTES = 64 * 2**20

#: Name of the thread that reads a source ahead of the model (:mod:`xaurora.run.prefetch`);
#: its reads check values with NumPy, not torch's pool, and tests look for it.
THREAD_NAME = "xaurora-prefetch"


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
        import torch  # heavy

        self.cds, self.pin = cds, pin
        self.check = check if check_steps is None else check_steps
        self.step = as_timedelta64(timestep)
        self.tvalues = cds["time"].values.astype("datetime64[ns]")  # sorted by canonicalize
        self.surf = [v for v in module.surf_vars if v in cds.data_vars]
        self.atmos = [v for v in module.atmos_vars if v in cds.data_vars]
        self.names = self.surf + self.atmos
        statics = [v for v in module.static_vars if STATIC_PREFIX + v in cds.data_vars]
        static_ds = cds[[STATIC_PREFIX + v for v in statics]].load() if statics else None
        self.lazy = any(_reads_lazily(cds.variables[v]) for v in self.names)
        if check:  # in memory: one pass over all data now; lazy: statics now, the rest as read

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
            import dask  # heavy

            for v, x in zip(lazy, dask.compute(*[sel[v].data for v in lazy])):
                sel[v] = sel[v].copy(data=x)
        values = {v: np.asarray(sel[v].values) for v in self.names}
        if self.check:
            self._check(values, key)
        return {p: (values, i) for i, p in enumerate(positions)}

    def _check(self, values: dict[str, np.ndarray], key) -> None:
        """NaN and unit checks of the lazy steps ``key`` (a slice or positions) just read."""

        # beside the model (the prefetch thread): NumPy, not torch's pool, which the model uses
        threads = threading.current_thread().name != THREAD_NAME
        times = self.tvalues[key]  # errors name the time, not a position
        for v in self.names:
            var = self.cds.variables[v]
            check_array(values[v], var.dims, v, var.attrs, levels=self.levels, times=times,
                        threads=threads)

    def check_step(self, name: str, values, time) -> None:
        """NaN and unit checks of one time step of variable ``name`` (array or tensor)."""

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
        import torch  # heavy
        from aurora import Batch, Metadata  # heavy

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


def make_batch(cds: xr.Dataset, times: Sequence, module, timestep=None, copy: bool = True):
    """An ``aurora.Batch`` for analysis times ``times`` (history t − Δ, t) in physical units.

    ``module`` is the ``aurora.Aurora`` (its variable lists and timestep are used). The tensors
    own their memory; ``copy=False`` may share it with ``cds`` and between tensors (only for
    read-only use, such as passing the Batch straight to ``module(batch)``, which never edits
    its input). Built by :class:`xaurora.run.source.BatchSource`, the one Batch builder.
    """
    import torch  # heavy
    from aurora import Batch  # heavy

    step = timestep if timestep is not None else module.timestep
    batch = BatchSource(cds, module, step).read(times)
    if not copy:
        return batch

    def own(x):  # overlapping history views become separate, contiguous memory
        return x.clone(memory_format=torch.contiguous_format)

    return Batch(surf_vars={k: own(v) for k, v in batch.surf_vars.items()},
                 static_vars={k: own(v) for k, v in batch.static_vars.items()},
                 atmos_vars={k: own(v) for k, v in batch.atmos_vars.items()},
                 metadata=batch.metadata)
