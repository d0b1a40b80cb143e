"""LRP rules for Aurora, as modified gradients applied inside a context manager.

Why this is written here: no library handles Aurora. zennit and Captum have no rules for
attention (softmax, products of two activations) or for adaptive LayerNorm, and LXT (the
reference implementation of AttnLRP) rewrites model classes globally and targets Hugging Face
``transformers`` models. Aurora is a plain PyTorch model (Perceiver encoder/decoder, Swin3D
backbone), so xaurora implements the rules itself, the LXT way: every rule is a forward pass
whose *gradient* is the LRP message, so that one ``autograd`` backward pass gives
``relevance = input × modified gradient``.

Rules (``rule=``):

* ``"cp-lrp"`` (default; Ali et al. 2022, "conservative propagation"):
  GELU/SiLU → identity rule (``y = x · (y/x).detach()``: relevance passes through unchanged);
  LayerNorm (also the one inside adaptive LayerNorm) → its standard deviation is a constant;
  attention → the softmax weights are constants, relevance flows only through the values;
  adaptive-LayerNorm modulation (scale, shift from the lead time) → constants.
* ``"attnlrp"`` (Achtibat et al. 2024): as above, but the softmax keeps its true gradient
  (AttnLRP's softmax rule is gradient × input on the logits) and both products of two
  activations (``q·kᵀ`` and ``A·v``) use the uniform rule (each factor gets half).
  AttnLRP is not exactly conservative through the softmax.
* ``None``: every rule off; the patched forwards compute the same function with its true
  gradient (plain gradient × input), still recording the sinks.

Sinks: every additive constant (biases, LayerNorm offsets, the modulation shift, position /
scale / level / lead-time / absolute-time embeddings, the latent queries, the surface level
encoding) becomes a leaf tensor listed in ``ctx.sinks``; ``value · gradient`` summed over them is
the relevance they absorb. Under ``"cp-lrp"`` the modified network is linear in inputs and
sinks, so ``f = Σ input relevance + Σ sink relevance`` (+ the output normalisation offset).

Nothing persists: instance ``forward`` attributes are set on enter and removed on exit (also
after an exception); no class, ``torch`` function or parameter is changed for good. While the
rules are on, the module's lock (:mod:`xaurora.run.hooks`) is held, so a pass in another thread
never runs with (or removes) this thread's rules.

>>> import torch, aurora
>>> from xaurora.attribution.rules import lrp_rules
>>> lin = torch.nn.Linear(3, 1)
>>> x = torch.randn(2, 3, requires_grad=True)
>>> with lrp_rules(lin) as ctx:
...     y = lin(x).sum()
...     g = torch.autograd.grad(y, [x, *ctx.leaves()], allow_unused=True)
>>> "forward" in vars(lin)
False
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from xaurora.errors import XauroraError
from xaurora.run.hooks import module_lock

__all__ = ["RULES", "LRPContext", "RuleSet", "lrp_rules", "rule_set"]


@dataclass(frozen=True)
class RuleSet:
    """Which modified gradients are active."""

    name: str
    identity_activation: bool  # GELU / SiLU: relevance passes unchanged (x-proportional)
    constant_std: bool  # LayerNorm: std treated as constant
    softmax: str  # "constant" (CP-LRP) or "gradient" (AttnLRP / plain)
    uniform_products: bool  # q·kᵀ and A·v: each factor gets half the relevance


RULES: dict[str | None, RuleSet] = {
    "cp-lrp": RuleSet("cp-lrp", True, True, "constant", False),
    "attnlrp": RuleSet("attnlrp", True, True, "gradient", True),
    None: RuleSet("none", False, False, "gradient", False),
}


def rule_set(rule: str | None) -> RuleSet:
    """The :class:`RuleSet` for ``rule`` (``"cp-lrp"``, ``"attnlrp"`` or ``None``)."""
    key = rule.lower() if isinstance(rule, str) else rule
    if key in ("none", "gradient"):
        key = None
    if key not in RULES:
        raise XauroraError(
            f"rule: {rule!r} is not known. Fix: use 'cp-lrp' (default), 'attnlrp', or None "
            f"(plain gradient × input)."
        )
    return RULES[key]


class LRPContext:
    """Holds the active rule set and the sink leaves created during a forward pass."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.sinks: list[tuple[str, torch.Tensor]] = []

    def sink(self, name: str, value: torch.Tensor) -> torch.Tensor:
        """Return ``value`` as a fresh leaf that records the relevance it absorbs."""
        if not torch.is_grad_enabled():
            return value
        leaf = value.detach().clone().requires_grad_(True)
        self.sinks.append((name, leaf))
        return leaf

    def leaves(self) -> list[torch.Tensor]:
        """The sink tensors, to pass to ``torch.autograd.grad`` after the inputs."""
        return [t for _, t in self.sinks]

    @staticmethod
    def relevance(leaves, grads) -> float:
        """Σ value · gradient over sink leaves (missing gradients count as 0)."""
        total = 0.0
        for t, g in zip(leaves, grads):
            if g is not None:
                total += float((t.detach().double() * g.double()).sum())
        return total


