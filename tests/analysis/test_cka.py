"""cka: equals the Gram-matrix formulas on small data (biased and unbiased HSIC), invariant to
orthogonal transforms and isotropic scaling, low for unrelated data, Dask = NumPy in one pass."""

import numpy as np
import pytest
import xarray as xr

from tests._dask import raise_if_dask_computes
from xaurora.analysis.cka import cka, cka_matrix
from xaurora.errors import XauroraError


def _gram_cka(x, y, debiased=False):
    """CKA from n × n Gram matrices, written from the papers' definitions (independent code)."""
    n = x.shape[0]
    x = x - x.mean(0)
    y = y - y.mean(0)
    K, L = x @ x.T, y @ y.T

    def hsic(K, L):
        if not debiased:
            H = np.eye(n) - 1.0 / n
            return np.trace(K @ H @ L @ H)
        Kt, Lt = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
        one = np.ones(n)
        return (np.trace(Kt @ Lt) + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
                - 2.0 / (n - 2) * (one @ Kt @ Lt @ one)) / (n * (n - 3))

    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


def _pair(n=60, p=5, q=7, seed=0, shared=3):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, shared))
    x = z @ rng.normal(size=(shared, p)) + 0.5 * rng.normal(size=(n, p)) + 40.0
    y = z @ rng.normal(size=(shared, q)) + 0.5 * rng.normal(size=(n, q)) - 7.0
    X = xr.DataArray(x, dims=("time", "channel"), coords={"time": np.arange(n)})
    Y = xr.DataArray(y, dims=("time", "unit"), coords={"time": np.arange(n)})
    return X, Y


@pytest.mark.parametrize("debiased", [False, True])
def test_equals_the_gram_matrix_formula(debiased):
    X, Y = _pair()
    got = cka(X, Y, debiased=debiased)
    assert got.dims == () and got.dtype == np.float64
    assert float(got) == pytest.approx(_gram_cka(X.values, Y.values, debiased), rel=1e-10)


@pytest.mark.parametrize("debiased", [False, True])
def test_invariant_to_rotation_and_isotropic_scaling(debiased):
    X, Y = _pair(p=6)
    Q, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(6, 6)))
    X2 = X.copy(data=5.0 * X.values @ Q + 11.0)
    assert float(cka(X2, Y, debiased=debiased)) == pytest.approx(
        float(cka(X, Y, debiased=debiased)), rel=1e-9)
    assert float(cka(X, X2, debiased=debiased)) == pytest.approx(1.0, rel=1e-9)
    # not invariant to anisotropic scaling: a check that the test can fail
    X3 = X.copy(data=X.values * np.array([10.0, 1, 1, 1, 1, 1]))
    assert abs(float(cka(X3, Y)) - float(cka(X, Y))) > 1e-3


def test_unrelated_data_scores_low_and_debiasing_removes_the_small_sample_bias():
    rng = np.random.default_rng(5)
    X = xr.DataArray(rng.normal(size=(40, 30)), dims=("time", "c"))
    Y = xr.DataArray(rng.normal(size=(40, 30)), dims=("time", "d"))
    biased, unbiased = float(cka(X, Y)), float(cka(X, Y, debiased=True))
    assert biased > 0.4  # many features, few samples: the plain estimator is inflated
    assert abs(unbiased) < 0.1


@pytest.mark.parametrize("debiased", [False, True])
def test_dask_equals_numpy_over_patches_in_one_pass(debiased):
    rng = np.random.default_rng(7)
    shape = (6, 8, 12)
    z = rng.normal(size=(*shape, 2))
    X = xr.DataArray(z @ rng.normal(size=(2, 16)) + rng.normal(size=(*shape, 16)),
                     dims=("time", "lat", "lon", "channel"))
    Y = xr.DataArray(np.tanh(z @ rng.normal(size=(2, 9))), dims=("time", "lat", "lon", "unit"))
    dims = ("time", "lat", "lon")
    ref = cka(X, Y, sample_dims=dims, debiased=debiased)
    with raise_if_dask_computes(max_computes=2 if debiased else 1):
        got = cka(X.chunk(time=2, lat=3), Y.chunk(time=3), sample_dims=dims, debiased=debiased)
    assert float(got) == pytest.approx(float(ref), rel=1e-10)
    flat = X.values.reshape(-1, 16), Y.values.reshape(-1, 9)
    assert float(ref) == pytest.approx(_gram_cka(*flat, debiased), rel=1e-9)


def test_matrix_is_symmetric_with_ones_on_the_diagonal_and_matches_pairs():
    X, Y = _pair()
    Z = X.copy(data=np.random.default_rng(9).normal(size=X.shape))
    m = cka_matrix({"x": X, "y": Y, "noise": Z})
    assert m.dims == ("rep_a", "rep_b") and m.rep_a.values.tolist() == ["x", "y", "noise"]
    np.testing.assert_allclose(m.values, m.values.T, rtol=1e-12)
    np.testing.assert_allclose(np.diag(m.values), 1.0, rtol=1e-12)
    assert float(m.sel(rep_a="x", rep_b="y")) == pytest.approx(float(cka(X, Y)), rel=1e-10)
    assert float(m.sel(rep_a="x", rep_b="noise")) < float(m.sel(rep_a="x", rep_b="y"))


def test_different_samples_and_constants_are_named():
    X, Y = _pair()
    with pytest.raises(XauroraError, match="'time' samples differ.*Fix"):
        cka(X, Y.assign_coords(time=Y.time + 1))
    with pytest.raises(XauroraError, match="zero variance"):
        cka(X, xr.zeros_like(Y))
    with pytest.raises(XauroraError, match="at least two"):
        cka_matrix({"x": X})
