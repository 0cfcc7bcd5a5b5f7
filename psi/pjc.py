"""``intersection_sum``, the ECDH part: Private Join and Compute style over secp256k1.

The provider holds rows ``(id, payload)``, each payload an opaque byte string of a fixed size (in
practice a ciphertext of the row's value under the output gate's key; this module neither knows
nor cares what it is). The requester holds ids. With H = ``hash_to_point(., DST)`` and the secret
scalars kP (provider) and kR (requester)::

    provider -> requester   PJC_SETUP     key tag || n || payload_size
                                          || (kP*H(id), payload) per row, in a random order
    requester -> provider   PJC_REQUEST   request tag || m || kR*H(y) per item
    provider -> requester   PJC_RESPONSE  request tag || key tag || m
                                          || kP*kR*H(y) per item, in a random order

The requester raises each setup point to kR and keeps the payloads whose kR*kP*H(id) is among the
response points; it adds them up elsewhere (homomorphically) and sends only that sum on.

What each party learns, against a semi-honest other party:

* the provider learns m, the number of requester items, and nothing about them (each kR*H(y) is
  a pseudorandom group element);
* the requester learns n, the number of provider rows, the number of matches, and the payloads
  of the matching rows, in the setup's random order. The response is shuffled, so it cannot tell
  which of its own items matched; the rows that did not match show only pseudorandom points and
  payloads it cannot open. The match count is learned here, before any output gate.

Both shuffles draw 16 random bytes per element from ``rng`` and sort by them (a tie, which does
not happen with a sound rng, draws again), so every order is equally likely.

Ids must be distinct on both sides (``ValueError`` otherwise): equal ids give equal points, which
would show the other party how often an id repeats. A provider with several rows per id adds them
up per id first. For the same reason a received message with repeated points is refused.

The tags tie the messages together without revealing anything: the key tag is a hash of the
binding and kP, the request tag a hash of the binding and kR. A response must carry the
requester's request tag and the setup's key tag, so a setup and a response made with different
provider keys (or a response to another request) are refused instead of silently matching
nothing.

Every received message or stored key that is malformed, truncated, oversized, out of range, of
the wrong type or bound to another job/shard/protocol raises :class:`psi.errors.ProtocolError`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence

import coincurve

from psi.errors import ProtocolError
from psi.group import (
    POINT_BYTES,
    check_points,
    hash_mul_many,
    mul_many,
    scalar_bytes,
    secret_key,
)
from psi.shuffle import distinct_items, permutation
from psi.wire import HEADER_BYTES, Binding, MessageType, pack, unpack

__all__ = ["DST", "MAX_PAYLOAD_BYTES", "PjcProvider", "PjcRequester"]

DST = b"sandbox/pjc/v1"
MAX_PAYLOAD_BYTES = 1 << 16
_TAG_BYTES = 16
_COUNT_BYTES = 4
_MAX_COUNT = (1 << 32) - 1
# setup: key tag || uint32 n || uint32 payload_size; request: request tag || uint32 m;
# response: request tag || key tag || uint32 m.
_SETUP_HEAD = _TAG_BYTES + 2 * _COUNT_BYTES
_REQUEST_HEAD = _TAG_BYTES + _COUNT_BYTES
_RESPONSE_HEAD = 2 * _TAG_BYTES + _COUNT_BYTES
_KEY_TAG_DOMAIN = b"sandbox/pjc/v1/key-tag"
_REQUEST_TAG_DOMAIN = b"sandbox/pjc/v1/request-tag"
_PublicKey = coincurve.PublicKey


def _tag(domain: bytes, binding: Binding, key: int) -> bytes:
    return hashlib.sha256(domain + binding.digest() + scalar_bytes(key)).digest()[:_TAG_BYTES]


def _u32(value: int) -> bytes:
    return value.to_bytes(_COUNT_BYTES, "big")


def _check_positive(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1")


def _check_payload_size(payload_size: int) -> None:
    if (
        isinstance(payload_size, bool)
        or not isinstance(payload_size, int)
        or not 1 <= payload_size <= MAX_PAYLOAD_BYTES
    ):
        raise ValueError("payload_size must be an int in [1, MAX_PAYLOAD_BYTES]")


def _split_points(payload: bytes, offset: int, count: int) -> list[bytes]:
    size = POINT_BYTES
    return [payload[i : i + size] for i in range(offset, offset + count * size, size)]


class PjcProvider:
    """The provider: rows (id, payload); sends the setup and answers the request."""

    __slots__ = ("_binding", "_key", "_rng")

    def __init__(
        self,
        binding: Binding,
        *,
        key: bytes | None = None,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        """A fresh key from ``rng``, or the stored ``key`` (ProtocolError if it does not decode).

        ``rng`` also draws the shuffles of :meth:`setup` and :meth:`respond`.
        """
        self._binding = binding
        self._rng = rng
        self._key = secret_key(key, rng)

    def __repr__(self) -> str:
        return f"PjcProvider({self._binding!r})"

    def key_bytes(self) -> bytes:
        """The provider's secret scalar kP (32 bytes). Keep it with the provider; never send it."""
        return scalar_bytes(self._key)

    def setup(
        self, items: Sequence[bytes], payloads: Sequence[bytes], *, payload_size: int
    ) -> bytes:
        """The framed PJC_SETUP: (kP*H(id), payload) for each row, in a random order.

        ``items`` must be distinct and non-empty, ``payloads`` one per item, each exactly
        ``payload_size`` bytes (ValueError/TypeError otherwise, with fixed texts).
        """
        _check_payload_size(payload_size)
        values = _items_of(items)
        if isinstance(payloads, bytes | str):
            raise TypeError("payloads must be a sequence of bytes")
        blobs = tuple(payloads)
        if len(blobs) != len(values):
            raise ValueError("payloads must have one entry per item")
        for blob in blobs:
            if not isinstance(blob, bytes):
                raise TypeError("payloads must be bytes")
            if len(blob) != payload_size:
                raise ValueError("every payload must be exactly payload_size bytes")
        points = hash_mul_many(values, DST, self._key)
        parts: list[bytes] = [
            _tag(_KEY_TAG_DOMAIN, self._binding, self._key),
            _u32(len(values)),
            _u32(payload_size),
        ]
        for i in permutation(len(values), self._rng):
            parts.append(points[i])
            parts.append(blobs[i])
        return pack(MessageType.PJC_SETUP, self._binding, b"".join(parts))

    def respond(self, request: bytes, *, max_items: int) -> bytes:
        """Raise each point of a PJC_REQUEST (1..``max_items`` distinct points) to kP; shuffle.

        Any malformed, oversized, wrongly bound request, repeated or invalid point is a
        ProtocolError.
        """
        _check_positive(max_items, "max_items")
        payload = unpack(
            request,
            MessageType.PJC_REQUEST,
            self._binding,
            max_bytes=HEADER_BYTES + _REQUEST_HEAD + max_items * POINT_BYTES,
        )
        if len(payload) < _REQUEST_HEAD:
            raise ProtocolError
        count = int.from_bytes(payload[_TAG_BYTES:_REQUEST_HEAD], "big")
        if not 1 <= count <= max_items or len(payload) != _REQUEST_HEAD + count * POINT_BYTES:
            raise ProtocolError
        points = _split_points(payload, _REQUEST_HEAD, count)
        if len(set(points)) != count:
            raise ProtocolError
        answered = mul_many(points, self._key)
        parts: list[bytes] = [
            payload[:_TAG_BYTES],
            _tag(_KEY_TAG_DOMAIN, self._binding, self._key),
            _u32(count),
        ]
        parts.extend([answered[i] for i in permutation(count, self._rng)])
        return pack(MessageType.PJC_RESPONSE, self._binding, b"".join(parts))


