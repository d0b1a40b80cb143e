"""Loading Aurora models: released checkpoints, local files, ``tiny`` and random weights.

An :class:`AuroraModel` is a small handle around an ``aurora.Aurora`` module. It pickles as its
specification (name, checkpoint path, seed, device, random_weights), never as weights, so it can
be shipped to Dask workers; each process builds the module once and caches it.

Aurora zero-initialises the modulation of every adaptive LayerNorm, so a freshly constructed
backbone is the identity (no information crosses levels or locations). Random-weight models
(``tiny`` and ``random_weights=True``) therefore redraw those weights so that every block acts.

>>> import xaurora as xa
>>> model = xa.load_model("tiny", seed=0)
>>> model.patch_size, model.timestep.total_seconds() / 3600
(4, 6.0)
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

from xaurora.errors import XauroraError
from xaurora.models.registry import ModelInfo, get_info

_CACHE: dict[tuple, Any] = {}
_BUILDS: dict[tuple, int] = {}  # per process: a cluster test counts loads per worker
_LOCK = threading.Lock()


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a model in another process."""

    name: str
    checkpoint: str | None = None
    device: str | None = None
    seed: int = 0
    random_weights: bool = False

    def key(self) -> tuple:
        return (self.name, self.checkpoint, self.device, self.seed, self.random_weights)


def default_device() -> str:
    """CUDA when a GPU is present, else CPU."""
    import torch  # heavy

    return "cuda" if torch.cuda.is_available() else "cpu"


def activate_blocks(module, seed: int = 0, std: float = 0.02) -> None:
    """Give zero-initialised modulation (AdaLN) and LoRA weights random values.

    After this every backbone block changes its input: scale ≈ 1 plus a random modulation, shift
    random, so information crosses windows, levels and locations as in a trained model.
    """
    import torch  # heavy
    from aurora.model.film import AdaptiveLayerNorm  # heavy
    from aurora.model.lora import LoRA  # heavy

    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, AdaptiveLayerNorm):
                lin = m.ln_modulation[-1]
                d = lin.out_features // 2
                lin.weight.copy_(torch.randn(lin.weight.shape, generator=gen) * std)
                bias = torch.randn(lin.bias.shape, generator=gen) * std
                bias[d:] += 1.0  # the scale half: multiply the normalised branch by ≈ 1
                lin.bias.copy_(bias)
            elif isinstance(m, LoRA):
                m.lora_B.copy_(torch.randn(m.lora_B.shape, generator=gen) * std)


def build_module(spec: ModelSpec):
    """Construct the ``aurora`` module for ``spec`` and load or draw its weights."""
    info = get_info(spec.name)
    random = spec.random_weights or (info.checkpoint is None and spec.checkpoint is None)
    path = None
    if not random:  # find the weights before importing torch and building a large module
        path = os.fspath(spec.checkpoint) if spec.checkpoint is not None else hub_checkpoint(info)
        _check_checkpoint_path(path, info)
    import aurora  # heavy
    import torch  # heavy

    cls = getattr(aurora, info.cls)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        module = cls(**info.kwargs)
    if random:
        activate_blocks(module, seed=spec.seed)
    else:
        module.load_checkpoint_local(path)  # torch.load(weights_only=True) inside
    module.eval()
    return module.to(spec.device or default_device())


def _check_checkpoint_path(path: str, info: ModelInfo) -> None:
    if not os.path.exists(path):
        raise XauroraError(
            f"checkpoint: file {path!r} does not exist. Fix: pass the path of a downloaded "
            f"{info.checkpoint or 'Aurora checkpoint'} file, or omit checkpoint= to use the "
            f"Hugging Face cache."
        )


def _offline() -> bool:
    from huggingface_hub import constants  # optional

    env = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    return env or bool(getattr(constants, "HF_HUB_OFFLINE", False))


