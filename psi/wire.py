"""Typed, versioned, bound framing for every message of the ``psi`` protocols.

Frame layout (all integers big-endian)::

    magic   4 bytes   b"SBXP"
    version 1 byte    WIRE_VERSION
    type    1 byte    MessageType
    binding 32 bytes  Binding.digest(): SHA-256 over (job, shard, protocol)
    length  8 bytes   payload length, uint64
    payload length bytes

:func:`unpack` checks the size limit first, then magic, version, type, binding and the exact total
length; any failure raises :class:`psi.errors.ProtocolError`. Because the binding names the job,
the shard and the protocol, a message replayed from another job, another shard or another
protocol is refused before its payload is looked at. The frame carries no secrets of its own: an
observer learns the message type, the payload length and the binding digest (which only confirms
a guessed job/shard/protocol triple).
"""

from __future__ import annotations

import enum
import hashlib
import struct
from dataclasses import dataclass

from psi.errors import ProtocolError

__all__ = [
    "HEADER_BYTES",
    "MAGIC",
    "MAX_MESSAGE_BYTES",
    "WIRE_VERSION",
    "Binding",
    "MessageType",
    "pack",
    "unpack",
]

MAGIC = b"SBXP"
WIRE_VERSION = 1
MAX_MESSAGE_BYTES = 512 * 1024 * 1024
_HEADER = struct.Struct(">4sBB32sQ")
HEADER_BYTES = _HEADER.size  # 46
_BINDING_DOMAIN = b"sandbox/psi/binding/v1"
_U64 = 1 << 64


class MessageType(enum.IntEnum):
    PSI_SETUP = 1
    PSI_REQUEST = 2
    PSI_RESPONSE = 3
    LOOKUP_QUERY = 4
    LOOKUP_ANSWER = 5
    PJC_SETUP = 6
    PJC_REQUEST = 7
    PJC_RESPONSE = 8


def _lp(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


@dataclass(frozen=True, slots=True)
class Binding:
    """What a message belongs to: the job, the shard (0-based) and the protocol name."""

    job: str
    shard: int
    protocol: str

    def __post_init__(self) -> None:
        if not isinstance(self.job, str) or not isinstance(self.protocol, str):
            raise TypeError("Binding.job and Binding.protocol must be str")
        if isinstance(self.shard, bool) or not isinstance(self.shard, int):
            raise TypeError("Binding.shard must be int")
        if not 0 <= self.shard < _U64:
            raise ValueError("Binding.shard must be in [0, 2**64)")

    def digest(self) -> bytes:
        """SHA-256 of an unambiguous encoding (length-prefixed UTF-8 strings, uint64 shard)."""
        return hashlib.sha256(
            _lp(_BINDING_DOMAIN)
            + _lp(self.job.encode("utf-8"))
            + self.shard.to_bytes(8, "big")
            + _lp(self.protocol.encode("utf-8"))
        ).digest()


def pack(kind: MessageType, binding: Binding, payload: bytes) -> bytes:
    """Frame ``payload`` as a ``kind`` message bound to ``binding``."""
    if not isinstance(kind, MessageType):
        raise TypeError("kind must be a MessageType")
    if not isinstance(payload, bytes):
        raise TypeError("payload must be bytes")
    return _HEADER.pack(MAGIC, WIRE_VERSION, int(kind), binding.digest(), len(payload)) + payload


def unpack(
    data: bytes, kind: MessageType, binding: Binding, *, max_bytes: int = MAX_MESSAGE_BYTES
) -> bytes:
    """Return the payload of a ``kind`` message bound to ``binding``, else raise ProtocolError."""
    if not isinstance(kind, MessageType):
        raise TypeError("kind must be a MessageType")
    if not isinstance(data, bytes) or len(data) > max_bytes or len(data) < HEADER_BYTES:
        raise ProtocolError
    try:
        magic, version, msg_type, digest, length = _HEADER.unpack_from(data)
    except struct.error:  # pragma: no cover - the length was checked above
        raise ProtocolError from None
    if (
        magic != MAGIC
        or version != WIRE_VERSION
        or msg_type != int(kind)
        or digest != binding.digest()
        or length != len(data) - HEADER_BYTES
    ):
        raise ProtocolError
    return data[HEADER_BYTES:]
