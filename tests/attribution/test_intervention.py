"""intervention_test and amnesic probing: no signal gives ≈ 1, a planted dependency more."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import xarray as xr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import cross_val_predict

import xaurora as xa
from xaurora.attribution import amnesic_probe, inlp, intervention_test
from xaurora.attribution.intervention import random_edit
from xaurora.models.loading import AuroraModel

pytestmark = pytest.mark.usefixtures("one_thread")

TARGET = xa.Target("msl", region=(0, 60, -30, 60))


@pytest.fixture(scope="module")
def ds():
    return xa.testing.synthetic_dataset(n_lat=17, n_lon=32, n_times=3, levels=(500, 850))


def _unit(k: int, n: int = 32) -> xr.DataArray:
    return xr.DataArray(np.eye(n)[k], dims="channel")


def _planted(tiny) -> AuroraModel:
    """tiny, with the lead-time embedding writing a large constant (200) into channel 7 of every
    token."""
    module = copy.deepcopy(tiny.module)
    module.encoder.lead_time_embed.weight.data[7] *= 0
    module.encoder.lead_time_embed.bias.data[7] = 200.0
    return AuroraModel(tiny.spec, module=module)


def test_random_directions_give_a_ratio_near_one(tiny, ds):
    rng = np.random.default_rng(123)
    ratios = []
    for _ in range(5):
        d = xr.DataArray(rng.normal(size=32), dims="channel")
        res = intervention_test(ds, tiny, xa.edit.ablate(d, "encoder"), TARGET, n_random=20)
        ratios.append(float(res.ratio))
    assert 0.6 < np.median(ratios) < 1.6, ratios


def test_a_planted_dependency_gives_a_large_ratio(tiny, ds):
    # the backbone's normalisations (and the forecast) hinge on the planted channel
    planted = _planted(tiny)
    edit = xa.edit.ablate(_unit(7), "encoder")
    res = intervention_test(ds, planted, edit, TARGET, n_random=20)
    plain = intervention_test(ds, tiny, edit, TARGET, n_random=20)
    assert float(res.ratio_low) > 3.0, float(res.ratio)
    assert float(res.ratio) > 2 * float(plain.ratio)
    # the change map is the edited minus unedited forecast of the target variable
    fc0 = xa.forecast(ds, planted, time=ds.time.values[1])
    fc1 = xa.forecast(ds, planted, time=ds.time.values[1], edit=edit)
    want = (fc1["msl"] - fc0["msl"]).isel(time=0, lead_time=0)
    np.testing.assert_allclose(res.change_map.values, want.values, rtol=1e-4, atol=1e-2)
    w = TARGET.weights(ds.lat.values, ds.lon.values, n_rows=16)
    assert float(res.effect) == pytest.approx(
        float(np.sqrt((w * want.values[:16] ** 2).sum())), rel=1e-4)


def test_random_token_sets_have_the_same_size_per_level(tiny, ds):
    from xaurora.io.canonical import canonicalize
    from xaurora.run.tokens import layer_layout

    layout = layer_layout(canonicalize(ds), tiny, "encoder")
    emb = ds.aurora.embed(tiny).isel(time=0, channel=0, drop=True)
    where = ((emb.lat > 30) & (emb.level == "latent_1")).broadcast_like(emb)
    rng = np.random.default_rng(0)
    for _ in range(3):
        e = random_edit(xa.edit.zero("encoder", where=where), rng, layout)
        assert e.where.sum(("lat", "lon")).values.tolist() == \
            where.sum(("lat", "lon")).transpose("level").values.tolist()
    res = ds.aurora.intervention_test(tiny, xa.edit.zero("encoder", where=where), TARGET,
                                      n_random=5)
    assert res.effect_random.sizes["draw"] == 5 and float(res.effect) > 0


def test_inlp_reaches_chance_on_planted_linear_labels():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1200, 10))
    y = (X[:, 0] - 2 * X[:, 3] + 0.5 * X[:, 5] > 0).astype(int)
    Q, acc = inlp(X, y)
    assert acc[0] > 0.9 and acc[-1] <= 0.52
    np.testing.assert_allclose(Q @ Q.T, np.eye(len(Q)), atol=1e-10)
    # an independent probe, cross-validated on the projected data, is at chance too
    Xp = X - X @ Q.T @ Q
    pred = cross_val_predict(LogisticRegression(max_iter=2000), Xp, y, cv=5)
    assert balanced_accuracy_score(y, pred) < 0.56
    # no signal: already at chance, nothing removed
    Q0, acc0 = inlp(X, rng.integers(0, 2, 1200))
    assert Q0.shape[0] == 0 and acc0[0] < 0.56


def test_amnesic_probe_in_one_call(tiny, ds):
    labels = xa.labels.land_sea(ds)
    res = ds.aurora.amnesic_probe(tiny, labels, TARGET, n_random=4, max_iter=8)
    assert res.probe_accuracy.dims == ("iteration",)
    assert float(res.probe_accuracy[0]) > 0.7
    assert res.directions.sizes["component"] == res.attrs["n_directions"] >= 1
    assert res.effect_random.sizes["draw"] == 4
    assert {"skill_change", "skill_change_random", "change_map"} <= set(res.data_vars)
    same = amnesic_probe(ds, tiny, labels, TARGET, n_random=4, max_iter=8)
    xr.testing.assert_identical(res, same)


def _patch_edit(ds, tiny, t, cols=slice(2, 3)):
    """patch: the source is the layer itself, except +5 on the surface tokens (row 1, ``cols``);
    the edit patches token (1, 2). Patching any other token writes its own value back."""
    emb = ds.aurora.embed(tiny).sel(time=t)
    src = emb.copy(data=emb.values.copy())
    src.values[0, 1, cols] += 5.0
    where = xr.zeros_like(emb.isel(channel=0, drop=True), dtype=bool)
    where[0, 1, 2] = True
    return xa.edit.patch(src, "encoder", where=where), emb


def test_random_edits_that_never_change_the_target_give_inf_bounds_not_nan(tiny, ds):
    t = ds.time.values[1]
    edit, emb = _patch_edit(ds, tiny, t)
    res = intervention_test(ds, tiny, edit, TARGET, time=t, n_random=5)
    assert float(res.effect) > 0 and (res.effect_random == 0).all()
    assert [float(res[v]) for v in ("ratio", "ratio_low", "ratio_high")] == [np.inf] * 3
    assert "never changed the target" in res.ratio_high.attrs["note"]
    # a row of 8 changed tokens: some random edits hit it, resamples of only misses remain
    edit, _ = _patch_edit(ds, tiny, t, cols=slice(None))
    res = intervention_test(ds, tiny, edit, TARGET, time=t, n_random=8, seed=0)
    rand = res.effect_random.values
    assert (rand == 0).any() and (rand > 0).any()
    assert np.isfinite(float(res.ratio)) and np.isfinite(float(res.ratio_low))
    assert float(res.ratio_low) <= float(res.ratio) and np.isposinf(float(res.ratio_high))
    # the same tokens written back: nothing changes, 0/0 is NaN with the reason
    same = intervention_test(ds, tiny, xa.edit.patch(emb, "encoder", where=edit.where), TARGET,
                             time=t, n_random=3)
    assert float(same.effect) == 0 and np.isnan(float(same.ratio_high))
    assert "0/0" in same.ratio.attrs["note"] and "0/0" in same.ratio_low.attrs["note"]


def test_a_planted_direction_beats_the_other_directions(tiny, ds):
    planted = _planted(tiny)
    others = xr.DataArray(np.eye(32)[[0, 3, 7, 12, 20]], dims=("feature", "channel"),
                          coords={"feature": [0, 3, 7, 12, 20]})
    edit = xa.edit.ablate(_unit(7), "encoder")
    res = intervention_test(ds, planted, edit, TARGET, n_random=4, others=others)
    # its own direction (feature 7) is left out; the rest are channels the model barely uses
    assert res.effect_others.dims == ("feature",)
    assert res.feature.values.tolist() == [0, 3, 12, 20]
    assert float(res.rank_others) == 1.0 and float(res.ratio_others_low) > 3.0
    # each other effect is the effect of that edit tested on its own
    for f in (3, 20):
        alone = intervention_test(ds, planted, xa.edit.ablate(_unit(f), "encoder"), TARGET,
                                  n_random=1)
        assert float(res.effect_others.sel(feature=f)) == pytest.approx(float(alone.effect),
                                                                        rel=1e-12)
    # the fields of the test without others are unchanged by asking for them
    plain = intervention_test(ds, planted, edit, TARGET, n_random=4)
    xr.testing.assert_identical(res[list(plain.data_vars)], plain)
    # a steer edit along an other direction keeps alpha and where; n_others draws, seeded
    steer = xa.edit.steer(_unit(7), 3.0, "encoder")
    some = intervention_test(ds, planted, steer, TARGET, n_random=2, others=others, n_others=2)
    again = intervention_test(ds, planted, steer, TARGET, n_random=2, others=others, n_others=2)
    assert some.sizes["feature"] == 2 and 7 not in some.feature.values
    xr.testing.assert_identical(some, again)
    f = int(some.feature[0])
    alone = intervention_test(ds, planted, xa.edit.steer(_unit(f), 3.0, "encoder"), TARGET,
                              n_random=1)
    assert float(some.effect_others.sel(feature=f)) == pytest.approx(float(alone.effect),
                                                                     rel=1e-12)


def test_others_name_what_is_wrong(tiny, ds):
    others = xr.DataArray(np.eye(32), dims=("feature", "channel"))
    with pytest.raises(xa.XauroraError, match="one ablate or steer edit"):
        intervention_test(ds, tiny, xa.edit.zero("encoder"), TARGET, n_random=1, others=others)
    with pytest.raises(xa.XauroraError, match="one more to list"):
        intervention_test(ds, tiny, xa.edit.ablate(_unit(1), "encoder"), TARGET, n_random=1,
                          others=others.rename(channel="c"))
    with pytest.raises(xa.XauroraError, match="differs from the edit's own"):
        intervention_test(ds, tiny, xa.edit.ablate(_unit(1), "encoder"), TARGET, n_random=1,
                          others=others.isel(feature=[1]) * 2)
