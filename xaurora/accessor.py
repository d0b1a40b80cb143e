"""The ``.aurora`` accessor on ``xr.Dataset`` and ``xr.DataArray``: a thin façade.

Every method is the function of the same name with the accessor's object as its first argument:
``ds.aurora.embed(model, ...)`` is ``xaurora.results.embedding.embed(ds, model, ...)``.
The table below is the whole accessor; arguments and their defaults live only in the
functions (one place), and each method's docstring is its function's. The accessor holds no
state: everything a later call needs travels in coords and attrs. Functions are imported on
first call, so that registering the accessor (``import xaurora``) pulls in neither torch nor
scikit-learn.

>>> import xaurora as xa
>>> ds = xa.testing.synthetic_dataset(n_times=2)
>>> ds.aurora.embed(xa.load_model("tiny")).name
'embedding'
>>> ds.aurora.embed.__doc__.splitlines()[0]
'Embeddings of ``ds`` by ``model`` at ``layer``.'
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

import xarray as xr

#: Dataset methods: name → module of the function of that name.
DATASET_METHODS = {
    "embed": "xaurora.results.embedding",
    "forecast": "xaurora.results.forecast",
    "canonicalize": "xaurora.io.canonical",
    "describe": "xaurora.app.describe",
    "probe_layers": "xaurora.analysis.layers",
    "relevance": "xaurora.attribution.relevance",
    "perturbation_test": "xaurora.attribution.perturb",
    "relevance_sanity": "xaurora.attribution.sanity",
    "intervention_test": "xaurora.attribution.intervention",
    "amnesic_probe": "xaurora.attribution.intervention",
    "splice_test": "xaurora.attribution.splice",
}
#: DataArray methods, likewise.
DATAARRAY_METHODS = {
    "pool": "xaurora.analysis.pool",
    "pca": "xaurora.analysis.pca",
    "probe": "xaurora.analysis.probe",
    "sae": "xaurora.analysis.sae",
    "spectrum": "xaurora.analysis.spectrum",
    "to_patches": "xaurora.grids.patches",
}
#: Earlier names kept working: ``ds.aurora.canonical()`` and ``ds.aurora.info()``.
ALIASES = {"canonical": "canonicalize", "info": "describe"}


class _Delegate:
    """A method that calls ``module.name(obj, ...)``; its docstring is the function's."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def function(self):
        return getattr(import_module(self.module), self.name)

    def __get__(self, accessor, owner=None) -> Any:
        if accessor is None:
            return self
        func = self.function()

        def method(*args, **kwargs):
            return func(accessor._obj, *args, **kwargs)

        method.__name__ = method.__qualname__ = self.name
        method.__doc__ = func.__doc__
        method.__wrapped__ = func  # inspect.signature and help() show the function's arguments
        return method

    @property
    def __doc__(self) -> str:  # type: ignore[override]
        return f"See :func:`{self.module}.{self.name}` (called with this object first)."


class _Accessor:
    def __init__(self, obj) -> None:
        self._obj = obj

    def __dir__(self):
        return sorted({*super().__dir__(), *self._methods()})

    @classmethod
    def _methods(cls) -> list[str]:
        return [k for k, v in vars(cls).items() if isinstance(v, _Delegate)]


@xr.register_dataset_accessor("aurora")
class AuroraDatasetAccessor(_Accessor):
    """``ds.aurora``: run Aurora (or another encoder) on an ERA5-like Dataset."""


@xr.register_dataarray_accessor("aurora")
class AuroraDataArrayAccessor(_Accessor):
    """``da.aurora``: analyses of embeddings (or any labelled array)."""


for _cls, _table in ((AuroraDatasetAccessor, DATASET_METHODS),
                     (AuroraDataArrayAccessor, DATAARRAY_METHODS)):
    for _name, _module in _table.items():
        setattr(_cls, _name, _Delegate(_module, _name))
for _alias, _name in ALIASES.items():
    setattr(AuroraDatasetAccessor, _alias, _Delegate(DATASET_METHODS[_name], _name))
