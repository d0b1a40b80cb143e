"""``xaurora embed`` survives faults: kill -9 at seeded moments, a store that fills up.

Kills: :func:`drive` runs in one subprocess (imports and the first, slow run are paid once)
and forks a child per run; the child counts the calls of each phase (an input read, a model
call, a zarr store write, the hand-over between batches) and SIGKILLs itself at the drawn call,
before or after it. Reruns (children without a kill) must resume and end with a store bitwise
equal to an uninterrupted run. Forking after imports is safe here because the driver is a
fresh process of its own: one torch thread (no OpenMP pool), no thread alive at the fork, and
Dask's thread pools (kept across forks, without their threads) reset in each child; zarr
resets its own event loop at a fork.

Full disks: :class:`FullDisk` wraps a zarr 3 store and raises ENOSPC once more than N bytes
were written (``torn``: writing the part that fits first, as a store that does not replace
files atomically would), injected in-process in place of the output path.

``benchmarks/bench_faults.py`` runs more examples and prints the table.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
import xarray as xr

import xaurora as xa
from xaurora.app import cli
from xaurora.io.store import steps_written

#: Seed of the drawn kill moments and write faults (the suite's and the benchmark's).
SEED = 20240917
#: Where a kill can come: a write of the store's layout, an input read, a model call, a write of
#: values or flags, between batches.
PHASES = ("layout", "read", "model", "write", "between")
#: One analysis time per batch: six batches, so there are moments between them.
ARGS = ["--model", "tiny", "--no-progress", "--batch-size", "1"]


def make_source(path) -> str:
    """The input of every example: test_cli's small dataset (7 times, six analysis times)."""
    xa.testing.synthetic_dataset(n_times=7, n_lat=17, n_lon=32, naming="cds").to_netcdf(path)
    return str(path)


# -- kill -9 ------------------------------------------------------------------------------------

_STATE: dict = {"plan": None, "counts": dict.fromkeys(PHASES, 0), "lock": threading.Lock()}


def _tick(phase: str, when: str, n: int | None = None) -> int:
    """Count a call of ``phase`` (``when="before"``) and SIGKILL if it is the planned one."""
    with _STATE["lock"]:
        if n is None:
            _STATE["counts"][phase] += 1
            n = _STATE["counts"][phase]
    if _STATE["plan"] == (phase, n, when):
        os.kill(os.getpid(), signal.SIGKILL)
    return n


def _counted(phase: str, real):
    def call(*args, **kwargs):
        n = _tick(phase, "before")
        out = real(*args, **kwargs)
        _tick(phase, "after", n)
        return out

    return call


def _phase_of(key: str) -> str:
    """``write`` for a chunk of values or flags (``embedding/0.0.0.0.0``), else ``layout``."""
    name, _, chunk = key.rpartition("/")
    return "write" if name in ("embedding", "done") and chunk[:1].isdigit() else "layout"


def _counted_store_set(real):
    async def call(self, key, value):
        phase = _phase_of(key)
        n = _tick(phase, "before")
        await real(self, key, value)
        _tick(phase, "after", n)

    return call


def install_counters() -> None:
    """Count (and kill at) the calls of each phase, in this process and the ones it forks."""
    import zarr

    from xaurora.io.store import RegionWriter
    from xaurora.run import source, tokens

    source.BatchSource.read = _counted("read", source.BatchSource.read)
    tokens.capture = _counted("model", tokens.capture)  # the model pass of each batch
    RegionWriter.put = _counted("between", RegionWriter.put)  # the main loop, per batch
    if int(zarr.__version__.split(".")[0]) >= 3:  # every key written: metadata, chunks, flags
        zarr.storage.LocalStore.set = _counted_store_set(zarr.storage.LocalStore.set)
    else:
        real = zarr.storage.DirectoryStore.__setitem__

        def setitem(self, key, value):
            n = _tick(_phase_of(key), "before")
            real(self, key, value)
            _tick(_phase_of(key), "after", n)

        zarr.storage.DirectoryStore.__setitem__ = setitem


def _reset_after_fork() -> None:
    import dask.threaded

    # a pool made before the fork has no threads here: work handed to it would wait forever
    dask.threaded.default_pool = None
    dask.threaded.pools.clear()


