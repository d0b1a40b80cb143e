"""The feeding pipeline: same values as Aurora on hand-built Batches, each step read once,
preparation overlapping the model, errors and early exits handled, auto batch size, bf16 report."""

from __future__ import annotations

import contextlib
import functools
import os
import threading

import dask
import dask.array as dsa
import numpy as np
import pytest
import torch
import xarray as xr

import xaurora as xa
from tests._aurora import direct_batch
from xaurora.io.canonical import canonicalize
from xaurora.models.forward import encoder_input
from xaurora.run import prefetch, sizing, source, tokens
from xaurora.run.hooks import capture
from xaurora.run.source import make_batch
from xaurora.run.times import select_times
from xaurora.run.tokens import embed_values, iter_embeddings


def _threads_left() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == source.THREAD_NAME]


@pytest.fixture(scope="module")
def ds5():
    return xa.testing.synthetic_dataset(n_times=5)


@pytest.mark.parametrize("lazy", [False, True], ids=["eager", "dask"])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_embedding_equals_capture_on_hand_built_batch(tiny, ds5, lazy, batch_size):
    src = ds5.chunk(time=2) if lazy else ds5
    # one Dask task at a time: concurrent tasks on one module need the capture lock that
    # thread-safe capture brings (a separate change)
    with dask.config.set(scheduler="synchronous"):
        emb = src.aurora.embed(tiny, batch_size=batch_size).values
    cds = canonicalize(ds5)
    for i in range(4):
        ref = capture(tiny.module, direct_batch(ds5, i + 1), "encoder").cpu().numpy()
        np.testing.assert_allclose(emb[i].reshape(ref.shape[1:]), ref[0], rtol=1e-5,
                                   atol=1e-5)
        if batch_size == 1:  # make_batch gives the hand-built batch's tensors exactly
            got = make_batch(cds, cds.time.values[i + 1 : i + 2], tiny.module)
            hand = direct_batch(ds5, i + 1)
            for kind in ("surf_vars", "static_vars", "atmos_vars"):
                for k, x in getattr(hand, kind).items():
                    np.testing.assert_array_equal(getattr(got, kind)[k].numpy(), x.numpy())
            assert got.metadata.time == hand.metadata.time


def test_make_batch_owns_its_memory_unless_told_not_to(tiny, ds5):
    cds = canonicalize(ds5)
    before = cds["2t"].values.copy()
    batch = make_batch(cds, cds.time.values[1:3], tiny.module)
    batch.surf_vars["2t"][:] = 0  # the two history pairs overlap in the data: both edited
    batch.static_vars["lsm"][:] = 0
    np.testing.assert_array_equal(cds["2t"].values, before)
    assert float(cds["static_lsm"].sum()) > 0
    shared = make_batch(cds, cds.time.values[1:3], tiny.module, copy=False)
    assert np.shares_memory(shared.surf_vars["2t"].numpy(), cds["2t"].values)


def _counted(ds: xr.Dataset):
    """``ds`` with each time step of every time-varying variable a Dask chunk that counts reads."""
    reads: dict[tuple[str, int], int] = {}

    def load(name, i):
        reads[(name, i)] = reads.get((name, i), 0) + 1
        return ds[name].values[i : i + 1]

    out = ds.copy()
    for name, da in ds.data_vars.items():
        if "time" not in da.dims:
            continue
        parts = [dsa.from_delayed(dask.delayed(load)(name, i), (1, *da.shape[1:]), da.dtype)
                 for i in range(da.sizes["time"])]
        out[name] = (da.dims, dsa.concatenate(parts, axis=0), da.attrs)
    return out, reads


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_lazy_data_reads_each_step_once(tiny, ds5, batch_size):
    """The history step t − Δ of a time is the previous time's t: it is not read again."""
    lazy, reads = _counted(ds5)
    cds = canonicalize(lazy, info=tiny.info)
    times = select_times(cds, tiny.timestep)
    got, _ = embed_values(cds, times, tiny, "encoder", batch_size=batch_size, check_values=True)
    assert reads and set(reads.values()) == {1}
    assert len(reads) == 9 * 5  # 9 time-varying variables × 5 steps
    want = ds5.aurora.embed(tiny, batch_size=batch_size).values
    np.testing.assert_array_equal(got, want)


