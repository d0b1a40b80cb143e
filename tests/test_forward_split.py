"""Aurora's pass split at the encoder: the prepared input is what the encoder gets inside
``module(batch)`` (bit for bit, hooks, clamps and edits included), the preparation runs in the
reading thread, and a module with its own ``forward`` is never split."""

from __future__ import annotations

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
from xaurora import pipeline
from xaurora.batch import select_times
from xaurora.embedding import embed_values
from xaurora.errors import XauroraError
from xaurora.grid import patch_centres
from xaurora.hooks import capture
from xaurora.io.canonical import canonicalize
from xaurora.models.forward import encoder_input, run_encoder, splits


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
    batch = pipeline.BatchSource(cds, tiny.module, tiny.timestep).read(times[:2])
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
    one = pipeline.BatchSource(cds, own, model.timestep).read(times[:1])
    whole = capture(own, one, "encoder").numpy()
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
    want = threading.current_thread().name if prefetch == 0 else pipeline.THREAD_NAME
    assert hooked.seen_in == [want] * len(times)
    for i, t in enumerate(times):  # and the values are the whole pass's
        b = pipeline.BatchSource(cds, hooked, model.timestep).read([t])
        np.testing.assert_array_equal(got[i].reshape(-1), capture(hooked, b, "encoder")
                                      .numpy().reshape(-1))


def test_a_prepared_input_stops_at_the_encoder(tiny, setup):
    _, _, batch = setup
    with pytest.raises(XauroraError, match="runs after the encoder"):
        capture(tiny.module, encoder_input(tiny.module, batch), "backbone")
