"""The background zarr writer of ``xaurora embed``: order, overlap, errors."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import xarray as xr

from xaurora.io import store as writer_mod
from xaurora.io.store import RegionWriter, runs


def _store(tmp_path, n=6):
    store = str(tmp_path / "s.zarr")
    xr.Dataset({"embedding": (("time", "x"), np.full((n, 3), np.nan, np.float32)),
                "done": ("time", np.zeros(n, np.int8))}).chunk(time=1).to_zarr(
        store, zarr_format=2)
    return store


def test_runs_split_positions_into_consecutive_pieces():
    assert runs(np.array([0, 1, 2])) == [(0, 3, 0)]
    assert runs(np.array([5, 1, 2])) == [(5, 6, 0), (1, 3, 1)]
    assert runs(np.array([], dtype=int)) == []


def test_values_and_flags_land_where_given(tmp_path):
    store = _store(tmp_path)
    rows = np.arange(12, dtype=np.float32).reshape(4, 3)
    with RegionWriter(store) as w:
        w.put([4, 5], rows[:2])
        w.put([0, 2], rows[2:])  # not consecutive: two pieces
    got = xr.open_zarr(store)
    assert got["done"].values.tolist() == [1, 0, 1, 0, 1, 1]
    np.testing.assert_array_equal(got["embedding"].values[[4, 5, 0, 2]], rows)
    assert np.isnan(got["embedding"].values[[1, 3]]).all()


def test_writing_overlaps_the_caller_and_is_finished_on_exit(tmp_path, monkeypatch):
    """A write does not hold up the caller (``put`` returns while the writer's thread is still
    writing), and leaving the block waits for every write. No clock: the write waits for the
    caller to let it go, so a ``put`` that wrote in the caller's thread would never return."""
    store = _store(tmp_path)
    real = RegionWriter._write
    seen, started, release = [], threading.Event(), threading.Event()

    def held(self, positions, values):
        seen.append(threading.current_thread().name)
        started.set()
        if not release.wait(60):
            raise AssertionError("the caller never got control back while the write ran")
        real(self, positions, values)

    monkeypatch.setattr(RegionWriter, "_write", held)
    with RegionWriter(store, depth=2) as w:
        w.put([0], np.ones((1, 3), np.float32))
        assert started.wait(60)  # the writer's thread has the step, the caller goes on
        assert xr.open_zarr(store)["done"].values.tolist() == [0] * 6  # not written yet
        release.set()
    assert seen == [writer_mod.THREAD_NAME]
    assert xr.open_zarr(store)["done"].values.tolist() == [1, 0, 0, 0, 0, 0]


def test_a_write_error_reaches_the_caller_and_later_steps_are_not_flagged(tmp_path, monkeypatch):
    store = _store(tmp_path)
    real = RegionWriter._write

    def broken(self, positions, values):
        if 1 in positions:
            raise OSError("disk full")
        real(self, positions, values)

    monkeypatch.setattr(RegionWriter, "_write", broken)
    with pytest.raises(OSError, match="disk full"):
        with RegionWriter(store) as w:
            for i in range(6):
                w.put([i], np.ones((1, 3), np.float32))
                time.sleep(0.05)
    assert xr.open_zarr(store)["done"].values.tolist() == [1, 0, 0, 0, 0, 0]
    assert not any(t.name == writer_mod.THREAD_NAME for t in threading.enumerate())


def test_leaving_on_ctrl_c_writes_what_was_finished_and_raises_the_original(tmp_path):
    store = _store(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        with RegionWriter(store) as w:
            w.put([0, 1], np.ones((2, 3), np.float32))
            raise KeyboardInterrupt
    assert xr.open_zarr(store)["done"].values.tolist() == [1, 1, 0, 0, 0, 0]
