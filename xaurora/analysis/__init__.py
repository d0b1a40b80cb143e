"""Analyses of embeddings: pooling, PCA, linear probes, layer tables and latent regimes.

Functions take and return labelled xarray objects; ``DataArray.aurora`` / ``Dataset.aurora``
call them. scikit-learn and regionmask are imported only when a function runs.

>>> import numpy as np, xarray as xr
>>> from xaurora.analysis import pca
>>> X = xr.DataArray(np.random.default_rng(0).normal(size=(20, 4)), dims=("time", "channel"))
>>> pca(X, 2).scores.dims
('time', 'component')
"""

from xaurora.analysis.cka import cka, cka_matrix
from xaurora.analysis.features import match_features, top_activations
from xaurora.analysis.layers import probe_layers, select_level
from xaurora.analysis.manifold import latent_outliers, tsne, umap
from xaurora.analysis.metrics import classification_metrics, regression_metrics
from xaurora.analysis.pca import pca, pca_estimator, pca_transform, sae_from_pca
from xaurora.analysis.pool import pool, region_weights
from xaurora.analysis.probe import probe
from xaurora.analysis.reconstruction import reconstruction, reconstruction_sweep
from xaurora.analysis.regimes import annual_harmonics, seasonality, separability
from xaurora.analysis.sae import sae, sae_reconstruct, sae_transform
from xaurora.analysis.samples import labels_on_patches
from xaurora.analysis.spectrum import spectrum

__all__ = [
    "annual_harmonics",
    "cka",
    "cka_matrix",
    "classification_metrics",
    "labels_on_patches",
    "latent_outliers",
    "match_features",
    "pca",
    "pca_estimator",
    "pca_transform",
    "pool",
    "probe",
    "probe_layers",
    "reconstruction",
    "reconstruction_sweep",
    "regression_metrics",
    "region_weights",
    "seasonality",
    "sae",
    "sae_from_pca",
    "sae_reconstruct",
    "sae_transform",
    "select_level",
    "separability",
    "spectrum",
    "top_activations",
    "tsne",
    "umap",
]
