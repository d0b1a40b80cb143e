"""Sparse autoencoders (SAEs) on latents: features nobody labelled (``X.aurora.sae``).

A TopK SAE (Gao et al. 2024, "Scaling and evaluating sparse autoencoders") rewrites each token
``x`` as a few active features out of ``n_features``:

    pre  = (x − b_dec) · encoder + b_enc,   acts = ReLU(keep the k largest of pre)
    x̂    = acts · decoder + b_dec           (decoder rows unit length)

Training streams shuffled minibatches out of the chunks: blocks of rows are read in a seeded
random order into a shuffle buffer, so Dask input is never materialised whole; a seeded random
``holdout`` fraction of tokens is never trained on and gives the reported FVU (fraction of
variance unexplained), L0 and dead/dense fractions. Adam, the encoder initialised as the
decoder's transpose, ``b_dec`` at the tokens' mean, decoder rows renormalised after each step,
and the auxiliary loss that revives dead features (features silent for ``dead_tokens`` tokens
reconstruct the residual with their top ``k_aux``; weight 1/32). Inside, tokens are divided by
one scalar (their mean distance from the mean) so that the learning rate does not depend on the
data's units; the result is folded back, so its weights act on the data as given.

Why plain torch: the SAE packages on the registry are built for language models (their token
sources, hooks and trainers) and pull heavy stacks; the model here is a dozen lines.

>>> import numpy as np, xarray as xr
>>> rng = np.random.default_rng(0)
>>> atoms = rng.normal(size=(8, 6))
>>> codes = rng.random((2000, 8)) * (rng.random((2000, 8)) < 0.2)
>>> X = xr.DataArray(codes @ atoms, dims=("time", "channel"))
>>> res = sae(X, n_features=16, k=3, steps=300, batch_size=256)
>>> res.decoder.dims, res.attrs["k"], res.attrs["fvu"] < 0.5
(('feature', 'channel'), 3, True)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

import numpy as np
import xarray as xr

from xaurora.analysis.chunked import ROWS_PER_STEP, is_lazy, rows_chunked
from xaurora.analysis.pca import coords_on
from xaurora.analysis.stacking import Stacker
from xaurora.errors import XauroraError
from xaurora.run.edit import topk_relu

__all__ = ["sae", "sae_reconstruct", "sae_transform"]

#: Rows held in the shuffle buffer, in minibatches.
BUFFER_BATCHES = 32
#: Weight of the auxiliary (dead-feature) loss, and how many dead features it uses at most.
AUX_WEIGHT, AUX_K = 1.0 / 32, 512


def sae(X: xr.DataArray, n_features: int, k: int, sample_dims: Sequence[str] = ("time",),
        steps: int | None = None, batch_size: int = 4096, lr: float | None = None,
        holdout: float = 0.1, seed: int = 0, device: str | None = None,
        dead_tokens: int | None = None, autocast: bool = False) -> xr.Dataset:
    """Train a TopK SAE on the tokens of ``X`` (samples along ``sample_dims``).

    ``steps``: minibatches (default: two passes over the training tokens, 200 … 20 000);
    ``lr``: Adam's rate (default 2e-4 · √(16 384 / n_features), Gao et al.'s scaling);
    ``holdout``: the seeded fraction of tokens kept out of training for the metrics;
    ``device``: torch device (default: CUDA when available); ``dead_tokens``: a feature silent
    for this many training tokens is dead (default: ten minibatches' worth, at least 4 096);
    ``autocast``: the encoder and decoder products in bfloat16 (``torch.autocast``; weights,
    Adam's moments and the loss stay float32), for speed on a GPU; attr ``autocast`` says which.

    Returns an ``xr.Dataset`` with ``encoder`` (feature dims, ``feature``), ``b_enc``
    (``feature``), ``decoder`` (``feature``, feature dims; unit rows over all feature dims),
    ``b_dec`` (feature dims) and attrs ``k``, ``sample_dims``, ``feature_dims``,
    ``n_tokens_seen`` (steps × batch_size), held-out ``fvu``, ``l0``, ``dead_fraction``
    (never active on the held-out tokens) and ``dense_fraction`` (active on > 10 % of them).
    Same seed, data and chunks → the same result on the CPU.
    """
    import torch  # heavy

    stk = Stacker.of(X, sample_dims)
    n_features, k = _checked(stk, n_features, k, holdout, batch_size)
    arr = rows_chunked(X, stk)
    blocks = _block_list(arr, len(stk.sample_dims))
    n_total = stk.n_samples
    n_train_est = int(n_total * (1 - holdout))
    steps = int(steps) if steps is not None else int(np.clip(
        math.ceil(2 * n_train_est / batch_size), 200, 20_000))
    lr = float(lr) if lr is not None else 2e-4 * math.sqrt(2**14 / n_features)
    dead_tokens = int(dead_tokens) if dead_tokens is not None else max(4096, 10 * batch_size)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    gen = torch.Generator().manual_seed(int(seed))
    rows = _Stream(blocks, stk.n_features, holdout, seed, batch_size * BUFFER_BATCHES)

    first = rows.peek()
    mean = first.mean(axis=0)
    scale = float(np.sqrt(((first - mean) ** 2).sum(axis=1)).mean()) or 1.0
    F = stk.n_features
    W_dec = torch.randn(n_features, F, generator=gen, dtype=torch.float32)
    W_dec /= W_dec.norm(dim=1, keepdim=True)
    params = {"W_dec": W_dec, "W_enc": W_dec.T.clone(), "b_enc": torch.zeros(n_features),
              "b_dec": torch.from_numpy((mean / scale).astype(np.float32))}
    params = {n: p.to(dev).requires_grad_(True) for n, p in params.items()}
    opt = _Adam(list(params.values()), lr)
    silent = torch.zeros(n_features, device=dev)  # training tokens since each last fired
    k_aux = min(AUX_K, n_features // 2)
    half = _half(dev, autocast)
    for _ in range(steps):
        x = torch.from_numpy(rows.batch(batch_size) / scale).to(dev)
        with half():
            pre = ((x - params["b_dec"]) @ params["W_enc"]).float() + params["b_enc"]
            acts = topk_relu(pre, k)
            recon = (acts @ params["W_dec"]).float() + params["b_dec"]
        var = ((x - x.mean(0)) ** 2).sum()
        loss = ((recon - x) ** 2).sum() / var
        silent += x.shape[0]
        silent[(acts > 0).any(0)] = 0
        dead = silent > dead_tokens
        if dead.any() and k_aux > 0:  # dead features learn to explain what the others miss
            resid = (x - recon).detach()
            dead_pre = pre.masked_fill(~dead, -torch.inf)
            aux = topk_relu(dead_pre, min(k_aux, int(dead.sum()))).nan_to_num(0.0)
            with half():
                aux_rec = (aux @ params["W_dec"]).float()
            loss = loss + AUX_WEIGHT * ((aux_rec - resid) ** 2).sum() / var
        for p in params.values():
            p.grad = None
        loss.backward()
        opt.step()
        with torch.no_grad():
            params["W_dec"] /= params["W_dec"].norm(dim=1, keepdim=True).clamp_min(1e-12)
    weights = {n: p.detach().cpu().numpy().astype(np.float64) for n, p in params.items()}
    # fold the internal scale back: the weights act on the tokens as given
    weights["b_enc"] *= scale
    weights["b_dec"] *= scale
    res = _as_dataset(weights, X, stk, k)
    metrics = _held_out(res, blocks, stk, holdout, seed, dev)
    res.attrs.update(n_tokens_seen=int(steps) * int(batch_size), steps=int(steps),
                     batch_size=int(batch_size), lr=lr, holdout=float(holdout), seed=int(seed),
                     autocast="bfloat16" if autocast else "none", **metrics)
    return res


def _half(dev, autocast: bool):
    """A context for the SAE's products: bfloat16 autocast on ``dev``, or nothing."""
    import torch  # heavy

    if not autocast:
        return contextlib.nullcontext
    return lambda: torch.autocast(device_type=dev.type, dtype=torch.bfloat16)


class _Adam:
    """Adam (Kingma & Ba; torch's defaults: β = 0.9, 0.999, ε = 1e-8), written out: importing
    ``torch.optim`` loads TorchDynamo, six seconds before the first step."""

    def __init__(self, params: list, lr: float, betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        import torch  # heavy

        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    def step(self) -> None:
        import torch  # heavy

        self.t += 1
        b1, b2 = self.betas
        with torch.no_grad():
            for p, m, v in zip(self.params, self.m, self.v, strict=True):
                m.mul_(b1).add_(p.grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                denom = (v / (1 - b2**self.t)).sqrt_().add_(self.eps)
                p.addcdiv_(m, denom, value=-self.lr / (1 - b1**self.t))


def _checked(stk: Stacker, n_features, k, holdout, batch_size) -> tuple[int, int]:
    if int(n_features) < 1 or int(k) < 1 or int(k) > int(n_features):
        raise XauroraError(f"sae: needs 1 ≤ k ≤ n_features, got k={k}, n_features={n_features}. "
                           "Fix: e.g. n_features=4096, k=32.")
    if not 0.0 < float(holdout) < 1.0:
        raise XauroraError(f"holdout: {holdout!r} must lie strictly between 0 and 1. "
                           "Fix: e.g. holdout=0.1.")
    if stk.n_samples < 10:
        raise XauroraError(f"{stk.name}: {stk.n_samples} tokens are too few to train an SAE. "
                           "Fix: add samples (more times, or the lat/lon patches as samples).")
    return int(n_features), int(k)


def _block_list(arr, ns: int) -> list:
    """The row blocks of ``arr`` (samples…, features) as Dask arrays, in C order."""
    grid = arr.numblocks[:ns]
    return [arr.blocks[idx] for idx in np.ndindex(*grid)]


def _holdout_mask(n: int, block: int, seed: int, holdout: float) -> np.ndarray:
    """Which of a block's ``n`` rows are held out: seeded by (seed, block), chunk-stable."""
    return np.random.default_rng([int(seed), 7919, int(block)]).random(n) < holdout


def _rows(block, F: int) -> np.ndarray:
    values = block.compute() if is_lazy(block) else np.asarray(block)
    x = np.asarray(values, dtype=np.float32).reshape(-1, F)
    if not np.isfinite(x).all():
        raise XauroraError("X: contains NaN or infinite values. Fix: drop or fill them first "
                           "(e.g. .fillna(0)).")
    return x


class _Stream:
    """Training rows: blocks in a seeded random order (a new order each pass) through a
    shuffle buffer of ``capacity`` rows; the held-out rows of each block are left out."""

    def __init__(self, blocks, F: int, holdout: float, seed: int, capacity: int) -> None:
        self.blocks, self.F, self.holdout, self.seed = blocks, F, holdout, seed
        self.capacity = capacity
        self.rng = np.random.default_rng([int(seed), 104729])
        self.order: list[int] = []
        self.buffer = np.empty((0, F), np.float32)
        self.pos = 0

    def _next_block(self) -> np.ndarray:
        if not self.order:
            self.order = list(self.rng.permutation(len(self.blocks)))
        i = int(self.order.pop())
        x = _rows(self.blocks[i], self.F)
        return x[~_holdout_mask(x.shape[0], i, self.seed, self.holdout)]

    def _refill(self) -> None:
        parts, n = [self.buffer[self.pos:]], self.buffer.shape[0] - self.pos
        while n < self.capacity:
            x = self._next_block()
            parts.append(x)
            n += x.shape[0]
            if len(parts) > 4 * len(self.blocks) + 2 and n > 0:
                break  # fewer training rows than the buffer holds: use them all
        self.buffer = np.concatenate(parts)[self.rng.permutation(n)]
        self.pos = 0

    def peek(self) -> np.ndarray:
        if self.buffer.shape[0] - self.pos == 0:
            self._refill()
        return self.buffer[self.pos:]

    def batch(self, size: int) -> np.ndarray:
        if self.buffer.shape[0] - self.pos < max(size, self.capacity // 2):
            self._refill()
        out = self.buffer[self.pos : self.pos + size]
        self.pos += out.shape[0]
        return out


def _as_dataset(w: dict, X: xr.DataArray, stk: Stacker, k: int) -> xr.Dataset:
    fdims = stk.feature_dims
    shape = [X.sizes[d] for d in fdims]
    n = w["W_dec"].shape[0]
    coords = {**coords_on(X, fdims), "feature": ("feature", np.arange(n))}
    return xr.Dataset(
        {
            "encoder": ((*fdims, "feature"), w["W_enc"].reshape(*shape, n),
                        {"long_name": "encoder weights"}),
            "b_enc": ("feature", w["b_enc"], {"long_name": "encoder bias"}),
            "decoder": (("feature", *fdims), w["W_dec"].reshape(n, *shape),
                        {"long_name": "decoder rows (unit length): feature directions"}),
            "b_dec": (fdims, w["b_dec"].reshape(shape),
                      {"long_name": "decoder bias, subtracted before encoding"}),
        },
        coords=coords,
        attrs={"k": int(k), "sample_dims": " ".join(stk.sample_dims),
               "feature_dims": " ".join(fdims), "estimator": "TopK sparse autoencoder",
               **{a: v for a, v in X.attrs.items() if a in ("model", "layer", "patch_size")}},
    )


def _encode(x: np.ndarray, w_enc, b_enc, b_dec, k: int) -> np.ndarray:
    """TopK-ReLU activations of rows ``x`` (float64 arithmetic, float32 result).

    Walked :data:`ROWS_PER_STEP` rows at a time: the float64 pre-activations are rows ×
    features, several times the float32 result for a wide SAE.
    """
    x = np.asarray(x)
    rows = x.reshape(-1, x.shape[-1])
    out = np.empty((rows.shape[0], w_enc.shape[1]), np.float32)
    for start in range(0, rows.shape[0], ROWS_PER_STEP):
        part = slice(start, start + ROWS_PER_STEP)
        pre = (rows[part].astype(np.float64) - b_dec) @ w_enc + b_enc
        keep = np.argpartition(pre, -k, axis=-1)[:, -k:]
        acts = np.zeros_like(pre)
        np.put_along_axis(acts, keep, np.maximum(np.take_along_axis(pre, keep, -1), 0.0), -1)
        out[part] = acts
    return out.reshape(*x.shape[:-1], w_enc.shape[1])


def _arrays(res: xr.Dataset):
    """Feature dims, then encoder (F, n), b_enc, b_dec (F), decoder (n, F) and k of a result."""
    fdims = tuple(res.attrs["feature_dims"].split())
    n = res.sizes["feature"]
    return (fdims, res["encoder"].transpose(*fdims, "feature").values.reshape(-1, n),
            res["b_enc"].values, res["b_dec"].transpose(*fdims).values.ravel(),
            res["decoder"].transpose("feature", *fdims).values.reshape(n, -1),
            int(res.attrs["k"]))


def _weights(res: xr.Dataset, X: xr.DataArray):
    """:func:`_arrays`, once ``X`` has the feature dims the SAE was trained on."""
    if not isinstance(res, xr.Dataset) or "decoder" not in res or "k" not in res.attrs:
        raise TypeError("sae: expected the xr.Dataset returned by xaurora.analysis.sae (with "
                        f"'encoder', 'decoder' and attr 'k'), got {type(res).__name__}.")
    fdims = tuple(res.attrs["feature_dims"].split())
    missing = [d for d in fdims if d not in X.dims]
    if missing:
        raise XauroraError(f"{X.name or 'X'}: lacks the feature dim(s) {missing} the SAE was "
                           f"trained on ({fdims}). Fix: select/pool it the same way.")
    return _arrays(res)


def sae_transform(sae: xr.Dataset, X: xr.DataArray) -> xr.DataArray:
    """The SAE's activations on ``X``: ``X``'s sample dims and ``feature`` (float32, zeros where
    inactive); lazy on Dask input."""
    fdims, w_enc, b_enc, b_dec, _, k = _weights(sae, X)
    flat = X.stack(_f=fdims) if len(fdims) > 1 else X.rename({fdims[0]: "_f"})
    flat = flat.drop_vars([c for c in flat.coords if "_f" in flat[c].dims])
    if flat.chunks is not None:
        flat = flat.chunk({"_f": -1})
    out = xr.apply_ufunc(_encode, flat, kwargs={"w_enc": w_enc, "b_enc": b_enc,
                                                "b_dec": b_dec, "k": k},
                         input_core_dims=[["_f"]], output_core_dims=[["feature"]],
                         dask="parallelized", output_dtypes=[np.float32],
                         dask_gufunc_kwargs={"output_sizes": {"feature": w_enc.shape[1]}})
    return out.assign_coords(feature=sae["feature"].values).rename("activation").assign_attrs(
        long_name="SAE feature activation")


def sae_reconstruct(sae: xr.Dataset, X: xr.DataArray) -> xr.DataArray:
    """``X`` rebuilt by the SAE: ``acts · decoder + b_dec`` (lazy on Dask input)."""
    acts = sae_transform(sae, X)
    rec = xr.dot(acts.astype(np.float64), sae["decoder"].drop_vars(
        [c for c in sae["decoder"].coords if c != "feature"]), dim="feature") + sae[
        "b_dec"].drop_vars(list(sae["b_dec"].coords))
    rec = rec.transpose(*X.dims).assign_coords({c: X[c] for c in X.coords
                                                if set(X[c].dims) <= set(X.dims)})
    return rec.rename(X.name).assign_attrs({**X.attrs, "long_name": "SAE reconstruction"})


def _held_out(res: xr.Dataset, blocks, stk: Stacker, holdout: float, seed: int,
              dev) -> dict:
    """FVU, L0, dead and dense fractions on the held-out tokens (one pass over the blocks).

    On the training device (a year's held-out tokens are a few TFLOP), in float64 like
    :func:`sae_transform`.
    """
    import torch  # heavy

    def on(a):
        return torch.as_tensor(np.asarray(a, np.float64), device=dev)

    _, w_enc, b_enc, b_dec, w_dec, k = (on(a) if isinstance(a, np.ndarray) else a
                                        for a in _arrays(res))
    n, sse, s2, l0 = 0, 0.0, 0.0, 0.0
    s1 = torch.zeros(w_enc.shape[0], dtype=torch.float64, device=dev)
    active = torch.zeros(w_enc.shape[1], dtype=torch.float64, device=dev)
    F = stk.n_features
    for i, block in enumerate(blocks):
        rows = _rows(block, F)
        rows = rows[_holdout_mask(rows.shape[0], i, seed, holdout)]
        # a few thousand rows at a time: the activations are rows × features, float64
        for start in range(0, rows.shape[0], ROWS_PER_STEP):
            x = on(rows[start : start + ROWS_PER_STEP])
            acts = topk_relu((x - b_dec) @ w_enc + b_enc, k)
            rec = acts @ w_dec + b_dec
            sse += float(((x - rec) ** 2).sum())
            s1 += x.sum(0)
            s2 += float((x**2).sum())
            fired = acts > 0
            active += fired.sum(0)
            l0 += float(fired.sum())
            n += x.shape[0]
    if n == 0:
        return {"fvu": float("nan"), "l0": float("nan"), "dead_fraction": float("nan"),
                "dense_fraction": float("nan"), "n_holdout": 0}
    total = s2 - float((s1**2).sum()) / n
    return {"fvu": sse / total if total > 0 else float("nan"), "l0": l0 / n,
            "dead_fraction": float((active == 0).double().mean()),
            "dense_fraction": float((active > 0.1 * n).double().mean()), "n_holdout": int(n)}
