"""Reference encoders: small random-weight models of the seeds' kinds, for tests and docs.

* :func:`fsae_encoder` — an FS-AE-like HEALPix autoencoder (nested attention pooling, 4^N
  compression per field, a decoder back to the input level);
* :func:`appa_encoder` — an Appa-like encoder from a latitude–longitude grid to icosphere
  mesh nodes (256 latent channels by default), with a decoder back to the grid;
* :func:`icosphere` / :func:`icosphere_grid` — the mesh and its ``xa.grids.Points``.

Both return an ``xa.Encoder`` (``encode`` and ``decode``) that pickles, so it runs on Dask
workers. Their weights are random — deterministic per ``seed`` — so they show how xaurora
handles a latent space, not what a trained one has learnt. Importing this package imports
torch.

>>> import xaurora as xa
>>> enc = xa.reference.fsae_encoder(level=4, depth=2)
>>> enc.grid.n_cells, enc.decode is not None
(192, True)
"""

from xaurora.encoders.reference.healpix_ae import HealpixAutoencoder, fsae_encoder
from xaurora.encoders.reference.icosphere import icosphere, icosphere_grid
from xaurora.encoders.reference.mesh_ae import MeshAutoencoder, appa_encoder

__all__ = ["HealpixAutoencoder", "MeshAutoencoder", "appa_encoder", "fsae_encoder", "icosphere",
           "icosphere_grid"]