class PjcRequester:
    """The requester: ids only; learns the matching rows' payloads and how many there are."""

    __slots__ = ("_binding", "_key")

    def __init__(
        self,
        binding: Binding,
        *,
        key: bytes | None = None,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        """A fresh key from ``rng``, or the stored ``key`` (ProtocolError if it does not decode)."""
        self._binding = binding
        self._key = secret_key(key, rng)

    def __repr__(self) -> str:
        return f"PjcRequester({self._binding!r})"

    def key_bytes(self) -> bytes:
        """The requester's secret scalar kR (32 bytes). Keep it with the requester."""
        return scalar_bytes(self._key)

    def request(self, items: Sequence[bytes]) -> bytes:
        """The framed PJC_REQUEST: kR*H(y) for each item (distinct, non-empty), in item order."""
        values = _items_of(items)
        points = hash_mul_many(values, DST, self._key)
        head = _tag(_REQUEST_TAG_DOMAIN, self._binding, self._key) + _u32(len(values))
        return pack(MessageType.PJC_REQUEST, self._binding, head + b"".join(points))

    def intersect(
        self,
        setup: bytes,
        response: bytes,
        *,
        request_size: int,
        max_items: int,
        payload_size: int,
    ) -> list[bytes]:
        """The payloads of the provider rows whose id is among the requested items.

        The list is in the setup's (random) order; its length is the intersection size. The
        response must answer this requester's request with exactly ``request_size`` distinct
        valid points and come from the setup's key; the setup must hold 1..``max_items``
        distinct valid points, each with a payload of exactly ``payload_size`` bytes. Anything
        else is a ProtocolError.
        """
        _check_positive(request_size, "request_size")
        _check_positive(max_items, "max_items")
        _check_payload_size(payload_size)
        binding = self._binding
        resp = unpack(
            response,
            MessageType.PJC_RESPONSE,
            binding,
            max_bytes=HEADER_BYTES + _RESPONSE_HEAD + request_size * POINT_BYTES,
        )
        if (
            len(resp) != _RESPONSE_HEAD + request_size * POINT_BYTES
            or resp[:_TAG_BYTES] != _tag(_REQUEST_TAG_DOMAIN, binding, self._key)
            or int.from_bytes(resp[2 * _TAG_BYTES : _RESPONSE_HEAD], "big") != request_size
        ):
            raise ProtocolError
        record = POINT_BYTES + payload_size
        body = unpack(
            setup,
            MessageType.PJC_SETUP,
            binding,
            max_bytes=HEADER_BYTES + _SETUP_HEAD + max_items * record,
        )
        if len(body) < _SETUP_HEAD:
            raise ProtocolError
        count = int.from_bytes(body[_TAG_BYTES : _TAG_BYTES + _COUNT_BYTES], "big")
        if (
            body[:_TAG_BYTES] != resp[_TAG_BYTES : 2 * _TAG_BYTES]
            or int.from_bytes(body[_TAG_BYTES + _COUNT_BYTES : _SETUP_HEAD], "big") != payload_size
            or not 1 <= count <= max_items
            or len(body) != _SETUP_HEAD + count * record
        ):
            raise ProtocolError
        answered = _split_points(resp, _RESPONSE_HEAD, request_size)
        wanted = set(answered)
        if len(wanted) != request_size:
            raise ProtocolError
        check_points(answered)
        offsets = range(_SETUP_HEAD, len(body), record)
        provider_points = [body[o : o + POINT_BYTES] for o in offsets]
        if len(set(provider_points)) != count:
            raise ProtocolError
        joined = mul_many(provider_points, self._key)  # validates every setup point
        return [
            body[o + POINT_BYTES : o + record]
            for o, point in zip(offsets, joined, strict=True)
            if point in wanted
        ]


def _items_of(items: Sequence[bytes]) -> tuple[bytes, ...]:
    return distinct_items(items, what="intersection_sum", limit=_MAX_COUNT)
