"""splice_test: a perfect SAE scores 1, a PCA as an SAE rebuilds what scikit-learn's PCA
rebuilds, and the errors are the RMSE of the forecasts' change computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from sklearn.decomposition import PCA

import xaurora as xa
from tests.run.test_edit import _identity_sae
from xaurora.attribution import splice_test

pytestmark = pytest.mark.usefixtures("one_thread")

TARGET = xa.Target("msl", region=(0, 60, -30, 60))
SAMPLES = ("time", "lat", "lon")


@pytest.fixture(scope="module")
def surface(tiny, small_ds):
    return small_ds.aurora.embed(tiny).sel(level="surface")


def test_a_perfect_sae_scores_one_and_zeroing_is_the_scale(tiny, small_ds):
    levels = small_ds.aurora.embed(tiny).level.values
    res = small_ds.aurora.splice_test(tiny, _identity_sae(levels), TARGET)
    assert float(res.effect_spliced) < 1e-3 * float(res.effect_zeroed)
    assert float(res.score) == pytest.approx(1.0, abs=1e-3)
    assert "score_pca" not in res and res.attrs["k"] == 32
    # effect_zeroed is the weighted RMSE of the zeroed forecast's change, by hand
    t = small_ds.time.values[1]
    plain = xa.forecast(small_ds, tiny, time=t)["msl"].isel(time=0, lead_time=0)
    zeroed = xa.forecast(small_ds, tiny, time=t, edit=xa.edit.zero("encoder"))["msl"].isel(
        time=0, lead_time=0)
    w = TARGET.weights(small_ds.lat.values, small_ds.lon.values, n_rows=32)
    want = np.sqrt((w * (zeroed - plain).values[:32] ** 2).sum())
    assert float(res.effect_zeroed) == pytest.approx(float(want), rel=1e-4)


def test_a_pca_as_an_sae_rebuilds_what_pca_rebuilds(surface):
    pcs = xa.analysis.pca(surface, 5, sample_dims=SAMPLES)
    rebuilt = xa.analysis.sae_reconstruct(xa.analysis.sae_from_pca(pcs), surface)
    X = surface.transpose(*SAMPLES, "channel").values.reshape(-1, surface.sizes["channel"])
    ref = PCA(5).fit(X.astype(np.float64))
    want = ref.inverse_transform(ref.transform(X.astype(np.float64)))
    got = rebuilt.transpose(*SAMPLES, "channel").values.reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4 * np.abs(want).max())
    with pytest.raises(xa.XauroraError, match="xa.analysis.pca"):
        xa.analysis.sae_from_pca(xr.Dataset())


def test_the_sae_against_a_pca_with_as_many_numbers(tiny, small_ds, surface):
    sae = surface.aurora.sae(n_features=64, k=4, sample_dims=SAMPLES, steps=100, seed=0)
    res = splice_test(small_ds, tiny, sae, TARGET, tokens=surface)
    assert res.attrs["k"] == 4 and res.attrs["n_features"] == 64
    for name in ("score", "score_pca"):
        assert res[name].attrs["units"] == "1" and np.isfinite(float(res[name]))
    # score_pca is the PCA spliced in by hand against the same zeroing
    pca_sae = xa.analysis.sae_from_pca(xa.analysis.pca(surface, 4, sample_dims=SAMPLES))
    alone = splice_test(small_ds, tiny, pca_sae, TARGET)
    assert float(res.effect_pca) == pytest.approx(float(alone.effect_spliced), rel=1e-9)
    assert float(res.score_pca) == pytest.approx(float(alone.score), rel=1e-9)
    # every component: the PCA rebuilds the tokens, so the forecast hardly moves
    full = splice_test(small_ds, tiny, xa.analysis.sae_from_pca(
        xa.analysis.pca(surface, 32, sample_dims=SAMPLES)), TARGET)
    assert float(full.score) > 0.99
    with pytest.raises(xa.XauroraError, match="sample dim"):
        splice_test(small_ds, tiny, sae, TARGET, tokens=surface.isel(lat=0, drop=True))
