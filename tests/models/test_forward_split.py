"""Aurora's pass split at the encoder: the prepared input is what the encoder gets inside
``module(batch)`` (bit for bit, hooks, clamps and edits included), the preparation runs in the
reading thread, and a module with its own ``forward`` is never split."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import threading
from datetime import timedelta

import numpy as np
import pytest
import torch
import xarray as xr
from aurora import Aurora

import xaurora as xa
from xaurora.errors import XauroraError
from xaurora.grids.patches import patch_centres
from xaurora.io.canonical import canonicalize
from xaurora.models.forward import Preparer, encoder_input, run_encoder, splits
from xaurora.run.hooks import capture
from xaurora.run.source import THREAD_NAME, BatchSource
from xaurora.run.times import batch_slices, select_times
from xaurora.run.tokens import embed_values


class _Hooked(Aurora):
    """Aurora with its own pre-normalisation and pre-encoder steps (as fine-tuned variants)."""

    seen_in: list

    def _pre_norm_hook(self, batch):
        self.seen_in.append(threading.current_thread().name)
        return dataclasses.replace(batch, surf_vars={
            k: v * 1.01 if k == "2t" else v for k, v in batch.surf_vars.items()})

    def _pre_encoder_hook(self, batch):
        return dataclasses.replace(batch, atmos_vars={
            k: v + 0.5 if k == "t" else v for k, v in batch.atmos_vars.items()})


class _OwnForward(Aurora):
    """A subclass that rewrites ``forward``: its pass must run whole."""

    def forward(self, batch, lead_times=None):
        batch = dataclasses.replace(batch, surf_vars={k: v + 1.0 for k, v in
                                                      batch.surf_vars.items()})
        return super().forward(batch, lead_times)


def _as(cls, module, **attrs):
    m = copy.deepcopy(module)
    m.__class__ = cls
    for k, v in attrs.items():
        setattr(m, k, v)
    return m


@pytest.fixture(scope="module")
def setup(tiny):
    cds = canonicalize(xa.testing.synthetic_dataset(n_times=4), info=tiny.info)
    times = select_times(cds, tiny.timestep)
    batch = BatchSource(cds, tiny.module, tiny.timestep).read(times[:2])
    return cds, times, batch


@pytest.mark.parametrize("layer", ["encoder", "inputs"])
def test_split_pass_equals_the_whole_pass_bit_for_bit(tiny, setup, layer):
    _, _, batch = setup
    hooked = _as(_Hooked, tiny.module, seen_in=[], positive_surf_vars=("10u",))
    for m in (tiny.module, hooked):
        assert splits(m)
        whole = capture(m, batch, layer)
        split = capture(m, encoder_input(m, batch), layer)
        if layer == "encoder":
            assert torch.equal(split, whole)
        else:  # the encoder's input Batch itself
            for kind in ("surf_vars", "static_vars", "atmos_vars"):
                for k, x in getattr(whole, kind).items():
                    assert torch.equal(getattr(split, kind)[k], x), (kind, k)
    # the hooks and the clamp act: the test would notice a preparation that skipped them
    assert not torch.equal(capture(hooked, batch, "encoder"), capture(tiny.module, batch,
                                                                      "encoder"))
    plain = _as(_Hooked, tiny.module, seen_in=[])
    assert not torch.equal(capture(hooked, batch, "encoder"), capture(plain, batch, "encoder"))


def test_edits_act_the_same_on_the_split_pass(tiny, setup):
    """A georeferenced edit (it reads the grid from the cropped input) acts identically."""
    cds, _, batch = setup
    lat_c, lon_c = patch_centres(cds.lat.values, cds.lon.values, tiny.patch_size)
    box = (lat_c[:, None] > 0) & (lon_c[None, :] < 180)
    where = xr.DataArray(box, dims=("lat", "lon"), coords={"lat": lat_c, "lon": lon_c})
    d = xr.DataArray(np.random.default_rng(3).normal(size=tiny.module.encoder.embed_dim),
                     dims="channel")
    e = xa.edit.steer(d, 3.0, layer="encoder", where=where)
    whole = capture(tiny.module, batch, "encoder", edits=e)
    split = capture(tiny.module, encoder_input(tiny.module, batch), "encoder", edits=e)
    assert torch.equal(split, whole)
    assert not torch.equal(whole, capture(tiny.module, batch, "encoder"))


def test_a_module_with_its_own_forward_runs_whole(tiny, setup):
    cds, times, _ = setup
    own = _as(_OwnForward, tiny.module)
    assert splits(tiny.module) and not splits(own)
    assert not splits(_as(Aurora, tiny.module, variable_lead_time=True))
    model = xa.from_module(own, name="own-forward", timestep=timedelta(hours=6))
    got, _ = embed_values(cds, times[:1], model, "encoder")
    one = BatchSource(cds, own, model.timestep).read(times[:1])
    whole = capture(own, one, "encoder").cpu().numpy()
    np.testing.assert_array_equal(got.reshape(whole.shape), whole)
    # splitting it would have skipped its forward: a different result
    skipped = run_encoder(own, encoder_input(own, one)).numpy()
    assert not np.array_equal(skipped, whole)


@pytest.mark.parametrize("prefetch", [0, 1])
def test_the_preparation_runs_with_the_reading(tiny, setup, prefetch):
    """On a CPU the encoder's input is prepared in the prefetch thread, beside the model."""
    cds, times, _ = setup
    hooked = _as(_Hooked, tiny.module, seen_in=[])
    model = xa.from_module(hooked, name="hooked", timestep=timedelta(hours=6))
    got, _ = embed_values(cds, times, model, "encoder", prefetch=prefetch)
    want = threading.current_thread().name if prefetch == 0 else THREAD_NAME
    assert hooked.seen_in == [want] * len(times)
    for i, t in enumerate(times):  # and the values are the whole pass's
        b = BatchSource(cds, hooked, model.timestep).read([t])
        np.testing.assert_array_equal(got[i].reshape(-1), capture(hooked, b, "encoder")
                                      .numpy().reshape(-1))


