"""probe: finds planted linear labels, gives chance on noise, metrics equal scikit-learn's."""

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from xaurora.analysis.probe import probe
from xaurora.grids.patches import patch_centres

IN_LAT, IN_LON = np.linspace(90, -90, 33), np.arange(64) * 5.625  # input grid, patch 4
LAT, LON = patch_centres(IN_LAT, IN_LON, 4)  # 8 x 16 patches


def _emb(n_time=3, n_channel=12, seed=0, level=False):
    rng = np.random.default_rng(seed)
    dims = ("time", "lat", "lon", "channel")
    shape = (n_time, LAT.size, LON.size, n_channel)
    coords = {"time": np.datetime64("2020-01-01T06") + np.arange(n_time) * np.timedelta64(6, "h"),
              "lat": LAT, "lon": LON, "channel": np.arange(n_channel)}
    if level:
        dims = ("time", "level", "lat", "lon", "channel")
        shape = (n_time, 2, LAT.size, LON.size, n_channel)
        coords["level"] = ["surface", "latent_1"]
    return xr.DataArray(rng.normal(size=shape).astype("float32"), dims=dims, coords=coords,
                        name="embedding", attrs={"patch_size": 4, "model": "tiny",
                                                 "layer": "encoder"})


def _linear_label(emb, seed=1):
    w = np.random.default_rng(seed).normal(size=emb.sizes["channel"])
    score = xr.dot(emb, xr.DataArray(w, dims="channel"), dim="channel")
    return (score > 0).astype(float).rename("planted")


@pytest.mark.parametrize("split", ["random", ("lon", 120, 210), ("time", "2020-01-02T06",
                                                                   "2020-01-02T12")])
def test_planted_linear_label_is_found(split):
    emb = _emb(n_time=6)
    res = probe(emb, _linear_label(emb), split=split)
    assert float(res.accuracy) >= 0.95
    assert float(res.balanced_accuracy) >= 0.95 and float(res.roc_auc) >= 0.98
    for name in ("label", "prediction", "probability", "is_test", "is_train", "error"):
        assert res[name].dims == ("time", "lat", "lon"), name
    assert res.coef.dims == ("channel",)
    assert res.lat.attrs["units"] == "degrees_north"
    assert res.attrs["task"] == "classification" and res.attrs["model"] == "tiny"


def test_shuffled_labels_give_chance():
    emb = _emb(n_time=16)
    rng = np.random.default_rng(5)
    labels = _linear_label(emb).copy(data=rng.permutation(_linear_label(emb).values.ravel())
                                     .reshape(emb.shape[:3]))
    res = probe(emb, labels)
    # 512 test patches: the standard error of the balanced accuracy is ~0.022
    assert abs(float(res.balanced_accuracy) - 0.5) < 0.08
    assert abs(float(res.roc_auc) - 0.5) < 0.08


def test_metrics_equal_sklearn_on_same_predictions_and_same_fit():
    emb = _emb()
    labels = _linear_label(emb)
    labels = labels.where(np.random.default_rng(2).random(labels.shape) > 0.1, 1 - labels)
    res = probe(emb, labels, split=("lon", 120, 210))
    t = res.is_test.values.ravel()
    y, p, s = (res[v].values.ravel()[t] for v in ("label", "prediction", "probability"))
    assert float(res.accuracy) == pytest.approx(skm.accuracy_score(y, p))
    assert float(res.balanced_accuracy) == pytest.approx(skm.balanced_accuracy_score(y, p))
    assert float(res.precision) == pytest.approx(skm.precision_score(y, p))
    assert float(res.recall) == pytest.approx(skm.recall_score(y, p))
    assert float(res.f1) == pytest.approx(skm.f1_score(y, p))
    assert float(res.roc_auc) == pytest.approx(skm.roc_auc_score(y, s))
    assert float(res.accuracy) < 0.97  # the 10 % flipped labels show up
    # the same model fitted with scikit-learn directly on the same train patches
    X = emb.values.reshape(-1, emb.sizes["channel"])
    train = res.is_train.values.ravel()
    ref = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    ref.fit(X[train], labels.values.ravel()[train].astype(int))
    np.testing.assert_array_equal(res.prediction.values.ravel(), ref.predict(X))
    np.testing.assert_allclose(res.probability.values.ravel(), ref.predict_proba(X)[:, 1],
                               rtol=1e-6)
    np.testing.assert_allclose(res.coef.values, ref[-1].coef_[0], rtol=1e-6)
    err = res.error.values.ravel()
    np.testing.assert_array_equal(err, (ref.predict(X) != labels.values.ravel()).astype(float))
    assert int(res.n_test) == t.sum() and int(res.n_train) == train.sum()


