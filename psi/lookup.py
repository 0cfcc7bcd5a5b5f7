"""``lookup``: labeled PSI (the credit check) as an ECDH OPRF over secp256k1 plus sealed records.

The provider (a :class:`LookupKey` k and rows ``(id, labels)``) publishes a *table*. Per row::

    P      = k * H(id)                              H = hash_to_point(., DST)
    tag    = SHA-256("tag" || context || len(id) || id || P)[:16]
    aead   = SHA-256("key" || context || len(id) || id || P)
    record = tag || ChaCha20-Poly1305(aead).encrypt(nonce = 12 zero bytes,
                     uint16 len(labels) || labels || zero padding to label_width, ad = context)

``context`` (32 bytes) names the dataset version; the table is sorted by tag, has one record per
tag (the first one wins, so a key is never used twice under the zero nonce) and a header with the
context, the key id (SHA-256 of k*G) and the record geometry. The table can be handed to the
requester whole: without k, a record cannot be linked to an id or opened.

Requester, for its items ``x_1..x_m``, picks one random scalar r and runs::

    requester -> provider  LOOKUP_QUERY   query id || m || r*H(x_1) .. r*H(x_m)
    provider -> requester  LOOKUP_ANSWER  query id || m || k*r*H(x_1) .. k*r*H(x_m)

then unblinds with r^-1 to get k*H(x_i), derives tag and key, looks the tag up in the table and
decrypts. The query id (a hash of r and the binding) only ties an answer to its query.

What each party learns:

* the provider learns the number m of queried items and nothing about them (each r*H(x) is a
  uniformly random group element);
* the requester learns, for each of its own items, whether it is in the table and its labels, and
  the number of records in the table. It learns nothing about other rows: opening one needs
  k*H(id) for that id, which only the provider can compute (one answer per queried point, capped
  by ``max_items``). The answer carries no proof that k is the key the table was built with: a
  provider that answers with another key makes every item look absent.

Every received message, table or stored secret that is malformed, truncated, oversized, bound to
another job/shard/protocol, or built for another context or key raises
:class:`psi.errors.ProtocolError`, as does a table record that fails to decrypt.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import coincurve
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from psi.errors import ProtocolError
from psi.group import (
    POINT_BYTES,
    hash_mul_many,
    invert,
    mul_many,
    random_scalar,
    scalar_bytes,
    scalar_from_bytes,
)
from psi.wire import HEADER_BYTES, Binding, MessageType, pack, unpack

__all__ = [
    "CONTEXT_BYTES",
    "DST",
    "MAX_LABEL_BYTES",
    "TABLE_HEADER_BYTES",
    "TAG_BYTES",
    "LookupKey",
    "LookupQuery",
    "TableView",
    "answer",
    "assemble",
    "build_records",
    "record_width",
]

DST = b"sandbox/lookup/v1"
MAX_LABEL_BYTES = 4096
TAG_BYTES = 16
CONTEXT_BYTES = 32
KEY_ID_BYTES = 32
_AEAD_TAG_BYTES = 16
_LENGTH_BYTES = 2
_NONCE = bytes(12)
_TABLE_MAGIC = b"SBLT"
_TABLE_VERSION = 1
_TABLE_HEADER = struct.Struct(">4sB32s32sHQ")
TABLE_HEADER_BYTES = _TABLE_HEADER.size
_QUERY_ID_BYTES = 16
_COUNT_BYTES = 4
_PAYLOAD_HEAD = _QUERY_ID_BYTES + _COUNT_BYTES
_MAX_COUNT = (1 << 32) - 1
_QUERY_ID_DOMAIN = b"sandbox/lookup/v1/query-id"


def record_width(label_width: int) -> int:
    """Bytes per table record: tag + sealed(uint16 length + labels padded to label_width)."""
    _check_label_width(label_width)
    return TAG_BYTES + _LENGTH_BYTES + label_width + _AEAD_TAG_BYTES


def _check_label_width(label_width: int) -> None:
    if (
        isinstance(label_width, bool)
        or not isinstance(label_width, int)
        or not 0 <= label_width <= MAX_LABEL_BYTES
    ):
        raise ValueError("label_width must be an int in [0, MAX_LABEL_BYTES]")


def _check_context(context: bytes) -> None:
    if not isinstance(context, bytes) or len(context) != CONTEXT_BYTES:
        raise ValueError("context must be exactly 32 bytes")


def _key_id_raw(key_id: str) -> bytes:
    if not isinstance(key_id, str) or len(key_id) != 2 * KEY_ID_BYTES:
        raise ValueError("key_id must be 64 hex characters")
    try:
        raw = bytes.fromhex(key_id)
    except ValueError:
        raise ValueError("key_id must be 64 hex characters") from None
    if raw.hex() != key_id:
        raise ValueError("key_id must be lowercase hex")
    return raw


def _hashers(context: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    tag_base = hashlib.sha256(b"tag")
    tag_base.update(context)
    key_base = hashlib.sha256(b"key")
    key_base.update(context)
    return tag_base, key_base


@dataclass(frozen=True, slots=True)
class LookupKey:
    """The provider's OPRF key k in [1, n-1]. ``repr`` never shows it."""

    secret: int = field(repr=False)

    def __post_init__(self) -> None:
        scalar_bytes(self.secret)  # ValueError unless an int in [1, n-1]

    @staticmethod
    def generate(rng: Callable[[int], bytes] = os.urandom) -> LookupKey:
        return LookupKey(random_scalar(rng))

    def to_bytes(self) -> bytes:
        return scalar_bytes(self.secret)

    @staticmethod
    def from_bytes(b: bytes) -> LookupKey:
        """Decode a stored key; anything but 32 bytes encoding [1, n-1] is ProtocolError."""
        return LookupKey(scalar_from_bytes(b))

    @property
    def key_id(self) -> str:
        """Hex SHA-256 of the public point k*G: names the key without revealing it."""
        public = coincurve.PrivateKey(scalar_bytes(self.secret)).public_key.format()
        return hashlib.sha256(public).hexdigest()