def test_a_prepared_input_stops_at_the_encoder(tiny, setup):
    _, _, batch = setup
    with pytest.raises(XauroraError, match="runs after the encoder"):
        capture(tiny.module, encoder_input(tiny.module, batch), "backbone")


# --- Preparer: each time step normalised once, into a ring of reused buffers ---------------

def _tensors(inp):
    return {(kind, k): x for kind in ("surf_vars", "static_vars", "atmos_vars")
            for k, x in getattr(inp.batch, kind).items()}


@pytest.fixture(scope="module")
def run(tiny):
    """Ten successive analysis times, and a module that clamps a surface and an atmospheric
    variable (as Aurora's positive variables), so the clamp is exercised too."""
    cds = canonicalize(xa.testing.synthetic_dataset(n_times=11), info=tiny.info)
    module = _as(Aurora, tiny.module, positive_surf_vars=("10u",),
                 positive_atmos_vars=("u",)).cpu()  # where the batches are, on any machine
    return cds, select_times(cds, tiny.timestep), module, BatchSource(
        cds, module, tiny.timestep)


@pytest.mark.parametrize(("batch_size", "alive"), [(1, 0), (2, 0), (3, 1), (1, 2)])
def test_preparer_equals_encoder_input_bit_for_bit(run, batch_size, alive):
    """Every input, over runs long enough to wrap the ring several times, is the one Aurora
    gives its encoder, to the bit; so is the encoder's output."""
    _, times, module, source = run
    prepare = Preparer(module, alive=alive)
    for sl in batch_slices(len(times), batch_size):
        batch = source.read(times[sl])
        got, want = prepare(batch), encoder_input(module, batch)
        assert got.size == want.size
        ref = _tensors(want)
        for key, x in _tensors(got).items():
            assert x.shape == ref[key].shape and torch.equal(x, ref[key]), (sl, key)
        assert torch.equal(run_encoder(module, got), run_encoder(module, want))
    assert prepare._ring is not None  # noqa: SLF001 - the ring was used, not the fallback
    # the clamps act (the test would see a preparation that skipped them)
    assert (ref["surf_vars", "10u"] == 0).any() and (ref["atmos_vars", "u"] == 0).any()


@pytest.mark.parametrize("alive", [0, 1, 3])
def test_preparer_never_writes_into_an_input_still_in_use(run, alive):
    """With ``alive`` earlier inputs in use (a pipeline's queue), they keep their values while
    later ones are prepared; with more in use than declared, the ring's reuse overwrites one
    (so the memory really is reused, and ``alive`` is what protects it)."""
    _, times, module, source = run
    prepare = Preparer(module, alive=alive)
    held: list = []  # (input, a copy of its values)
    for t in times:
        inp = prepare(source.read([t]))
        held = [*held[-alive:], (inp, {k: x.clone() for k, x in _tensors(inp).items()})] \
            if alive else [(inp, {k: x.clone() for k, x in _tensors(inp).items()})]
        for old, copy_ in held:
            assert all(torch.equal(x, copy_[k]) for k, x in _tensors(old).items())
    overwritten = False
    prepare = Preparer(module, alive=alive)
    kept = []
    for t in times:
        kept.append(((inp := prepare(source.read([t]))),
                     {k: x.clone() for k, x in _tensors(inp).items()}))
    for old, copy_ in kept:
        overwritten |= not all(torch.equal(x, copy_[k]) for k, x in _tensors(old).items())
    assert overwritten