def run_child(argv: list[str], plan=None, log: str | None = None, store_of=None) -> int:
    """``xaurora.app.cli.main(argv)`` in a forked child; its exit code (-9: killed as planned).

    ``plan``: ``(phase, n, "before" | "after")``, the call to SIGKILL at. ``store_of``: maps
    the output path to the store object to write instead (a :class:`FullDisk`).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        rc = 70
        try:
            _reset_after_fork()
            _STATE["plan"], _STATE["counts"] = plan, dict.fromkeys(PHASES, 0)
            with open(log or os.devnull, "a") as out, contextlib.redirect_stderr(out), \
                    contextlib.redirect_stdout(out):
                if store_of is not None:
                    real = cli.embed_to_zarr
                    cli.embed_to_zarr = lambda src, store, *a, **k: real(src, store_of(store),
                                                                         *a, **k)
                rc = cli.main(argv)
        except BaseException:  # noqa: BLE001 - reported by the exit code
            import traceback

            traceback.print_exc()
            rc = 71
        finally:
            os._exit(rc)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def compare(store: str, reference: str) -> dict:
    """How ``store`` differs from ``reference``: steps lost (not flagged, or values not bitwise
    equal), times duplicated, and whether everything (values, coordinates, attributes) is
    identical."""
    want = xr.open_zarr(reference).load()
    n = want.sizes["time"]
    try:
        got = xr.open_zarr(store).load()
        got[["time", "done", "embedding"]]
    except Exception:  # noqa: BLE001 - a store left unreadable: every step is lost
        return {"lost": n, "duplicated": 0, "identical": False}
    times = got["time"].values
    same_steps = [i < got.sizes["time"] and times[i] == want["time"].values[i]
                  and bool(got["done"].values[i])
                  and np.array_equal(got["embedding"].values[i], want["embedding"].values[i])
                  for i in range(n)]
    identical = True
    try:
        xr.testing.assert_identical(got, want)
    except AssertionError:
        identical = False
    return {"lost": n - sum(same_steps), "duplicated": int(times.size - np.unique(times).size),
            "identical": identical}


def draw_kills(counts: dict, n: int, seed: int) -> list[tuple[str, int, str]]:
    """``n`` kill moments: the phases in turn (shuffled), a call and before/after drawn."""
    rng = random.Random(seed)
    phases = [PHASES[i % len(PHASES)] for i in range(n)]
    rng.shuffle(phases)
    return [(p, rng.randint(1, counts[p]), rng.choice(("before", "after"))) for p in phases]


def drive(src: str, work: str, n_kills: int, seed: int, report: str) -> None:
    """Run ``n_kills`` kill examples (and their reruns) and write a JSON report to ``report``.

    Runs in a process of its own (see the module's docstring): the first, reference run here,
    every other run in a forked child.
    """
    import time

    import torch

    t0 = time.perf_counter()
    torch.set_num_threads(1)  # no OpenMP pool to be left without its threads in a child
    install_counters()
    reference = os.path.join(work, "reference.zarr")
    assert cli.main(["embed", src, reference, *ARGS]) == 0
    counts = dict(_STATE["counts"])
    rows = []
    for k, plan in enumerate(draw_kills(counts, n_kills, seed)):
        t1 = time.perf_counter()
        store, log = os.path.join(work, f"kill{k}.zarr"), os.path.join(work, f"kill{k}.log")
        argv = ["embed", src, store, *ARGS]
        killed = run_child(argv, plan, log)
        flagged = (steps_written(store) or (0, 0))[0]
        reruns = []
        while len(reruns) < 3 and (not reruns or reruns[-1] != 0):
            reruns.append(run_child(argv, None, log))
        rows.append({"plan": list(plan), "killed": killed == -signal.SIGKILL,
                     "flagged_at_kill": flagged, "reruns": reruns, **compare(store, reference),
                     "seconds": round(time.perf_counter() - t1, 2)})
    with open(report, "w") as f:
        json.dump({"seed": seed, "counts": counts, "examples": rows,
                   "seconds": round(time.perf_counter() - t0, 2)}, f, indent=1)


def drive_in_subprocess(src, work, n_kills: int, seed: int, timeout: float = 540) -> dict:
    """:func:`drive` in a fresh interpreter (so that forking it is safe); its report."""
    report = os.path.join(work, "report.json")
    code = (f"from tests.results.test_faults import drive; drive({str(src)!r}, {str(work)!r}, "
            f"{n_kills}, {seed}, {report!r})")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(report) as f:
        return json.load(f)


# -- a full disk --------------------------------------------------------------------------------

def full_disk_class():
    """:class:`FullDisk` (zarr 3 only: it is a ``zarr.storage.WrapperStore``)."""
    from zarr.storage import WrapperStore

    class FullDisk(WrapperStore):
        """``store`` on a disk with ``budget`` bytes free: a write that does not fit raises
        ENOSPC (``torn``: after writing the part that fits), and so does every later one.
        ``budget=None``: no limit (counts the bytes, ``.state["written"]``)."""

        def __init__(self, store, budget: int | None = None, torn: bool = False,
                     state: dict | None = None) -> None:
            super().__init__(store)
            self.state = state or {"left": budget, "written": 0, "torn": torn, "failed": 0,
                                   "keys": []}

        def _with_store(self, store):  # the read-only view zarr makes shares the one disk
            return type(self)(store, state=self.state)

        def __str__(self) -> str:
            return str(self._store.root)

        async def set(self, key, value) -> None:
            st, size = self.state, len(value)
            if st["left"] is not None and size > st["left"]:
                if st["torn"] and st["left"] > 0:
                    part = value.to_bytes()[: st["left"]]
                    await self._store.set(key, type(value).from_bytes(part))
                    st["written"] += len(part)
                st["left"], st["failed"] = 0, st["failed"] + 1
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), key)
            if st["left"] is not None:
                st["left"] -= size
            st["written"] += size
            st["keys"].append((key, size))
            await self._store.set(key, value)

        async def set_if_not_exists(self, key, value) -> None:  # also counted against the disk
            if not await self._store.exists(key):
                await self.set(key, value)

        async def _set_many(self, values) -> None:
            for key, value in values:
                await self.set(key, value)

    return FullDisk


def full_disk(path, budget: int | None = None, torn: bool = False):
    """A :class:`FullDisk` over the local store at ``path``."""
    from zarr.storage import LocalStore

    return full_disk_class()(LocalStore(str(path)), budget, torn)


def draw_faults(keys: list[tuple[str, int]], n: int, seed: int) -> list[tuple[int, bool]]:
    """``n`` write faults ``(bytes free, torn)``: the disk fills up inside a drawn write of an
    uninterrupted run (``keys``: its ``(key, size)`` in order), of the layout and of values or
    flags in turn, torn or not in turn, seeded."""
    rng = random.Random(seed + 1)
    before = np.cumsum([0] + [size for _, size in keys])
    pools = [[i for i, (k, _) in enumerate(keys) if _phase_of(k) == phase]
             for phase in ("layout", "write")]
    faults = []
    for j in range(n):
        i = rng.choice(pools[j % 2])
        faults.append((int(before[i]) + rng.randrange(max(keys[i][1], 1)), bool(j // 2 % 2)))
    return faults


# -- the tests ----------------------------------------------------------------------------------

zarr3 = pytest.mark.skipif(
    int(__import__("zarr").__version__.split(".")[0]) < 3, reason="FullDisk is a zarr 3 store")


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    return make_source(tmp_path_factory.mktemp("faults") / "in.nc")


@pytest.fixture(scope="module")
def reference(src, tmp_path_factory):
    """An uninterrupted run, in this process (as the faulty runs below), and its bytes."""
    path = tmp_path_factory.mktemp("ref") / "ref.zarr"
    assert cli.main(["embed", src, str(path), *ARGS]) == 0
    return str(path)


@pytest.mark.timeout(600)
def test_kill_9_at_20_seeded_moments_then_rerun_equals_an_uninterrupted_run(src, tmp_path):
    rep = drive_in_subprocess(src, tmp_path, 20, SEED)
    rows = rep["examples"]
    assert len(rows) == 20 and {r["plan"][0] for r in rows} == set(PHASES)
    for r in rows:
        assert r["killed"], r  # each child died by its SIGKILL, at the planned call
        assert r["reruns"][-1] == 0, r
        assert r["lost"] == 0 and r["duplicated"] == 0 and r["identical"], r
    # the kills came early and in between: some left nothing flagged, some a part
    assert any(r["flagged_at_kill"] == 0 for r in rows)
    assert any(0 < r["flagged_at_kill"] < 6 for r in rows)


@zarr3
def test_a_full_disk_store_counts_and_fails(tmp_path):
    import zarr

    store = full_disk(tmp_path / "a.zarr", budget=2000)
    zarr.create_array(store, name="a", shape=(400,), chunks=(400,), dtype="i1", zarr_format=2,
                      fill_value=0, compressors=None)[:] = 1  # metadata and 400 bytes: fit
    written = store.state["written"]
    assert 400 < written <= 2000
    big = zarr.create_array(store, name="b", shape=(4000,), chunks=(4000,), dtype="i1",
                            zarr_format=2, fill_value=0, compressors=None)
    with pytest.raises(OSError) as err:
        big[:] = 1  # 4000 bytes on a disk with less left
    assert err.value.errno == errno.ENOSPC and store.state["failed"] == 1
    assert not (tmp_path / "a.zarr" / "b" / "0").exists()  # not torn: nothing of it written


@zarr3
@pytest.mark.parametrize("k", range(4))
def test_full_disk_ends_with_one_line_and_a_rerun_resumes(src, reference, tmp_path,
                                                          monkeypatch, capsys, k):
    """ENOSPC after N bytes (seeded, torn or not): exit 1, a one-line message naming the store,
    the error and the fix; a rerun on a working disk ends bitwise equal to an uninterrupted
    run."""
    counter = full_disk(tmp_path / "count.zarr")
    cli.embed_to_zarr(src, counter, batch_size=1, progress=False)
    budget, torn = draw_faults(counter.state["keys"], 4, SEED)[k]
    out = str(tmp_path / "o.zarr")
    disk = full_disk(out, budget, torn)
    real = cli.embed_to_zarr
    monkeypatch.setattr(cli, "embed_to_zarr", lambda s, store, *a, **kw: real(s, disk, *a, **kw))
    assert cli.main(["embed", src, out, *ARGS]) == 1
    assert disk.state["failed"] >= 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]  # a fault in the layout: no step written yet
    assert re.fullmatch(rf"xaurora: cannot write {re.escape(out)}: No space left on device "
                        r"\(ENOSPC\); (\d of 6 steps written|no step written yet)\. Fix: free "
                        r"space and rerun the same command to resume\.", line), line
    monkeypatch.setattr(cli, "embed_to_zarr", real)
    assert cli.main(["embed", src, out, *ARGS]) == 0
    got = compare(out, reference)
    assert got == {"lost": 0, "duplicated": 0, "identical": True}


@zarr3
def test_a_layout_cut_short_is_laid_out_again(src, reference, tmp_path):
    """A full disk during the layout (before its consolidated metadata) leaves a store the
    next run does not trust: it lays it out again."""
    from xaurora.io.store import StoreWriteError, is_laid_out

    out = tmp_path / "o.zarr"
    disk = full_disk(out, budget=600)  # the group's metadata and some arrays', not all
    with pytest.raises(StoreWriteError, match="No space left"):
        cli.embed_to_zarr(src, disk, batch_size=1, progress=False)
    assert out.exists() and is_laid_out(str(out)) is None
    cli.embed_to_zarr(src, str(out), batch_size=1, progress=False)
    assert compare(str(out), reference) == {"lost": 0, "duplicated": 0, "identical": True}


def test_a_torn_done_flag_counts_as_not_done(tmp_path):
    from xaurora.io.store import done_flags

    store = tmp_path / "s.zarr"
    xr.Dataset({"done": ("time", np.ones(4, np.int8))}).chunk(time=1).to_zarr(
        store, zarr_format=2)
    (store / "done" / "2").write_bytes(b"\x02\x01")  # a chunk cut short
    assert done_flags(str(store)).tolist() == [True, True, False, True]


@zarr3
def test_full_disk_with_an_encoder_ends_with_one_line_and_a_rerun_resumes(tmp_path, monkeypatch,
                                                                          capsys):
    """The ``--encoder`` path: the same message, exit code and resume."""
    src = tmp_path / "hp.nc"
    xa.testing.synthetic_healpix_dataset(level=2, n_times=4, naming="cds").to_netcdf(src)
    args = ["--encoder", "tests.encoders.test_encoders:healpix_encoder", "--no-progress"]
    reference = str(tmp_path / "ref.zarr")
    assert cli.main(["embed", str(src), reference, *args]) == 0
    counter = full_disk(tmp_path / "count.zarr")
    cli.encoder_to_zarr(str(src), counter, args[1], progress=False)
    written = [i for i, (k, _) in enumerate(counter.state["keys"]) if _phase_of(k) == "write"]
    # the disk fills up inside the 2nd step's values: one step flagged, the rest to do
    before = sum(size for _, size in counter.state["keys"][: written[2]])
    out = str(tmp_path / "o.zarr")
    disk = full_disk(out, before + 10)
    real = cli.encoder_to_zarr
    monkeypatch.setattr(cli, "encoder_to_zarr",
                        lambda s, store, *a, **kw: real(s, disk, *a, **kw))
    assert cli.main(["embed", str(src), out, *args]) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == (f"xaurora: cannot write {out}: No space left on device (ENOSPC); 1 of 3 "
                    "steps written. Fix: free space and rerun the same command to resume.")
    monkeypatch.setattr(cli, "encoder_to_zarr", real)
    assert cli.main(["embed", str(src), out, *args]) == 0
    assert compare(out, reference) == {"lost": 0, "duplicated": 0, "identical": True}
