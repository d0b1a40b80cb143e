"""An FS-AE-like HEALPix autoencoder: nested attention pooling of 4 children → parent, N times.

A small, random-weight model *of the kind* of the Field-Space Autoencoder (Meuer & Witte,
2026), for tests, docs and the demo — not its architecture or weights. Each input field
(variable × pressure level × history step) lives on the cells of a nested HEALPix grid of
``level`` L, where the four children of cell p are cells 4p … 4p+3. Every field goes through
the same network (a learned field embedding tells them apart):

* lift each cell value to ``hidden`` features;
* ``depth`` times: each parent cell's query attends over its four children (softmax over the
  children's keys), then a small residual MLP — level L → L−1;
* project to ``latent_channels`` per field: latents on level L − depth, so the compression is
  ``4^depth / latent_channels`` per field;
* the decoder mirrors it: each parent spawns four children (one linear map per child
  position) plus a residual MLP, back to level L.

The weights are random (deterministic per ``seed``) around a near-identity value path, as
trained autoencoders are often initialised: the untrained model already passes a weighted
mean of the children through its first latent channel, so reconstruction errors grow with
the compression like a real autoencoder's, which makes the metrics and plots meaningful.

>>> import numpy as np, xarray as xr
>>> enc = fsae_encoder(level=3, depth=2, variables=("2t",), seed=0)
>>> cells = xr.Dataset({"2t": (("time", "cells"), np.full((1, 768), 280.0, np.float32))},
...                    coords={"cell_ids": ("cells", np.arange(768))})
>>> z = enc.encode(cells)
>>> z.shape, enc.grid
((48, 1), HEALPix(level=1, indexing='nested'))
>>> rec = enc.decode(xr.DataArray(z, dims=("cells", "channel")))
>>> rec["2t"].dims, bool(abs(float(rec["2t"].mean()) - 280.0) < 5.0)
(('cells',), True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import torch
import xarray as xr
from torch import nn

from xaurora.encoders.base import Encoder
from xaurora.encoders.reference._fields import Fields
from xaurora.errors import XauroraError
from xaurora.grids import HEALPix

__all__ = ["HealpixAutoencoder", "fsae_encoder"]


def near_identity_(linear: nn.Linear, noise: float) -> nn.Linear:
    """Set ``linear`` to a (rectangular) identity plus ``noise``-scaled random weights."""
    with torch.no_grad():
        out_f, in_f = linear.weight.shape
        eye = torch.eye(max(out_f, in_f))[:out_f, :in_f]
        linear.weight.copy_(eye + noise * torch.randn(out_f, in_f) / math.sqrt(in_f))
        if linear.bias is not None:
            linear.bias.zero_()
    return linear


def small_mlp(d: int, noise: float) -> nn.Sequential:
    """A residual branch ``d → 2d → d`` whose output starts ``noise``-small."""
    mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
    with torch.no_grad():
        mlp[2].weight.mul_(noise)
        mlp[2].bias.zero_()
    return mlp


class ChildAttentionPool(nn.Module):
    """Four nested children → their parent: the parent's query attends over the children."""

    def __init__(self, d: int, noise: float):
        super().__init__()
        self.query = nn.Linear(d, d)
        self.key = nn.Linear(d, d)
        self.value = near_identity_(nn.Linear(d, d), noise)
        self.mix = small_mlp(d, noise)
        self.scale = 1.0 / math.sqrt(d)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, n, d) → (B, n/4, d)
        c = h.unflatten(1, (-1, 4))                       # (B, n/4, 4 children, d)
        q = self.query(c.mean(2))                         # (B, n/4, d)
        att = torch.softmax((self.key(c) @ q.unsqueeze(-1)).squeeze(-1) * self.scale, dim=-1)
        p = (att.unsqueeze(-1) * self.value(c)).sum(2)
        return p + self.mix(p)


class ChildUnpool(nn.Module):
    """A parent → its four nested children (one linear map per child position)."""

    def __init__(self, d: int, noise: float):
        super().__init__()
        self.expand = nn.Linear(d, 4 * d)
        with torch.no_grad():
            for j in range(4):
                block = nn.Linear(d, d)
                near_identity_(block, noise)
                self.expand.weight[j * d:(j + 1) * d] = block.weight
            self.expand.bias.zero_()
        self.mix = small_mlp(d, noise)
        self.d = d

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # (B, n, d) → (B, 4n, d)
        c = self.expand(h).unflatten(-1, (4, self.d)).flatten(1, 2)
        return c + self.mix(c)


