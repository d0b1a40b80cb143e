"""Aurora's forward pass, split where the encoder starts.

``Aurora.forward`` prepares its input inline before calling the encoder: the batch-transform
hook, the parameters' dtype, the pre-normalisation hook, normalisation, cropping to whole
patches, the move to the device, static fields repeated over batch and history, clamping of
positive variables and the pre-encoder hook. Aurora exposes no function that returns this
encoder input, so it is reproduced here, step by step in the same order, with Aurora's own
methods (``Batch.normalise``, ``Batch.crop``, the module's hooks); the result is what the
encoder receives inside ``module(batch)``, to the bit.

Splitting the pass lets the preparation run where it is cheapest: :mod:`xaurora.run.prefetch`
prepares batch k + 1 in its background thread while the encoder runs on batch k, so a model
thread that only waits for the encoder (a GPU, native code) is not held up by ~190 small
tensor operations per sample, nor by waking PyTorch's worker threads after each pause.

Only a module whose class keeps Aurora's own ``forward`` (and a fixed lead time) is split
(:func:`splits`): a subclass that rewrites ``forward`` runs whole, through ``module(batch)``.

A stream of batches of successive times (an embedding run) is prepared by :class:`Preparer`:
the two history steps of time t are t − Δ and t, so ``Aurora.forward`` normalises every time
step twice, into fresh memory each time. The preparer normalises each step once, into a small
ring of reused buffers, and hands the encoder views of it; the values are the same to the bit
(the same operations, in the same dtype). Reusing memory matters as much as halving the work:
fresh tensors of several MB cost a page fault per 4 KiB page on every step.

>>> import xaurora as xa, torch
>>> from xaurora.io.canonical import canonicalize
>>> from xaurora.run.source import BatchSource
>>> from xaurora.run.hooks import capture
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
from collections.abc import Callable

import numpy as np

from xaurora.io.checks import MAX_MEAN_Z
from xaurora.io.normalisation import batch_locations, batch_scales, norm_stats

__all__ = ["EncoderInput", "Preparer", "encoder_input", "run_encoder", "splits"]


@dataclasses.dataclass(frozen=True)
class EncoderInput:
    """What ``module.encoder`` receives: the prepared ``aurora.Batch`` and the batch size."""

    batch: object
    size: int


def splits(module) -> bool:
    """Whether ``module``'s pass can be split at the encoder (its class keeps Aurora's forward)."""
    from aurora import Aurora  # heavy

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


class Preparer:
    """:func:`encoder_input` for the batches of one run, each time step normalised once.

    Call it on the batches in order (one thread). Batches of successive times (each sample's
    history step t − Δ is the sample before it, or the previous batch's last time) share their
    steps: a step is normalised once, into a ring of buffers, and each input is a view of the
    ring. The ring is reused, so an input's values are only valid until ``alive`` + 1 further
    inputs have been prepared: ``alive`` is how many earlier inputs may still be in use when the
    next one is prepared (0 when each input is done with before the next is asked for; a
    pipeline that prepares ahead passes its queue's length + 1).

    Anything else goes through :func:`encoder_input` unchanged: a module with its own input
    hooks (fine-tuned variants), another dtype or device than the module's, or times that do
    not follow each other by Aurora's Δ.

    ``check(name, values, time)`` (e.g. :meth:`xaurora.run.source.BatchSource.check_step`)
    raises for a bad step of a variable (NaN, wrong units). It is fused into the
    normalisation: the mean of each normalised field (per level) is taken while the field is in
    the CPU's cache, and only a non-finite mean, or one further than
    :data:`xaurora.io.checks.MAX_MEAN_Z` scales from 0 (what the unit check tests), calls
    ``check`` on the raw values to say what is wrong. Batches prepared as Aurora does are
    checked step by step with ``check``.

    >>> import xaurora as xa, torch
    >>> from xaurora.io.canonical import canonicalize
    >>> from xaurora.run.source import BatchSource
    >>> model = xa.load_model("tiny")
    >>> cds = canonicalize(xa.testing.synthetic_dataset(n_times=4))
    >>> source = BatchSource(cds, model.module, model.timestep)
    >>> prepare = Preparer(model.module)
    >>> [torch.equal(run_encoder(model.module, prepare(source.read(t))),
    ...              run_encoder(model.module, encoder_input(model.module, source.read(t))))
    ...  for t in (cds.time.values[1:2], cds.time.values[2:4])]
    [True, True]
    """

    def __init__(self, module, alive: int = 0, check: Callable | None = None) -> None:
        self.module, self.alive, self.check = module, int(alive), check
        self._checked: set = set()  # times checked step by step (batches Aurora's way)
        self._ring: dict | None = None  # (kind, name) → (slots, …) buffer
        self._slots = 0
        self._last = None  # (time, slot) of the step written last
        self._static: dict = {}
        self._static_in: dict = {}  # the tensors they were normalised from
        self._stats: dict = {}

    def _fast(self, batch) -> bool:
        """Whether the ring may be used: Aurora's own input steps, the module's dtype/device."""
        from aurora import Aurora  # heavy

        cls, m = type(self.module), self.module
        if not (cls.batch_transform_hook is Aurora.batch_transform_hook
                and cls._pre_norm_hook is Aurora._pre_norm_hook  # noqa: SLF001
                and cls._pre_encoder_hook is Aurora._pre_encoder_hook):  # noqa: SLF001
            return False
        p = next(m.parameters())
        tensors = [*batch.surf_vars.values(), *batch.atmos_vars.values(),
                   *batch.static_vars.values()]
        if not all(x.dtype == p.dtype and x.device == p.device for x in tensors):
            return False
        times, step = batch.metadata.time, m.timestep
        return all(b - a == step for a, b in zip(times, times[1:]))

    def __call__(self, batch) -> EncoderInput:
        if not self._fast(batch):
            if self.check is not None:
                self._check_raw(batch)
            return encoder_input(self.module, batch)
        import torch  # heavy

        m = self.module
        n = len(batch.metadata.time)
        need = (self.alive + 2) * n + 1  # no slot in use is written (see _place)
        if self._ring is None or self._slots < need:
            self._allocate(batch, need)
        if any(self._static_in.get(k) is not v for k, v in batch.static_vars.items()):
            self._statics(batch)
        ring = self._ring
        first = batch.metadata.time[0] - m.timestep
        s = self._place(first, n)
        # the steps to write: the history step unless the ring has it, then the batch's times
        todo = [] if (self._last is not None and self._last[0] == first) else [(s, 0, 0)]
        todo += [(s + 1 + j, j, 1) for j in range(n)]
        means = []  # (name, step, mean of the normalised field per level), for the check
        for kind, positive in (("surf_vars", m.positive_surf_vars),
                               ("atmos_vars", m.positive_atmos_vars)):
            for k, x in getattr(batch, kind).items():
                loc, scale = self._stats[kind, k]
                for slot, j, h in todo:
                    out = torch.sub(x[j, h], loc, out=ring[kind, k][slot]).div_(scale)
                    if self.check is not None:  # while the field is in cache; before clamping
                        means.append((k, x[j, h], j - 1 + h, out.mean(dim=(-2, -1))))
                    if k in positive:  # Aurora clamps after normalising; elementwise, so here
                        out.clamp_(min=0)
        if means:
            self._check_means(means, batch.metadata.time)
        self._last = (batch.metadata.time[-1], s + n)

        def pairs(buf):  # (n, 2, …): sample j is slots (s + j, s + j + 1), a view
            x = buf[s : s + n + 1]
            return x.as_strided((n, 2, *x.shape[1:]), (x.stride(0), *x.stride()))

        staged = dataclasses.replace(
            batch, surf_vars={k: pairs(ring["surf_vars", k]) for k in batch.surf_vars},
            atmos_vars={k: pairs(ring["atmos_vars", k]) for k in batch.atmos_vars},
            static_vars=self._static,
        ).crop(patch_size=m.patch_size)
        # Aurora repeats the statics over batch and history; the encoder only reads them
        statics = {k: v[None, None].expand(n, 2, *v.shape) for k, v in
                   staged.static_vars.items()}
        return EncoderInput(dataclasses.replace(staged, static_vars=statics), n)

    def _check_means(self, means: list, times) -> None:
        """Raw checks of the fields whose normalised mean is non-finite or too far from 0."""
        import torch  # heavy

        flat = torch.cat([z.reshape(-1) for *_, z in means]).double().cpu().numpy()
        if np.isfinite(flat).all() and (np.abs(flat) <= MAX_MEAN_Z).all():
            return
        step = self.module.timestep
        for name, raw, j, z in means:  # the check itself names the variable, time, level
            z = z.double().cpu().numpy()
            if not (np.isfinite(z).all() and (np.abs(z) <= MAX_MEAN_Z).all()):
                self.check(name, raw, times[0] - step if j < 0 else times[j])

    def _check_raw(self, batch) -> None:
        """Each step of ``batch`` not checked before, with ``check`` on its raw values."""
        step, times = self.module.timestep, batch.metadata.time
        for j, t in enumerate(times):
            for h, when in ((0, t - step), (1, t)):
                if when in self._checked:
                    continue
                for x in (batch.surf_vars, batch.atmos_vars):
                    for k, v in x.items():
                        self.check(k, v[j, h], when)
                self._checked.add(when)

    def _place(self, first, n: int) -> int:
        """The slot of the history step ``first`` for a batch of ``n``; copies it when wrapping.

        Slots are written in increasing order; at the end of the ring the history step is moved
        to slot 0. The inputs still in use cover at most ``alive · n + 1`` slots behind the last
        one written, so a ring of ``(alive + 2) · n + 1`` slots never writes into them.
        """
        if self._last is not None and self._last[0] == first:
            s = self._last[1]
            if s + n < self._slots:
                return s
            for buf in self._ring.values():
                buf[0].copy_(buf[s])
            return 0
        s = 0 if self._last is None else self._last[1] + 1
        return s if s + n < self._slots else 0

    def _allocate(self, batch, slots: int) -> None:
        import torch  # heavy

        m = self.module
        locs, scales = batch_locations(batch), batch_scales(batch)
        self._stats = {}
        for kind, tensors in (("surf_vars", batch.surf_vars), ("atmos_vars", batch.atmos_vars)):
            for k, x in tensors.items():
                if kind == "surf_vars":  # Python floats, as Aurora subtracts and divides by
                    self._stats[kind, k] = norm_stats(k, None, m.surf_stats)
                else:  # (level, 1, 1), as Aurora builds them
                    self._stats[kind, k] = (locs["atmos", k].to(x.device),
                                            scales["atmos", k].to(x.device))
        # a new ring, never the old one resized: inputs still in use keep the old memory
        self._ring = {(kind, k): torch.empty((slots, *x.shape[2:]), dtype=x.dtype,
                                             device=x.device)
                      for kind in ("surf_vars", "atmos_vars")
                      for k, x in getattr(batch, kind).items()}
        self._slots, self._last = slots, None

    def _statics(self, batch) -> None:
        """Statics do not change within a run: normalised once, by Aurora's own function."""
        from aurora.normalisation import normalise_surf_var  # heavy

        stats = self.module.surf_stats
        self._static_in = dict(batch.static_vars)
        self._static = {k: normalise_surf_var(v, k, stats=stats)
                        for k, v in batch.static_vars.items()}


def run_encoder(module, inp: EncoderInput):
    """``module.encoder`` on a prepared input, with the lead time and autocast Aurora uses.

    Runs without gradients; like every pass, call it under the module's lock when hooks are
    registered (:func:`xaurora.run.hooks.capture` does both).
    """
    import torch  # heavy

    p = next(module.parameters())
    hours = module.timestep.total_seconds() / 3600
    lead_times = torch.full((inp.size,), hours, device=p.device, dtype=p.dtype)
    ctx = (torch.autocast(device_type=_autocast_device(), dtype=module.autocast_dtype)
           if module.autocast_encoder else contextlib.nullcontext())
    with torch.no_grad(), ctx:
        return module.encoder(inp.batch, lead_times=lead_times)


def _autocast_device() -> str:
    """The device type Aurora's own encoder autocast names (it checks availability, not p)."""
    import torch  # heavy

    if torch.cuda.is_available():
        return "cuda"
    if hasattr(torch, "xpu") and torch.xpu.is_available():
        return "xpu"
    return "cpu"
