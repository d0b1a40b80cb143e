"""sae: recovers a planted sparse dictionary, learns nothing from structureless noise, trains by
streaming blocks (never the whole array), is reproducible and chunk-stable, and its transform and
reconstruction equal the formula, lazily, after a netCDF round trip."""

import sys

import numpy as np
import pytest
import xarray as xr

from xaurora.analysis import chunked
from xaurora.analysis.sae import sae, sae_reconstruct, sae_transform
from xaurora.errors import XauroraError

sae_module = sys.modules["xaurora.analysis.sae"]  # the package's `sae` is the function


def _planted(n=(40, 6, 8), n_atoms=24, dim=16, active=3, seed=0):
    """Tokens that are sums of `active` of `n_atoms` unit atoms with positive weights."""
    rng = np.random.default_rng(seed)
    atoms = rng.normal(size=(n_atoms, dim))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    m = int(np.prod(n))
    codes = np.zeros((m, n_atoms))
    for i in range(m):
        codes[i, rng.choice(n_atoms, active, replace=False)] = rng.uniform(1.0, 3.0, active)
    X = xr.DataArray((codes @ atoms + 5.0).reshape(*n, dim).astype(np.float32),
                     dims=("time", "lat", "lon", "channel"), name="embedding",
                     coords={"time": np.arange(n[0]), "channel": np.arange(dim)})
    return X, atoms


SAMPLES = ("time", "lat", "lon")


@pytest.fixture(scope="module")
def planted():
    X, atoms = _planted()
    res = sae(X.chunk(time=5), n_features=48, k=4, sample_dims=SAMPLES, steps=1500,
              batch_size=256, lr=3e-3, seed=1)
    return X, atoms, res


def test_a_planted_dictionary_is_recovered(planted):
    X, atoms, res = planted
    dec = res.decoder.transpose("feature", "channel").values
    cos = np.abs(atoms @ dec.T)  # (atom, feature): both unit rows
    found = cos.max(axis=1) >= 0.9
    assert found.mean() >= 0.9, np.sort(cos.max(axis=1))
    assert res.attrs["fvu"] <= 0.1
    assert res.attrs["l0"] <= 4 and res.attrs["n_tokens_seen"] == 1500 * 256
    np.testing.assert_allclose(np.linalg.norm(dec, axis=1), 1.0, rtol=1e-5)


def test_structureless_noise_is_not_compressed():
    rng = np.random.default_rng(3)
    X = xr.DataArray(rng.normal(size=(3000, 16)).astype(np.float32), dims=("time", "channel"))
    res = sae(X, n_features=48, k=4, steps=600, batch_size=256, lr=3e-3)
    # isotropic noise has no sparse structure: 4 of 48 directions per token leave about a
    # third of the variance unexplained (the planted dictionary above: ≤ 0.1)
    assert res.attrs["fvu"] > 0.25


def test_transform_and_reconstruction_equal_the_formula_lazily(planted, tmp_path,
                                                               monkeypatch):
    X, _, res = planted
    monkeypatch.setattr(sae_module, "ROWS_PER_STEP", 89)  # chunks walked in several pieces
    res.to_netcdf(tmp_path / "sae.nc")
    back = xr.open_dataset(tmp_path / "sae.nc")
    acts = sae_transform(back, X.chunk(time=10))
    assert acts.chunks is not None and acts.dims == (*SAMPLES, "feature")
    a = acts.compute().values.reshape(-1, res.sizes["feature"])
    x = X.values.reshape(-1, X.sizes["channel"]).astype(np.float64)
    pre = (x - res.b_dec.values) @ res.encoder.values + res.b_enc.values
    for row in range(0, a.shape[0], 97):  # the k largest, ReLU'd; the rest zero
        top = np.argsort(pre[row])[-4:]
        want = np.zeros(pre.shape[1])
        want[top] = np.maximum(pre[row, top], 0)
        np.testing.assert_allclose(a[row], want, rtol=1e-5, atol=1e-5)
    rec = sae_reconstruct(back, X)
    want = a.astype(np.float64) @ res.decoder.values + res.b_dec.values
    np.testing.assert_allclose(rec.values.reshape(-1, 16), want, rtol=1e-6, atol=1e-6)
    assert rec.dims == X.dims


