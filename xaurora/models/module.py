"""``xa.from_module``: any ``aurora.Aurora`` instance (fine-tuned, other configuration) as a model.

The wrapped module behaves as a registry model for every method (embed, forecast, relevance,
probe_layers, edits): its registry-like entry (patch size, timestep, variables) is read from the
module. It pickles *by value* (the module with its weights, through cloudpickle), so it
can be sent to Dask workers; for a large checkpoint prefer ``xa.load_model(name,
checkpoint=path)``, which pickles as a path and loads once per worker.

>>> import xaurora as xa
>>> from datetime import timedelta
>>> m = xa.from_module(xa.load_model("tiny").module, name="my-aurora", timestep=timedelta(hours=6))
>>> m.name, m.patch_size, m.provenance()["model_weights"]
('my-aurora', 4, 'user module (Aurora)')
"""

from __future__ import annotations

import copy
import pickle
from datetime import timedelta

from xaurora.models.loading import AuroraModel, ModelSpec, activate_blocks
from xaurora.models.registry import ModelInfo

__all__ = ["ModuleModel", "from_module"]


class ModuleModel(AuroraModel):
    """An :class:`~xaurora.AuroraModel` around a user's ``aurora.Aurora`` module."""

    def __init__(self, module, info: ModelInfo, seed: int = 0, random: bool = False) -> None:
        self.spec = ModelSpec(name=info.name, seed=int(seed), random_weights=bool(random))
        self.info = info
        self._module = module

    @property
    def random_weights(self) -> bool:
        return self.spec.random_weights

    def provenance(self) -> dict[str, str]:
        if self.random_weights:
            return {"model": self.name, "model_weights": f"random (seed={self.seed})"}
        return {"model": self.name,
                "model_weights": f"user module ({type(self._module).__name__})"}

    def with_random_weights(self, seed: int | None = None) -> ModuleModel:
        """A copy of the architecture with random weights, every block active (the control)."""
        import torch  # heavy

        seed = self.seed if seed is None else int(seed)
        module = copy.deepcopy(self._module)
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(seed)
            for m in module.modules():
                if hasattr(m, "reset_parameters"):
                    m.reset_parameters()
        activate_blocks(module, seed=seed)
        return ModuleModel(module, self.info, seed=seed, random=True)

    def __reduce__(self):
        # cloudpickle (a Dask dependency): Aurora's modules hold lambdas plain pickle refuses
        import cloudpickle

        state = (self._module, self.info, self.seed, self.random_weights)
        return (_from_bytes, (cloudpickle.dumps(state),))

    def __dask_tokenize__(self):
        return ("xaurora.ModuleModel", self.name, id(self._module))

    def __repr__(self) -> str:
        return f"ModuleModel({self.label!r}, patch_size={self.patch_size})"


def _from_bytes(data: bytes) -> ModuleModel:
    return ModuleModel(*pickle.loads(data))


def from_module(module, name: str = "aurora-module", timestep: timedelta | None = None,
                ) -> ModuleModel:
    """Wrap an ``aurora.Aurora`` instance so that every xaurora method accepts it.

    Args:
        module: an ``aurora.Aurora`` (or subclass) instance with its weights loaded.
        name: recorded as the ``model`` attr of results.
        timestep: the model's step (default: ``module.timestep``, Aurora's 6 h).
    """
    if not all(hasattr(module, a) for a in ("encoder", "backbone", "patch_size", "surf_vars")):
        raise TypeError(
            f"from_module: expected an aurora.Aurora instance, got {type(module).__name__}. "
            "Fix: pass the model module itself (e.g. aurora.AuroraPretrained() with its "
            "checkpoint loaded); wrap other encoders with xa.Encoder."
        )
    step = timestep if timestep is not None else getattr(module, "timestep", timedelta(hours=6))
    if not isinstance(step, timedelta):
        raise TypeError(f"timestep: expected a datetime.timedelta, got {type(step).__name__}.")
    info = ModelInfo(
        name=str(name), cls=type(module).__name__, checkpoint=None, revision=None,
        patch_size=int(module.patch_size), timestep=step, resolution=float("nan"), grid=None,
        surf_vars=tuple(module.surf_vars), static_vars=tuple(module.static_vars),
        atmos_vars=tuple(module.atmos_vars), description="user module (xa.from_module)",
    )
    module.eval()
    return ModuleModel(module, info)
