"""probe on Dask input: fitted over the chunks with scikit-learn's objectives (coefficients to
1e-3, test metrics to 3 decimals), the result maps lazy, the data never stacked whole."""

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests._dask import raise_if_dask_computes
from xaurora.analysis import chunked
from xaurora.analysis.probe import probe
from xaurora.grids.patches import patch_centres

LAT, LON = patch_centres(np.linspace(90, -90, 33), np.arange(64) * 5.625, 4)  # 8 x 16 patches
METRICS = {"classification": ("accuracy", "balanced_accuracy", "precision", "recall", "f1",
                              "roc_auc"), "regression": ("r2", "rmse")}


def _emb(n_time=6, n_channel=10, seed=0, offset=40.0):
    rng = np.random.default_rng(seed)
    vals = rng.normal(size=(n_time, LAT.size, LON.size, n_channel)) * rng.uniform(
        0.5, 3.0, n_channel) + offset
    coords = {"time": np.datetime64("2020-01-01T06") + np.arange(n_time) * np.timedelta64(6, "h"),
              "lat": LAT, "lon": LON, "channel": np.arange(n_channel)}
    return xr.DataArray(vals.astype("float32"), dims=("time", "lat", "lon", "channel"),
                        coords=coords, name="embedding", attrs={"patch_size": 4})


def _labels(emb, task, seed=1, noise=1.0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=emb.sizes["channel"])
    score = xr.dot(emb - emb.mean(("time", "lat", "lon")), xr.DataArray(w, dims="channel"),
                   dim="channel")
    score = score + noise * rng.normal(size=score.shape)
    return (score > 0).astype(float).rename("planted") if task == "classification" else score


def _sklearn(emb, res, task, **kw):
    X = emb.transpose("time", "lat", "lon", "channel").values.reshape(-1, emb.sizes["channel"])
    train = res.is_train.values.ravel()
    y = res.label.values.ravel()
    est = (LogisticRegression(**kw) if task == "classification" else Ridge(**kw))
    return make_pipeline(StandardScaler(), est).fit(X[train], y[train])


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("chunks", [{"time": 1}, {"time": 2, "lat": 3, "lon": 5}])
def test_dask_input_equals_sklearn(task, chunks):
    emb = _emb()
    labels = _labels(emb, task)
    lazy = probe(emb.chunk(chunks), labels, task=task, split=("lon", 120, 210), n_boot=200)
    ref_fit = _sklearn(emb, lazy, task)
    np.testing.assert_allclose(lazy.coef.values, np.ravel(ref_fit[-1].coef_), rtol=1e-3,
                               atol=1e-3 * np.abs(ref_fit[-1].coef_).max())
    assert float(lazy.intercept) == pytest.approx(float(np.ravel(ref_fit[-1].intercept_)[0]),
                                                  rel=1e-3, abs=1e-4)
    eager = probe(emb, labels, task=task, split=("lon", 120, 210), n_boot=200)
    for m in METRICS[task]:
        assert float(lazy[m]) == pytest.approx(float(eager[m]), abs=5e-4), m
        assert float(lazy[f"{m}_low"]) == pytest.approx(float(eager[f"{m}_low"]), abs=5e-3), m
    np.testing.assert_array_equal(lazy.is_test, eager.is_test)
    np.testing.assert_allclose(lazy.prediction.compute(), eager.prediction, rtol=1e-3, atol=1e-3)


def test_class_weights_and_C_match_sklearn():
    emb = _emb(n_time=4)
    score = (emb.isel(channel=0) - 40) + 0.8 * (emb.isel(channel=1) - 40)
    rare = (score > float(score.quantile(0.9))).astype(float)
    lazy = probe(emb.chunk(time=1), rare, class_weight="balanced", C=0.05, n_boot=0)
    ref = _sklearn(emb, lazy, "classification", class_weight="balanced", C=0.05)
    np.testing.assert_allclose(lazy.coef.values, np.ravel(ref[-1].coef_), rtol=1e-3,
                               atol=1e-3 * np.abs(ref[-1].coef_).max())


def test_result_maps_stay_lazy_and_fit_needs_only_passes_of_partial_sums():
    emb = _emb().chunk(time=1)
    labels = _labels(emb.compute(), "regression")
    # ridge: one pass for the normal equations, one for the test predictions
    with raise_if_dask_computes(max_computes=2) as counter:
        res = probe(emb, labels, task="regression", n_boot=0)
    assert counter.total_computes == 2
    for name in ("prediction", "error"):
        assert isinstance(res[name].data, dsa.Array), name
    assert res.prediction.dims == ("time", "lat", "lon")


def test_the_chunks_are_never_stacked_whole(monkeypatch):
    emb = _emb().chunk(time=1, lat=4)
    rows = []
    real = chunked._run

    def spy(fn, F, block, *others, combine=None):
        rows.append(int(np.prod(block.shape[:-1])))
        return real(fn, F, block, *others, combine=combine)

    monkeypatch.setattr(chunked, "_run", spy)
    probe(emb, _labels(emb.compute(), "classification"), n_boot=0)
    assert rows and max(rows) == 4 * LON.size  # one chunk's patches at a time


def test_no_signal_gives_chance_out_of_core():
    emb = _emb(n_time=12)
    rng = np.random.default_rng(7)
    labels = xr.DataArray(rng.random(emb.shape[:3]) > 0.5, dims=("time", "lat", "lon"),
                          coords={k: emb[k] for k in ("time", "lat", "lon")}).astype(float)
    res = probe(emb.chunk(time=2), labels, n_boot=0)
    assert abs(float(res.balanced_accuracy) - 0.5) < 0.07
    assert abs(float(res.roc_auc) - 0.5) < 0.07


def test_other_solvers_need_memory_and_say_so():
    from xaurora.errors import XauroraError

    emb = _emb(n_time=2)
    with pytest.raises(XauroraError, match="solver='liblinear'.*Fix"):
        probe(emb.chunk(time=1), _labels(emb, "classification"), solver="liblinear")
