"""The collector's freeze during streaming loops: held while a loop runs, shared by concurrent
loops, released by the last one (however it ends), nothing lost, and other owners left alone."""

from __future__ import annotations

import contextlib
import gc
import threading
import weakref

import numpy as np
import pytest

import xaurora as xa
from xaurora.io.canonical import canonicalize
from xaurora.run import heap, prefetch, source
from xaurora.run.times import select_times
from xaurora.run.tokens import embed_values, iter_embeddings


def _reset() -> None:
    gc.unfreeze()
    heap._state.update(users=0, ours=False)  # noqa: SLF001 - the tests' own clean slate


@pytest.fixture(autouse=True)
def _unfrozen():
    # start clean: a loop another test left open (a generator closed only when collected)
    # would still hold the freeze; and leave the process unfrozen for the tests after
    _reset()
    yield
    _reset()


class Node:
    """A container the collector tracks, in a reference cycle with itself."""

    def __init__(self) -> None:
        self.me = self


def test_objects_from_before_are_frozen_inside_and_released_after():
    before = Node()
    with heap.frozen_heap():
        assert gc.get_freeze_count() > 0
        inside = Node()
        gc.collect()
        # a collection inside leaves them frozen (the count itself is no measure: a frozen
        # object freed by its reference count, in any thread, leaves the permanent generation)
        assert gc.get_freeze_count() > 0
        assert gc.is_tracked(inside)
    assert gc.get_freeze_count() == 0
    del before


def test_garbage_from_before_is_collected_after_the_block():
    # an object from before the block that becomes garbage (a cycle) during it is frozen with
    # everything else; once the block ends, a collection frees it (deferred, not lost)
    node = Node()
    ref = weakref.ref(node)
    with heap.frozen_heap():
        del node
        gc.collect()
        assert ref() is not None  # frozen: not scanned
    gc.collect()
    assert ref() is None


def test_garbage_made_inside_the_block_is_collected_inside_it():
    with heap.frozen_heap():
        node = Node()
        ref = weakref.ref(node)
        del node
        gc.collect()
        assert ref() is None


def test_concurrent_blocks_share_one_freeze_released_by_the_last():
    entered, release = threading.Barrier(3), threading.Event()
    counts = []

    def loop():
        with heap.frozen_heap():
            entered.wait()
            release.wait()

    threads = [threading.Thread(target=loop) for _ in range(2)]
    for t in threads:
        t.start()
    entered.wait()
    counts.append(gc.get_freeze_count())
    with heap.frozen_heap():  # a third user, ending first
        pass
    counts.append(gc.get_freeze_count())
    release.set()
    for t in threads:
        t.join()
    assert counts[0] > 0 and counts[1] > 0
    assert gc.get_freeze_count() == 0


def test_an_error_inside_the_block_still_releases():
    with pytest.raises(KeyError), heap.frozen_heap():
        raise KeyError("x")
    assert gc.get_freeze_count() == 0


def test_an_applications_own_freeze_is_left_alone():
    # garbage among the application's frozen objects must stay frozen after the block: had the
    # block unfrozen them, the collection after it would free the cycle. (Comparing freeze
    # counts is no test: frozen objects freed by reference count, in any thread, lower it.)
    node = Node()
    ref = weakref.ref(node)
    gc.freeze()
    del node
    with heap.frozen_heap():
        Node()
    assert gc.get_freeze_count() > 0
    gc.collect()
    assert ref() is not None  # still the application's: not unfrozen by the block
    gc.unfreeze()
    gc.collect()
    assert ref() is None  # the set-up: the cycle was garbage all along


def test_freeze_off_is_left_alone(monkeypatch):
    monkeypatch.setattr(heap, "FREEZE", False)
    with heap.frozen_heap():
        assert gc.get_freeze_count() == 0
    with heap.frozen_heap(enabled=True):
        assert gc.get_freeze_count() > 0