def test_same_seed_same_result_whatever_the_backing():
    X, _ = _planted(n=(10, 4, 5))
    kw = {"n_features": 32, "k": 3, "sample_dims": SAMPLES, "steps": 60, "batch_size": 64}
    a = sae(X.chunk(time=2), seed=4, **kw)
    b = sae(X.chunk(time=2), seed=4, **kw)
    xr.testing.assert_identical(a, b)
    c = sae(X.chunk(time=2), seed=5, **kw)
    assert not np.allclose(a.decoder, c.decoder)


def test_training_reads_one_block_at_a_time(monkeypatch):
    X, _ = _planted(n=(12, 4, 5))
    sizes = []
    real = sae_module._rows

    def spy(block, F):
        out = real(block, F)
        sizes.append(out.shape[0])
        return out

    monkeypatch.setattr(sae_module, "_rows", spy)
    sae(X.chunk(time=2), n_features=16, k=2, sample_dims=SAMPLES, steps=20, batch_size=16)
    assert sizes and max(sizes) == 2 * 4 * 5  # one chunk's tokens per read
    assert chunked.is_lazy(X.chunk(time=2))


def test_bad_settings_are_named():
    X, _ = _planted(n=(4, 2, 2))
    with pytest.raises(XauroraError, match="1 ≤ k ≤ n_features"):
        sae(X, n_features=4, k=8, sample_dims=SAMPLES)
    with pytest.raises(XauroraError, match="holdout"):
        sae(X, n_features=8, k=2, sample_dims=SAMPLES, holdout=0.0)
    with pytest.raises(XauroraError, match="lacks the feature dim"):
        sae_transform(sae(X, 8, 2, sample_dims=SAMPLES, steps=5, batch_size=8),
                      X.rename(channel="c"))


def test_the_written_out_adam_equals_torchs():
    import torch

    a = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    b = a.detach().clone().requires_grad_(True)
    ours, theirs = sae_module._Adam([a], 0.1), torch.optim.Adam([b], lr=0.1)
    for step in range(5):
        for p in (a, b):
            p.grad = None
            ((p - step) ** 2 * torch.arange(1.0, 4.0)).sum().backward()
        ours.step()
        theirs.step()
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_bfloat16_autocast_recovers_the_planted_dictionary_too(planted):
    X, atoms, full = planted
    res = sae(X.chunk(time=5), n_features=48, k=4, sample_dims=SAMPLES, steps=1500,
              batch_size=256, lr=3e-3, seed=1, autocast=True, device="cpu")
    assert res.attrs["autocast"] == "bfloat16" and full.attrs["autocast"] == "none"
    cos = np.abs(atoms @ res.decoder.transpose("feature", "channel").values.T)
    assert (cos.max(axis=1) >= 0.9).mean() >= 0.9
    assert res.attrs["fvu"] <= 0.1
    # the products really ran in bfloat16: not the float32 run's weights
    assert not np.allclose(res.decoder.values, full.decoder.values, atol=1e-4)


def test_held_out_metrics_equal_numpy_on_the_held_out_tokens():
    X, _ = _planted(n=(1500, 1, 1), dim=16)
    X = X.isel(lat=0, lon=0, drop=True)
    res = sae(X, n_features=40, k=3, steps=150, batch_size=128, lr=3e-3, seed=2,
              holdout=0.2)
    # one block (in-memory input): its held-out rows are the seeded mask of block 0
    held = sae_module._holdout_mask(1500, 0, 2, 0.2)
    assert res.attrs["n_holdout"] == held.sum() > 200
    x = X.values[held].astype(np.float64)
    acts = sae_transform(res, X).values[held].astype(np.float64)
    rec = sae_reconstruct(res, X).values[held]
    fvu = ((x - rec) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
    on = acts > 0
    assert res.attrs["fvu"] == pytest.approx(fvu, rel=1e-6)  # acts: float32 from transform
    assert res.attrs["l0"] == pytest.approx(on.sum(1).mean(), rel=1e-12)
    assert res.attrs["dead_fraction"] == pytest.approx((on.sum(0) == 0).mean())
    assert res.attrs["dense_fraction"] == pytest.approx((on.mean(0) > 0.1).mean())
    assert 0 < res.attrs["dense_fraction"] < 1 or 0 < res.attrs["dead_fraction"] < 1