def test_preparation_overlaps_the_model(tiny, ds5, monkeypatch):
    """Batch 2 is read while the model still runs on batch 1 (no timing involved)."""
    cds = canonicalize(ds5, info=tiny.info)
    times = select_times(cds, tiny.timestep)
    second_read = threading.Event()
    real_read = source.BatchSource.read

    def read(self, t, ahead=()):
        if np.datetime64(t[0], "ns") == times[1]:
            second_read.set()
        return real_read(self, t, ahead)

    seen = []

    def model_call(module, batch, layer, autocast=False, edits=None):
        if not seen:  # the first batch: the model is "running" until batch 2 has been read
            seen.append(second_read.wait(timeout=30))
        return capture(module, batch, layer, autocast, edits)

    monkeypatch.setattr(source.BatchSource, "read", read)
    monkeypatch.setattr(tokens, "capture", model_call)
    embed_values(cds, times, tiny, "encoder", prefetch=1)
    assert seen == [True]
    seen.clear()
    second_read.clear()
    monkeypatch.setattr(threading.Event, "wait", lambda self, timeout=None: self.is_set())
    embed_values(cds, times, tiny, "encoder", prefetch=0)  # in series: not read yet
    assert seen == [False]


def test_error_in_background_thread_reaches_the_caller(tiny, ds5):
    bad = ds5.copy(deep=True)
    bad["2t"][3, 5, 7] = np.nan
    cds = canonicalize(bad.chunk(time=1), info=tiny.info)
    times = select_times(cds, tiny.timestep)
    with pytest.raises(ValueError,
                       match=r"^2t: contains NaN or infinite values \(1 of \d+, first at "
                             r"index \{'time': '2020-01-01T18:00', 'lat': 5, 'lon': 7\}"):
        embed_values(cds, times, tiny, "encoder", check_values=True, prefetch=1)
    assert not _threads_left()

    class Boom(RuntimeError):
        pass

    def broken(times, ahead=()):
        raise Boom("original message")

    src = source.BatchSource(canonicalize(ds5), tiny.module, tiny.timestep)
    src.read = broken
    with pytest.raises(Boom, match="^original message$"):
        with prefetch.batches(src, times) as it:
            list(it)
    assert not _threads_left()


@pytest.mark.parametrize("how", ["break", "ctrl-c", "error while writing"])
def test_leaving_early_stops_the_thread(tiny, how, monkeypatch):
    monkeypatch.setattr(source, "READ_AHEAD", 2)  # a queue of 2 batches: the reader blocks
    ds = xa.testing.synthetic_dataset(n_times=9)
    cds = canonicalize(ds.chunk(time=1), info=tiny.info)
    times = select_times(cds, tiny.timestep)
    exc = {"break": None, "ctrl-c": KeyboardInterrupt, "error while writing": OSError}[how]
    with contextlib.ExitStack() as stack:
        if exc is not None:
            stack.enter_context(pytest.raises(exc))
        it = iter_embeddings(cds, times, tiny, "encoder", batch_size=1, prefetch=2)
        with contextlib.closing(it):
            for _ in it:
                assert _threads_left()  # the reader runs ahead, blocked on its full queue
                if exc is None:
                    break
                raise exc
    assert not _threads_left()


def test_auto_batch_size_fits_the_budget_and_keeps_values(tiny, ds5, monkeypatch):
    cds = canonicalize(ds5, info=tiny.info)
    times = select_times(cds, tiny.timestep)
    src = source.BatchSource(cds, tiny.module, tiny.timestep)
    big = sizing.auto_batch_size(src, times, tiny.module, "encoder", capture)
    assert big == times.size  # 4 samples of a 33 × 64 grid fit in 256 MiB easily
    monkeypatch.setattr(sizing, "CPU_BUDGET_BYTES", 1)
    assert sizing.auto_batch_size(src, times, tiny.module, "encoder", capture) == 1
    # the estimate scales with the sample: a budget of ~2.5 samples gives 2
    probe = src.read(times[:1])
    inputs = sum(t.numel() * 4 for t in [*probe.surf_vars.values(), *probe.atmos_vars.values()])
    per_sample = inputs * 6 + capture(tiny.module, probe, "encoder").numel() * 4
    monkeypatch.setattr(sizing, "CPU_BUDGET_BYTES", int(2.5 * per_sample))
    assert sizing.auto_batch_size(src, times, tiny.module, "encoder", capture) == 2
    np.testing.assert_allclose(ds5.aurora.embed(tiny, batch_size="auto").values,
                               ds5.aurora.embed(tiny).values, rtol=1e-5, atol=1e-5)