def test_preparer_falls_back_where_steps_are_not_shared(tiny, run):
    """Times that do not follow each other by Δ, and modules with their own input hooks, go
    through encoder_input unchanged."""
    cds, times, module, source = run
    prepare = Preparer(module)
    gapped = source.read(times[[0, 2]])  # t and t + 2Δ: no shared step
    assert all(torch.equal(x, y) for x, y in zip(_tensors(prepare(gapped)).values(),
                                                 _tensors(encoder_input(module, gapped)).values()))
    assert prepare._ring is None  # noqa: SLF001
    hooked = _as(_Hooked, tiny.module, seen_in=[])
    prepare = Preparer(hooked)
    batch = source.read(times[:1])
    assert torch.equal(run_encoder(hooked, prepare(batch)), capture(hooked, batch, "encoder"))
    assert hooked.seen_in and prepare._ring is None  # noqa: SLF001


def test_embedding_with_a_full_queue_equals_the_whole_pass(tiny):
    """Lazy data (several batches queued ahead) and a slow consumer: the preparing thread is
    as far ahead as the queue lets it be while the model runs, and every value still equals
    Aurora's whole pass on that time."""
    import time as _time

    from xaurora.run.tokens import iter_embeddings

    ds = xa.testing.synthetic_dataset(n_times=12).chunk(time=3)
    cds = canonicalize(ds, info=tiny.info)
    times = select_times(cds, tiny.timestep)
    got = {}
    with contextlib.closing(iter_embeddings(cds, times, tiny, "encoder", prefetch=1)) as it:
        for sl, values, _ in it:
            _time.sleep(0.05)  # the thread fills the queue meanwhile
            got[sl.start] = values.copy()
    eager = cds.load()
    for i, t in enumerate(times):
        b = BatchSource(eager, tiny.module, tiny.timestep).read([t])
        np.testing.assert_array_equal(got[i].reshape(-1),
                                      capture(tiny.module, b, "encoder").cpu().numpy().reshape(-1))


# --- value checks fused into the normalisation ---------------------------------------------

def test_fused_check_calls_the_raw_check_for_the_bad_field_only(run):
    """Planted: one variable wrong at one time. Only that (variable, time) reaches the raw
    check, whichever batch holds it (as a history step or an analysis time)."""
    cds, times, module, _ = run
    bad_t = cds.time.values[4]
    for name, how in (("msl", lambda x: x / 100), ("t", lambda x: x - 273.15),
                      ("2t", lambda x: x * np.nan)):
        bad = cds.copy(deep=True)
        bad[name].loc[{"time": bad_t}] = how(bad[name].sel(time=bad_t))
        source = BatchSource(bad, module, timedelta(hours=6))
        calls = []
        prepare = Preparer(module, check=lambda k, v, t, calls=calls: calls.append(
            (k, np.datetime64(t))))
        for sl in batch_slices(len(times), 2):
            prepare(source.read(times[sl]))
        assert calls == [(name, bad_t)]


@pytest.mark.parametrize("hooks", [False, True])
def test_lazy_steps_are_checked_as_read_with_the_users_message(tiny, hooks):
    """Lazy input read step by step (as ``xaurora embed`` reads a store): the ring (Aurora's
    own hooks, the check fused into its normalisation) and Aurora's per-batch preparation (a
    fine-tuned variant's hooks, raw checks) raise the same message, naming the time; a bad
    step that no analysis time uses is never read, so it raises nothing."""
    module = _as(_Hooked, tiny.module, seen_in=[]) if hooks else tiny.module
    model = xa.from_module(module, name="m", timestep=timedelta(hours=6))
    ds = xa.testing.synthetic_dataset(n_times=6)
    ds["2t"][3, 5, 7] = np.nan
    cds = canonicalize(ds.chunk(time=1), info=model.info)
    times = select_times(cds, model.timestep)
    with pytest.raises(XauroraError, match=r"2t: contains NaN.*'time': '2020-01-01T18:00'"):
        embed_values(cds, times, model, "encoder", check_values=True)
    got, _ = embed_values(cds, times[-1:], model, "encoder", check_values=True)  # steps 4, 5
    assert np.isfinite(got).all()
    ok = xa.testing.synthetic_dataset(n_times=6)
    hot = canonicalize(ok.assign(t=ok["t"] - 273.15).chunk(time=1), info=model.info)
    with pytest.raises(XauroraError, match=r"t: values at \d+ hPa average .*in kelvin"):
        embed_values(hot, times, model, "encoder", check_values=True)
    embed_values(hot, times, model, "encoder", check_values=False)  # skipped when asked


def test_in_memory_input_fails_before_the_model_runs(tiny):
    """In memory, every value is checked before anything runs: a NaN at the last time stops
    ``embed`` before the first input is prepared."""
    hooked = _as(_Hooked, tiny.module, seen_in=[])
    model = xa.from_module(hooked, name="m", timestep=timedelta(hours=6))
    ds = xa.testing.synthetic_dataset(n_times=6)
    ds["msl"][5, 0, 0] = np.inf
    with pytest.raises(XauroraError, match=r"msl: contains NaN or infinite"):
        xa.embed(ds, model)
    assert hooked.seen_in == []
