"""The one exception every protocol step raises on bad input.

Every malformed, truncated, oversized, out-of-range, wrongly typed or wrongly bound message (and
every stored key or secret that fails to decode) raises :class:`ProtocolError` with the same
fixed text. The text never contains any part of the input, and library exceptions are re-raised
``from None`` so that neither their message nor their traceback carries input values onward.
"""

from __future__ import annotations

__all__ = ["MESSAGE", "ProtocolError"]

MESSAGE = "malformed or out-of-range protocol message"


class ProtocolError(Exception):
    """A protocol message (or stored key material) was rejected. Deliberately opaque."""

    def __init__(self) -> None:
        super().__init__(MESSAGE)

    def __reduce__(self) -> tuple[type[ProtocolError], tuple[()]]:
        # Exceptions pickle as ``cls(*args)``; keep that working for a no-argument constructor.
        return (ProtocolError, ())
