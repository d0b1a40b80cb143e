"""xaurora: look inside Microsoft's Aurora weather model from xarray.

Importing registers the ``.aurora`` accessor on ``xr.Dataset`` and ``xr.DataArray``.

>>> import xaurora as xa
>>> "tiny" in xa.MODELS
True
"""

from importlib import import_module
from typing import Any

from xaurora import accessor as _accessor  # noqa: F401  (registers .aurora)
from xaurora.errors import XauroraError
from xaurora.io.canonical import canonicalize
from xaurora.models import MODELS, AuroraModel, load_model

# The core functions import no torch at module level, so they are cheap to import eagerly.
from xaurora.results.embedding import embed
from xaurora.results.forecast import forecast
from xaurora.version import __version__

_LAZY = {
    "Target": ("xaurora.attribution.target", "Target"),
    "labels": ("xaurora.analysis.labels", None),
    "edit": ("xaurora.run.edit", None),
    "plot": ("xaurora.plot", None),
    "testing": ("xaurora.sample.synthetic", None),
    "grids": ("xaurora.grids", None),
    "reference": ("xaurora.encoders.reference", None),
    "Encoder": ("xaurora.encoders.base", "Encoder"),
    "from_module": ("xaurora.models.module", "from_module"),
    "sample": ("xaurora.sample", None),
    "analysis": ("xaurora.analysis", None),
    "attribution": ("xaurora.attribution", None),
}


def __getattr__(name: str) -> Any:
    # Submodules that pull in torch, scikit-learn or cartopy load on first use.
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = import_module(module)
        return mod if attr is None else getattr(mod, attr)
    raise AttributeError(f"module 'xaurora' has no attribute {name!r}")


__all__ = [
    "MODELS", "AuroraModel", "Encoder", "Target", "XauroraError", "__version__", "canonicalize",
    "edit", "embed", "forecast", "from_module", "grids", "labels", "load_model", "plot",
]
