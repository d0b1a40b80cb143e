"""An Appa-like encoder: a latitude–longitude grid → icosphere mesh nodes, and back.

A small, random-weight model *of the kind* of Appa's graph autoencoder (Rozet et al., 2025),
for tests, docs and the demo — not its architecture or weights. Every input field (variable
× pressure level × history step) is a feature of the grid points; then

* each mesh node attends over its ``neighbours`` nearest grid points (query from the node's
  position, keys from the points' features and their offset from the node, a distance bias
  so nearer points count more), then a residual MLP, then a projection to ``channels``
  latent channels (256 by default, as Appa's latent);
* the decoder gives each grid point the distance-weighted mix of its three nearest nodes'
  features, a residual MLP and a projection back to the fields.

As for :mod:`xaurora.encoders.reference.healpix_ae`, the random weights sit around a near-identity
value path, so the untrained model reconstructs a smoothed field. Nearest neighbours come
from ``scipy.spatial.cKDTree`` on unit vectors.

>>> import numpy as np, xarray as xr
>>> lat, lon = np.linspace(90, -90, 19), np.arange(0, 360, 10.0)
>>> enc = appa_encoder(lat, lon, subdivisions=1, channels=8, variables=("2t",))
>>> sample = xr.Dataset({"2t": (("time", "lat", "lon"), np.full((1, 19, 36), 280.0))},
...                     coords={"lat": lat, "lon": lon})
>>> z = enc.encode(sample)
>>> z.shape, enc.grid.n_cells
((42, 8), 42)
>>> rec = enc.decode(xr.DataArray(z, dims=("cells", "channel")))
>>> rec["2t"].dims, bool(abs(float(rec["2t"].mean()) - 280.0) < 5.0)
(('lat', 'lon'), True)
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
from xaurora.encoders.reference.healpix_ae import near_identity_, small_mlp
from xaurora.encoders.reference.icosphere import icosphere, icosphere_grid, lat_lon_to_xyz
from xaurora.errors import XauroraError

__all__ = ["MeshAutoencoder", "appa_encoder"]

# Values per block of gathered neighbourhoods (nodes × neighbours × features): bounds the
# memory on a 0.25° grid (about a million points) to some tens of MB per tensor.
BLOCK_VALUES = 1 << 22


class MeshAutoencoder(nn.Module):
    """Grid points ``(n_fields, P)`` ↔ mesh node latents ``(M, channels)`` (module docstring)."""

    def __init__(self, n_fields: int, grid_xyz: np.ndarray, mesh_xyz: np.ndarray,
                 channels: int = 256, hidden: int = 32, neighbours: int | None = None,
                 noise: float = 0.02, seed: int = 0):
        super().__init__()
        from scipy.spatial import cKDTree  # heavy

        hidden = max(int(hidden), int(n_fields))           # room for every field's value
        n_pts, n_nodes = len(grid_xyz), len(mesh_xyz)
        # Enough neighbours that the nodes' neighbourhoods cover the grid (≈ 2× overlap).
        k = int(neighbours or max(4, math.ceil(2 * n_pts / n_nodes)))
        k = min(k, n_pts)
        d_enc, i_enc = cKDTree(grid_xyz).query(mesh_xyz, k=k)
        d_dec, i_dec = cKDTree(mesh_xyz).query(grid_xyz, k=min(3, n_nodes))
        spacing = float(np.median(d_dec[:, 0])) + 2.0 / math.sqrt(n_nodes)
        self.register_buffer("enc_idx", torch.as_tensor(i_enc.reshape(n_nodes, -1)))
        self.register_buffer("enc_dist", torch.as_tensor(d_enc.reshape(n_nodes, -1),
                                                         dtype=torch.float32) / spacing)
        off = grid_xyz[i_enc.reshape(n_nodes, -1)] - mesh_xyz[:, None, :]
        self.register_buffer("enc_offset", torch.as_tensor(off / spacing, dtype=torch.float32))
        self.register_buffer("node_xyz", torch.as_tensor(mesh_xyz, dtype=torch.float32))
        w = np.exp(-(d_dec.reshape(n_pts, -1) / spacing) ** 2 * 4.0)
        self.register_buffer("dec_idx", torch.as_tensor(i_dec.reshape(n_pts, -1)))
        self.register_buffer("dec_weight", torch.as_tensor(w / w.sum(1, keepdims=True),
                                                           dtype=torch.float32))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            self.lift = near_identity_(nn.Linear(n_fields, hidden), noise)
            self.offset = nn.Linear(3, hidden)
            with torch.no_grad():
                self.offset.weight.mul_(noise)
                self.offset.weight[:n_fields] = 0.0      # offsets never leak into values
                self.offset.bias.zero_()
            self.query = nn.Linear(3, hidden)
            self.key = nn.Linear(hidden, hidden)
            self.value = near_identity_(nn.Linear(hidden, hidden), noise)
            self.enc_mix = small_mlp(hidden, noise)
            self.to_latent = near_identity_(nn.Linear(hidden, channels), noise)
            self.from_latent = near_identity_(nn.Linear(channels, hidden), noise)
            self.dec_mix = small_mlp(hidden, noise)
            self.to_field = near_identity_(nn.Linear(hidden, n_fields), noise)
        self.scale = 1.0 / math.sqrt(hidden)
        self.eval()

    def encode(self, x: torch.Tensor) -> torch.Tensor:      # (F, P) → (M, channels)
        feats = x.T                                          # (P, F)
        out = []
        n_nodes, k = self.enc_idx.shape
        step = max(1, BLOCK_VALUES // (k * self.key.in_features))
        for s in range(0, n_nodes, step):
            idx = self.enc_idx[s:s + step]                   # (m, K)
            h = self.lift(feats[idx]) + self.offset(self.enc_offset[s:s + step])
            q = self.query(self.node_xyz[s:s + step])        # (m, hidden)
            score = (self.key(h) @ q.unsqueeze(-1)).squeeze(-1) * self.scale
            att = torch.softmax(score - self.enc_dist[s:s + step] ** 2, dim=-1)
            p = (att.unsqueeze(-1) * self.value(h)).sum(1)
            out.append(self.to_latent(p + self.enc_mix(p)))
        return torch.cat(out)

    def decode(self, z: torch.Tensor) -> torch.Tensor:      # (M, channels) → (F, P)
        h_nodes = self.from_latent(z)
        out = []
        n_pts, k = self.dec_idx.shape
        step = max(1, BLOCK_VALUES // (k * h_nodes.shape[1]))
        for s in range(0, n_pts, step):
            h = (self.dec_weight[s:s + step].unsqueeze(-1)
                 * h_nodes[self.dec_idx[s:s + step]]).sum(1)
            out.append(self.to_field(h + self.dec_mix(h)))
        return torch.cat(out).T


class MeshCodec:
    """``encode``/``decode`` of a :class:`MeshAutoencoder` on xarray samples (picklable)."""

    def __init__(self, model: MeshAutoencoder, fields: Fields, lat: np.ndarray, lon: np.ndarray):
        self.model, self.fields, self.lat, self.lon = model, fields, lat, lon

    def encode(self, sample: xr.Dataset) -> np.ndarray:
        shape = (sample.sizes.get("lat"), sample.sizes.get("lon"))
        if shape != (self.lat.size, self.lon.size):
            raise XauroraError(
                f"lat/lon: the encoder was built for a {self.lat.size}×{self.lon.size} grid, "
                f"the sample is {shape[0]}×{shape[1]}. Fix: build it with "
                f"appa_encoder(ds.latitude, ds.longitude, ...) of the data."
            )
        x = torch.from_numpy(self.fields.stack(sample, ("lat", "lon")))
        with torch.no_grad():
            return self.model.encode(x).numpy()

    def decode(self, latent: xr.DataArray) -> xr.Dataset:
        if "level" in latent.dims:
            latent = latent.squeeze("level", drop=True)
        z = torch.from_numpy(np.asarray(latent.transpose("cells", "channel").values,
                                        np.float32))
        with torch.no_grad():
            x = self.model.decode(z).numpy()
        return self.fields.unstack(x, {"lat": self.lat.size, "lon": self.lon.size}, {
            "lat": xr.DataArray(self.lat, dims="lat", attrs={"units": "degrees_north"}),
            "lon": xr.DataArray(self.lon, dims="lon", attrs={"units": "degrees_east"}),
        })


def appa_encoder(
    lat,
    lon,
    subdivisions: int = 5,
    channels: int = 256,
    variables: Sequence[str] = ("2t",),
    pressure_levels: Sequence[int] = (),
    history: int = 1,
    timestep: timedelta | None = None,
    hidden: int = 32,
    neighbours: int | None = None,
    seed: int = 0,
    noise: float = 0.02,
    name: str = "appa-like",
) -> Encoder:
    """An ``xa.Encoder`` around a random-weight Appa-like mesh autoencoder (module docstring).

    Args:
        lat, lon: the data's grid (1-D, degrees; any order or longitude convention — the
            encoder works on the canonical grid, latitude descending, longitude in [0, 360)).
        subdivisions: icosphere refinement: ``10·4^s + 2`` mesh nodes
            (``xaurora.encoders.reference.icosphere_grid(s)`` is the latent grid).
        channels: latent channels per node (Appa: 256).
        variables, pressure_levels, history, timestep: the input, as for
            :func:`~xaurora.encoders.reference.fsae_encoder`.
        hidden: features per point inside the network (at least the number of fields).
        neighbours: grid points each node attends over (default: about twice the grid points
            per node, at least 4).
        seed, noise, name: as for :func:`~xaurora.encoders.reference.fsae_encoder`.
    """
    lat = np.sort(np.asarray(lat, np.float64).ravel())[::-1].copy()
    lon = np.sort(np.mod(np.asarray(lon, np.float64).ravel(), 360.0))
    fields = Fields.build(variables, pressure_levels, history)
    mesh_xyz, _ = icosphere(subdivisions)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    grid_xyz = lat_lon_to_xyz(la.ravel(), lo.ravel())
    model = MeshAutoencoder(fields.n_fields, grid_xyz, mesh_xyz, channels, hidden, neighbours,
                            noise, seed)
    codec = MeshCodec(model, fields, lat, lon)
    return Encoder(codec.encode, grid=icosphere_grid(subdivisions), variables=variables,
                   history=history, timestep=timestep, name=name, decode=codec.decode)
