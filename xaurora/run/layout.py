"""Token layout: how a layer's ``(batch, tokens, channel)`` tensor maps onto (level, lat, lon,
channel), on the patch grid or a grid merged by the backbone's patch merges; and the ``inputs``
pseudo-layer (the normalised input cut into patches, one channel per variable, level, history
step and pixel).

>>> import numpy as np
>>> lay = tokens_layout((1, 4 * 8 * 16, 512), 1, np.arange(8.0), np.arange(16.0), 4, "encoder")
>>> lay.levels, lay.lat.size, lay.lon.size, lay.n_channel
(['surface', 'latent_1', 'latent_2', 'latent_3'], 8, 16, 512)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xaurora.errors import XauroraError
from xaurora.io.names import STATIC_PREFIX


@dataclass
class Layout:
    """How a layer's token tensor maps onto (level, lat, lon, channel)."""

    levels: list[str]
    lat: np.ndarray
    lon: np.ndarray
    n_channel: int
    channel_coords: dict | None = None


def _merged_coords(c: np.ndarray, k: int) -> np.ndarray:
    """Patch-centre coordinates after k Swin patch merges (pairs averaged, odd end kept)."""
    for _ in range(k):
        if c.size % 2:
            c = np.append(c, c[-1])
        c = c.reshape(-1, 2).mean(axis=1)
    return c


def _level_names(n: int, latent_levels: int) -> list[str]:
    if n == latent_levels:
        return ["surface"] + [f"latent_{i}" for i in range(1, n)]
    if n == 1:
        return ["surface"]
    return [f"level_{i}" for i in range(n)]


def tokens_layout(shape, batch_size: int, lat_c, lon_c, latent_levels: int, layer: str) -> Layout:
    """Infer (levels, grid) of a ``(B, L', D)`` token tensor on the patch grid or a merged one."""
    if len(shape) != 3 or shape[0] != batch_size:
        raise XauroraError(
            f"layer: {layer!r} outputs shape {tuple(shape)}, not tokens (batch, tokens, channel). "
            f"Fix: choose a layer whose output is laid out as tokens, e.g. 'encoder', 'backbone' "
            f"or a 'backbone.encoder_layers.N' block."
        )
    # Token counts can coincide across grids (4 levels on a merged grid = 1 level on the full
    # one), so prefer the grid on which the levels are Aurora's latent levels.
    fits = []
    for k in range(6):
        la, lo = _merged_coords(lat_c, k), _merged_coords(lon_c, k)
        if shape[1] % (la.size * lo.size) == 0:
            fits.append((shape[1] // (la.size * lo.size), la, lo))
    fits.sort(key=lambda f: f[0] != latent_levels)
    if fits:
        n, la, lo = fits[0]
        return Layout(_level_names(n, latent_levels), la, lo, int(shape[2]))
    raise XauroraError(f"layer: cannot lay out {shape[1]} tokens of {layer!r} on the patch grid.")


def input_features(batch, p: int) -> tuple[np.ndarray, dict]:
    """Normalised input Batch → (B, h, w, F) patches and the channel labels."""
    import torch  # heavy

    blocks, var, lev, hist, pix = [], [], [], [], []

    def add(x, name, level, history):  # x: (B, H, W)
        b, h, w = x.shape
        patches = x.reshape(b, h // p, p, w // p, p).permute(0, 1, 3, 2, 4).reshape(
            b, h // p, w // p, p * p
        )
        blocks.append(patches)
        var.extend([name] * p * p)
        lev.extend([level] * p * p)
        hist.extend([history] * p * p)
        pix.extend(range(p * p))

    for name, x in batch.surf_vars.items():
        for t in range(x.shape[1]):
            add(x[:, t], name, 0, t)
    for name, x in batch.static_vars.items():  # "static_z": never the same as atmospheric "z"
        add(x[:, 0] if x.dim() == 4 else x[None].expand(blocks[0].shape[0], -1, -1),
            STATIC_PREFIX + name, 0, -1)
    levels = batch.metadata.atmos_levels
    for name, x in batch.atmos_vars.items():
        for c, level in enumerate(levels):
            for t in range(x.shape[1]):
                add(x[:, t, c], name, int(level), t)
    feats = torch.cat(blocks, dim=-1).float().cpu().numpy()
    coords = {
        "channel_variable": ("channel", np.array(var, dtype=str)),
        "channel_level": ("channel", np.array(lev, dtype=np.int64)),
        "channel_history": ("channel", np.array(hist, dtype=np.int64)),
        "channel_pixel": ("channel", np.array(pix, dtype=np.int64)),
    }
    return feats[:, None], coords
