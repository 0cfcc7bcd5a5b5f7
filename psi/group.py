"""The secp256k1 group (prime order n, cofactor 1) through coincurve, for the lookup OPRF.

Points travel as 33-byte SEC1 compressed encodings (prefix 0x02/0x03); the point at infinity has
no such encoding and can never be produced by multiplying a valid point by a scalar in [1, n-1].
Every point that arrives from outside goes through libsecp256k1's parser (exact length, prefix,
x < p, x on the curve) inside :func:`mul` / :func:`mul_many`; anything else is a
:class:`psi.errors.ProtocolError`. No curve or bignum arithmetic is written here: point operations
are coincurve's, and the only scalar arithmetic is Python's ``pow(k, -1, n)``.

:func:`hash_to_point` is try-and-increment: it is NOT constant-time in the item (the number of
attempts leaks about one bit per attempt through timing). It is only ever run by the party that
owns the item, on its own machine, so the timing is not observable by the other party.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import coincurve

from psi.errors import ProtocolError

if TYPE_CHECKING:
    from hashlib import _Hash

__all__ = [
    "ORDER",
    "POINT_BYTES",
    "SCALAR_BYTES",
    "hash_mul_many",
    "hash_to_point",
    "invert",
    "mul",
    "mul_many",
    "random_scalar",
    "scalar_bytes",
    "scalar_from_bytes",
]

POINT_BYTES = 33
SCALAR_BYTES = 32
ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_MAX_RNG_ATTEMPTS = 64
_MAX_ITEM_BYTES = (1 << 32) - 1
_COUNTERS = tuple(bytes((c,)) for c in range(256))
_H2C_DOMAIN = b"sandbox/psi/hash-to-secp256k1/v1"
_PublicKey = coincurve.PublicKey


def random_scalar(rng: Callable[[int], bytes] = os.urandom) -> int:
    """A uniform scalar in [1, n-1], by rejection sampling 32-byte strings from ``rng``."""
    for _ in range(_MAX_RNG_ATTEMPTS):
        raw = rng(SCALAR_BYTES)
        if not isinstance(raw, bytes) or len(raw) != SCALAR_BYTES:
            raise ValueError("rng must return exactly the number of bytes asked for")
        k = int.from_bytes(raw, "big")
        if 0 < k < ORDER:
            return k
    raise ValueError("rng keeps returning out-of-range scalars")


def _check_scalar(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or not 0 < k < ORDER:
        raise ValueError("scalar must be an int in [1, n-1]")


def scalar_bytes(k: int) -> bytes:
    """The 32-byte big-endian encoding of a scalar in [1, n-1] (ValueError otherwise)."""
    _check_scalar(k)
    return k.to_bytes(SCALAR_BYTES, "big")


def scalar_from_bytes(b: bytes) -> int:
    """Decode a 32-byte big-endian scalar; 0, values >= n and other lengths are ProtocolError."""
    if not isinstance(b, bytes) or len(b) != SCALAR_BYTES:
        raise ProtocolError
    k = int.from_bytes(b, "big")
    if not 0 < k < ORDER:
        raise ProtocolError
    return k


def invert(k: int) -> int:
    """k^-1 mod n for k in [1, n-1]."""
    _check_scalar(k)
    return pow(k, -1, ORDER)


def _prefix_hasher(dst: bytes) -> _Hash:
    if not isinstance(dst, bytes):
        raise TypeError("dst must be bytes")
    h = hashlib.sha256(_H2C_DOMAIN)
    h.update(len(dst).to_bytes(4, "big"))
    h.update(dst)
    return h


def _hash_to_key(item: bytes, prefix: _Hash) -> coincurve.PublicKey:
    if not isinstance(item, bytes):
        raise TypeError("items must be bytes")
    if len(item) > _MAX_ITEM_BYTES:
        raise ValueError("item too long")
    h = prefix.copy()
    h.update(len(item).to_bytes(4, "big"))
    h.update(item)
    for counter in _COUNTERS:
        attempt = h.copy()
        attempt.update(counter)
        try:
            return _PublicKey(b"\x02" + attempt.digest())
        except ValueError:
            continue
    # Each attempt succeeds with probability ~1/2; 256 failures in a row do not happen.
    raise ValueError("hash_to_point found no point")  # pragma: no cover


def hash_to_point(item: bytes, dst: bytes) -> bytes:
    """Hash ``item`` to a secp256k1 point (33 bytes compressed), domain-separated by ``dst``.

    x = SHA-256(domain || len(dst) || dst || len(item) || item || counter) for counter = 0, 1, ...;
    the first x for which 0x02 || x parses as a valid compressed point wins. Not constant-time in
    the item: run it only on items you own.
    """
    return _hash_to_key(item, _prefix_hasher(dst)).format()


def mul(point: bytes, k: int) -> bytes:
    """k * point for a received point: it must be exactly 33 bytes, prefix 02/03, on the curve."""
    kb = scalar_bytes(k)
    if not isinstance(point, bytes) or len(point) != POINT_BYTES:
        raise ProtocolError
    try:
        return _PublicKey(point).multiply(kb).format()
    except ValueError:
        raise ProtocolError from None


def mul_many(points: Sequence[bytes], k: int) -> list[bytes]:
    """[k * p for p in points], validating every point like :func:`mul`."""
    kb = scalar_bytes(k)
    pk = _PublicKey
    size = POINT_BYTES
    out: list[bytes] = []
    append = out.append
    try:
        for p in points:
            # coincurve treats non-bytes as a raw C pointer: the type check is a safety check.
            if not isinstance(p, bytes) or len(p) != size:
                raise ProtocolError
            append(pk(p).multiply(kb).format())
    except ValueError:
        raise ProtocolError from None
    return out


def hash_mul_many(items: Sequence[bytes], dst: bytes, k: int) -> list[bytes]:
    """[k * hash_to_point(item, dst) for item in items], without re-parsing the hashed points."""
    kb = scalar_bytes(k)
    prefix = _prefix_hasher(dst)
    to_key = _hash_to_key
    out: list[bytes] = []
    append = out.append
    for item in items:
        append(to_key(item, prefix).multiply(kb).format())
    return out


def check_points(points: Sequence[bytes]) -> None:
    """Every point parses as a compressed secp256k1 point (libsecp256k1's checks, no
    arithmetic); anything else is a :class:`ProtocolError`."""
    parse = coincurve.PublicKey
    try:
        for p in points:
            parse(p)
    except ValueError:
        raise ProtocolError from None


def secret_key(key: bytes | None, rng: Callable[[int], bytes]) -> int:
    """A party's secret scalar: the stored one, or a fresh one from ``rng``."""
    return random_scalar(rng) if key is None else scalar_from_bytes(key)
