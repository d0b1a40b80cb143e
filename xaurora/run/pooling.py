"""Area-weighted pooled statistics of a field over its grid: one kernel, on NumPy or on the
model's device.

``pool`` (:mod:`xaurora.analysis.pool`) runs :func:`pool_array` on host arrays; ``embed(...,
pool=...)`` runs :func:`pool_tensor` on the layer's tokens where the model ran, so that only the
pooled values are copied back (a 0.25° sample's encoder tokens are 506 MiB; its pooled mean,
std and rms a few KiB). Both compute the same sums in float64 — shifted by a per-row value so
that ``std`` does not cancel — over blocks of latitude rows (memory: a block, not the field),
and finish them with the same arithmetic (:func:`_finish`), so the two agree to round-off.

>>> import numpy as np
>>> x = np.arange(8.0).reshape(1, 2, 4)          # (row, lat, lon)
>>> w = np.full((1, 2, 4), 1 / 8)                # one region, equal weights
>>> pool_array(x, w, ("mean", "rms")).round(4).tolist()
[[[3.5, 4.1833]]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["BLOCK_ELEMENTS", "STATS", "pool_array", "pool_tensor", "pool_tokens"]

STATS = ("mean", "std", "rms")
#: float64 elements per working block (~32 MB)
BLOCK_ELEMENTS = 4_000_000


def _rows_per_block(n_rows: int, n_lon: int) -> int:
    return max(1, BLOCK_ELEMENTS // max(1, n_rows * n_lon))


def _finish(shift, s1, s2, stats: Sequence[str], sqrt, clip0, stack):
    """Mean/std/rms from sums of ``x − shift`` and its square (weights sum to 1 per region)."""
    var = clip0(s2 - s1**2)
    parts = {
        "mean": lambda: shift + s1,
        "std": lambda: sqrt(var),
        "rms": lambda: sqrt(clip0(s2 + 2.0 * shift * s1 + shift**2)),
    }
    return stack([parts[s]() for s in stats])


def pool_array(x: np.ndarray, weights: np.ndarray, stats: Sequence[str]) -> np.ndarray:
    """NumPy kernel: ``x`` (..., lat, lon), ``weights`` (region, lat, lon) → (..., region, stat).

    ``x`` may be a transposed view: it is copied one block of rows at a time, never whole.
    """
    lead = x.shape[:-2]
    n_lat, n_lon = x.shape[-2:]
    n_rows = int(np.prod(lead, dtype=np.int64))
    w = weights.reshape(weights.shape[0], n_lat * n_lon)
    step = _rows_per_block(n_rows, n_lon)
    shift = np.ascontiguousarray(x[..., n_lat // 2, :], dtype=np.float64)
    shift = shift.reshape(n_rows, n_lon).mean(axis=1, keepdims=True)
    s1 = np.zeros((n_rows, w.shape[0]))
    s2 = np.zeros((n_rows, w.shape[0]))
    for i0 in range(0, n_lat, step):
        i1 = min(n_lat, i0 + step)
        c = np.ascontiguousarray(x[..., i0:i1, :], dtype=np.float64).reshape(n_rows, -1)
        c -= shift
        wb = w[:, i0 * n_lon : i1 * n_lon].T
        s1 += c @ wb
        c *= c
        s2 += c @ wb
    res = _finish(shift, s1, s2, stats, np.sqrt, lambda a: np.maximum(a, 0.0),
                  lambda parts: np.stack(parts, axis=-1))
    return res.reshape(*lead, w.shape[0], len(stats))


def pool_tensor(x, weights: np.ndarray, stats: Sequence[str]):
    """The same as :func:`pool_array` for a torch tensor, on its device, in float64."""
    import torch  # heavy

    lead = tuple(x.shape[:-2])
    n_lat, n_lon = x.shape[-2:]
    n_rows = int(np.prod(lead, dtype=np.int64))
    x = x.reshape(n_rows, n_lat, n_lon)
    w = torch.as_tensor(weights.reshape(weights.shape[0], n_lat * n_lon), dtype=torch.float64,
                        device=x.device)
    step = _rows_per_block(n_rows, n_lon)
    shift = x[:, n_lat // 2, :].double().mean(dim=1, keepdim=True)
    s1 = torch.zeros((n_rows, w.shape[0]), dtype=torch.float64, device=x.device)
    s2 = torch.zeros_like(s1)
    for i0 in range(0, n_lat, step):
        i1 = min(n_lat, i0 + step)
        c = x[:, i0:i1, :].double().reshape(n_rows, -1) - shift
        wb = w[:, i0 * n_lon : i1 * n_lon].T
        s1 += c @ wb
        c.mul_(c)
        s2 += c @ wb
    res = _finish(shift, s1, s2, stats, torch.sqrt, lambda a: torch.clamp(a, min=0.0),
                  lambda parts: torch.stack(parts, dim=-1))
    return res.reshape(*lead, w.shape[0], len(stats))


def pool_tokens(values, weights: np.ndarray, stats: Sequence[str]):
    """A layer's values (..., lat, lon, channel) pooled to (..., channel, region, stat):
    on the tensor's device for a torch tensor, with NumPy for an array."""
    if isinstance(values, np.ndarray):
        return pool_array(np.moveaxis(values, -1, -3), weights, stats)
    return pool_tensor(values.movedim(-1, -3), weights, stats)
