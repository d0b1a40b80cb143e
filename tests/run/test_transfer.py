"""HostWriter: batches land in their place in the result; on CUDA through page-locked memory on
a copy stream (checked on GPU machines), with a synchronous fallback."""

import numpy as np
import pytest
import torch

import xaurora as xa
from xaurora.run import transfer
from xaurora.run.transfer import HostWriter


def test_cpu_tensors_and_arrays_are_written_in_place():
    w = HostWriter(torch.device("cpu"))
    out = w.allocate((4, 2, 3), np.float16)
    assert out.dtype == np.float16
    w.put(out[:2], torch.arange(12, dtype=torch.float16).reshape(2, 2, 3))
    w.put(out[2:], np.full((2, 2, 3), 7, np.float16))
    w.finish()
    np.testing.assert_array_equal(out[:2].ravel(), np.arange(12))
    assert (out[2:] == 7).all()


def test_no_page_locked_memory_on_a_cpu_device():
    out = HostWriter(torch.device("cpu")).allocate((3,), np.float32)
    assert not torch.from_numpy(out).is_pinned()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_copies_go_through_page_locked_memory():  # pragma: no cover - GPU machines
    w = HostWriter(torch.device("cuda"))
    out = w.allocate((8, 1000), np.float32)
    assert torch.from_numpy(out).is_pinned()
    for i in range(8):
        w.put(out[i : i + 1], torch.full((1, 1000), float(i), device="cuda"))
    w.finish()
    np.testing.assert_array_equal(out[:, 0], np.arange(8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_embed_equals_cpu_in_every_form(tiny, monkeypatch):  # pragma: no cover
    ds = xa.testing.synthetic_dataset(n_times=4)
    gpu = xa.load_model("tiny", device="cuda")
    for kw in ({}, {"dtype": "float16"}, {"pool": True}):
        got = ds.aurora.embed(gpu, **kw).values
        np.testing.assert_allclose(got, ds.aurora.embed(tiny, **kw).values, rtol=2e-2, atol=2e-2)
    monkeypatch.setattr(transfer, "PIN_BYTES", 0)  # the pageable fallback
    got = ds.aurora.embed(gpu).values
    np.testing.assert_allclose(got, ds.aurora.embed(tiny).values, rtol=2e-2, atol=2e-2)


def test_copies_in_flight_are_waited_for_when_the_loop_fails(tiny, monkeypatch):
    from xaurora.io.canonical import canonicalize
    from xaurora.run import tokens

    finished = []

    class Recording(HostWriter):
        def finish(self):
            finished.append(True)
            super().finish()

    calls = []

    def failing(values, dtype="float32", pool=None):  # the second batch fails on the device
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("device fault")
        return values

    monkeypatch.setattr(tokens, "HostWriter", Recording)
    monkeypatch.setattr(tokens, "on_device", failing)
    cds = canonicalize(xa.testing.synthetic_dataset(n_times=4))
    with pytest.raises(RuntimeError, match="device fault"):
        tokens.embed_values(cds, cds.time.values[1:], tiny, "encoder")
    assert finished == [True]