def build_records(
    key: LookupKey, rows: Iterable[tuple[bytes, bytes]], *, context: bytes, label_width: int
) -> bytes:
    """Provider: the sealed records for one chunk of rows ``(id, labels)``, concatenated, unsorted.

    ValueError if a label is longer than ``label_width``; run :func:`assemble` over all chunks.
    """
    _check_context(context)
    _check_label_width(label_width)
    ids: list[bytes] = []
    plaintexts: list[bytes] = []
    for item, labels in rows:
        if not isinstance(item, bytes) or not isinstance(labels, bytes):
            raise TypeError("rows must be (bytes, bytes) pairs")
        if len(labels) > label_width:
            raise ValueError("a label is longer than label_width")
        ids.append(item)
        plaintexts.append(
            len(labels).to_bytes(_LENGTH_BYTES, "big") + labels + bytes(label_width - len(labels))
        )
    points = hash_mul_many(ids, DST, key.secret)
    tag_base, key_base = _hashers(context)
    aead = ChaCha20Poly1305
    nonce = _NONCE
    out: list[bytes] = []
    append = out.append
    for item, point, plaintext in zip(ids, points, plaintexts, strict=True):
        prefixed = len(item).to_bytes(4, "big") + item
        th = tag_base.copy()
        th.update(prefixed)
        th.update(point)
        kh = key_base.copy()
        kh.update(prefixed)
        kh.update(point)
        append(th.digest()[:TAG_BYTES])
        append(aead(kh.digest()).encrypt(nonce, plaintext, context))
    return b"".join(out)


def assemble(parts: Sequence[bytes], *, context: bytes, key_id: str, label_width: int) -> bytes:
    """Provider: the table from the outputs of :func:`build_records`.

    Header + records sorted by tag; of records with the same tag the first (in ``parts`` order)
    is kept. A part whose length is not a multiple of the record width is a ValueError.
    """
    _check_context(context)
    raw_key_id = _key_id_raw(key_id)
    width = record_width(label_width)
    first: dict[bytes, bytes] = {}
    setdefault = first.setdefault
    for part in parts:
        if not isinstance(part, bytes) or len(part) % width:
            raise ValueError("each part must be whole records of record_width(label_width)")
        for offset in range(0, len(part), width):
            record = part[offset : offset + width]
            setdefault(record[:TAG_BYTES], record)
    tags = sorted(first)
    header = _TABLE_HEADER.pack(
        _TABLE_MAGIC, _TABLE_VERSION, context, raw_key_id, label_width, len(tags)
    )
    return header + b"".join([first[t] for t in tags])


