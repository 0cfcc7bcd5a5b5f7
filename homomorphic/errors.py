"""The exceptions of the package: one root with a stable ``code``, and a few leaves.

Two leaves are deliberately opaque, like :class:`psi.errors.ProtocolError`: every rejected
ciphertext raises :class:`MalformedCiphertext` and every rejected key raises
:class:`MalformedKey`, each with one fixed text that never contains input and never says which
check failed; they are raised ``from None`` so no library message or traceback carries input
values onward. The other leaves are about the caller's own plaintexts; their messages name the
bound or the position that was exceeded, never the value (a plaintext is somebody's data).

``Overflow``, ``PlaintextTooLarge``, ``InvalidValue`` and ``EmptyInput`` are also
``ValueError``s, so code that treats bad local input as a ``ValueError`` keeps working.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "CIPHERTEXT_MESSAGE",
    "KEY_MESSAGE",
    "EmptyInput",
    "HomomorphicError",
    "InvalidValue",
    "LayoutMismatch",
    "MalformedCiphertext",
    "MalformedKey",
    "Overflow",
    "PlaintextTooLarge",
]

CIPHERTEXT_MESSAGE = "malformed or out-of-range ciphertext"
KEY_MESSAGE = "malformed or inconsistent key material"


class HomomorphicError(Exception):
    """Root of the package's exceptions; ``code`` is stable and safe to show to API clients."""

    code: ClassVar[str] = "homomorphic_error"


class MalformedCiphertext(HomomorphicError):
    """A ciphertext was rejected: not an int, out of [1, n²), not a unit, under another key,
    a bad exponent or layout, or it decrypted to something no honest sender can produce.
    Deliberately opaque."""

    code = "malformed_ciphertext"

    def __init__(self) -> None:
        super().__init__(CIPHERTEXT_MESSAGE)

    def __reduce__(self) -> tuple[type[MalformedCiphertext], tuple[()]]:
        # Exceptions pickle as ``cls(*args)``; keep that working (executors) without arguments.
        return (MalformedCiphertext, ())


class MalformedKey(HomomorphicError):
    """Serialized or imported key material was rejected (truncated, wrong sizes, n != p·q, hs
    out of range or not a unit, ...). Deliberately opaque."""

    code = "malformed_key"

    def __init__(self) -> None:
        super().__init__(KEY_MESSAGE)

    def __reduce__(self) -> tuple[type[MalformedKey], tuple[()]]:
        return (MalformedKey, ())


class Overflow(HomomorphicError, ValueError):
    """A value does not fit its packing slot, a sum would exceed the layout's headroom, or a
    decrypted number lies in the overflow band."""

    code = "overflow"


class PlaintextTooLarge(HomomorphicError, ValueError):
    """A plaintext (or a packing layout) is too large for the key."""

    code = "plaintext_too_large"


class InvalidValue(HomomorphicError, ValueError):
    """A value cannot be encoded: NaN, ±infinity, a bool, or a type the encoding refuses."""

    code = "invalid_value"


class EmptyInput(HomomorphicError, ValueError):
    """Nothing to encrypt, decrypt or add."""

    code = "empty_input"


class LayoutMismatch(HomomorphicError, ValueError):
    """Packed ciphertexts with different slot layouts cannot be added."""

    code = "layout_mismatch"
