"""``secure_sum`` per identifier (the multi-lender exposure total, 多头借贷), the ECDH part.

The requester holds identifiers x₁..xₘ (in its own order); each provider i (a contributing bank)
holds rows (y, payload), the payload an opaque fixed-size byte string (in practice a Paillier
ciphertext of the provider's (balance, 1) under the output gate's key: this module neither
knows nor cares, and never imports ``homomorphic``). With H = ``hash_to_point(., DST)``, the
requester's secret scalar a and provider i's secret scalar b::

    requester -> providers  QUERY     query tag || r*G || m || a*H(x_j) for j = 1..m
    provider i -> requester OFFER     key tag || n || payload_size
                                      || (b*H(y), C_y) per row, in a random order
    requester -> provider i SHUFFLED  query tag || key tag || n || payload_size
                                      || (a*b*H(y), C'_y) per row, in a new random order,
                                      C'_y = rerandomize(C_y), done by the caller
    provider i -> gate      MATCH     query tag || key tag || m || payload_size
                                      || one payload per position j, in the requester's order:
                                      the C'_y with a*b*H(y) = b*(a*H(x_j)), or None, which the
                                      caller replaces with a fresh Enc(0); the caller also
                                      re-randomizes every matched payload
    gate -> requester       RELEASE   query tag || e*G || ChaCha20-Poly1305 sealed bytes

The gate adds the providers' vectors position by position, decrypts, applies its controls and
seals the per-position outcome (opaque bytes here) to the requester's recipient point r*G
(ECIES: key = SHA-256 over the binding, the tag, e*G, r*G and e*r*G; a fresh e per release, so
the zero nonce is never reused).

Who learns what, against semi-honest parties:

* a provider learns m (the query's length) and the size of the intersection of its rows with
  the query (the number of positions it fills); the query points and the shuffled points are
  pseudorandom to it, and it cannot tell which of its own rows matched (the requester raised
  the points to a, re-randomized the payloads and shuffled them);
* the requester learns n per provider (the offer's length) and nothing about which of its own
  identifiers any provider holds: it never sees b*a*H(x_j) (the provider computes that itself
  from the query and keeps it), the offer's points are pseudorandom without b, and it sees the
  MATCH vectors only as fresh-looking ciphertexts it cannot open;
* the gate learns m, and per position the total and the number of providers holding a row;
  it learns no identifier.

The requester must not see the MATCH vectors un-re-randomized (it would recognise its own C'_y),
and must never receive b*a*H(x_j): either would reveal which provider lends to which applicant.
Nothing here proves that a party followed the protocol: a provider could fill positions with
ciphertexts of its own making, a requester could send points that are not hashes of
identifiers; the gate checks what it can (every position is the sum of exactly one summand per
provider, counts in range).

Messages are framed like :mod:`psi.wire` (magic ``b"SBXE"``, version, type, binding digest,
uint64 length): the QUERY and the RELEASE are bound to the job's binding, provider i's OFFER,
SHUFFLED and MATCH to the same binding with shard i + 1, so a message replayed from another
job, another provider or another message type is refused before its payload is read. Every
received message that is malformed, truncated, oversized, out of range, with repeated or
invalid points, wrong tags or wrong counts raises :class:`psi.errors.ProtocolError`; stored keys
that do not decode too. Local misuse (empty or repeated ids, payloads of the wrong size or
type, bounds out of range, a broken rng) raises ``ValueError``/``TypeError`` with fixed texts.
"""

from __future__ import annotations

import enum
import hashlib
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import coincurve
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from psi.errors import ProtocolError
from psi.group import (
    POINT_BYTES,
    SCALAR_BYTES,
    check_points,
    hash_mul_many,
    mul,
    mul_many,
    random_scalar,
    scalar_bytes,
    scalar_from_bytes,
    secret_key,
)
from psi.shuffle import distinct_items, permutation
from psi.wire import Binding

__all__ = [
    "DST",
    "HEADER_BYTES",
    "MAGIC",
    "MAX_PAYLOAD_BYTES",
    "ExposureProvider",
    "ExposureRequester",
    "Matched",
    "MessageKind",
    "Query",
    "provider_binding",
    "read_query",
    "read_vector",
    "seal_release",
]

