"""probe_layers: the layer x weights table on the tiny model, consistent with a direct probe."""

import numpy as np
import pytest

import xaurora as xa
from xaurora.analysis.layers import probe_layers
from xaurora.analysis.probe import probe
from xaurora.results.embedding import embed


@pytest.fixture(scope="module")
def setup():
    ds = xa.testing.synthetic_dataset(n_lat=33, n_lon=64, n_times=4, levels=(500, 850))
    model = xa.load_model("tiny", seed=0)
    return ds, model, xa.labels.land_sea(ds)


def test_table_layout_and_consistency_with_direct_probe(setup):
    ds, model, land = setup
    table = probe_layers(ds, model, land, split=("lon", 120, 210))
    assert table.balanced_accuracy.dims == ("layer", "weights")
    assert table.layer.values.tolist() == ["inputs", "encoder", "backbone"]
    assert table.weights.values.tolist() == ["trained", "random"]
    for name in ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc"):
        v = table[name].values
        assert np.all((v >= 0) & (v <= 1)), name
        assert v[0, 0] == v[0, 1], name  # inputs: no weights dependence
    # the land-sea mask is an input field: a linear read-out of the inputs finds it
    assert float(table.accuracy.sel(layer="inputs", weights="trained")) >= 0.95
    # the table holds exactly what a direct probe of each layer gives
    enc = embed(ds, model, layer="encoder")
    direct = probe(enc, land, split=("lon", 120, 210))
    for name in ("accuracy", "roc_auc"):
        assert float(table[name].sel(layer="encoder", weights="trained")) == pytest.approx(
            float(direct[name]))
    control = model.with_random_weights(seed=1)
    direct = probe(embed(ds, control, layer="encoder"), land, split=("lon", 120, 210))
    assert float(table.roc_auc.sel(layer="encoder", weights="random")) == pytest.approx(
        float(direct.roc_auc))
    # all levels are stacked as features by default (tiny's encoder: 4 levels x 32 channels)
    assert enc.sizes["level"] > 1
    assert int(table.n_features.sel(layer="encoder", weights="trained")) == (
        enc.sizes["level"] * enc.sizes["channel"])
    assert int(table.n_test.sel(layer="inputs", weights="trained")) == int(
        table.n_test.sel(layer="backbone", weights="random"))  # the same split everywhere


def test_level_choice_and_no_controls(setup):
    ds, model, land = setup
    table = probe_layers(ds, model, land, layers=("inputs", "encoder"), controls=False,
                         level="surface", seed=1)
    assert table.weights.values.tolist() == ["trained"]
    assert int(table.n_features.sel(layer="encoder", weights="trained")) == 32
    n_inputs = int(table.n_features.sel(layer="inputs", weights="trained"))
    assert n_inputs == embed(ds, model, layer="inputs").sizes["channel"]
    with pytest.raises(ValueError, match="has levels.*Fix"):
        probe_layers(ds, model, land, layers=("encoder",), controls=False, level="latent_9")


def test_regression_task(setup):
    ds, model, _ = setup
    t2m = ds["2t"]
    table = probe_layers(ds, model, t2m, layers=("inputs",), controls=False, task="regression")
    assert set(table.data_vars) >= {"r2", "rmse"} and "accuracy" not in table
    assert float(table.r2.squeeze()) > 0.9  # 2t itself is among the input features


def test_lazy_input_embeds_each_layer_once_and_matches_in_memory(setup, tmp_path, monkeypatch):
    # years of data: each (layer, weights) is embedded once into a scratch store and probed
    # out of core from it; the logistic probe's many passes never run the model again
    import xaurora.results.embedding as embedding_module

    ds, model, land = setup
    calls = []
    real = embedding_module.time_blocks

    def counting(cds, times, back, block, shape, **kw):
        def counted(sub, block_times):
            calls.append(len(block_times))
            return block(sub, block_times)

        return real(cds, times, back, counted, shape, **kw)

    monkeypatch.setattr(embedding_module, "time_blocks", counting)
    kw = {"layers": ("inputs", "encoder"), "split": ("lon", 120, 210), "n_boot": 0}
    lazy = probe_layers(ds.chunk(time=2), model, land, scratch=str(tmp_path), **kw)
    n_times = 3  # 4 steps, each analysis time needs the one before
    # inputs once (its random column is a copy), encoder once per weights: every time once each
    assert sum(calls) == 3 * n_times
    assert list(tmp_path.iterdir()) == []  # the scratch stores are gone
    eager = probe_layers(ds, model, land, **kw)
    for name in ("accuracy", "balanced_accuracy", "roc_auc"):
        np.testing.assert_allclose(lazy[name].values, eager[name].values, atol=2e-3,
                                   err_msg=name)
    # the control task (random labels, 128 features for 288 training patches) has a flat
    # optimum: two L-BFGS runs stopping within tol may classify one test patch differently
    one_patch = 1.0 / float(eager.n_test.max())
    for name in ("control_accuracy", "selectivity"):
        np.testing.assert_allclose(lazy[name].values, eager[name].values,
                                   atol=one_patch + 1e-9, err_msg=name)
