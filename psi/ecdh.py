"""``psi.intersection`` and ``psi.cardinality``: ECDH-PSI through openmined-psi (P-256, GCS).

Protocol (requester = client, provider = server; each holds its own secret scalar on P-256)::

    provider -> requester   PSI_SETUP     the provider's items, each hashed to the curve and
                                          raised to the provider's key, hashed into a Golomb-
                                          compressed set (GCS) with false-positive rate ``fpr``
    requester -> provider   PSI_REQUEST   the requester's items raised to the requester's key
    provider -> requester   PSI_RESPONSE  each request element raised to the provider's key too
                                          (same order for intersection; sorted for cardinality)

The requester removes its own key from the response and checks each element against the GCS.

What each party learns, against a semi-honest other party:

* the provider learns the number of requester items (the request length) and nothing else;
* the requester learns the size of the provider's set (through the setup) and either the indices
  of its own items that are in the intersection (``reveal=True``) or only the intersection's size
  (``reveal=False``; the response is sorted so elements cannot be matched to requests). A false
  positive happens with probability at most ``fpr`` over the whole request.

Both parties validate everything they receive before handing it to the C++ library: the frame
(type, binding, size), the protobuf (parses, canonical encoding, no unknown fields), counts
(1..max_items elements, response exactly as long as the request), every element being a 33-byte
compressed point (the library then refuses points that are not on the curve), and the GCS
parameters (a GCS with ``hash_range`` 0 or an out-of-range divisor would crash or make the
library read out of bounds). Any failure raises :class:`psi.errors.ProtocolError`.

Local misuse is not a protocol error: empty item lists, items that are not ``str`` (or cannot be
encoded as UTF-8), an ``fpr`` outside (0, 1), ``intersect`` on a cardinality client and vice
versa raise ``ValueError`` (or ``TypeError``). Stored keys that fail to decode are ProtocolError.

State between steps: a party re-created with the same ``key`` (``key_bytes()``) behaves exactly
like the original one, so setup and respond, or request and intersect, may run in different
processes. The only extra state the requester needs is the number of items it sent
(``request_size``), which a re-created client must be told.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import private_set_intersection.python as ompsi
from google.protobuf.message import DecodeError

from psi.errors import ProtocolError
from psi.wire import HEADER_BYTES, MAX_MESSAGE_BYTES, Binding, MessageType, pack, unpack

__all__ = ["DEFAULT_FPR", "KEY_BYTES", "PsiClient", "PsiServer"]

DEFAULT_FPR = 1e-9
KEY_BYTES = 32
_POINT_BYTES = 33
_POINT_PREFIXES = (2, 3)
# A repeated-bytes element costs 1 tag byte + 1 length byte + 33 bytes; the bool field 2 bytes.
_ELEMENT_WIRE_BYTES = 2 + _POINT_BYTES
_FIXED_WIRE_BYTES = 2
_MAX_DIV = 62
# The library casts max(client, server) * client / fpr to int64; 2**63 - 1024 is the largest
# double below 2**63, so anything up to it converts without overflow.
_MAX_HASH_RANGE = (1 << 63) - 1024
# The library's Golomb coder derives its divisor from log2(1 - server_size / hash_range); when
# hash_range / server_size exceeds ~2**53 that is log2(1.0) and the divisor becomes infinite.
# Small server sets are therefore padded with random dummy items up to hash_range / 2**50.
_MAX_GAP = float(1 << 50)
_DUMMY_PREFIX = "\x00sandbox/psi/dummy\x00"
_DUMMY_BYTES = 16


def _check_key(key: bytes | None) -> None:
    if key is not None and (not isinstance(key, bytes) or len(key) != KEY_BYTES):
        raise ProtocolError


def _encode_items(items: Sequence[str]) -> list[str]:
    if isinstance(items, str | bytes):
        raise TypeError("items must be a sequence of str")
    out = list(items)
    if not out:
        raise ValueError("PSI needs at least one item")
    for item in out:
        if not isinstance(item, str):
            raise TypeError("items must be str")
        try:
            item.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("items must be encodable as UTF-8") from None
    return out


def _check_fpr(fpr: float) -> None:
    if not isinstance(fpr, float | int) or isinstance(fpr, bool) or not 0.0 < fpr < 1.0:
        raise ValueError("fpr must be in (0, 1)")


def _hash_range(largest: int, client_size: int, fpr: float) -> float:
    """The GCS hash range openmined-psi 2.0.6 uses: ``fpr`` bounds the whole request, so each
    lookup gets ``fpr / client_size`` and the range is ``largest / (fpr / client_size)``."""
    return largest / (fpr / client_size)


def _random_hex(rng: Callable[[int], bytes]) -> str:
    raw = rng(_DUMMY_BYTES)
    if not isinstance(raw, bytes) or len(raw) != _DUMMY_BYTES:
        raise ValueError("rng must return exactly the number of bytes asked for")
    return raw.hex()


def _max_frame(elements: int) -> int:
    return HEADER_BYTES + _FIXED_WIRE_BYTES + _ELEMENT_WIRE_BYTES * elements


def _parse(message: Any, payload: bytes) -> None:
    """Parse a protobuf strictly: without unknown fields it must re-serialize to the same bytes."""
    try:
        message.ParseFromString(payload)
        message.DiscardUnknownFields()
        canonical = message.SerializeToString(deterministic=True)
    except (DecodeError, ValueError, TypeError, RuntimeError):
        raise ProtocolError from None
    if canonical != payload:
        raise ProtocolError


def _check_points(elements: Sequence[bytes]) -> None:
    size = _POINT_BYTES
    prefixes = _POINT_PREFIXES
    for e in elements:
        if len(e) != size or e[0] not in prefixes:
            raise ProtocolError


class PsiServer:
    """The provider: owns the set that the setup message summarises."""

    def __init__(self, binding: Binding, *, reveal: bool, key: bytes | None = None) -> None:
        _check_key(key)
        self._binding = binding
        self._reveal = bool(reveal)
        try:
            if key is None:
                self._server = ompsi.server.CreateWithNewKey(self._reveal)
            else:
                self._server = ompsi.server.CreateFromKey(key, self._reveal)
        except (RuntimeError, ValueError, TypeError):
            raise ProtocolError from None

    def __repr__(self) -> str:
        return f"PsiServer({self._binding!r}, reveal={self._reveal})"

    def key_bytes(self) -> bytes:
        """The provider's secret key (32 bytes). Keep it with the provider; never send it."""
        return bytes(self._server.GetPrivateKeyBytes())

    def setup(
        self,
        items: Sequence[str],
        *,
        client_size: int,
        fpr: float = DEFAULT_FPR,
        rng: Callable[[int], bytes] = os.urandom,
    ) -> bytes:
        """The framed PSI_SETUP message for ``items`` and a request of ``client_size`` items.

        ``fpr`` bounds the probability of any false positive over the whole request. The GCS
        hash range is ``max(client_size, len(items)) * client_size / fpr`` and must stay below
        2**63 (ValueError otherwise: use smaller shards or a larger fpr). A set much smaller than
        the hash range allows is padded with random dummy items drawn from ``rng`` (they match
        a requester item with probability 2**-128 each); the requester then sees the padded size.
        """
        values = _encode_items(items)
        _check_fpr(fpr)
        if isinstance(client_size, bool) or not isinstance(client_size, int) or client_size < 1:
            raise ValueError("client_size must be an int >= 1")
        too_large = "fpr too small for these set sizes: use smaller shards"
        hash_range = _hash_range(max(client_size, len(values)), client_size, fpr)
        if hash_range > _MAX_HASH_RANGE:
            raise ValueError(too_large)
        floor = math.ceil(hash_range / _MAX_GAP)  # at most 2**13 here
        if len(values) < floor:
            values.extend(_DUMMY_PREFIX + _random_hex(rng) for _ in range(floor - len(values)))
            hash_range = _hash_range(max(client_size, len(values)), client_size, fpr)
        if hash_range > _MAX_HASH_RANGE or hash_range / len(values) > _MAX_GAP:
            raise ValueError(too_large)
        try:
            msg = self._server.CreateSetupMessage(fpr, client_size, values, ompsi.DataStructure.GCS)
            payload = msg.SerializeToString(deterministic=True)
        except (RuntimeError, ValueError, TypeError):  # pragma: no cover - inputs checked above
            raise ValueError("openmined-psi refused to build the setup") from None
        return pack(MessageType.PSI_SETUP, self._binding, payload)

    def respond(self, request: bytes, *, max_items: int) -> bytes:
        """Answer a framed PSI_REQUEST of at most ``max_items`` elements with a PSI_RESPONSE."""
        if isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1:
            raise ValueError("max_items must be an int >= 1")
        payload = unpack(
            request, MessageType.PSI_REQUEST, self._binding, max_bytes=_max_frame(max_items)
        )
        req = ompsi.Request()
        _parse(req, payload)
        if req.reveal_intersection != self._reveal:
            raise ProtocolError
        count = len(req.encrypted_elements)
        if not 1 <= count <= max_items:
            raise ProtocolError
        _check_points(req.encrypted_elements)
        try:
            resp = self._server.ProcessRequest(req)
            out = resp.SerializeToString(deterministic=True)
        except (RuntimeError, ValueError, TypeError):
            # openmined-psi refuses points that do not decode or are not on the curve.
            raise ProtocolError from None
        if len(resp.encrypted_elements) != count:  # pragma: no cover - library invariant
            raise ProtocolError
        return pack(MessageType.PSI_RESPONSE, self._binding, out)


