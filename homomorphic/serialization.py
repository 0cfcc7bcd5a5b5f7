"""Keys and ciphertexts to bytes and JSON, and back with validation.

Every loader checks exact lengths, formats and ranges and raises one opaque error for anything
malformed: :class:`MalformedKey` for keys, :class:`MalformedCiphertext` for ciphertexts.

Binary formats (big-endian):

* public key: ``b"HEPK"`` ‖ version 0x01 ‖ uint16 k ‖ n (k bytes) ‖ hs (2k bytes)
* private key: ``b"HESK"`` ‖ version 0x01 ‖ uint16 h ‖ p (h bytes) ‖ q (h bytes) ‖ hs (2k bytes,
  k the byte length of n = p·q)
* ciphertext: exactly the byte length of n², under a known key

JSON: ``{"format": "paillier-public/1", "n": hex, "hs": hex}``,
``{"format": "paillier-private/1", "p": hex, "q": hex, "hs": hex}`` and ``packed/1`` objects
(:func:`packed_to_json`); hex is lowercase without prefix or leading zeros.

Checks on load: n of an allowed size (2048..8192 bits; from 256 with ``allow_insecure=True``),
odd, not prime, not a square, no factor below 2000; 1 < hs < n² - 1 and gcd(hs, n) = 1; for
private keys also p ≠ q probable primes of equal length with n = p·q.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from homomorphic.encryption import validate_ciphertext
from homomorphic.errors import MalformedCiphertext, MalformedKey
from homomorphic.keys import (
    MAX_KEY_BITS,
    PrivateKey,
    PublicKey,
    check_modulus,
    keypair_from_primes,
)
from homomorphic.packing import PackedCiphertext, PackingLayout

__all__ = [
    "ciphertext_from_bytes",
    "ciphertext_to_bytes",
    "packed_from_json",
    "packed_to_json",
    "private_key_from_bytes",
    "private_key_from_json",
    "private_key_to_bytes",
    "private_key_to_json",
    "public_key_from_bytes",
    "public_key_from_json",
    "public_key_to_bytes",
    "public_key_to_json",
]

_PUBLIC_MAGIC = b"HEPK\x01"
_PRIVATE_MAGIC = b"HESK\x01"
_PUBLIC_FORMAT = "paillier-public/1"
_PRIVATE_FORMAT = "paillier-private/1"
_PACKED_FORMAT = "packed/1"
_MAX_HEX = 2 * (2 * MAX_KEY_BITS // 8)  # hs and ciphertexts are below n²
_HEX = re.compile(r"[1-9a-f][0-9a-f]*")


def _size(n: int) -> int:
    return (n.bit_length() + 7) // 8


def public_key_to_bytes(key: PublicKey) -> bytes:
    k = _size(key.n)
    return (
        _PUBLIC_MAGIC
        + k.to_bytes(2, "big")
        + key.n.to_bytes(k, "big")
        + key.hs.to_bytes(2 * k, "big")
    )


def public_key_from_bytes(data: bytes, *, allow_insecure: bool = False) -> PublicKey:
    if not isinstance(data, bytes) or len(data) < 7 or not data.startswith(_PUBLIC_MAGIC):
        raise MalformedKey from None
    k = int.from_bytes(data[5:7], "big")
    if len(data) != 7 + 3 * k:
        raise MalformedKey from None
    n = int.from_bytes(data[7 : 7 + k], "big")
    hs = int.from_bytes(data[7 + k :], "big")
    if _size(n) != k:
        raise MalformedKey from None
    return _public_key(n, hs, allow_insecure=allow_insecure)


def public_key_to_json(key: PublicKey) -> dict[str, str]:
    return {"format": _PUBLIC_FORMAT, "n": _hex(key.n), "hs": _hex(key.hs)}


def public_key_from_json(data: Mapping[str, Any], *, allow_insecure: bool = False) -> PublicKey:
    fields = _fields(data, _PUBLIC_FORMAT, ("n", "hs"), MalformedKey)
    return _public_key(fields["n"], fields["hs"], allow_insecure=allow_insecure)


def private_key_to_bytes(key: PrivateKey) -> bytes:
    h = max(_size(key.p), _size(key.q))
    k = _size(key.public_key.n)
    return (
        _PRIVATE_MAGIC
        + h.to_bytes(2, "big")
        + key.p.to_bytes(h, "big")
        + key.q.to_bytes(h, "big")
        + key.public_key.hs.to_bytes(2 * k, "big")
    )


def private_key_from_bytes(data: bytes, *, allow_insecure: bool = False) -> PrivateKey:
    if not isinstance(data, bytes) or len(data) < 7 or not data.startswith(_PRIVATE_MAGIC):
        raise MalformedKey from None
    h = int.from_bytes(data[5:7], "big")
    if h == 0 or len(data) < 7 + 2 * h:
        raise MalformedKey from None
    p = int.from_bytes(data[7 : 7 + h], "big")
    q = int.from_bytes(data[7 + h : 7 + 2 * h], "big")
    k = _size(p * q)
    if len(data) != 7 + 2 * h + 2 * k:
        raise MalformedKey from None
    hs = int.from_bytes(data[7 + 2 * h :], "big")
    return _private_key(p, q, hs, allow_insecure=allow_insecure)


def private_key_to_json(key: PrivateKey) -> dict[str, str]:
    return {
        "format": _PRIVATE_FORMAT,
        "p": _hex(key.p),
        "q": _hex(key.q),
        "hs": _hex(key.public_key.hs),
    }


def private_key_from_json(data: Mapping[str, Any], *, allow_insecure: bool = False) -> PrivateKey:
    fields = _fields(data, _PRIVATE_FORMAT, ("p", "q", "hs"), MalformedKey)
    return _private_key(fields["p"], fields["q"], fields["hs"], allow_insecure=allow_insecure)


def ciphertext_to_bytes(key: PublicKey, ciphertext: int) -> bytes:
    return validate_ciphertext(key, ciphertext).to_bytes(_size(key.nsquare), "big")


def ciphertext_from_bytes(key: PublicKey, data: bytes) -> int:
    if not isinstance(data, bytes) or len(data) != _size(key.nsquare):
        raise MalformedCiphertext from None
    return validate_ciphertext(key, int.from_bytes(data, "big"))


def packed_to_json(packed: PackedCiphertext) -> dict[str, Any]:
    layout = packed.layout
    return {
        "format": _PACKED_FORMAT,
        "key_id": packed.public_key.key_id,
        "layout": {
            "version": layout.version,
            "slots": layout.slots,
            "value_bits": layout.value_bits,
            "max_additions": layout.max_additions,
            "decimals": layout.decimals,
        },
        "count": packed.count,
        "length": packed.length,
        "ciphertext": _hex(packed.ciphertext),
    }


def packed_from_json(key: PublicKey, data: Mapping[str, Any]) -> PackedCiphertext:
    """A received packed ciphertext under ``key`` (its key id must match), fully validated."""
    try:
        if not isinstance(data, Mapping) or set(data) != {
            "format", "key_id", "layout", "count", "length", "ciphertext",
        }:  # fmt: skip
            raise MalformedCiphertext
        layout_data = data["layout"]
        if (
            data["format"] != _PACKED_FORMAT
            or data["key_id"] != key.key_id
            or not isinstance(layout_data, Mapping)
            or set(layout_data) != {"version", "slots", "value_bits", "max_additions", "decimals"}
        ):
            raise MalformedCiphertext
        layout = PackingLayout(**{str(k): v for k, v in layout_data.items()})
        packed = PackedCiphertext(
            public_key=key,
            layout=layout,
            ciphertext=_unhex(data["ciphertext"], MalformedCiphertext),
            count=data["count"],
            length=data["length"],
        )
        validate_ciphertext(key, packed.ciphertext)
    except (MalformedCiphertext, ValueError, TypeError):
        raise MalformedCiphertext from None
    return packed


def _public_key(n: int, hs: int, *, allow_insecure: bool) -> PublicKey:
    check_modulus(n, allow_insecure=allow_insecure)
    return PublicKey(n, hs)


def _private_key(p: int, q: int, hs: int, *, allow_insecure: bool) -> PrivateKey:
    return keypair_from_primes(p, q, hs=hs, allow_insecure=allow_insecure)[1]


def _hex(value: int) -> str:
    return format(value, "x")


def _unhex(text: object, error: type[MalformedKey | MalformedCiphertext]) -> int:
    if not isinstance(text, str) or len(text) > _MAX_HEX or not _HEX.fullmatch(text):
        raise error from None
    return int(text, 16)


def _fields(
    data: Mapping[str, Any],
    form: str,
    names: tuple[str, ...],
    error: type[MalformedKey | MalformedCiphertext],
) -> dict[str, int]:
    if not isinstance(data, Mapping) or set(data) != {"format", *names}:
        raise error from None
    if data["format"] != form:
        raise error from None
    return {name: _unhex(data[name], error) for name in names}