class HealpixAutoencoder(nn.Module):
    """FS-AE-like autoencoder of ``n_fields`` fields on nested HEALPix cells (module docstring).

    ``encode``: ``(n_fields, 12·4^L)`` → ``(n_fields, 12·4^(L−depth), latent_channels)``;
    ``decode`` the reverse.
    """

    def __init__(self, n_fields: int, depth: int, hidden: int = 16, latent_channels: int = 1,
                 noise: float = 0.02, seed: int = 0):
        super().__init__()
        if int(depth) != depth or depth < 1:
            raise XauroraError(f"depth: must be an integer ≥ 1, got {depth!r}.")
        if latent_channels > hidden:
            raise XauroraError(f"latent_channels={latent_channels} must be ≤ hidden={hidden}.")
        # Weights depend only on seed: a private generator state, restored afterwards.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.lift = near_identity_(nn.Linear(1, hidden), noise)
            emb = noise * torch.randn(n_fields, hidden)
            emb[:, 0] = 0.0                    # keep the value channel clean
            self.field_embedding = nn.Parameter(emb)
            self.down = nn.ModuleList(ChildAttentionPool(hidden, noise) for _ in range(depth))
            self.to_latent = near_identity_(nn.Linear(hidden, latent_channels), noise)
            self.from_latent = near_identity_(nn.Linear(latent_channels, hidden), noise)
            self.up = nn.ModuleList(ChildUnpool(hidden, noise) for _ in range(depth))
            self.to_field = near_identity_(nn.Linear(hidden, 1), noise)
        self.depth = int(depth)
        self.eval()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        h = self.lift(x.unsqueeze(-1)) + self.field_embedding.unsqueeze(1)
        for block in self.down:
            h = block(h)
        return self.to_latent(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.from_latent(z) + self.field_embedding.unsqueeze(1)
        for block in self.up:
            h = block(h)
        return self.to_field(h).squeeze(-1)


class HealpixCodec:
    """``encode``/``decode`` of a :class:`HealpixAutoencoder` on xarray samples (picklable)."""

    def __init__(self, model: HealpixAutoencoder, fields: Fields, level: int, by_level: bool):
        self.model, self.fields, self.level, self.by_level = model, fields, int(level), by_level

    def encode(self, sample: xr.Dataset) -> np.ndarray:
        n = 12 * 4 ** self.level
        if sample.sizes.get("cells") != n:
            raise XauroraError(
                f"cells: the encoder was built for HEALPix level {self.level} ({n} cells, "
                f"nested), the sample has {sample.sizes.get('cells')}. Fix: build it with "
                f"fsae_encoder(level=...) matching the data."
            )
        x = torch.from_numpy(self.fields.stack(sample, ("cells",)))
        with torch.no_grad():
            z = self.model.encode(x)                      # (fields, cells, k)
        z = z.numpy()
        if self.by_level:                                 # (history·vars·levels) → levels
            nl = len(self.fields.levels)
            z = z.reshape(-1, nl, *z.shape[1:])           # (history·vars, levels, cells, k)
            return np.ascontiguousarray(z.transpose(1, 2, 0, 3).reshape(nl, z.shape[2], -1))
        return np.ascontiguousarray(z.transpose(1, 0, 2).reshape(z.shape[1], -1))

    def decode(self, latent: xr.DataArray) -> xr.Dataset:
        if "level" in latent.dims and not self.by_level:   # embed's single "latent" level
            latent = latent.squeeze("level", drop=True)
        dims = ("level", "cells", "channel") if self.by_level else ("cells", "channel")
        z = np.asarray(latent.transpose(*dims).values, np.float32)
        k = self.model.to_latent.out_features
        if self.by_level:                                 # (levels, cells, hv·k)
            nl, nc = z.shape[0], z.shape[1]
            z = z.reshape(nl, nc, -1, k).transpose(2, 0, 1, 3).reshape(-1, nc, k)
        else:                                             # (cells, fields·k)
            z = z.reshape(z.shape[-2], -1, k).transpose(1, 0, 2)
        with torch.no_grad():
            x = self.model.decode(torch.from_numpy(np.ascontiguousarray(z))).numpy()
        grid = HEALPix(self.level)
        ids = xr.DataArray(grid.cell_ids, dims="cells", attrs=grid.cell_ids_attrs())
        return self.fields.unstack(x, {"cells": grid.n_cells}, {"cell_ids": ids})


def fsae_encoder(
    level: int = 6,
    depth: int = 2,
    variables: Sequence[str] = ("2t",),
    pressure_levels: Sequence[int] = (),
    history: int = 1,
    timestep: timedelta | None = None,
    hidden: int = 16,
    latent_channels: int = 1,
    by_level: bool = False,
    seed: int = 0,
    noise: float = 0.02,
    name: str = "fs-ae-like",
) -> Encoder:
    """An ``xa.Encoder`` around a random-weight FS-AE-like autoencoder (module docstring).

    Args:
        level: HEALPix level L of the input cells (nested; 12·4^L cells).
        depth: pooling steps N: latents on ``xa.grids.HEALPix(L − N)``.
        variables: input variables (any naming scheme); atmospheric ones need
            ``pressure_levels``.
        pressure_levels: the data's pressure levels (hPa) for atmospheric variables.
        history, timestep: input steps per sample, as ``xa.Encoder``.
        hidden: features per cell inside the network.
        latent_channels: latent channels per field: compression ``4^N / latent_channels``.
        by_level: latents shaped ``(level, cells, channel)`` with one level per pressure
            level (only atmospheric variables); else ``(cells, channel)`` with channels
            ordered (history step, variable, level, latent channel).
        seed: the weights are a function of the seed alone.
        noise: size of the random part of the weights around the near-identity value path.
        name: recorded as the ``model`` attr of results.
    """
    if not 0 < int(depth) <= int(level):
        raise XauroraError(f"depth={depth}: must be between 1 and level={level}.")
    fields = Fields.build(variables, pressure_levels, history)
    if by_level and not all(fields.atmos):
        raise XauroraError(
            "by_level=True: every variable must be atmospheric (one latent level per pressure "
            "level). Fix: drop the surface variables or use by_level=False."
        )
    model = HealpixAutoencoder(fields.n_fields, depth, hidden, latent_channels, noise, seed)
    codec = HealpixCodec(model, fields, level, by_level)
    levels = [f"{p}hPa" for p in fields.levels] if by_level else None
    return Encoder(codec.encode, grid=HEALPix(int(level) - int(depth)), variables=variables,
                   history=history, timestep=timestep, name=name, decode=codec.decode,
                   levels=levels)
