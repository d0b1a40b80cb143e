"""Every forward pass xaurora runs goes through here: hooks, edits and a lock per module.

PyTorch keeps forward hooks (and the instance ``forward`` attributes that the LRP rules patch
in) on the module object itself, so they act in *every* pass through that module, whichever
thread runs it. Under Dask's threaded scheduler several tasks share one cached module, so a
hook registered by one task would fire (and stop) another task's pass. This module makes that
impossible by construction: each pass that registers hooks, patches rules, edits a layer or
copies the module holds that module's re-entrant lock from registration to removal
(``hooked``/``exclusive``). Locks live in a :class:`weakref.WeakKeyDictionary`, so a module that
is garbage collected takes its lock with it and nothing leaks.

Why a lock rather than hooks that filter by thread id: the lock also covers the state that
cannot be made thread-local (LRP's patched ``forward`` attributes and ``requires_grad`` flags,
Aurora's own noise-accumulation setting in ``rollout``, ``copy.deepcopy`` of a module), and it
leaves nothing on the module between passes. The price is that passes of one module do not
overlap (``benchmarks/bench_thread_safety.py`` measures it; figures in the performance notes).
Each pass already uses every core through PyTorch's own threads, and Dask's process or
distributed schedulers give each worker its own module, so they never wait on this lock.

>>> import xaurora as xa
>>> model = xa.load_model("tiny")
>>> module_lock(model.module) is module_lock(model.module)
True
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence

from xaurora.errors import XauroraError
from xaurora.models.forward import EncoderInput, run_encoder
from xaurora.run.edit import as_edits, edit_context

__all__ = ["capture", "exclusive", "hooked", "module_lock", "resolve_layer", "rollout_pass"]

_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()  # only guards creating the per-module lock


def module_lock(module) -> threading.RLock:
    """The re-entrant lock that every hooked pass of ``module`` holds (created on first use)."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(module)
        if lock is None:
            lock = _LOCKS[module] = threading.RLock()
        return lock


@contextlib.contextmanager
def exclusive(module) -> Iterator[object]:
    """Hold ``module``'s lock: no other thread runs a hooked pass of it meanwhile."""
    with module_lock(module):
        yield module


@contextlib.contextmanager
def hooked(module, forward: Sequence[tuple[object, Callable]] = (),
           pre: Sequence[tuple[object, Callable]] = ()) -> Iterator[object]:
    """Hold ``module``'s lock with hooks registered; remove them on exit (also on errors).

    ``forward`` and ``pre`` are ``(submodule, hook)`` pairs: forward hooks run in list order and
    each sees the output returned by the one before (so an edit registered before a capture is
    captured edited); pre-hooks are registered ``with_kwargs=True``.
    """
    with module_lock(module):
        handles = []
        try:
            for sub, fn in forward:
                handles.append(sub.register_forward_hook(fn))
            for sub, fn in pre:
                handles.append(sub.register_forward_pre_hook(fn, with_kwargs=True))
            yield module
        finally:
            for h in handles:
                h.remove()


class _Stop(Exception):
    """Raised by a hook to end the forward pass once the wanted layer has run."""


def resolve_layer(module, layer: str):
    """The submodule whose output ``layer`` names (``inputs`` → the encoder's input)."""
    if layer in ("encoder", "inputs"):
        return module.encoder
    if layer == "backbone":
        return module.backbone
    named = dict(module.named_modules())
    if layer not in named:
        near = [n for n in named if layer.split(".")[-1] in n][:5]
        raise XauroraError(
            f"layer: {layer!r} is not a submodule of the model. Fix: use 'inputs', 'encoder', "
            f"'backbone' or a name from dict(model.module.named_modules())"
            + (f", e.g. {near}." if near else ".")
        )
    return named[layer]


def _first(output):
    return output[0] if isinstance(output, (tuple, list)) else output


