"""top_activations finds each feature's strongest samples (one pass, = a full sort);
match_features gives the planted feature AUC ≈ 1, noise ≈ 0.5, and a control column."""

import numpy as np
import pytest
import xarray as xr
from sklearn.metrics import roc_auc_score

from tests._dask import raise_if_dask_computes
from xaurora.analysis.features import match_features, top_activations
from xaurora.errors import XauroraError

LAT, LON = np.linspace(80, -80, 8), np.arange(16) * 22.5


def _acts(seed=0, n_time=5, n_feat=6, density=0.3):
    rng = np.random.default_rng(seed)
    vals = rng.exponential(size=(n_time, 8, 16, n_feat)) * (rng.random((n_time, 8, 16, n_feat))
                                                              < density)
    vals[..., -1] = 0.0  # a dead feature
    return xr.DataArray(vals.astype(np.float32), dims=("time", "lat", "lon", "feature"),
                        coords={"time": np.arange(n_time).astype("datetime64[D]"),
                                "lat": LAT, "lon": LON, "feature": np.arange(n_feat)})


@pytest.mark.parametrize("lazy", [False, True])
def test_top_activations_equal_a_full_sort(lazy):
    acts = _acts()
    src = acts.chunk(time=2, lat=4) if lazy else acts
    with raise_if_dask_computes(max_computes=1):
        top = top_activations(src, n=7)
    assert top.activation.dims == ("feature", "rank") and top["rank"].values.tolist() == list(
        range(1, 8))
    flat = acts.stack(s=("time", "lat", "lon"))
    for f in range(5):
        col = flat.sel(feature=f)
        order = np.argsort(-col.values, kind="stable")[:7]
        np.testing.assert_allclose(top.activation.sel(feature=f), col.values[order])
        np.testing.assert_array_equal(top.lat.sel(feature=f), col.lat.values[order])
        np.testing.assert_array_equal(top.time.sel(feature=f), col.time.values[order])
    dead = top.sel(feature=5)
    assert (dead.activation == 0).all() and dead.lat.isnull().all() and dead.time.isnull().all()


def _labelled(seed=0):
    acts = _acts(seed=seed, density=0.5)
    rng = np.random.default_rng(seed + 1)
    label = xr.DataArray((rng.random((8, 16)) < 0.4).astype(float), dims=("lat", "lon"),
                         coords={"lat": LAT, "lon": LON})
    planted = label.broadcast_like(acts.isel(feature=0)) * 3.0 + rng.random(acts.shape[:3])
    acts = acts.copy()
    acts[..., 2] = planted.transpose("time", "lat", "lon").values
    return acts, label


def test_a_planted_feature_matches_its_label_and_noise_does_not():
    acts, label = _labelled()
    m = match_features(acts, label)
    assert m.attrs["best_feature"] == 2 and m.attrs["best_roc_auc"] > 0.99
    others = m.roc_auc.drop_sel(feature=[2, 5])
    assert (abs(others - 0.5) < 0.1).all()
    assert float(m.roc_auc.sel(feature=5)) == 0.5  # never active
    # scikit-learn's exact AUC, feature by feature, lies within the binning's stated bound
    y = label.broadcast_like(acts.isel(feature=0)).values.ravel()
    exact = np.array([roc_auc_score(y, acts.isel(feature=f).values.ravel())
                      for f in range(acts.sizes["feature"])])
    assert (np.abs(m.roc_auc.values - exact) <= m.roc_auc_bound.values + 1e-12).all()
    assert 0 < m.roc_auc_bound.max() < 1e-3 and float(m.roc_auc_bound.sel(feature=5)) == 0
    # finer bins: a tighter bound, still kept (two values 4.4e-6 apart share a bin here)
    fine = match_features(acts, label, bins=2**18)
    assert (np.abs(fine.roc_auc.values - exact) <= fine.roc_auc_bound.values + 1e-12).all()
    assert fine.roc_auc_bound.max() < 1e-5


def test_out_of_core_equals_in_memory_and_reads_blocks():
    acts, label = _labelled()
    m = match_features(acts, label)
    lazy = match_features(acts.chunk(time=1, lat=4), label.chunk(lat=3))
    xr.testing.assert_allclose(m, lazy, rtol=0, atol=1e-12)
    assert m.attrs == lazy.attrs


def test_the_control_column_and_mismatched_samples():
    acts, label = _labelled()
    control, _ = _labelled(seed=9)
    control = control.copy(data=np.random.default_rng(3).permutation(control.values.ravel())
                           .reshape(control.shape))
    m = match_features(acts, label, control=control)
    assert m.roc_auc_control.dims == ("feature_control",)
    assert m.attrs["control_best_roc_auc"] < 0.7 < m.attrs["best_roc_auc"]
    # only the planted feature beats the control's best
    assert m.beats_control.dims == ("feature",) and m.attrs["n_beat_control"] == 1
    assert m.feature[m.beats_control].values.tolist() == [2]
    same = match_features(acts, label, control=acts)  # a control as good: nothing beats it
    assert not same.beats_control.any() and same.attrs["n_beat_control"] == 0
    with pytest.raises(XauroraError, match="samples differ"):
        match_features(acts, label, control=control.isel(time=slice(0, 2)))
    with pytest.raises(XauroraError, match="one class"):
        match_features(acts, xr.zeros_like(label))


def test_negative_scores_are_ranked_and_non_finite_ones_named():
    # PCA scores (negative too) as "features": each AUC within its bound of scikit-learn's
    acts, label = _labelled()
    rng = np.random.default_rng(4)
    signed = acts.copy(data=rng.normal(size=acts.shape) - 0.3)
    signed[..., 2] = acts[..., 2] - 2.0  # the planted one, shifted below 0
    m = match_features(signed, label)
    y = label.broadcast_like(acts.isel(feature=0)).values.ravel()
    exact = np.array([roc_auc_score(y, signed.isel(feature=f).values.ravel())
                      for f in range(signed.sizes["feature"])])
    assert (np.abs(m.roc_auc.values - exact) <= m.roc_auc_bound.values + 1e-12).all()
    assert m.roc_auc_bound.max() < 2e-3 and m.attrs["best_feature"] == 2
    with pytest.raises(XauroraError, match="NaN or infinite activations"):
        match_features(signed.where(signed.time != signed.time[0]), label)