class PsiClient:
    """The requester: learns the intersection (``reveal=True``) or its size (``reveal=False``)."""

    def __init__(self, binding: Binding, *, reveal: bool, key: bytes | None = None) -> None:
        _check_key(key)
        self._binding = binding
        self._reveal = bool(reveal)
        self._request_size: int | None = None
        try:
            if key is None:
                self._client = ompsi.client.CreateWithNewKey(self._reveal)
            else:
                self._client = ompsi.client.CreateFromKey(key, self._reveal)
        except (RuntimeError, ValueError, TypeError):
            raise ProtocolError from None

    def __repr__(self) -> str:
        return f"PsiClient({self._binding!r}, reveal={self._reveal})"

    def key_bytes(self) -> bytes:
        """The requester's secret key (32 bytes). Keep it with the requester; never send it."""
        return bytes(self._client.GetPrivateKeyBytes())

    def request(self, items: Sequence[str]) -> bytes:
        """The framed PSI_REQUEST for ``items`` (order matters: results are indices into it)."""
        values = _encode_items(items)
        try:
            msg = self._client.CreateRequest(values)
            payload = msg.SerializeToString(deterministic=True)
        except (RuntimeError, ValueError, TypeError):  # pragma: no cover - inputs checked above
            raise ValueError("openmined-psi refused to build the request") from None
        self._request_size = len(values)
        return pack(MessageType.PSI_REQUEST, self._binding, payload)

    def _expected_size(self, request_size: int | None) -> int:
        size = self._request_size if request_size is None else request_size
        if size is None:
            raise ValueError(
                "request_size is unknown: pass the number of items sent in the request"
            )
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError("request_size must be an int >= 1")
        return size

    def _load(
        self,
        setup: bytes,
        response: bytes,
        request_size: int | None,
        fpr: float,
        max_setup_bytes: int,
    ) -> tuple[int, Any, Any]:
        size = self._expected_size(request_size)
        _check_fpr(fpr)
        setup_payload = unpack(
            setup, MessageType.PSI_SETUP, self._binding, max_bytes=max_setup_bytes
        )
        response_payload = unpack(
            response, MessageType.PSI_RESPONSE, self._binding, max_bytes=_max_frame(size)
        )
        server_setup = ompsi.ServerSetup()
        _parse(server_setup, setup_payload)
        if server_setup.WhichOneof("data_structure") != "gcs":
            raise ProtocolError
        gcs = server_setup.gcs
        # The library divides by hash_range (0 aborts the process) and shifts by div; the
        # hash_range must also promise at most ``fpr`` false positives for this request.
        if not 0 <= gcs.div <= _MAX_DIV or not 1 <= gcs.hash_range <= _MAX_HASH_RANGE:
            raise ProtocolError
        if gcs.hash_range + 1 < _hash_range(size, size, fpr) or not gcs.bits:
            raise ProtocolError
        # golomb_intersect reads up to div//8 + 1 bytes past a truncated final code without a
        # bounds check: zero padding makes that read stay inside the buffer and changes nothing
        # for a well-formed set (trailing zero bits encode no element).
        gcs.bits = gcs.bits + bytes(gcs.div // 8 + 2)
        resp = ompsi.Response()
        _parse(resp, response_payload)
        if len(resp.encrypted_elements) != size:
            raise ProtocolError
        _check_points(resp.encrypted_elements)
        return size, server_setup, resp

    def intersect(
        self,
        setup: bytes,
        response: bytes,
        *,
        max_setup_bytes: int = MAX_MESSAGE_BYTES,
        request_size: int | None = None,
        fpr: float = DEFAULT_FPR,
    ) -> list[int]:
        """Sorted indices of the requester's items that are in the intersection (reveal=True).

        ``request_size`` defaults to the size of this instance's own ``request()``; a client
        re-created from its key must be told. ``fpr`` is the largest false-positive rate the
        requester accepts: a setup that promises less is refused.
        """
        if not self._reveal:
            raise ValueError("intersect() needs a client created with reveal=True")
        size, server_setup, resp = self._load(setup, response, request_size, fpr, max_setup_bytes)
        try:
            indices = [int(i) for i in self._client.GetIntersection(server_setup, resp)]
        except (RuntimeError, ValueError, TypeError):
            raise ProtocolError from None
        indices.sort()
        if indices and not (0 <= indices[0] and indices[-1] < size):  # pragma: no cover
            raise ProtocolError
        return indices

    def cardinality(
        self,
        setup: bytes,
        response: bytes,
        *,
        max_setup_bytes: int = MAX_MESSAGE_BYTES,
        request_size: int | None = None,
        fpr: float = DEFAULT_FPR,
    ) -> int:
        """The size of the intersection (reveal=False). Same parameters as :meth:`intersect`."""
        if self._reveal:
            raise ValueError("cardinality() needs a client created with reveal=False")
        size, server_setup, resp = self._load(setup, response, request_size, fpr, max_setup_bytes)
        try:
            result = int(self._client.GetIntersectionSize(server_setup, resp))
        except (RuntimeError, ValueError, TypeError):
            raise ProtocolError from None
        if not 0 <= result <= size:  # pragma: no cover - library invariant
            raise ProtocolError
        return result
