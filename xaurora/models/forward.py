"""Aurora's forward pass, split where the encoder starts.

``Aurora.forward`` prepares its input inline before calling the encoder: the batch-transform
hook, the parameters' dtype, the pre-normalisation hook, normalisation, cropping to whole
patches, the move to the device, static fields repeated over batch and history, clamping of
positive variables and the pre-encoder hook. Aurora exposes no function that returns this
encoder input, so it is reproduced here, step by step in the same order, with Aurora's own
methods (``Batch.normalise``, ``Batch.crop``, the module's hooks); the result is what the
encoder receives inside ``module(batch)``, to the bit.

Splitting the pass lets the preparation run where it is cheapest: :mod:`xaurora.pipeline`
prepares batch k + 1 in its background thread while the encoder runs on batch k, so a model
thread that only waits for the encoder (a GPU, native code) is not held up by ~190 small
tensor operations per sample, nor by waking PyTorch's worker threads after each pause.

Only a module whose class keeps Aurora's own ``forward`` (and a fixed lead time) is split
(:func:`splits`): a subclass that rewrites ``forward`` runs whole, through ``module(batch)``.

>>> import xaurora as xa, torch
>>> from xaurora.io.canonical import canonicalize
>>> from xaurora.pipeline import BatchSource
>>> from xaurora.hooks import capture
>>> model = xa.load_model("tiny")
>>> cds = canonicalize(xa.testing.synthetic_dataset(n_times=3))
>>> batch = BatchSource(cds, model.module, model.timestep).read(cds.time.values[1:2])
>>> inp = encoder_input(model.module, batch)
>>> whole = capture(model.module, batch, "encoder")
>>> torch.equal(run_encoder(model.module, inp), whole)
True
"""

from __future__ import annotations

import contextlib
import dataclasses

__all__ = ["EncoderInput", "encoder_input", "run_encoder", "splits"]


@dataclasses.dataclass(frozen=True)
class EncoderInput:
    """What ``module.encoder`` receives: the prepared ``aurora.Batch`` and the batch size."""

    batch: object
    size: int


def splits(module) -> bool:
    """Whether ``module``'s pass can be split at the encoder (its class keeps Aurora's forward)."""
    from aurora import Aurora

    # per-sample lead times (variable_lead_time) are an argument of the whole pass only
    return (isinstance(module, Aurora) and type(module).forward is Aurora.forward
            and not module.variable_lead_time)


def encoder_input(module, batch) -> EncoderInput:
    """The input ``Aurora.forward`` gives its encoder for ``batch`` (on the module's device)."""
    p = next(module.parameters())
    batch = module.batch_transform_hook(batch)
    batch = batch.type(p.dtype)
    batch = module._pre_norm_hook(batch)  # noqa: SLF001 - Aurora's own step, called as forward does
    batch = batch.normalise(surf_stats=module.surf_stats)
    batch = batch.crop(patch_size=module.patch_size)
    batch = batch.to(p.device)
    b, t = next(iter(batch.surf_vars.values())).shape[:2]
    batch = dataclasses.replace(
        batch, static_vars={k: v[None, None].repeat(b, t, 1, 1)
                            for k, v in batch.static_vars.items()})
    for kind, positive in (("surf_vars", module.positive_surf_vars),
                           ("atmos_vars", module.positive_atmos_vars)):
        if positive:
            batch = dataclasses.replace(batch, **{kind: {
                k: v.clamp(min=0) if k in positive else v
                for k, v in getattr(batch, kind).items()}})
    return EncoderInput(module._pre_encoder_hook(batch), int(b))  # noqa: SLF001


def run_encoder(module, inp: EncoderInput):
    """``module.encoder`` on a prepared input, with the lead time and autocast Aurora uses.

    Runs without gradients; like every pass, call it under the module's lock when hooks are
    registered (:func:`xaurora.hooks.capture` does both).
    """
    import torch

    p = next(module.parameters())
    hours = module.timestep.total_seconds() / 3600
    lead_times = torch.full((inp.size,), hours, device=p.device, dtype=p.dtype)
    ctx = (torch.autocast(device_type=_autocast_device(), dtype=module.autocast_dtype)
           if module.autocast_encoder else contextlib.nullcontext())
    with torch.no_grad(), ctx:
        return module.encoder(inp.batch, lead_times=lead_times)


def _autocast_device() -> str:
    """The device type Aurora's own encoder autocast names (it checks availability, not p)."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if hasattr(torch, "xpu") and torch.xpu.is_available():
        return "xpu"
    return "cpu"
