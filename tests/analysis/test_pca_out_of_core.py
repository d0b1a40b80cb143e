"""pca out of core: Dask input is walked chunk by chunk, exact in float64 (equal to scikit-learn's
full PCA of the float64 data), the same whatever the chunks, with lazy scores."""

import sys

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr
from sklearn.decomposition import PCA

from tests._dask import raise_if_dask_computes
from xaurora.analysis import chunked
from xaurora.analysis.pca import pca
from xaurora.errors import XauroraError


def _tokens(n_time=6, n_lat=8, n_lon=12, n_ch=24, offset=300.0, seed=0):
    """Latent-like float32 tokens: channels far from zero, a few strong directions, noise."""
    rng = np.random.default_rng(seed)
    n = n_time * n_lat * n_lon
    basis = rng.normal(size=(4, n_ch))
    vals = (rng.normal(size=(n, 4)) * [5.0, 3.0, 2.0, 1.0]) @ basis + rng.normal(size=(n, n_ch))
    vals = (vals + offset + rng.normal(size=n_ch) * 10).astype(np.float32)
    return xr.DataArray(vals.reshape(n_time, n_lat, n_lon, n_ch),
                        dims=("time", "lat", "lon", "channel"), name="embedding",
                        coords={"time": np.arange(n_time), "lat": np.linspace(80, -80, n_lat),
                                "lon": np.arange(n_lon) * 30.0, "channel": np.arange(n_ch)})


SAMPLES = ("time", "lat", "lon")


@pytest.mark.parametrize("chunks", [{"time": 1}, {"time": 2, "lat": 3, "lon": 5}])
def test_dask_input_equals_sklearn_full_pca_of_the_float64_data(chunks):
    X = _tokens()
    res = pca(X.chunk(chunks), 5, sample_dims=SAMPLES)
    flat = X.values.reshape(-1, X.sizes["channel"]).astype(np.float64)
    ref = PCA(5, svd_solver="full").fit(flat)
    np.testing.assert_allclose(res.explained_variance_ratio, ref.explained_variance_ratio_,
                               rtol=1e-6)
    np.testing.assert_allclose(res.explained_variance, ref.explained_variance_, rtol=1e-6)
    np.testing.assert_allclose(res.singular_values, ref.singular_values_, rtol=1e-6)
    cos = np.abs(np.sum(res.components.values * ref.components_, axis=1))
    assert (cos >= 0.9999).all()
    np.testing.assert_allclose(res["mean"], ref.mean_, rtol=1e-10)
    assert res.attrs["noise_variance"] == pytest.approx(ref.noise_variance_, rel=1e-6)
    scores = res.scores.transpose(*SAMPLES, "component").values.reshape(-1, 5)
    ref_scores = ref.transform(flat) * np.sign(np.sum(res.components.values * ref.components_,
                                                      axis=1))
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-6 * np.abs(ref_scores).max())


def test_float32_tokens_far_from_zero_are_exact():
    # the old path handed float32 to scikit-learn, whose float32 covariance lost the small
    # directions under a large offset; the float64 accumulation keeps them
    X = _tokens(offset=5e3)
    res = pca(X, 6, sample_dims=SAMPLES)
    ref = PCA(6, svd_solver="full").fit(X.values.reshape(-1, 24).astype(np.float64))
    np.testing.assert_allclose(res.explained_variance_ratio, ref.explained_variance_ratio_,
                               rtol=1e-6)


def test_the_same_whatever_the_chunks_and_in_memory():
    X = _tokens()
    ref = pca(X, 4, sample_dims=SAMPLES)
    for chunks in ({"time": 1}, {"time": 3, "lon": 4}, {"lat": 1}):
        got = pca(X.chunk(chunks), 4, sample_dims=SAMPLES)
        np.testing.assert_allclose(got.explained_variance_ratio, ref.explained_variance_ratio,
                                   rtol=1e-9)
        np.testing.assert_allclose(got.components, ref.components, atol=1e-9)
        np.testing.assert_allclose(got.scores.compute(), ref.scores, atol=1e-7)


def test_one_pass_to_fit_and_the_scores_stay_lazy():
    X = _tokens().chunk(time=1)
    with raise_if_dask_computes(max_computes=1) as counter:
        res = pca(X, 3, sample_dims=SAMPLES)
    assert counter.total_computes == 1
    assert isinstance(res.scores.data, dsa.Array)
    assert res.scores.chunks[0] == X.chunks[0]  # one task per input chunk


@pytest.fixture
def rows_seen(monkeypatch):
    """The row counts of the blocks the moment accumulator is given, in order."""
    sizes = []
    real = chunked.Moments.of.__func__

    def spy(cls, x, keep=None, full=True):
        sizes.append(x.shape[0])
        return real(cls, x, keep, full)

    monkeypatch.setattr(chunked.Moments, "of", classmethod(spy))
    return sizes


def test_blocks_are_walked_one_at_a_time_not_concatenated(rows_seen):
    # the accumulator sees each chunk's rows on their own: never the whole matrix
    X = _tokens().chunk(time=1, lat=4)
    sizes = rows_seen
    pca(X, 2, sample_dims=SAMPLES)
    assert sizes and max(sizes) == 4 * 12 and sum(sizes) == 6 * 8 * 12


def test_a_large_block_is_converted_to_float64_a_slice_at_a_time(monkeypatch, rows_seen):
    monkeypatch.setattr(chunked, "ROWS_PER_STEP", 10)
    X = _tokens().chunk(time=2)
    sizes = rows_seen
    res = pca(X, 3, sample_dims=SAMPLES)
    assert max(sizes) == 10 and sum(sizes) == 6 * 8 * 12
    ref = pca(X.compute(), 3, sample_dims=SAMPLES)
    np.testing.assert_allclose(res.explained_variance_ratio, ref.explained_variance_ratio,
                               rtol=1e-10)


def test_nan_in_a_chunk_is_named_with_the_fix():
    X = _tokens().copy()
    X[2, 3, 4, 5] = np.nan
    with pytest.raises(XauroraError, match=r"embedding: contains NaN.*Fix"):
        pca(X.chunk(time=1), 2, sample_dims=SAMPLES)


def test_constant_lazy_input_is_named():
    X = xr.zeros_like(_tokens()).chunk(time=2)
    with pytest.raises(XauroraError, match="zero variance"):
        pca(X, 2, sample_dims=SAMPLES)


def test_too_many_features_for_the_covariance_is_named(monkeypatch):
    pca_module = sys.modules["xaurora.analysis.pca"]  # the package's `pca` is the function
    monkeypatch.setattr(pca_module, "MAX_COVARIANCE_FEATURES", 10)
    with pytest.raises(XauroraError, match="too many features.*Fix: pool or select"):
        pca(_tokens().chunk(time=1), 2, sample_dims=SAMPLES)


def test_few_samples_many_features_equals_sklearn():
    # pooled latents over a few dates: samples < features, decomposed directly
    rng = np.random.default_rng(3)
    X = xr.DataArray(rng.normal(size=(12, 3, 40)) + 50.0, dims=("time", "stat", "channel"))
    res = pca(X.chunk(time=5), 4)
    ref = PCA(4, svd_solver="full").fit(X.values.reshape(12, -1))
    np.testing.assert_allclose(res.explained_variance_ratio, ref.explained_variance_ratio_,
                               rtol=1e-9)
    cos = np.abs(np.sum(res.components.values.reshape(4, -1) * ref.components_, axis=1))
    assert (cos >= 0.9999).all()