def _recorder(module, layer: str, sink: Callable[[object], None]):
    """(forward, pre) hook lists that hand ``layer``'s value to ``sink`` on every pass."""
    target = resolve_layer(module, layer)
    if layer == "inputs":
        def pre_hook(_mod, args, kwargs):
            sink(args[0] if args else kwargs["batch"])

        return [], [(target, pre_hook)]

    def hook(_mod, _args, output):
        sink(_first(output))

    return [(target, hook)], []


def edit_hooks(module, edits, batch) -> list[tuple[object, Callable]]:
    """Forward hooks that apply ``edits`` (``xa.edit`` objects) on the grid of ``batch``."""
    if not edits:
        return []

    edits = as_edits(edits)
    # a prepared encoder input is cropped to whole patches: the same patch centres
    ctx = edit_context(module, batch.batch if isinstance(batch, EncoderInput) else batch)
    hooks = []
    for e in edits:
        target = resolve_layer(module, e.layer)
        if e.layer == "inputs":
            raise XauroraError("edit: layer 'inputs' is the encoder's input and cannot be edited. "
                             "Fix: edit 'encoder', 'backbone' or a named submodule.")

        def hook(_mod, _args, output, e=e):
            if isinstance(output, (tuple, list)):
                return type(output)([e.apply(output[0], ctx), *output[1:]])
            return e.apply(output, ctx)

        hooks.append((target, hook))
    return hooks


def capture(module, batch, layer: str, autocast: bool = False, edits=None):
    """Run ``module(batch)`` until ``layer``; return its output (or the encoder's input).

    ``batch`` is an ``aurora.Batch``, or for ``layer`` ``"encoder"``/``"inputs"`` the prepared
    :class:`~xaurora.models.forward.EncoderInput` (then only the encoder runs here).

    ``edits`` (``xa.edit`` objects) act inside the pass; the value returned is after any edit at
    ``layer``. Holds the module's lock for the whole pass.
    """
    import torch  # heavy

    out: dict = {}

    def sink(value):
        out["value"] = value
        raise _Stop

    split = isinstance(batch, EncoderInput)
    if split and layer not in ("encoder", "inputs"):
        raise XauroraError(f"layer: {layer!r} runs after the encoder; a prepared encoder input "
                           "only reaches 'inputs' and 'encoder'. Fix: pass the aurora.Batch.")
    fwd, pre = _recorder(module, layer, sink)
    device = next(module.parameters()).device
    ctx = (torch.autocast(device_type=device.type, dtype=torch.bfloat16) if autocast
           else contextlib.nullcontext())
    with hooked(module, edit_hooks(module, edits, batch) + fwd, pre):
        try:
            with torch.no_grad(), ctx:
                run_encoder(module, batch) if split else module(batch)
        except _Stop:
            pass
    if "value" not in out:
        raise XauroraError(f"layer: {layer!r} did not run during the forward pass.")
    return out["value"]


def rollout_pass(module, batch, steps: int, edits=None, layer: str | None = None,
                 on_pred: Callable | None = None, autocast: bool = False):
    """Aurora's ``rollout`` for ``steps`` steps under the module's lock, with edits.

    Returns ``(preds, latents)``: ``on_pred(pred)`` for each step's prediction (the prediction
    itself without ``on_pred``) and, when ``layer`` is given, that layer's value during each step
    (after any edit at it). Predictions are converted inside the lock, one step at a time, so a
    long rollout keeps one step's tensors alive.
    """
    import torch  # heavy
    from aurora import rollout  # heavy

    latents: list = []
    fwd, pre = _recorder(module, layer, latents.append) if layer else ([], [])
    device = next(module.parameters()).device
    ctx = (torch.autocast(device_type=device.type, dtype=torch.bfloat16) if autocast
           else contextlib.nullcontext())
    preds = []
    with hooked(module, edit_hooks(module, edits, batch) + fwd, pre), torch.no_grad(), ctx:
        for pred in rollout(module, batch, steps=steps):
            preds.append(on_pred(pred) if on_pred is not None else pred)
    return preds, latents
