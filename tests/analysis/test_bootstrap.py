"""Bootstrap intervals of probe metrics: exact against scikit-learn with case weights, the
width that binomial theory predicts, and present in probe/probe_layers results."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from sklearn import metrics as skm

from xaurora.analysis.bootstrap import bootstrap_intervals, metric_draws


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.round(np.clip(0.5 * y + rng.normal(0.25, 0.3, n), 0, 1), 2)  # ties on purpose
    return y, (score > 0.5).astype(int), score


def test_weighted_metrics_equal_sklearn_with_sample_weight():
    y, pred, score = _data()
    w = np.random.default_rng(1).multinomial(y.size, np.full(y.size, 1 / y.size), size=5)
    got = metric_draws("classification", y, pred, score, w)
    for k in range(w.shape[0]):
        sw = w[k]
        expect = {
            "accuracy": skm.accuracy_score(y, pred, sample_weight=sw),
            "balanced_accuracy": skm.balanced_accuracy_score(y, pred, sample_weight=sw),
            "precision": skm.precision_score(y, pred, sample_weight=sw, zero_division=0),
            "recall": skm.recall_score(y, pred, sample_weight=sw, zero_division=0),
            "f1": skm.f1_score(y, pred, sample_weight=sw, zero_division=0),
            "roc_auc": skm.roc_auc_score(y, score, sample_weight=sw),
        }
        for name, v in expect.items():
            assert got[name][k] == pytest.approx(v, abs=1e-12), name
    yr = score * 3 + np.random.default_rng(2).normal(size=y.size)
    reg = metric_draws("regression", yr, score * 3, None, w)
    for k in range(w.shape[0]):
        assert reg["r2"][k] == pytest.approx(skm.r2_score(yr, score * 3, sample_weight=w[k]))
        mse = skm.mean_squared_error(yr, score * 3, sample_weight=w[k])
        assert reg["rmse"][k] == pytest.approx(np.sqrt(mse))


def test_accuracy_interval_has_the_binomial_width():
    rng = np.random.default_rng(3)
    n, p = 2000, 0.8
    y = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < p, y, 1 - y)
    acc = (pred == y).mean()
    lo, hi = bootstrap_intervals("classification", y, pred, None, n_boot=2000)["accuracy"]
    assert lo < acc < hi
    expected = 2 * 1.96 * np.sqrt(acc * (1 - acc) / n)
    assert hi - lo == pytest.approx(expected, rel=0.15)


def test_probe_and_probe_layers_report_intervals_and_counts(tiny):
    import xaurora as xa

    ds = xa.testing.synthetic_dataset(n_lat=33, n_lon=64, n_times=3)
    land = xa.labels.land_sea(ds)
    emb = ds.aurora.embed(tiny).sel(level="surface")
    res = emb.aurora.probe(land, split=("lon", 120, 210))
    for name in ("accuracy", "balanced_accuracy", "roc_auc"):
        assert float(res[f"{name}_low"]) <= float(res[name]) <= float(res[f"{name}_high"])
    assert int(res.n_times) == 2 and int(res.n_test) + int(res.n_train) == 2 * 8 * 16
    table = ds.aurora.probe_layers(tiny, land, layers=("inputs",), split=("lon", 120, 210))
    assert {"accuracy_low", "accuracy_high", "n_times", "n_train"} <= set(table.data_vars)
    assert table.attrs["weights_trained"] == "random (seed=0)"
    assert table.attrs["weights_random"] == "random (seed=1)"
    assert isinstance(table, xr.Dataset)


# --- quantiles of bootstrap draws that are not finite (one rule for every interval) ---------


def test_quantiles_equal_numpy_on_finite_draws():
    from xaurora.analysis.bootstrap import quantiles

    rng = np.random.default_rng(5)
    draws = rng.normal(size=(3, 4, 101))
    q = [0.0, 0.025, 0.3, 0.5, 0.975, 1.0]
    got, n_nan = quantiles(draws, q, axis=-1)
    np.testing.assert_allclose(got, np.quantile(draws, q, axis=-1), rtol=1e-13, atol=1e-13)
    assert got.shape == (6, 3, 4) and not n_nan.any()
    got0, _ = quantiles(draws, 0.5, axis=0)
    np.testing.assert_allclose(got0, np.median(draws, axis=0), rtol=1e-13)


def test_quantiles_among_infinite_draws_are_infinite_not_nan():
    from xaurora.analysis.bootstrap import quantiles

    # sorted 1, 2, inf, inf: position h = 3q; q=1/3 lands exactly on 2, beyond it towards inf
    v, n_nan = quantiles([np.inf, 2.0, np.inf, 1.0], [0.0, 1 / 3, 0.5, 0.975, 1.0])
    assert v.tolist() == [1.0, 2.0, np.inf, np.inf, np.inf] and int(n_nan) == 0
    # by hand: h = 3 · 0.1 = 0.3 between 1 and 2 → 1.3
    assert float(quantiles([1.0, 2.0, np.inf, np.inf], 0.1)[0]) == pytest.approx(1.3)
    assert quantiles(np.full(7, np.inf), [0.025, 0.975])[0].tolist() == [np.inf, np.inf]
    # -inf and +inf as neighbours: the nearer one, never inf - inf
    assert quantiles([-np.inf, np.inf], [0.0, 0.25, 0.75, 1.0])[0].tolist() == \
        [-np.inf, -np.inf, np.inf, np.inf]
    # from -inf towards a finite value: (1 - t)·(-inf) + t·b is -inf until t reaches 1
    assert quantiles([-np.inf, -np.inf, 0.0], [0.25, 0.75, 1.0])[0].tolist() == \
        [-np.inf, -np.inf, 0.0]


def test_nan_draws_are_left_out_counted_and_nan_only_when_all_are():
    from xaurora.analysis.bootstrap import percentile_interval, quantiles

    v, n_nan = quantiles([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan]], [0.0, 0.5, 1.0])
    assert v[:, 0].tolist() == [1.0, 2.0, 3.0] and np.isnan(v[:, 1]).all()
    assert n_nan.tolist() == [1, 3]
    ci = percentile_interval(np.r_[np.arange(40.0), np.full(10, np.nan)])
    lo, hi = ci
    assert (lo, hi) == pytest.approx(tuple(np.quantile(np.arange(40.0), [0.025, 0.975])))
    assert "10 of 50" in ci.note and "left out" in ci.note
    none = percentile_interval(np.full(5, np.nan))
    assert np.isnan(none).all() and "all of them" in none.note
    assert percentile_interval(np.arange(10.0)).note == ""
    with pytest.raises(ValueError, match="q"):
        quantiles([1.0, 2.0], 1.5)


def test_ratio_interval_by_hand_with_a_zero_random_baseline():
    from xaurora.analysis.bootstrap import quantiles, ratio_interval

    rand = np.array([0.0, 0.0, 0.0, 1.0])
    r, lo, hi, note = ratio_interval(2.0, rand, np.random.default_rng(7), 500)
    assert float(r) == 8.0 and float(hi) == np.inf and np.isfinite(lo)
    # the same resamples by hand: a mean of 0 is an infinite ratio, ranked above all others
    idx = np.random.default_rng(7).integers(0, 4, (500, 4))
    with np.errstate(divide="ignore"):
        draws = np.sort(2.0 / rand[idx].mean(axis=1))
    h = 499 * 0.025
    assert float(lo) == pytest.approx(draws[int(h)] + (h % 1) * (draws[int(h) + 1] -
                                                                   draws[int(h)]))
    assert np.isinf(draws).mean() > 0.025 and "infinite" in note
    # nothing changed anywhere: 0/0, NaN with the reason
    r, lo, hi, note = ratio_interval(0.0, np.zeros(5), np.random.default_rng(0), 100)
    assert np.isnan([r, lo, hi]).all() and "0/0" in note
    # a baseline that always changed: finite, np.quantile's numbers, no note
    rand = np.array([1.0, 2.0, 4.0])
    r, lo, hi, note = ratio_interval(np.array([3.0, 6.0]), rand[None].repeat(2, 0),
                                     np.random.default_rng(1), 300)
    boot = rand[np.random.default_rng(1).integers(0, 3, (300, 3))].mean(axis=1)
    want = np.quantile(np.array([3.0, 6.0])[:, None] / boot, [0.025, 0.975], axis=1)
    np.testing.assert_allclose([lo, hi], want, rtol=1e-12)
    assert note == "" and quantiles(lo, 0.5, axis=0)[0].shape == ()


def test_probe_interval_notes_resamples_with_a_single_class():
    rng = np.random.default_rng(0)
    emb = xr.DataArray(rng.normal(size=(1, 8, 8, 3)), dims=("time", "lat", "lon", "channel"),
                       coords={"lat": np.arange(8.0), "lon": np.arange(8.0)})
    lab = xr.zeros_like(emb.isel(channel=0, drop=True))
    lab[0, :2, :2] = 1  # 4 positives of 64: one in the stratified test set of 16
    res = emb.aurora.probe(lab, n_boot=400)
    assert np.isfinite(float(res.roc_auc_low)) and np.isfinite(float(res.roc_auc_high))
    assert "single class" in res.roc_auc_low.attrs["note"]
    assert "note" not in res.accuracy_low.attrs