class TableView:
    """Read-only view of a table (bytes, memoryview or mmap; never copied), checked on open."""

    __slots__ = ("_buf", "_context", "_count", "_key_id", "_label_width", "_width")

    def __init__(
        self, data: bytes | memoryview[Any] | mmap.mmap, *, context: bytes, key_id: str
    ) -> None:
        _check_context(context)
        raw_key_id = _key_id_raw(key_id)
        buf: bytes | memoryview[Any] | mmap.mmap
        if isinstance(data, memoryview):
            try:
                buf = data if data.format == "B" and data.ndim == 1 else data.cast("B")
            except TypeError:
                raise ProtocolError from None
        elif isinstance(data, bytes | mmap.mmap):
            buf = data
        else:
            raise ProtocolError
        total = len(buf)
        if total < TABLE_HEADER_BYTES:
            raise ProtocolError
        magic, version, table_context, table_key_id, label_width, count = _TABLE_HEADER.unpack(
            bytes(buf[:TABLE_HEADER_BYTES])
        )
        if (
            magic != _TABLE_MAGIC
            or version != _TABLE_VERSION
            or table_context != context
            or table_key_id != raw_key_id
            or label_width > MAX_LABEL_BYTES
        ):
            raise ProtocolError
        width = record_width(label_width)
        if total != TABLE_HEADER_BYTES + count * width:
            raise ProtocolError
        self._buf = buf
        self._context = context
        self._key_id = key_id
        self._label_width = int(label_width)
        self._width = width
        self._count = int(count)

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return f"TableView(records={self._count}, label_width={self._label_width})"

    @property
    def context(self) -> bytes:
        return self._context

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def label_width(self) -> int:
        return self._label_width

    def find(self, tag: bytes) -> bytes | None:
        """The sealed part of the record with this 16-byte tag, or None (binary search)."""
        if not isinstance(tag, bytes) or len(tag) != TAG_BYTES:
            raise ValueError("tag must be 16 bytes")
        buf = self._buf
        width = self._width
        lo, hi = 0, self._count
        if isinstance(buf, memoryview):
            while lo < hi:
                mid = (lo + hi) >> 1
                start = TABLE_HEADER_BYTES + mid * width
                if buf[start : start + TAG_BYTES].tobytes() < tag:
                    lo = mid + 1
                else:
                    hi = mid
        else:  # bytes and mmap slices are already bytes
            while lo < hi:
                mid = (lo + hi) >> 1
                start = TABLE_HEADER_BYTES + mid * width
                if buf[start : start + TAG_BYTES] < tag:
                    lo = mid + 1
                else:
                    hi = mid
        if lo == self._count:
            return None
        start = TABLE_HEADER_BYTES + lo * width
        if bytes(buf[start : start + TAG_BYTES]) != tag:
            return None
        return bytes(buf[start + TAG_BYTES : start + width])


def _query_id(binding: Binding, r: bytes) -> bytes:
    return hashlib.sha256(_QUERY_ID_DOMAIN + binding.digest() + r).digest()[:_QUERY_ID_BYTES]


def _points_payload(query_id: bytes, points: Sequence[bytes]) -> bytes:
    return query_id + len(points).to_bytes(_COUNT_BYTES, "big") + b"".join(points)


def _split_points(payload: bytes, count: int) -> list[bytes]:
    base = _PAYLOAD_HEAD
    size = POINT_BYTES
    return [payload[base + i * size : base + (i + 1) * size] for i in range(count)]


def _check_items(items: Sequence[bytes]) -> tuple[bytes, ...]:
    if isinstance(items, bytes | str):
        raise TypeError("items must be a sequence of bytes")
    values = tuple(items)
    if not values:
        raise ValueError("a lookup needs at least one item")
    if len(values) > _MAX_COUNT:
        raise ValueError("too many items")
    for item in values:
        if not isinstance(item, bytes):
            raise TypeError("items must be bytes")
    return values


