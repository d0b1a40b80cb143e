"""Aurora models: the checkpoint registry and loading (see :func:`load_model`)."""

from xaurora.models.loading import AuroraModel, ModelSpec, load_model
from xaurora.models.registry import MODELS, ModelInfo, get_info

__all__ = ["MODELS", "AuroraModel", "ModelInfo", "ModelSpec", "get_info", "load_model"]