def test_cli_uses_auto_batch_size_by_default():
    from xaurora.app.cli import build_parser

    args = build_parser().parse_args(["embed", "in.nc", "out.zarr"])
    assert args.batch_size == "auto"
    assert build_parser().parse_args(["embed", "a", "b", "--batch-size", "3"]).batch_size == 3


def test_autocast_reports_its_difference_from_fp32(tiny, ds5, dask_counter):
    emb = ds5.aurora.embed(tiny, autocast=True)
    batch = direct_batch(ds5, 1)  # the first analysis time, built by hand
    fp32 = capture(tiny.module, batch, "encoder").cpu().numpy().astype(np.float64)
    bf16 = capture(tiny.module, batch, "encoder", autocast=True).float().numpy()
    want = np.linalg.norm(bf16 - fp32) / np.linalg.norm(fp32)
    assert emb.attrs["autocast_rel_diff"] == pytest.approx(want, rel=1e-6)
    assert 0 < want < 0.05
    assert emb.attrs["autocast_reference"].startswith("first analysis time 2020-01-01T06:00")
    assert "autocast_rel_diff" not in ds5.aurora.embed(tiny).attrs
    with dask_counter() as c:  # lazy input stays lazy: a synthetic sample is the reference
        lazy = ds5.chunk(time=1).aurora.embed(tiny, autocast=True)
    assert c.count == 0
    assert 0 < lazy.attrs["autocast_rel_diff"] < 0.05
    assert "synthetic" in lazy.attrs["autocast_reference"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_are_pinned_and_moved(tiny, ds5):  # pragma: no cover - GPU machines
    model = xa.load_model("tiny", device="cuda")
    cds = canonicalize(ds5, info=model.info)
    times = select_times(cds, model.timestep)
    src = source.BatchSource(cds, model.module, model.timestep, pin=True)
    assert src.read(times[:1]).surf_vars["2t"].is_pinned()
    with prefetch.batches(src, times, device="cuda") as it:
        assert all(b.surf_vars["2t"].is_cuda for _, b in it)
    # the encoder's input is prepared on the device, after the move
    prepare = functools.partial(encoder_input, model.module)
    with prefetch.batches(src, times, device="cuda", prepare=prepare) as it:
        assert all(inp.batch.surf_vars["2t"].is_cuda for _, inp in it)
    got = ds5.aurora.embed(model).values
    np.testing.assert_allclose(got, ds5.aurora.embed(tiny).values, rtol=1e-3, atol=1e-4)


def test_reads_are_memory_bounded_and_the_queue_holds_one_read(tiny, monkeypatch):
    """A read of lazy data takes as many steps as fit in READ_BYTES (at most READ_AHEAD), and
    the thread may queue the batches of one whole read, so the model never waits for a read
    while batches of the previous one remain."""
    ds = xa.testing.synthetic_dataset(n_times=9)
    cds = canonicalize(ds.chunk(time=1), info=tiny.info)
    step = sum(cds[v].nbytes // 9 for v in ["2t", "10u", "10v", "msl", "z", "u", "v", "t", "q"])
    assert source.BatchSource(cds, tiny.module, tiny.timestep).read_ahead == min(
        source.READ_AHEAD, source.READ_BYTES // step)
    monkeypatch.setattr(source, "READ_BYTES", 3 * step)
    src = source.BatchSource(cds, tiny.module, tiny.timestep)
    assert src.read_ahead == 3
    times = select_times(cds, tiny.timestep)
    assert prefetch.batches(src, times, batch_size=1, prefetch=1)._queue.maxsize == 3
    assert prefetch.batches(src, times, batch_size=2, prefetch=1)._queue.maxsize == 2
    computes = []
    real = src._load
    monkeypatch.setattr(src, "_load", lambda pos: computes.append(list(pos)) or real(pos))
    with prefetch.batches(src, times, batch_size=1, prefetch=1) as it:
        got = [b.surf_vars["2t"][0, 1].numpy() for _, b in it]
    # 9 steps, each read once: the first read is what the first batch needs (t − Δ, t) and
    # makes one analysis time ready; each next read takes twice the times the read before made
    # ready, up to read_ahead: 2, then 2 × 1, then 3 (not 4), then what is left
    assert [len(c) for c in computes] == [2, 2, 3, 2]
    assert sorted(p for c in computes for p in c) == list(range(9))
    np.testing.assert_array_equal(np.stack(got), cds["2t"].values[1:])
    monkeypatch.setattr(source, "READ_BYTES", 1)  # one step never fits: read one at a time
    assert source.BatchSource(cds, tiny.module, tiny.timestep).read_ahead == 1


def test_reads_double_from_the_first_batch_up_to_read_ahead(tiny, monkeypatch):
    ds = xa.testing.synthetic_dataset(n_times=17)
    cds = canonicalize(ds.chunk(time=1), info=tiny.info)
    step = sum(cds[v].nbytes // 17 for v in ["2t", "10u", "10v", "msl", "z", "u", "v", "t", "q"])
    monkeypatch.setattr(source, "READ_BYTES", 8 * step)
    src = source.BatchSource(cds, tiny.module, tiny.timestep)
    computes = []
    real = src._load
    monkeypatch.setattr(src, "_load", lambda pos: computes.append(list(pos)) or real(pos))
    with prefetch.batches(src, select_times(cds, tiny.timestep), prefetch=1) as it:
        n = sum(1 for _ in it)
    assert n == 16 and [len(c) for c in computes] == [2, 2, 4, 8, 1]


def test_on_read_runs_where_each_batch_is_read_before_it_is_handed_over(tiny, ds5):
    cds = canonicalize(ds5.chunk(time=1), info=tiny.info)
    times = select_times(cds, tiny.timestep)
    calls, received = [], []

    def on_read(sl):
        calls.append((sl, threading.current_thread().name))

    src = source.BatchSource(cds, tiny.module, tiny.timestep)
    with prefetch.batches(src, times, batch_size=2, on_read=on_read) as it:
        for sl, _ in it:
            assert sl in [c[0] for c in calls]  # before the caller has it
            received.append(sl)
    assert [c[0] for c in calls] == received == [slice(0, 2), slice(2, 4)]
    assert {c[1] for c in calls} == {source.THREAD_NAME}


def test_touch_pages_writes_one_byte_a_page_inside_the_block_only():
    page = os.sysconf("SC_PAGE_SIZE")
    a = np.full((3, 5 * page + 3), 7, dtype=np.uint8)
    prefetch.touch_pages(a[1])
    assert (a[[0, 2]] == 7).all()
    np.testing.assert_array_equal(np.flatnonzero(a[1] != 7), np.arange(0, a.shape[1], page))


def test_embed_touches_its_result_where_batches_are_read(tiny, monkeypatch):
    # the result's pages are faulted in by the reading thread, before the values are written;
    # reads of one step and a queue of one batch: the reader can be at most two batches ahead,
    # so batches 4 to 6 are read after the first result (the array) exists, however fast it is
    monkeypatch.setattr(source, "READ_AHEAD", 1)
    ds = xa.testing.synthetic_dataset(n_times=7)
    cds = canonicalize(ds.chunk(time=1), info=tiny.info)
    times = select_times(cds, tiny.timestep)
    touched = []
    real = prefetch.touch_pages

    def spy(block):
        address = block.__array_interface__["data"][0]
        start = (address - block.base.__array_interface__["data"][0]) // block[0].nbytes
        touched.append((threading.current_thread().name, start))
        real(block)

    monkeypatch.setattr(tokens, "touch_pages", spy)
    values, _ = embed_values(cds, times, tiny, "encoder", prefetch=1)
    assert {name for name, _ in touched} == {source.THREAD_NAME}
    assert {start for _, start in touched} >= {3, 4, 5}  # batches 4 to 6, by their first row
    monkeypatch.setattr(tokens, "touch_pages", real)
    one = functools.partial(make_batch, cds, module=tiny.module, timestep=tiny.timestep)
    expected = np.stack([capture(tiny.module, one([t]), "encoder").reshape(values.shape[1:])
                         .numpy() for t in times])
    np.testing.assert_allclose(values, expected, rtol=1e-6, atol=1e-6)