def test_a_collector_switched_off_by_another_thread_still_freezes():
    # Dask's array slicing runs under gc.disable(); our read-ahead thread slices while the
    # loop starts. The loop froze nothing when it started inside such a moment (CI failure).
    off, done = threading.Event(), threading.Event()

    def slicer():
        gc.disable()
        off.set()
        done.wait()
        gc.enable()

    t = threading.Thread(target=slicer)
    t.start()
    off.wait()
    try:
        with heap.frozen_heap():
            assert gc.get_freeze_count() > 0
            assert not gc.isenabled()  # the other thread's switch is not touched
    finally:
        done.set()
        t.join()
    assert gc.get_freeze_count() == 0 and gc.isenabled()


@contextlib.contextmanager
def _collector_off():
    """The collector switched off for a moment, as ``dask.utils.disable_gc`` does (older Dask,
    which the supported range includes, has no such helper)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def test_the_loop_freezes_while_its_reader_slices_dask_arrays(tiny, monkeypatch):
    # the same race, through the real loop: the read-ahead thread is inside Dask's slicing
    # (collector off) at the moment the loop enters its freeze
    import dask.array.core

    ds = xa.testing.synthetic_dataset(n_times=3)
    cds = canonicalize(ds.chunk(time=1), info=tiny.info)
    times = select_times(cds, tiny.timestep)
    inside, leave = threading.Event(), threading.Event()
    real = dask.array.core.slice_array

    def held(*args, **kwargs):
        if threading.current_thread().name == source.THREAD_NAME and not inside.is_set():
            with _collector_off():  # what slice_array itself runs under (Dask ≥ 2024.8)
                inside.set()
                leave.wait(5)
        return real(*args, **kwargs)

    monkeypatch.setattr(dask.array.core, "slice_array", held)
    real_enter = prefetch.frozen_heap

    @contextlib.contextmanager
    def after_the_reader_is_inside():
        inside.wait(5)
        try:
            with real_enter():
                yield
        finally:
            leave.set()

    monkeypatch.setattr(prefetch, "frozen_heap", after_the_reader_is_inside)
    it = iter_embeddings(cds, times, tiny, "encoder", batch_size=1, prefetch=1)
    with contextlib.closing(it):
        seen = [gc.get_freeze_count() for _ in it]
    assert inside.is_set(), "the reader never sliced with the collector off: test set-up"
    assert seen and all(n > 0 for n in seen)
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("prefetch", [0, 1])
@pytest.mark.parametrize("how", ["to the end", "break", "error"])
def test_the_embedding_loop_freezes_while_it_runs(tiny, prefetch, how):
    ds = xa.testing.synthetic_dataset(n_times=4)
    cds = canonicalize(ds.chunk(time=1), info=tiny.info)
    times = select_times(cds, tiny.timestep)
    seen = []
    with contextlib.ExitStack() as stack:
        if how == "error":
            stack.enter_context(pytest.raises(OSError))
        it = iter_embeddings(cds, times, tiny, "encoder", batch_size=1, prefetch=prefetch)
        with contextlib.closing(it):
            for _ in it:
                seen.append(gc.get_freeze_count())
                if how == "break":
                    break
                if how == "error":
                    raise OSError("disk full")
    assert seen and all(n > 0 for n in seen)
    assert gc.get_freeze_count() == 0


def test_results_are_the_same_with_and_without_the_freeze(tiny, monkeypatch):
    ds = xa.testing.synthetic_dataset(n_times=4)
    cds = canonicalize(ds.chunk(time=1), info=tiny.info)
    times = select_times(cds, tiny.timestep)
    frozen = embed_values(cds, times, tiny, "encoder", prefetch=1)[0]
    monkeypatch.setattr(heap, "FREEZE", False)
    plain = embed_values(cds, times, tiny, "encoder", prefetch=1)[0]
    np.testing.assert_array_equal(frozen, plain)
    assert not [t for t in threading.enumerate() if t.name == source.THREAD_NAME]