class LookupQuery:
    """Requester state between :meth:`start` and :meth:`finish` (persist :meth:`secret`)."""

    __slots__ = ("_binding", "_items", "_r")

    def __init__(self, binding: Binding, items: Sequence[bytes], r: int) -> None:
        scalar_bytes(r)
        self._binding = binding
        self._items = _check_items(items)
        self._r = r

    def __repr__(self) -> str:
        return f"LookupQuery({self._binding!r}, items={len(self._items)})"

    @staticmethod
    def start(
        binding: Binding,
        items: Sequence[bytes],
        *,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> tuple[LookupQuery, bytes]:
        """Blind every item with one fresh scalar r; return the state and a LOOKUP_QUERY."""
        values = _check_items(items)
        r = random_scalar(rng)
        query = LookupQuery(binding, values, r)
        blinded = hash_mul_many(values, DST, r)
        payload = _points_payload(_query_id(binding, scalar_bytes(r)), blinded)
        return query, pack(MessageType.LOOKUP_QUERY, binding, payload)

    def secret(self) -> bytes:
        """r (32 bytes): keep it private, and with the items, until :meth:`finish`."""
        return scalar_bytes(self._r)

    @staticmethod
    def restore(binding: Binding, items: Sequence[bytes], secret: bytes) -> LookupQuery:
        """The state again from the same items and :meth:`secret` (ProtocolError if corrupt)."""
        return LookupQuery(binding, items, scalar_from_bytes(secret))

    def finish(self, answer: bytes, table: TableView, *, context: bytes) -> list[bytes | None]:
        """The labels of each item (None if absent), in item order."""
        _check_context(context)
        if context != table.context:
            raise ValueError("the table was opened for another context")
        count = len(self._items)
        payload = unpack(
            answer,
            MessageType.LOOKUP_ANSWER,
            self._binding,
            max_bytes=HEADER_BYTES + _PAYLOAD_HEAD + count * POINT_BYTES,
        )
        if (
            len(payload) != _PAYLOAD_HEAD + count * POINT_BYTES
            or payload[:_QUERY_ID_BYTES] != _query_id(self._binding, scalar_bytes(self._r))
            or int.from_bytes(payload[_QUERY_ID_BYTES:_PAYLOAD_HEAD], "big") != count
        ):
            raise ProtocolError
        points = mul_many(_split_points(payload, count), invert(self._r))
        tag_base, key_base = _hashers(context)
        label_width = table.label_width
        find = table.find
        aead = ChaCha20Poly1305
        nonce = _NONCE
        results: list[bytes | None] = []
        append = results.append
        for item, point in zip(self._items, points, strict=True):
            prefixed = len(item).to_bytes(4, "big") + item
            th = tag_base.copy()
            th.update(prefixed)
            th.update(point)
            sealed = find(th.digest()[:TAG_BYTES])
            if sealed is None:
                append(None)
                continue
            kh = key_base.copy()
            kh.update(prefixed)
            kh.update(point)
            try:
                plaintext = aead(kh.digest()).decrypt(nonce, sealed, context)
            except InvalidTag:
                raise ProtocolError from None
            length = int.from_bytes(plaintext[:_LENGTH_BYTES], "big")
            end = _LENGTH_BYTES + length
            if length > label_width or any(plaintext[end:]):
                raise ProtocolError
            append(plaintext[_LENGTH_BYTES:end])
        return results


def answer(key: LookupKey, binding: Binding, query: bytes, *, max_items: int) -> bytes:
    """Provider: multiply each blinded point of a LOOKUP_QUERY by k; return the LOOKUP_ANSWER."""
    if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
        raise ValueError("max_items must be an int >= 1")
    payload = unpack(
        query,
        MessageType.LOOKUP_QUERY,
        binding,
        max_bytes=HEADER_BYTES + _PAYLOAD_HEAD + max_items * POINT_BYTES,
    )
    if len(payload) < _PAYLOAD_HEAD:
        raise ProtocolError
    count = int.from_bytes(payload[_QUERY_ID_BYTES:_PAYLOAD_HEAD], "big")
    if not 1 <= count <= max_items or len(payload) != _PAYLOAD_HEAD + count * POINT_BYTES:
        raise ProtocolError
    points = mul_many(_split_points(payload, count), key.secret)
    return pack(
        MessageType.LOOKUP_ANSWER, binding, _points_payload(payload[:_QUERY_ID_BYTES], points)
    )