def _unreachable(endpoint: str, timeout: float = 5.0) -> str | None:
    """Why ``endpoint`` cannot be reached by TCP (None when it can, or behind a proxy)."""

    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY",
                                         "http_proxy", "ALL_PROXY", "all_proxy")):
        return None  # the proxy connects, not us: let huggingface_hub try
    url = urlparse(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return None
    except OSError as err:
        return f"{endpoint}: {type(err).__name__}: {err}"


def hub_checkpoint(info: ModelInfo) -> str:
    """Path of a released checkpoint in the Hugging Face cache, downloading it if allowed.

    The cache is looked at first (no network). When the file is not there and the download is
    impossible (``HF_HUB_OFFLINE=1``, no network, the Hub unreachable), the error says how to
    get the weights instead of surfacing ``huggingface_hub``'s own exception after its retries.
    """
    from huggingface_hub import constants, hf_hub_download  # optional

    kw = dict(repo_id=info.repo, filename=info.checkpoint, revision=info.revision)
    try:
        return hf_hub_download(**kw, local_files_only=True)
    except Exception:  # noqa: BLE001 - not cached: download below, or explain
        pass
    cache = os.environ.get("HF_HUB_CACHE") or getattr(constants, "HF_HUB_CACHE", "")
    fix = (
        f"Fix: pass checkpoint='path/to/{info.checkpoint}' (a file you downloaded, e.g. with "
        f"`huggingface-cli download {info.repo} {info.checkpoint} --revision {info.revision}` "
        f"on a machine with internet), or copy a Hugging Face cache that holds it and point "
        f"HF_HOME or HF_HUB_CACHE at it (looked in {cache!r}); HF_HUB_OFFLINE=1 makes "
        f"xaurora use the cache only, without network attempts."
    )
    what = (f"checkpoint: the weights of {info.name} ({info.repo}/{info.checkpoint} at "
            f"revision {str(info.revision)[:10]}) are not in the Hugging Face cache")
    if _offline():
        raise XauroraError(f"{what}, and HF_HUB_OFFLINE is set, so they cannot be downloaded. "
                         f"{fix}") from None
    down = _unreachable(constants.ENDPOINT)
    if down:  # huggingface_hub would retry for about half a minute before saying so
        raise XauroraError(f"{what}, and the Hub cannot be reached ({down}). {fix}")
    try:
        return hf_hub_download(**kw, etag_timeout=10)
    except Exception as err:  # noqa: BLE001 - offline, unreachable, HTTP error, disk full
        raise XauroraError(f"{what} and the download failed ({type(err).__name__}: "
                         f"{str(err).splitlines()[0][:200]}). {fix}") from err


def cached_module(spec: ModelSpec):
    """The module for ``spec``, built at most once per process."""
    key = spec.key()
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = build_module(spec)
            _BUILDS[key] = _BUILDS.get(key, 0) + 1
        return _CACHE[key]


def builds() -> dict[str, int]:
    """How many times this process built each model's module (``"name seed …"`` → count).

    On a Dask cluster, ``client.run(builds)`` says whether each worker loaded a model once.
    """
    with _LOCK:
        return {" ".join(map(str, k)): n for k, n in _BUILDS.items()}


def clear_cache() -> None:
    """Forget the modules built so far: the next use of a model builds its module again.

    Frees their memory, and puts this process in the state of a fresh Dask worker.
    """
    with _LOCK:
        _CACHE.clear()


class AuroraModel:
    """An Aurora model with its registry entry; pickles as its specification."""

    def __init__(self, spec: ModelSpec, module=None) -> None:
        self.spec = spec
        self.info: ModelInfo = get_info(spec.name)
        self._module = module

    @property
    def module(self):
        """The underlying ``aurora.Aurora`` ``torch.nn.Module`` (built on first use)."""
        if self._module is None:
            self._module = cached_module(self.spec)
        return self._module

    name = property(lambda self: self.spec.name)
    seed = property(lambda self: self.spec.seed)
    checkpoint = property(lambda self: self.spec.checkpoint)

    @property
    def random_weights(self) -> bool:
        s = self.spec
        return s.random_weights or (self.info.checkpoint is None and s.checkpoint is None)
    patch_size = property(lambda self: self.info.patch_size)

    @property
    def timestep(self) -> timedelta:
        return self.info.timestep

    @property
    def device(self):
        return next(self.module.parameters()).device

    @property
    def label(self) -> str:
        """A short description for attrs: name, plus weights origin."""
        if self.random_weights:
            return f"{self.name} (random weights, seed={self.seed})"
        return self.name

    def provenance(self) -> dict[str, str]:
        """netCDF-safe attrs: ``model`` (registry name) and ``model_weights`` (their origin)."""
        if self.random_weights:
            weights = f"random (seed={self.seed})"
        elif self.checkpoint is not None:
            weights = f"checkpoint {self.checkpoint}"
        else:
            weights = f"{self.info.repo}/{self.info.checkpoint}@{self.info.revision}"
        return {"model": self.name, "model_weights": weights}

    def with_random_weights(self, seed: int | None = None) -> AuroraModel:
        """The same architecture with random weights, every block active (the control model)."""
        s = self.spec
        return load_model(
            s.name, device=s.device, seed=s.seed if seed is None else seed, random_weights=True
        )

    def __reduce__(self):
        return (_from_spec, (self.spec,))

    def __dask_tokenize__(self):
        return ("xaurora.AuroraModel", *self.spec.key())

    def __repr__(self) -> str:
        return f"AuroraModel({self.label!r}, patch_size={self.patch_size})"


def _from_spec(spec: ModelSpec) -> AuroraModel:
    return AuroraModel(spec)


def load_model(
    name: str,
    *,
    checkpoint: str | os.PathLike | None = None,
    device: str | None = None,
    seed: int = 0,
    random_weights: bool = False,
) -> AuroraModel:
    """Load an Aurora model by registry name (see ``xa.MODELS``).

    ``checkpoint`` reads weights from a local file; without it a released model's weights come
    from the Hugging Face cache/download at the pinned revision. ``random_weights=True`` gives
    the same architecture with random weights and every block active (the control model).

    >>> import xaurora as xa
    >>> xa.load_model("tiny").module.__class__.__name__
    'Aurora'
    """
    info = get_info(name)
    if checkpoint is not None and not random_weights:
        _check_checkpoint_path(os.fspath(checkpoint), info)  # at once, before torch/aurora
    spec = ModelSpec(
        name=name,
        checkpoint=None if checkpoint is None else os.fspath(checkpoint),
        device=device,
        seed=int(seed),
        random_weights=bool(random_weights),
    )
    model = AuroraModel(spec)
    model.module  # noqa: B018 - load now so errors surface at the call site
    return model
