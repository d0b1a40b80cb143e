"""Reading ERA5-like datasets into Aurora's canonical form (see :func:`canonicalize`)."""

from xaurora.io.canonical import canonicalize
from xaurora.io.description import describe

__all__ = ["canonicalize", "describe"]