def test_lon_band_is_the_test_set_and_may_cross_zero():
    emb = _emb()
    res = probe(emb, _linear_label(emb), split=("lon", 120, 210))
    in_band = (LON >= 120) & (LON <= 210)
    np.testing.assert_array_equal(res.is_test.isel(time=0, lat=0).values, in_band)
    res = probe(emb, _linear_label(emb), split=("lon", -30, 30))
    crossing = (LON >= 330) | (LON <= 30)
    np.testing.assert_array_equal(res.is_test.isel(time=1, lat=3).values, crossing)
    same = probe(emb, _linear_label(emb), split=("lon", 330, 30))
    np.testing.assert_array_equal(same.is_test, res.is_test)
    east = probe(emb, _linear_label(emb), split=("lon", 300, 360))
    np.testing.assert_array_equal(east.is_test.isel(time=0, lat=0).values, LON >= 300)
    assert not (res.is_test & res.is_train).any()


def test_random_split_is_stratified_and_seeded():
    emb = _emb(n_time=4)
    labels = _linear_label(emb)
    a = probe(emb, labels, seed=3, test_size=0.3)
    b = probe(emb, labels, seed=3, test_size=0.3)
    c = probe(emb, labels, seed=4, test_size=0.3)
    np.testing.assert_array_equal(a.is_test, b.is_test)
    assert (a.is_test != c.is_test).any()
    assert int(a.n_test) == pytest.approx(0.3 * labels.size, abs=1)
    frac_all = float(labels.mean())
    frac_test = float(labels.where(a.is_test).mean())
    assert frac_test == pytest.approx(frac_all, abs=0.01)


def test_time_and_mask_splits_and_nan_labels():
    emb = _emb()
    labels = _linear_label(emb)
    res = probe(emb, labels, split=("time", "2020-01-01T18", "2020-01-01T18"))
    np.testing.assert_array_equal(res.is_test.any(("lat", "lon")).values, [False, False, True])
    south = xr.DataArray(LAT < 0, dims="lat", coords={"lat": LAT})
    east = xr.DataArray(LON < 180, dims="lon", coords={"lon": LON})
    mask = (south & east).transpose("lat", "lon")
    res = probe(emb, labels, split=mask)
    np.testing.assert_array_equal(res.is_test.isel(time=0).values, mask.values)
    holey = labels.where(labels.lon > 100)
    res = probe(emb, holey)
    assert not (res.is_test | res.is_train).sel(lon=slice(0, 100)).any()
    assert np.isnan(res.error.sel(lon=slice(0, 100))).all()
    assert np.isfinite(res.prediction).all()  # still predicted everywhere


def test_native_grid_labels_reduce_exactly():
    emb = _emb()
    rng = np.random.default_rng(7)
    frac = rng.random((IN_LAT.size, IN_LON.size))
    native = xr.DataArray(frac, dims=("latitude", "longitude"),
                          coords={"latitude": IN_LAT, "longitude": IN_LON})
    # patch mean after dropping the extra 33rd row, then > 0.5
    expected = frac[:32].reshape(8, 4, 16, 4).mean(axis=(1, 3)) > 0.5
    res = probe(emb, native)
    np.testing.assert_array_equal(res.label.isel(time=2).values, expected.astype(float))
    # same labels stored latitude-ascending with longitudes in [-180, 180)
    flipped = native.isel(latitude=slice(None, None, -1))
    flipped = flipped.assign_coords(longitude=((flipped.longitude + 180) % 360) - 180)
    flipped = flipped.sortby("longitude")
    res2 = probe(emb, flipped)
    np.testing.assert_array_equal(res2.label.values, res.label.values)
    reg = probe(emb, native, task="regression")
    np.testing.assert_allclose(reg.label.isel(time=0).values,
                               frac[:32].reshape(8, 4, 16, 4).mean(axis=(1, 3)))


