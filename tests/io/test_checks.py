"""Value checks, grid checks and the metric names a user reads (issue: reliability and truth).

Covers: ``xaurora info`` runs the checks ``embed`` runs and lists every problem; a trained
checkpoint on another grid warns naming both grids; ``check_values=False`` on every method that
runs the model, recorded in attrs; missing variables named in the user's naming scheme; the
perturbation metric (RMSE or MSE) named in attrs.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xaurora as xa
from xaurora.app.cli import main
from xaurora.io.checks import GridWarning

pytestmark = pytest.mark.usefixtures("one_thread")

TARGET = xa.Target("msl", region=(0, 60, -30, 60))


@pytest.fixture(scope="module")
def small():
    return xa.testing.synthetic_dataset(n_lat=17, n_lon=32, n_times=2, naming="cds")


@pytest.fixture(scope="module")
def trained_looking(tiny):
    """The tiny module under a released checkpoint's registry entry (trained on 721 × 1440)."""
    from xaurora.models.loading import AuroraModel, ModelSpec

    spec = ModelSpec("aurora-0.25-pretrained", checkpoint="weights.ckpt")
    model = AuroraModel(spec, module=tiny.module)
    assert not model.random_weights
    return model


# -- item 3: info runs embed's value checks and reports all problems ----------------------------

def test_info_reports_every_value_problem_and_exits_nonzero(small, tmp_path, capsys):
    bad = small.assign(t2m=small.t2m - 273.15, msl=small.msl / 100,
                       u10=small.u10.where(small.latitude < 80))
    path = tmp_path / "bad.nc"
    bad.to_netcdf(path)
    assert main(["info", str(path)]) == 1
    out = capsys.readouterr().out
    assert "Cannot be read as is: 3 problem(s)" in out
    assert "t2m: values average" in out and "kelvin" in out  # °C
    assert "msl: values average" in out and "Pa" in out  # hPa
    assert "u10: contains NaN" in out
    for mutated in ("t2m", "msl", "u10"):  # embed refuses each of them too
        with pytest.raises(ValueError, match=mutated):
            small.assign({mutated: bad[mutated]}).aurora.embed(xa.load_model("tiny"))


def test_info_still_checks_values_when_the_layout_is_wrong(small, tmp_path, capsys):
    bad = small.assign(t2m=small.t2m - 273.15).isel(longitude=slice(0, 30))
    path = tmp_path / "bad.nc"
    bad.to_netcdf(path)
    assert main(["info", str(path)]) == 1
    out = capsys.readouterr().out
    assert "30 columns" in out and "t2m: values average" in out


def test_info_names_missing_variables_and_passes_clean_data(small, tmp_path, capsys):
    path = tmp_path / "ok.nc"
    small.to_netcdf(path)
    assert main(["info", str(path)]) == 0
    assert "Cannot be read" not in capsys.readouterr().out
    small.drop_vars(["t2m", "u10"]).to_netcdf(tmp_path / "miss.nc")
    assert main(["info", str(tmp_path / "miss.nc")]) == 1
    out = capsys.readouterr().out
    assert "'t2m', 'u10'" in out and "'2t'" not in out


# -- item 10: missing variables in the user's naming scheme -----------------------------------

@pytest.mark.parametrize(("naming", "names"), [
    ("cds", ["'t2m'", "'u10'", "'lsm (static)'"]),
    ("wb2", ["'2m_temperature'", "'10m_u_component_of_wind'", "'land_sea_mask (static)'"]),
    ("aurora", ["'2t'", "'10u'", "'lsm (static)'"]),
])
def test_missing_variables_in_the_users_naming(tiny, naming, names):
    from xaurora.sample.synthetic import SCHEMES

    ds = xa.testing.synthetic_dataset(n_lat=17, n_lon=32, n_times=2, naming=naming)
    s = SCHEMES[naming]
    ds = ds.drop_vars([s["2t"], s["10u"], s["lsm"]])
    with pytest.raises(ValueError) as err:
        ds.aurora.embed(tiny)
    for n in names:
        assert n in str(err.value)
    if naming == "cds":
        assert "'2t'" not in str(err.value) and "'10u'" not in str(err.value)


# -- item 4: grid check against the checkpoint; check_values=False everywhere -----------------

def test_trained_checkpoint_on_another_grid_warns_naming_both(small, trained_looking):
    with pytest.warns(GridWarning, match=r"17 × 32 grid.*721 × 1440 \(0\.25°\)"):
        small.aurora.embed(trained_looking)
    with pytest.warns(GridWarning):
        small.aurora.forecast(trained_looking)
    with pytest.warns(GridWarning):
        small.aurora.relevance(trained_looking, TARGET, method="gradxinput")