DST = b"sandbox/exposure/v1"
MAGIC = b"SBXE"
VERSION = 1
MAX_PAYLOAD_BYTES = 1 << 16
MAX_RELEASE_BYTES = 1 << 28
_HEADER = struct.Struct(">4sBB32sQ")
HEADER_BYTES = _HEADER.size  # 46
_TAG_BYTES = 16
_COUNT_BYTES = 4
_MAX_COUNT = (1 << 32) - 1
_AEAD_TAG_BYTES = 16
_NONCE = bytes(12)
# query: tag || r*G || m;  offer: key tag || n || payload_size;
# shuffled and match: query tag || key tag || count || payload_size;  release: tag || e*G.
_QUERY_HEAD = _TAG_BYTES + POINT_BYTES + _COUNT_BYTES
_OFFER_HEAD = _TAG_BYTES + 2 * _COUNT_BYTES
_PAIR_HEAD = 2 * _TAG_BYTES + 2 * _COUNT_BYTES
_RELEASE_HEAD = _TAG_BYTES + POINT_BYTES
_QUERY_TAG_DOMAIN = b"sandbox/exposure/v1/query-tag"
_KEY_TAG_DOMAIN = b"sandbox/exposure/v1/key-tag"
_SEAL_DOMAIN = b"sandbox/exposure/v1/seal"
_PublicKey = coincurve.PublicKey


class MessageKind(enum.IntEnum):
    QUERY = 1
    OFFER = 2
    SHUFFLED = 3
    MATCH = 4
    RELEASE = 5


# --------------------------------------------------------------------------- framing


def _pack(kind: MessageKind, binding: Binding, payload: bytes) -> bytes:
    return _HEADER.pack(MAGIC, VERSION, int(kind), binding.digest(), len(payload)) + payload


def _unpack(data: bytes, kind: MessageKind, binding: Binding, *, max_bytes: int) -> bytes:
    if not isinstance(data, bytes) or not HEADER_BYTES <= len(data) <= max_bytes:
        raise ProtocolError
    magic, version, msg_type, digest, length = _HEADER.unpack_from(data)
    if (
        magic != MAGIC
        or version != VERSION
        or msg_type != int(kind)
        or digest != binding.digest()
        or length != len(data) - HEADER_BYTES
    ):
        raise ProtocolError
    return data[HEADER_BYTES:]


def provider_binding(binding: Binding, index: int) -> Binding:
    """The binding of provider ``index``'s messages: the job's, with shard ``index`` + 1."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < _MAX_COUNT:
        raise ValueError("the provider index must be an int in [0, 2**32 - 1)")
    return Binding(binding.job, binding.shard + index + 1, binding.protocol)


# --------------------------------------------------------------------------- helpers


def _u32(value: int) -> bytes:
    return value.to_bytes(_COUNT_BYTES, "big")


def _read_u32(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + _COUNT_BYTES], "big")


def _tag(domain: bytes, binding: Binding, key: int) -> bytes:
    return hashlib.sha256(domain + binding.digest() + scalar_bytes(key)).digest()[:_TAG_BYTES]


def _positive(value: int, name: str, limit: int = _MAX_COUNT) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise ValueError(f"{name} must be an int in [1, {limit}]")


def _payloads(payloads: Sequence[bytes], count: int, payload_size: int) -> tuple[bytes, ...]:
    if isinstance(payloads, bytes | str):
        raise TypeError("payloads must be a sequence of bytes")
    blobs = tuple(payloads)
    if len(blobs) != count:
        raise ValueError("payloads must have one entry per item")
    for blob in blobs:
        if not isinstance(blob, bytes):
            raise TypeError("payloads must be bytes")
        if len(blob) != payload_size:
            raise ValueError("every payload must be exactly payload_size bytes")
    return blobs


def _split(body: bytes, offset: int, count: int, width: int) -> list[bytes]:
    return [body[o : o + width] for o in range(offset, offset + count * width, width)]


def _distinct(points: Sequence[bytes]) -> None:
    if len(set(points)) != len(points):
        raise ProtocolError


def _base_mul(k: int) -> bytes:
    """k*G, compressed."""
    return coincurve.PrivateKey(scalar_bytes(k)).public_key.format()


def _seal_key(
    binding: Binding, tag: bytes, ephemeral: bytes, recipient: bytes, shared: bytes
) -> bytes:
    return hashlib.sha256(
        _SEAL_DOMAIN + binding.digest() + tag + ephemeral + recipient + shared
    ).digest()


# --------------------------------------------------------------------------- the query


@dataclass(frozen=True, slots=True, kw_only=True)
class Query:
    """A validated QUERY: its tag, the requester's recipient point and the blinded ids."""

    tag: bytes
    recipient: bytes
    points: tuple[bytes, ...]

    @property
    def size(self) -> int:
        return len(self.points)


