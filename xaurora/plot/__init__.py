"""Plots for xaurora results (public as ``xa.plot``): maps, PCA scatter, profiles, curves.

Each function draws with matplotlib (and cartopy for maps), imported on first call, and returns
the Axes; nothing changes global matplotlib state. Maps never download: without Natural Earth
data on disk, coastlines are drawn from a land–sea mask (see :func:`draw_coastlines`).

| function | input |
|---|---|
| :func:`map` | any lat/lon DataArray: probe errors, PCA loadings, relevance, fields |
| :func:`relevance_map` | the Dataset from ``ds.aurora.relevance`` |
| :func:`pca_scatter` | the Dataset from ``X.aurora.pca`` |
| :func:`vertical_profile` | the Dataset from ``ds.aurora.relevance`` (or a level profile) |
| :func:`perturbation_curves` | the Dataset from ``ds.aurora.perturbation_test`` |
| :func:`probe_table` | the Dataset from ``ds.aurora.probe_layers`` |
| :func:`reconstruction_curve` | the Dataset from ``xa.analysis.reconstruction_sweep`` |
| :func:`cka_heatmap` | the DataArray from ``xa.analysis.cka_matrix`` |
| :func:`spectra` | the DataArray from ``X.aurora.spectrum()`` |
| :func:`feature_gallery` | ``sae_transform``'s activations and ``top_activations`` |

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import xaurora as xa
>>> st = xa.sample.sample_static()
>>> ax = xa.plot.map(st["lsm"], cmap="Greens")
>>> ax.figure.axes[-1].get_xlabel()
'Land-sea mask [1]'
"""

from __future__ import annotations

from xaurora.plot.autoencoder import reconstruction_curve
from xaurora.plot.charts import pca_scatter, probe_table
from xaurora.plot.common import color_limits, natural_earth_available
from xaurora.plot.features import cka_heatmap, feature_gallery, spectra
from xaurora.plot.maps import draw_coastlines, map
from xaurora.plot.relevance import perturbation_curves, relevance_map, vertical_profile

__all__ = [
    "cka_heatmap",
    "color_limits",
    "draw_coastlines",
    "feature_gallery",
    "map",
    "natural_earth_available",
    "pca_scatter",
    "perturbation_curves",
    "probe_table",
    "reconstruction_curve",
    "relevance_map",
    "spectra",
    "vertical_profile",
]
