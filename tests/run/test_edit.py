"""Edits inside the forward pass and rollout latents, against hooks on Aurora called directly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from aurora import rollout

import xaurora as xa
from tests._aurora import direct_batch

pytestmark = pytest.mark.usefixtures("one_thread")

TARGET = xa.Target("msl", region=(0, 60, -30, 60))


def _direction(n=32, seed=3):
    rng = np.random.default_rng(seed)
    return xr.DataArray(rng.normal(size=n), dims="channel", coords={"channel": np.arange(n)})


def _direct_forecast(module, batch, hook):
    """Aurora called directly with a hand-written forward hook on the encoder."""
    h = module.encoder.register_forward_hook(hook)
    try:
        with torch.no_grad():
            return module(batch)
    finally:
        h.remove()


def _same(a: xr.Dataset, b: xr.Dataset) -> bool:
    return all(np.array_equal(a[v].values, b[v].values, equal_nan=True) for v in a)


def test_ablation_equals_a_hand_written_hook(tiny, small_ds):
    d = _direction()
    u = torch.tensor((d / np.linalg.norm(d)).values, dtype=torch.float32)

    def hook(_m, _a, out):  # (B, L·H·W, D): remove the component along u from every token
        return out - (out @ u)[..., None] * u

    fc = small_ds.aurora.forecast(tiny, edit=xa.edit.ablate(d, layer="encoder"))
    pred = _direct_forecast(tiny.module, direct_batch(small_ds, 2), hook)
    got = fc["msl"].isel(time=1, lead_time=0).values[:32]
    np.testing.assert_allclose(got, pred.surf_vars["msl"][0, 0].numpy(), rtol=1e-5, atol=1e-3)
    unedited = small_ds.aurora.forecast(tiny)["msl"].isel(time=1, lead_time=0).values[:32]
    assert np.abs(got - unedited).max() > 1.0  # the edit matters, so the match means something


def test_steer_on_a_box_at_one_level_equals_a_hand_written_hook(tiny, small_ds):
    d = _direction().expand_dims(level=["latent_2"])
    lat_c = small_ds.lat.values[:32].reshape(8, 4).mean(1)  # patch centres by hand
    lon_c = small_ds.lon.values.reshape(16, 4).mean(1)
    box = (lat_c[:, None] > 0) & (lon_c[None, :] < 90)
    where = xr.DataArray(box, dims=("lat", "lon"), coords={"lat": lat_c, "lon": lon_c})
    u = torch.tensor((d / np.linalg.norm(d)).values[0], dtype=torch.float32)

    def hook(_m, _a, out):
        y = out.reshape(1, 4, 8, 16, 32).clone()
        y[:, 2][:, torch.tensor(box)] += 5.0 * u  # level index 2 = latent_2
        return y.reshape(out.shape)

    edit = xa.edit.steer(d, 5.0, layer="encoder", where=where)
    fc = small_ds.aurora.forecast(tiny, edit=edit)
    pred = _direct_forecast(tiny.module, direct_batch(small_ds, 2), hook)
    np.testing.assert_allclose(fc["2t"].isel(time=1, lead_time=0).values[:32],
                               pred.surf_vars["2t"][0, 0].numpy(), rtol=1e-5, atol=1e-3)
    emb = small_ds.aurora.embed(tiny, edit=edit)  # captured after the edit, only on the box
    base = small_ds.aurora.embed(tiny)
    diff = (emb - base).isel(time=1)
    assert np.abs(diff.sel(level=["surface", "latent_1", "latent_3"])).max() == 0
    np.testing.assert_allclose(np.abs(diff.sel(level="latent_2")).sum("channel") > 0, box)


def test_ablation_leaves_no_component_along_the_direction(tiny, small_ds):
    d = small_ds.aurora.embed(tiny).isel(time=0).mean(("level", "lat", "lon"))
    u = d / np.sqrt((d ** 2).sum())
    before = (small_ds.aurora.embed(tiny) * u).sum("channel")
    after = (small_ds.aurora.embed(tiny, edit=xa.edit.ablate(d, "encoder")) * u).sum("channel")
    assert float(np.abs(before).mean()) > 0.5
    assert float(np.abs(after).max()) < 1e-5 * float(np.abs(before).max())


def test_edits_that_change_nothing_give_exactly_the_unedited_numbers(tiny, small_ds):
    d = _direction()
    none = xr.zeros_like(small_ds.aurora.embed(tiny).isel(time=0, level=0, channel=0),
                         dtype=bool)
    for edit in (xa.edit.steer(d, 0.0, "encoder"), xa.edit.zero("encoder", where=none),
                 xa.edit.steer(_direction(64), 0.0, "backbone")):
        assert _same(small_ds.aurora.forecast(tiny, steps=2, edit=edit),
                     small_ds.aurora.forecast(tiny, steps=2))
        assert np.array_equal(small_ds.aurora.embed(tiny, layer="backbone", edit=edit).values,
                              small_ds.aurora.embed(tiny, layer="backbone").values)
    rel = xa.attribution.relevance(small_ds, tiny, TARGET, edit=xa.edit.steer(d, 0.0, "encoder"))
    ref = xa.attribution.relevance(small_ds, tiny, TARGET)
    assert _same(rel, ref) and rel.attrs["target_value"] == ref.attrs["target_value"]


def test_edits_combine_in_list_order(tiny, small_ds):
    d = _direction()
    emb = small_ds.aurora.embed(tiny, edit=[xa.edit.zero("encoder"),
                                            xa.edit.steer(d, 2.0, "encoder")])
    u = (d / np.linalg.norm(d)).values
    np.testing.assert_allclose(emb.values, np.broadcast_to(2.0 * u, emb.shape), atol=1e-6)
    emb2 = small_ds.aurora.embed(tiny, edit=[xa.edit.steer(d, 2.0, "encoder"),
                                             xa.edit.zero("encoder")])
    assert np.abs(emb2.values).max() == 0


def test_patch_replaces_tokens_by_another_dates_embedding(tiny, small_ds):
    enc = small_ds.aurora.embed(tiny)
    src = enc.isel(time=0)  # no time: serves every analysis time

    def hook(_m, _a, out):
        return torch.tensor(src.values.reshape(1, -1, 32))

    fc = small_ds.aurora.forecast(tiny, edit=xa.edit.patch(src, "encoder"))
    pred = _direct_forecast(tiny.module, direct_batch(small_ds, 2), hook)
    np.testing.assert_allclose(fc["msl"].isel(time=1, lead_time=0).values[:32],
                               pred.surf_vars["msl"][0, 0].numpy(), rtol=1e-5, atol=1e-3)
    with pytest.raises(ValueError, match="source: has no embedding"):
        small_ds.aurora.embed(tiny, edit=xa.edit.patch(enc.isel(time=[0]), "encoder"))


def test_relevance_under_an_edit_explains_the_edited_forecast(tiny, small_ds):
    edit = xa.edit.ablate(_direction(), "encoder")
    t = small_ds.time.values[2]
    rel = small_ds.aurora.relevance(tiny, TARGET, time=t, method="gradxinput", edit=edit)
    fc = small_ds.aurora.forecast(tiny, edit=edit, time=t)["msl"].isel(time=0, lead_time=0)
    w = TARGET.weights(small_ds.lat.values, small_ds.lon.values, n_rows=32)
    assert rel.attrs["target_value"] == pytest.approx(float((fc.values[:32] * w).sum()),
                                                      rel=1e-5)
    assert rel.attrs["edit"] == "ablate(layer='encoder')"


def test_rollout_latents_equal_hooks_on_aurora_rollout(tiny, small_ds):
    emb = small_ds.aurora.embed(tiny, layer="backbone", steps=3)
    assert emb.dims == ("time", "lead_time", "level", "lat", "lon", "channel")
    assert emb.lead_time.values.tolist() == [np.timedelta64(h, "h").astype("timedelta64[ns]")
                                             for h in (0, 6, 12)]
    seen = []
    h = tiny.module.backbone.register_forward_hook(lambda m, a, o: seen.append(o.numpy()))
    try:
        with torch.no_grad():
            for _ in rollout(tiny.module, direct_batch(small_ds, 2), steps=3):
                pass
    finally:
        h.remove()
    for k in range(3):
        np.testing.assert_allclose(emb.isel(time=1, lead_time=k).values,
                                   seen[k].reshape(4, 8, 16, 64), rtol=1e-4, atol=1e-4)
    assert "lead_time" not in small_ds.aurora.embed(tiny, steps=1).dims


def test_rollout_latents_and_edits_stay_lazy_and_match_eager(tiny, small_ds, dask_counter):
    edit = xa.edit.ablate(_direction(), "encoder")
    eager = small_ds.aurora.embed(tiny, steps=2, edit=edit)
    with dask_counter(0):
        lazy = small_ds.chunk(time=2).aurora.embed(tiny, steps=2, edit=edit)
    assert lazy.chunks is not None and lazy.attrs["edit"] == eager.attrs["edit"]
    np.testing.assert_array_equal(lazy.compute(scheduler="threads").values, eager.values)


def test_edit_errors_say_what_to_do(tiny, small_ds):
    with pytest.raises(ValueError, match="direction: has 5 channels but layer 'encoder' has 32"):
        small_ds.aurora.embed(tiny, edit=xa.edit.ablate(_direction(5), "encoder"))
    bad = xr.DataArray(np.ones((3, 3), bool), dims=("lat", "lon"),
                       coords={"lat": [1.0, 2, 3], "lon": [1.0, 2, 3]})
    with pytest.raises(ValueError, match="where: its grid .* is not the layer's patch grid"):
        small_ds.aurora.forecast(tiny, edit=xa.edit.zero("encoder", where=bad))
    with pytest.raises(ValueError, match="edit: .* is not an edit"):
        small_ds.aurora.forecast(tiny, edit=["ablate"])
    with pytest.raises(ValueError, match="steps: must be ≥ 1"):
        small_ds.aurora.embed(tiny, steps=0)


def _identity_sae(levels, n_channel=32, joint=False, shift=100.0):
    """An SAE that reconstructs exactly (k = all features, encoder = decoder = I, b_dec far
    below the tokens so that ReLU keeps every coordinate)."""
    fdims = ("level", "channel") if joint else ("channel",)
    F = n_channel * (len(levels) if joint else 1)
    shape = (len(levels), n_channel) if joint else (n_channel,)
    coords = {"channel": np.arange(n_channel), "feature": np.arange(F)}
    if joint:
        coords["level"] = list(levels)
    eye = np.eye(F)
    return xr.Dataset(
        {"encoder": ((*fdims, "feature"), eye.reshape(*shape, F)),
         "b_enc": ("feature", np.zeros(F)),
         "decoder": (("feature", *fdims), eye.reshape(F, *shape)),
         "b_dec": (fdims, np.full(shape, -shift))},
        coords=coords, attrs={"k": F, "feature_dims": " ".join(fdims), "sample_dims": "time"})


def test_reconstruct_equals_a_hand_written_hook(tiny, small_ds):
    emb = small_ds.aurora.embed(tiny)
    surface = emb.sel(level="surface")  # a scalar level coordinate: not a restriction
    sae = xa.analysis.sae(surface, n_features=64, k=4, sample_dims=("time", "lat", "lon"),
                          steps=30, batch_size=64, seed=0)
    w_enc = torch.tensor(sae.encoder.transpose("channel", "feature").values, dtype=torch.float32)
    w_dec = torch.tensor(sae.decoder.transpose("feature", "channel").values, dtype=torch.float32)
    b_enc = torch.tensor(sae.b_enc.values, dtype=torch.float32)
    b_dec = torch.tensor(sae.b_dec.values, dtype=torch.float32)

    def hook(_m, _a, out):  # every token of every level through the SAE
        pre = (out - b_dec) @ w_enc + b_enc
        top = torch.topk(pre, 4, dim=-1)
        acts = torch.zeros_like(pre).scatter(-1, top.indices, torch.relu(top.values))
        return acts @ w_dec + b_dec

    fc = small_ds.aurora.forecast(tiny, edit=xa.edit.reconstruct(sae, "encoder"))
    pred = _direct_forecast(tiny.module, direct_batch(small_ds, 2), hook)
    got = fc["msl"].isel(time=1, lead_time=0).values[:32]
    np.testing.assert_allclose(got, pred.surf_vars["msl"][0, 0].numpy(), rtol=1e-5, atol=1e-3)
    unedited = small_ds.aurora.forecast(tiny)["msl"].isel(time=1, lead_time=0).values[:32]
    assert np.abs(got - unedited).max() > 1.0  # a 4-sparse code of a barely trained SAE: lossy
    assert "reconstruct(layer='encoder', sae=64 features, k=4)" in fc.attrs["edit"]


@pytest.mark.parametrize("joint", [False, True])
def test_a_perfect_sae_spliced_in_changes_nothing(tiny, small_ds, joint):
    levels = small_ds.aurora.embed(tiny).level.values
    fc = small_ds.aurora.forecast(tiny, edit=xa.edit.reconstruct(
        _identity_sae(levels, joint=joint), "encoder"))
    plain = small_ds.aurora.forecast(tiny)
    for v in ("msl", "2t"):
        np.testing.assert_allclose(fc[v].values, plain[v].values, rtol=1e-4, atol=1e-3)
    # the joint SAE's level order is the layer's: reversing its levels swaps what it rebuilds
    if joint:
        swapped = _identity_sae(levels, joint=True)
        swapped["decoder"] = swapped.decoder.copy(data=swapped.decoder.values[
            np.roll(np.arange(swapped.sizes["feature"]), 32)])
        moved = small_ds.aurora.forecast(tiny, edit=xa.edit.reconstruct(swapped, "encoder"))
        assert np.abs(moved["msl"].values - plain["msl"].values)[np.isfinite(
            plain["msl"].values)].max() > 1.0


def test_reconstruct_errors_say_what_to_do(tiny, small_ds):
    levels = small_ds.aurora.embed(tiny).level.values
    narrow = _identity_sae(levels, n_channel=8)
    with pytest.raises(xa.XauroraError, match="8 channels but layer 'encoder' has 32"):
        small_ds.aurora.forecast(tiny, edit=xa.edit.reconstruct(narrow, "encoder"))
    with pytest.raises(xa.XauroraError, match="xa.analysis.sae"):
        xa.edit.reconstruct(xr.Dataset(), "encoder")


def test_steer_over_two_levels_adds_one_unit_vector(tiny, small_ds):
    d = xr.concat([_direction(seed=1), 3 * _direction(seed=2)], dim="level").assign_coords(
        level=["latent_1", "latent_2"])
    base = small_ds.aurora.embed(tiny)
    steered = small_ds.aurora.embed(tiny, edit=xa.edit.steer(d, 2.0, "encoder"))
    added = (steered - base).isel(time=0, lat=0, lon=0).sel(level=["latent_1", "latent_2"])
    total = float(np.sqrt((added**2).sum()))
    assert total == pytest.approx(2.0, rel=1e-4)  # alpha × one unit vector over both levels
    np.testing.assert_allclose(added.values, 2.0 * (d / np.sqrt((d**2).sum())).values,
                               rtol=1e-3, atol=1e-4)