def read_query(query: bytes, binding: Binding, *, max_items: int) -> Query:
    """Parse and validate a QUERY of 1..``max_items`` distinct valid points (ProtocolError)."""
    _positive(max_items, "max_items")
    body = _unpack(
        query,
        MessageKind.QUERY,
        binding,
        max_bytes=HEADER_BYTES + _QUERY_HEAD + max_items * POINT_BYTES,
    )
    if len(body) < _QUERY_HEAD:
        raise ProtocolError
    count = _read_u32(body, _TAG_BYTES + POINT_BYTES)
    if not 1 <= count <= max_items or len(body) != _QUERY_HEAD + count * POINT_BYTES:
        raise ProtocolError
    recipient = body[_TAG_BYTES : _TAG_BYTES + POINT_BYTES]
    points = _split(body, _QUERY_HEAD, count, POINT_BYTES)
    _distinct(points)
    check_points([recipient, *points])
    return Query(tag=body[:_TAG_BYTES], recipient=recipient, points=tuple(points))


# --------------------------------------------------------------------------- the requester


class ExposureRequester:
    """The requester: its ids are blinded once (a) and it holds a sealing key (r) for the
    release. Every step may run in its own process, from :meth:`key_bytes`."""

    __slots__ = ("_binding", "_blind", "_seal")

    def __init__(
        self,
        binding: Binding,
        *,
        key: bytes | None = None,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        """Fresh scalars from ``rng``, or the stored ``key`` (ProtocolError if it does not
        decode). ``rng`` is used for the keys only; :meth:`shuffle` takes its own."""
        self._binding = binding
        if key is None:
            self._blind, self._seal = random_scalar(rng), random_scalar(rng)
        else:
            if not isinstance(key, bytes) or len(key) != 2 * SCALAR_BYTES:
                raise ProtocolError
            self._blind = scalar_from_bytes(key[:SCALAR_BYTES])
            self._seal = scalar_from_bytes(key[SCALAR_BYTES:])

    def __repr__(self) -> str:
        return f"ExposureRequester({self._binding!r})"

    def key_bytes(self) -> bytes:
        """The requester's secrets a and r (64 bytes). Keep them in the requester's domain."""
        return scalar_bytes(self._blind) + scalar_bytes(self._seal)

    @property
    def tag(self) -> bytes:
        return _tag(_QUERY_TAG_DOMAIN, self._binding, self._blind)

    def query(self, items: Sequence[bytes]) -> bytes:
        """The framed QUERY: a*H(x) for each item (distinct, non-empty), in item order."""
        values = _items_of(items)
        points = hash_mul_many(values, DST, self._blind)
        head = self.tag + _base_mul(self._seal) + _u32(len(values))
        return _pack(MessageKind.QUERY, self._binding, head + b"".join(points))

    def shuffle(
        self,
        offer: bytes,
        *,
        provider: int,
        max_rows: int,
        payload_size: int,
        rerandomize: Callable[[list[bytes]], list[bytes]],
        rng: Callable[[int], bytes] = os.urandom,
    ) -> bytes:
        """Provider ``provider``'s OFFER (1..``max_rows`` rows of ``payload_size`` bytes, distinct
        valid points) raised to a, its payloads passed through ``rerandomize`` (which must return
        one payload of the same size per payload, and may raise ProtocolError to refuse one),
        shuffled: the framed SHUFFLED for that provider."""
        _positive(max_rows, "max_rows")
        _positive(payload_size, "payload_size", MAX_PAYLOAD_BYTES)
        bound = provider_binding(self._binding, provider)
        record = POINT_BYTES + payload_size
        body = _unpack(
            offer,
            MessageKind.OFFER,
            bound,
            max_bytes=HEADER_BYTES + _OFFER_HEAD + max_rows * record,
        )
        if len(body) < _OFFER_HEAD:
            raise ProtocolError
        count = _read_u32(body, _TAG_BYTES)
        if (
            _read_u32(body, _TAG_BYTES + _COUNT_BYTES) != payload_size
            or not 1 <= count <= max_rows
            or len(body) != _OFFER_HEAD + count * record
        ):
            raise ProtocolError
        offsets = range(_OFFER_HEAD, len(body), record)
        points = [body[o : o + POINT_BYTES] for o in offsets]
        _distinct(points)
        raised = mul_many(points, self._blind)  # validates every offered point
        fresh = _payloads(
            rerandomize([body[o + POINT_BYTES : o + record] for o in offsets]), count, payload_size
        )
        parts = [self.tag, body[:_TAG_BYTES], _u32(count), _u32(payload_size)]
        for i in permutation(count, rng):
            parts.append(raised[i])
            parts.append(fresh[i])
        return _pack(MessageKind.SHUFFLED, bound, b"".join(parts))

    def open(self, release: bytes, *, max_bytes: int) -> bytes:
        """The plaintext the gate sealed to this requester (ProtocolError if the RELEASE is not
        for this query, does not authenticate, or is larger than ``max_bytes``)."""
        _positive(max_bytes, "max_bytes", MAX_RELEASE_BYTES)
        body = _unpack(release, MessageKind.RELEASE, self._binding, max_bytes=max_bytes)
        if len(body) < _RELEASE_HEAD + _AEAD_TAG_BYTES or body[:_TAG_BYTES] != self.tag:
            raise ProtocolError
        ephemeral = body[_TAG_BYTES:_RELEASE_HEAD]
        shared = mul(ephemeral, self._seal)  # validates the point
        key = _seal_key(self._binding, self.tag, ephemeral, _base_mul(self._seal), shared)
        try:
            return ChaCha20Poly1305(key).decrypt(
                _NONCE, body[_RELEASE_HEAD:], self._binding.digest() + body[:_RELEASE_HEAD]
            )
        except InvalidTag:
            raise ProtocolError from None


# --------------------------------------------------------------------------- the providers


@dataclass(frozen=True, slots=True)
class Matched:
    """A provider's view of the join: per position of the query, the shuffled payload whose
    point matched, or None. Its only use is :meth:`ExposureProvider.vector`."""

    tag: bytes
    positions: tuple[bytes | None, ...]


class ExposureProvider:
    """Provider ``index`` (a contributing bank): rows (id, payload); offers them, then fills the
    requester's positions. Every step may run in its own process, from :meth:`key_bytes`."""

    __slots__ = ("_binding", "_job", "_key", "_rng")

    def __init__(
        self,
        binding: Binding,
        index: int,
        *,
        key: bytes | None = None,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        """A fresh key from ``rng``, or the stored ``key`` (ProtocolError if it does not decode);
        ``rng`` also draws the offer's shuffle. ``binding`` is the job's, as at the requester."""
        self._job = binding
        self._binding = provider_binding(binding, index)
        self._rng = rng
        self._key = secret_key(key, rng)

    def __repr__(self) -> str:
        return f"ExposureProvider({self._binding!r})"

    def key_bytes(self) -> bytes:
        """The provider's secret scalar b (32 bytes). Keep it with the provider."""
        return scalar_bytes(self._key)

    @property
    def tag(self) -> bytes:
        return _tag(_KEY_TAG_DOMAIN, self._binding, self._key)

    def offer(
        self, items: Sequence[bytes], payloads: Sequence[bytes], *, payload_size: int
    ) -> bytes:
        """The framed OFFER: (b*H(id), payload) per row, in a random order. ``items`` distinct
        and non-empty, one payload of exactly ``payload_size`` bytes each."""
        _positive(payload_size, "payload_size", MAX_PAYLOAD_BYTES)
        values = _items_of(items)
        blobs = _payloads(payloads, len(values), payload_size)
        points = hash_mul_many(values, DST, self._key)
        parts = [self.tag, _u32(len(values)), _u32(payload_size)]
        for i in permutation(len(values), self._rng):
            parts.append(points[i])
            parts.append(blobs[i])
        return _pack(MessageKind.OFFER, self._binding, b"".join(parts))

    def match(
        self,
        query: bytes,
        shuffled: bytes,
        *,
        max_items: int,
        offered: int,
        payload_size: int,
    ) -> Matched:
        """Join the requester's QUERY (1..``max_items`` points) with its SHUFFLED answer to this
        provider's offer (exactly ``offered`` rows, this provider's key tag, the query's tag):
        per query position, the payload whose point is b*(a*H(x_j)), else None."""
        _positive(offered, "offered")
        _positive(payload_size, "payload_size", MAX_PAYLOAD_BYTES)
        q = read_query(query, self._job, max_items=max_items)
        record = POINT_BYTES + payload_size
        body = _unpack(
            shuffled,
            MessageKind.SHUFFLED,
            self._binding,
            max_bytes=HEADER_BYTES + _PAIR_HEAD + offered * record,
        )
        if (
            len(body) != _PAIR_HEAD + offered * record
            or body[:_TAG_BYTES] != q.tag
            or body[_TAG_BYTES : 2 * _TAG_BYTES] != self.tag
            or _read_u32(body, 2 * _TAG_BYTES) != offered
            or _read_u32(body, 2 * _TAG_BYTES + _COUNT_BYTES) != payload_size
        ):
            raise ProtocolError
        offsets = range(_PAIR_HEAD, len(body), record)
        points = [body[o : o + POINT_BYTES] for o in offsets]
        _distinct(points)
        check_points(points)
        table = {
            p: body[o + POINT_BYTES : o + record] for p, o in zip(points, offsets, strict=True)
        }
        # b*(a*H(x_j)) stays here: sent to the requester, it would show which ids this provider
        # holds.
        joined = mul_many(q.points, self._key)
        return Matched(tag=q.tag, positions=tuple(table.get(p) for p in joined))

    def vector(self, matched: Matched, payloads: Sequence[bytes], *, payload_size: int) -> bytes:
        """The framed MATCH: one payload per position of ``matched``, in the requester's order
        (the caller's fresh zeros and re-randomized matches, never the shuffled payloads as
        they came)."""
        _positive(payload_size, "payload_size", MAX_PAYLOAD_BYTES)
        if not isinstance(matched, Matched):
            raise TypeError("matched must come from match()")
        size = len(matched.positions)
        blobs = _payloads(payloads, size, payload_size)
        for blob, shuffled in zip(blobs, matched.positions, strict=True):
            if blob == shuffled:
                raise ValueError("re-randomize every matched payload before it leaves")
        head = matched.tag + self.tag + _u32(size) + _u32(payload_size)
        return _pack(MessageKind.MATCH, self._binding, head + b"".join(blobs))


# --------------------------------------------------------------------------- the gate


def read_vector(
    message: bytes, binding: Binding, *, provider: int, query: Query, payload_size: int
) -> list[bytes]:
    """Provider ``provider``'s MATCH for ``query``: exactly one payload of ``payload_size``
    bytes per query position, in order (ProtocolError otherwise)."""
    _positive(payload_size, "payload_size", MAX_PAYLOAD_BYTES)
    size = query.size
    body = _unpack(
        message,
        MessageKind.MATCH,
        provider_binding(binding, provider),
        max_bytes=HEADER_BYTES + _PAIR_HEAD + size * payload_size,
    )
    if (
        len(body) != _PAIR_HEAD + size * payload_size
        or body[:_TAG_BYTES] != query.tag
        or _read_u32(body, 2 * _TAG_BYTES) != size
        or _read_u32(body, 2 * _TAG_BYTES + _COUNT_BYTES) != payload_size
    ):
        raise ProtocolError
    return _split(body, _PAIR_HEAD, size, payload_size)


def seal_release(
    query: Query, binding: Binding, plaintext: bytes, *, rng: Callable[[int], bytes] = os.urandom
) -> bytes:
    """The framed RELEASE: ``plaintext`` sealed to the query's recipient point, bound to the
    job and the query's tag (only the holder of r opens it)."""
    if not isinstance(query, Query):
        raise TypeError("query must come from read_query()")
    if not isinstance(plaintext, bytes):
        raise TypeError("plaintext must be bytes")
    if len(plaintext) > MAX_RELEASE_BYTES - HEADER_BYTES - _RELEASE_HEAD - _AEAD_TAG_BYTES:
        raise ValueError("the release is too large")
    ephemeral_key = random_scalar(rng)
    ephemeral = _base_mul(ephemeral_key)
    shared = mul(query.recipient, ephemeral_key)
    key = _seal_key(binding, query.tag, ephemeral, query.recipient, shared)
    head = query.tag + ephemeral
    sealed = ChaCha20Poly1305(key).encrypt(_NONCE, plaintext, binding.digest() + head)
    return _pack(MessageKind.RELEASE, binding, head + sealed)


def _items_of(items: Sequence[bytes]) -> tuple[bytes, ...]:
    return distinct_items(items, what="the exposure protocol", limit=_MAX_COUNT)