def test_random_weights_and_the_training_grid_do_not_warn(small, tiny, trained_looking):
    from xaurora.io.canonical import canonicalize
    from xaurora.io.checks import grid_mismatch

    with warnings.catch_warnings():
        warnings.simplefilter("error", GridWarning)
        small.aurora.embed(tiny)  # random weights: never trained on any grid
    info = trained_looking.info
    for n_lat in (721, 720):
        lat = np.linspace(90, -90, 721)[:n_lat]
        fake = canonicalize(small, check_values=False).isel(lat=[0] * n_lat, lon=[0] * 1440)
        fake = fake.assign_coords(lat=lat, lon=np.arange(1440) * 0.25)
        assert grid_mismatch(fake, info) is None


def test_check_values_false_on_every_method_and_recorded(small, tiny):
    odd = small.assign(t2m=small.t2m - 273.15)  # °C on purpose
    with pytest.raises(ValueError, match="kelvin"):
        odd.aurora.embed(tiny)
    kw = {"check_values": False}
    emb = odd.aurora.embed(tiny, **kw)
    assert emb.attrs["check_values"] == 0
    assert odd.chunk(valid_time=1).aurora.embed(tiny, **kw).compute().attrs["check_values"] == 0
    assert small.aurora.embed(tiny).attrs["check_values"] == 1
    assert odd.aurora.forecast(tiny, **kw).attrs["check_values"] == 0
    rel = odd.aurora.relevance(tiny, TARGET, method="gradxinput", **kw)
    assert rel.attrs["check_values"] == 0
    test = odd.aurora.perturbation_test(tiny, rel, TARGET, fractions=(0.1,), n_random=2, **kw)
    assert test.attrs["check_values"] == 0
    chk = odd.aurora.relevance_sanity(tiny, TARGET, method="gradxinput", **kw)
    assert chk.attrs["check_values"] == 0
    labels = xa.labels.land_sea(small)
    table = odd.aurora.probe_layers(tiny, labels, layers=("inputs",), controls=False, **kw)
    assert table.attrs["check_values"] == 0


# -- item 6: the perturbation metric is named ----------------------------------------------------

def test_perturbation_mse_is_rmse_squared_and_named(small, tiny):
    rel = small.aurora.relevance(tiny, TARGET, method="gradxinput")
    kw = dict(fractions=(0.05, 0.2), n_random=4, seed=3)
    rmse = small.aurora.perturbation_test(tiny, rel, TARGET, **kw)
    mse = small.aurora.perturbation_test(tiny, rel, TARGET, error="mse", **kw)
    assert rmse.attrs["error_metric"] == "rmse" and mse.attrs["error_metric"] == "mse"
    np.testing.assert_allclose(mse.error_relevant, rmse.error_relevant ** 2, rtol=1e-10)
    np.testing.assert_allclose(mse.error_random, rmse.error_random ** 2, rtol=1e-10)
    assert mse.error_relevant.attrs["units"] == "Pa2"
    assert "MSE" in mse.ratio.attrs["long_name"] and "RMSE" in rmse.ratio.attrs["long_name"]
    with pytest.raises(ValueError, match="error.*'rmse'"):
        small.aurora.perturbation_test(tiny, rel, TARGET, error="mae", **kw)


def test_info_uses_cached_released_statics_as_embed_does(monkeypatch, tmp_path):
    import pickle

    from xaurora.app.describe import describe

    ds = xa.testing.synthetic_dataset(naming="cds", with_static=False)
    text = describe(ds)  # nothing cached: the statics are missing, named in CDS terms
    assert "'lsm (static)'" in text
    blob = tmp_path / "aurora-0.25-static.pickle"
    lsm = np.zeros((33, 64), np.float32)
    blob.write_bytes(pickle.dumps({"lsm": lsm, "z": lsm, "slt": lsm}))
    monkeypatch.setattr("huggingface_hub.hf_hub_download", lambda **kw: str(blob))
    text = describe(ds)
    assert "released file" in text and "missing" not in text


@pytest.mark.parametrize("threads", [True, False])
def test_value_check_means_agree_with_float64_and_survive_fill_values(threads):
    """The float32 sums of the check give the float64 means' verdicts: in range passes, a
    shifted field fails as units, NaN fails as missing, and a netCDF fill value (finite, but
    overflowing a float32 sum) is reported as a units problem, not a crash."""
    from xaurora.errors import XauroraError
    from xaurora.io.canonical import canonicalize
    from xaurora.io.checks import check_values_of

    cds = canonicalize(xa.testing.synthetic_dataset(n_times=3), check_values=False)
    for name in ("2t", "t", "msl"):
        check_values_of(cds[name], name, threads=threads)  # in range
    with pytest.raises(XauroraError, match="average"):
        check_values_of(cds["2t"] - 273.15, "2t", threads=threads)
    bad = cds["t"].copy()
    bad[0, 1, 2, 3] = np.nan
    with pytest.raises(XauroraError, match=r"NaN or infinite .*first at index \{'time': "
                                           r"'2020-01-01T00:00', 'level': 1, 'lat': 2, "
                                           r"'lon': 3\}"):
        check_values_of(bad, "t", threads=threads)
    fill = cds["msl"].copy()
    fill[:] = np.float32(9.96921e36)
    with pytest.raises(XauroraError, match="average 9.969e"):
        check_values_of(fill, "msl", threads=threads)