def test_labels_with_time_are_matched_to_embedding_times():
    emb = _emb()
    labels = _linear_label(emb)
    more = xr.concat([labels, labels.isel(time=[0]).assign_coords(
        time=[np.datetime64("2021-01-01")])], "time").isel(time=[3, 2, 1, 0])
    res = probe(emb, more.rename(time="valid_time"))
    np.testing.assert_array_equal(res.label.values, labels.values)
    with pytest.raises(ValueError, match="lacks 1 of the embedding's times.*Fix"):
        probe(emb, labels.isel(time=[0, 1]))


def test_regression_planted_signal_and_metrics():
    emb = _emb()
    w = np.random.default_rng(1).normal(size=12)
    target = xr.dot(emb, xr.DataArray(w, dims="channel"), dim="channel") * 3 + 280
    target = target + 0.05 * np.random.default_rng(2).normal(size=target.shape)
    res = probe(emb, target, task="regression", split=("lon", 120, 210))
    assert float(res.r2) > 0.99 and "probability" not in res
    t = res.is_test.values.ravel()
    y, p = res.label.values.ravel()[t], res.prediction.values.ravel()[t]
    assert float(res.r2) == pytest.approx(skm.r2_score(y, p))
    assert float(res.rmse) == pytest.approx(np.sqrt(np.mean((y - p) ** 2)))
    np.testing.assert_allclose(res.error.values, res.prediction.values - res.label.values)


def test_levels_are_features_and_dask_input_is_accepted():
    emb = _emb(level=True)
    labels = _linear_label(emb.isel(level=1, drop=True))
    res = probe(emb.chunk({"time": 1}), labels)
    assert res.coef.dims == ("level", "channel")
    assert float(res.accuracy) > 0.93
    # the informative level carries the weight
    assert float(abs(res.coef.sel(level="latent_1")).sum()) > 3 * float(
        abs(res.coef.sel(level="surface")).sum())


def test_class_weight_balanced_raises_recall_of_rare_class():
    emb = _emb(n_time=4)
    score = emb.isel(channel=0) + 0.8 * emb.isel(channel=1)
    rare = (score > float(score.quantile(0.93))).astype(float)
    noisy = emb.copy(data=emb.values + np.random.default_rng(0).normal(size=emb.shape) * 1.5)
    plain = probe(noisy, rare)
    bal = probe(noisy, rare, class_weight="balanced")
    assert float(bal.recall) > float(plain.recall)
    assert "balanced" in bal.attrs["estimator"]


def test_actionable_errors():
    emb = _emb()
    labels = _linear_label(emb)
    bad_grid = xr.DataArray(np.zeros((10, 20)), dims=("lat", "lon"),
                            coords={"lat": np.linspace(80, -80, 10), "lon": np.arange(20.0)})
    with pytest.raises(ValueError, match="neither the embedding's patch grid.*Fix: regrid"):
        probe(emb, bad_grid)
    one_class = labels.where(labels.lon < 100, 0.0)
    with pytest.raises(ValueError, match="test set has a single class.*Fix"):
        probe(emb, one_class, split=("lon", 120, 210))
    with pytest.raises(ValueError, match=r"has dim\(s\) \['quantile'\].*Fix"):
        probe(emb, labels.expand_dims(quantile=[0.9, 0.99]))
    with pytest.raises(ValueError, match="not understood"):
        probe(emb, labels, split="lon")
    with pytest.raises(TypeError, match="unexpected option"):
        probe(emb, labels, penalty="l1")
    with pytest.raises(ValueError, match="leaves .* training and 0 test"):
        probe(emb, labels, split=("lon", 400.5, 400.6))
    with pytest.raises(ValueError, match="task="):
        probe(emb, labels, task="clustering")


def test_dask_labels_on_input_grid():
    emb = _emb()
    native = xr.DataArray(dsa.random.random((33, 64), chunks=(11, 32)), dims=("lat", "lon"),
                          coords={"lat": IN_LAT, "lon": IN_LON})
    res = probe(emb, native)
    expected = native.values[:32].reshape(8, 4, 16, 4).mean(axis=(1, 3)) > 0.5
    np.testing.assert_array_equal(res.label.isel(time=0).values, expected)
