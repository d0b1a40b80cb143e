"""Reading ERA5-like datasets into Aurora's canonical form (see :func:`canonicalize`), its
undo, the checks of what is read, Aurora's normalisation, statics, and the one store module."""

from xaurora.io.canonical import canonicalize

__all__ = ["canonicalize"]