# --------------------------------------------------------------------------------------------
# Rule-aware forwards. Each takes the module and the context and mirrors Aurora's own forward.
# --------------------------------------------------------------------------------------------


def _constant(x: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and not x.requires_grad


def _linear(m: nn.Linear, ctx: LRPContext, name: str):
    def forward(x: torch.Tensor) -> torch.Tensor:
        if _constant(x):  # an embedding of a constant (position, time, level): one sink
            return ctx.sink(f"{name}:embedding", F.linear(x, m.weight, m.bias))
        out = F.linear(x, m.weight)
        if m.bias is not None:
            out = out + ctx.sink(f"{name}.bias", m.bias)
        return out

    return forward


def _layer_norm(m: nn.LayerNorm, ctx: LRPContext, name: str):
    def forward(x: torch.Tensor) -> torch.Tensor:
        if _constant(x):
            return ctx.sink(f"{name}:constant", F.layer_norm(x, m.normalized_shape, m.weight,
                                                             m.bias, m.eps))
        dims = tuple(range(-len(m.normalized_shape), 0))
        centred = x - x.mean(dim=dims, keepdim=True)
        std = torch.sqrt(centred.pow(2).mean(dim=dims, keepdim=True) + m.eps)
        if ctx.rules.constant_std:
            std = std.detach()
        y = centred / std
        if m.weight is not None:
            y = y * m.weight
        if m.bias is not None:
            y = y + ctx.sink(f"{name}.bias", m.bias)
        return y

    return forward


def _activation(m: nn.Module, ctx: LRPContext, orig):
    def forward(x: torch.Tensor) -> torch.Tensor:
        y = orig(x)
        if not ctx.rules.identity_activation or not x.requires_grad:
            return y
        small = x.abs() <= 1e-12
        ratio = torch.where(small, torch.full_like(x, 0.5), y / torch.where(small, 1.0, x))
        return x * ratio.detach()

    return forward


def product(a: torch.Tensor, b: torch.Tensor, uniform: bool) -> torch.Tensor:
    """``a @ b``; with the uniform rule each factor's gradient is halved (relevance split 50/50)."""
    if not uniform:
        return a @ b
    return 0.5 * (a @ b.detach()) + 0.5 * (a.detach() @ b)


def attention(q, k, v, mask, ctx: LRPContext) -> torch.Tensor:
    """Scaled dot-product attention under the active rules (``mask`` is additive or None)."""
    scale = q.shape[-1] ** -0.5
    rules = ctx.rules
    if rules.softmax == "constant":
        with torch.no_grad():
            logits = (q * scale) @ k.transpose(-2, -1)
            if mask is not None:
                logits = logits + mask
            weights = torch.softmax(logits, dim=-1)
        return weights @ v
    logits = product(q * scale, k.transpose(-2, -1), rules.uniform_products)
    if mask is not None:
        logits = logits + mask
    weights = torch.softmax(logits, dim=-1)
    return product(weights, v, rules.uniform_products)


def _window_attention(m, ctx: LRPContext):
    def forward(x, mask=None, rollout_step: int = 0):
        qkv = m.qkv(x) + m.lora_qkv(x, rollout_step)
        qkv = rearrange(qkv, "B N (qkv H D) -> qkv B H N D", H=m.num_heads, qkv=3)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if mask is not None:
            mask = mask.unsqueeze(1).unsqueeze(0)
            b = q.shape[0] // mask.shape[1]
            mask = mask.repeat(b, 1, 1, 1, 1).reshape(-1, *mask.shape[2:]).to(q.dtype)
        out = attention(q, k, v, mask, ctx)
        out = rearrange(out, "B H N D -> B N (H D)")
        return m.proj_drop(m.proj(out) + m.lora_proj(out, rollout_step))

    return forward


def _perceiver_attention(m, ctx: LRPContext):
    def forward(latents, x):
        q = m.ln_q(m.to_q(latents))
        k, v = m.to_kv(x).chunk(2, dim=-1)
        k = m.ln_k(k)
        q, k, v = (rearrange(t, "b l (h d) -> b h l d", h=m.num_heads) for t in (q, k, v))
        out = rearrange(attention(q, k, v, None, ctx), "B H L1 D -> B L1 (H D)")
        return m.to_out(out)

    return forward


def _adaptive_layer_norm(m, ctx: LRPContext, name: str):
    def forward(x, c):
        with torch.no_grad():  # the modulation depends on the lead time only: constants
            mod = m.ln_modulation(c)
        if mod.ndim == 2:
            mod = mod.unsqueeze(1)
        shift, scale = mod.chunk(2, dim=-1)
        return m.ln(x) * (m.scale_bias + scale) + ctx.sink(f"{name}.shift", shift)

    return forward


def _patch_embed(m, ctx: LRPContext, name: str):
    def forward(x, var_names):
        B, V, T, H, W = x.shape
        weight = torch.cat([m.weights[n][:, :, :T, ...] for n in var_names], dim=1)
        proj = F.conv3d(x, weight, None, stride=(T,) + m.kernel_size[1:])
        proj = proj + ctx.sink(f"{name}.bias", m.bias).view(1, -1, 1, 1, 1)
        if m.flatten:
            proj = proj.reshape(B, m.embed_dim, -1).transpose(1, 2)
        return m.norm(proj)

    return forward


def _checkpointed(orig):
    from torch.utils.checkpoint import checkpoint  # heavy

    def forward(*args, **kwargs):
        return checkpoint(orig, *args, use_reentrant=False, **kwargs)

    return forward


#: Parameters that Aurora adds directly (not through a module): recorded as sinks.
_ADDITIVE_PARAMETERS = ("atmos_latents", "surf_level_encoding")


@contextlib.contextmanager
def lrp_rules(
    module: nn.Module, rule: str | None = "cp-lrp", checkpointing: bool = False
) -> Iterator[LRPContext]:
    """Apply LRP rules to ``module`` (an ``aurora.Aurora`` or any part of it) inside ``with``.

    Yields an :class:`LRPContext`; after the forward pass, ask ``torch.autograd.grad`` for the
    inputs and ``ctx.leaves()`` (with ``allow_unused=True``). ``checkpointing=True`` recomputes
    each Swin block in the backward pass (activation checkpointing) to save memory.
    """
    from aurora.model.film import AdaptiveLayerNorm  # heavy
    from aurora.model.patchembed import LevelPatchEmbed  # heavy
    from aurora.model.perceiver import PerceiverAttention  # heavy
    from aurora.model.swin3d import Swin3DTransformerBlock, WindowAttention  # heavy

    ctx = LRPContext(rule_set(rule))
    lock = module_lock(module)
    lock.acquire()
    patched: list[tuple[nn.Module, object]] = []
    grad_flags: list[tuple[torch.Tensor, bool]] = []
    _missing = object()

    def patch(mod: nn.Module, fwd) -> None:
        patched.append((mod, vars(mod).get("forward", _missing)))
        mod.forward = fwd

    try:
        for name, mod in module.named_modules():
            if isinstance(mod, WindowAttention):
                patch(mod, _window_attention(mod, ctx))
            elif isinstance(mod, PerceiverAttention):
                patch(mod, _perceiver_attention(mod, ctx))
            elif isinstance(mod, AdaptiveLayerNorm):
                patch(mod, _adaptive_layer_norm(mod, ctx, name))
            elif isinstance(mod, LevelPatchEmbed):
                patch(mod, _patch_embed(mod, ctx, name))
            elif isinstance(mod, nn.Linear):
                patch(mod, _linear(mod, ctx, name))
            elif isinstance(mod, nn.LayerNorm):
                patch(mod, _layer_norm(mod, ctx, name))
            elif isinstance(mod, (nn.GELU, nn.SiLU)):
                patch(mod, _activation(mod, ctx, mod.forward))
            elif checkpointing and isinstance(mod, Swin3DTransformerBlock):
                patch(mod, _checkpointed(mod.forward))
            for pname in _ADDITIVE_PARAMETERS:
                p = mod._parameters.get(pname)
                if p is not None:
                    grad_flags.append((p, p.requires_grad))
                    p.requires_grad_(True)
                    ctx.sinks.append((f"{name}.{pname}", p))
        yield ctx
    finally:
        for mod, old in reversed(patched):
            if old is _missing:
                vars(mod).pop("forward", None)
            else:
                mod.forward = old
        for p, flag in grad_flags:
            p.requires_grad_(flag)
        ctx.sinks.clear()
        lock.release()


def is_patched(module: nn.Module) -> bool:
    """True when some submodule still carries an instance-level ``forward`` (for tests)."""
    return any("forward" in vars(m) for m in module.modules())

