"""Probe controls: the control task, selectivity and bootstrap intervals (issue 10, item 5)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xaurora as xa
from xaurora.analysis.controls import control_labels, control_probe, paired_intervals
from xaurora.analysis.layers import probe_layers
from xaurora.analysis.probe import probe


def _emb(features: np.ndarray) -> xr.DataArray:
    t, h, w, _ = features.shape
    return xr.DataArray(features, dims=("time", "lat", "lon", "channel"),
                        coords={"time": np.arange(t), "lat": np.linspace(80, -80, h),
                                "lon": np.arange(w) * 360.0 / w})


def test_control_labels_are_per_location_fixed_in_time_and_balanced():
    rng = np.random.default_rng(0)
    lab = xr.DataArray((rng.random((5, 10, 20)) < 0.3).astype(float),
                       dims=("time", "lat", "lon"))
    ctl = control_labels(lab, seed=1)
    assert (ctl.std("time") == 0).all()  # fixed over time
    assert float(ctl.isel(time=0).mean()) == pytest.approx(float(lab.mean()), abs=0.005)
    assert not control_labels(lab, seed=2).equals(ctl)


def test_selectivity_separates_reading_a_property_from_memorising_locations():
    rng = np.random.default_rng(0)
    t, h, w = 6, 12, 24
    prop = (rng.random((h, w)) < 0.4).astype(float)
    labels = xr.DataArray(prop, dims=("lat", "lon"),
                          coords={"lat": np.linspace(80, -80, h), "lon": np.arange(w) * 15.0})
    # reads the property: one channel is the label plus noise, nothing encodes the location
    reads = np.concatenate([prop[None, ..., None] + 0.3 * rng.normal(size=(t, h, w, 1)),
                            rng.normal(size=(t, h, w, 7))], axis=-1)
    # memorises: a random code per location (fixed over time), as position embeddings give
    code = rng.normal(size=(1, h, w, 400)) + 0.05 * rng.normal(size=(t, h, w, 400))
    out = {}
    for name, feats in (("reads", reads), ("memorises", code)):
        res = probe(_emb(feats), labels, seed=0)
        ctl = control_probe(_emb(feats), res, seed=0)
        out[name] = float(res.accuracy) - float(ctl.accuracy)
        assert float(res.accuracy) > 0.85
    assert out["reads"] > 0.2 and out["memorises"] < 0.1, out  # control ≈ majority share


def test_probe_layers_table_has_controls_selectivity_and_intervals():
    ds = xa.testing.synthetic_dataset(n_lat=33, n_lon=64, n_times=3, levels=(500, 850))
    model = xa.load_model("tiny")
    table = probe_layers(ds, model, xa.labels.land_sea(ds), layers=("inputs", "encoder"),
                         split=("lon", 120, 210), n_boot=200)
    for m in ("accuracy", "balanced_accuracy", "roc_auc", "f1", "control_accuracy",
              "selectivity"):
        assert table[m].dims == ("layer", "weights")
        lo, hi = table[f"{m}_low"].values, table[f"{m}_high"].values
        assert np.all(lo <= table[m].values + 1e-12) and np.all(table[m].values <= hi + 1e-12), m
    np.testing.assert_allclose(table.selectivity, table.accuracy - table.control_accuracy)
    assert "control" in table["control_accuracy"].attrs["long_name"]
    # the paired control uses the probe's own test set
    res = probe(xa.embed(ds, model), xa.labels.land_sea(ds), split=("lon", 120, 210))
    ctl = control_probe(xa.embed(ds, model), res)
    assert float(table.control_accuracy.sel(layer="encoder", weights="trained")) == \
        pytest.approx(float(ctl.accuracy))
    ci = paired_intervals(res, ctl, n_boot=200)
    assert ci["selectivity"][0] < ci["selectivity"][1]
    bare = probe_layers(ds, model, xa.labels.land_sea(ds), layers=("encoder",), controls=False,
                        control_task=False, n_boot=0)
    assert "selectivity" not in bare and "accuracy_low" not in bare
