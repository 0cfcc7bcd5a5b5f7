"""Signed checkpoints: a tree size and root hash, signed with the ledger's Ed25519 key.

The signed body is the canonical JSON (:func:`sandbox.ledger.entry.canonical`) of exactly five
claims: ``origin``, ``tree_size``, ``root_hash`` (hex), ``time`` (ISO 8601 UTC, ``Z``) and
``key_id``. The signature covers the body's UTF-8 bytes, so a verifier checks the bytes it was
given, never a re-encoding of them. The file form is ``{"body": ..., "signature": ...}`` with the
signature in standard base64.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sandbox.errors import SandboxError
from sandbox.keys import key_id
from sandbox.ledger.entry import ORIGIN, canonical
from sandbox.ledger.merkle import HASH_SIZE

_HEX_ROOT = re.compile(f"[0-9a-f]{{{2 * HASH_SIZE}}}")
_CLAIMS = {"origin": str, "tree_size": int, "root_hash": str, "time": str, "key_id": str}


class CheckpointError(SandboxError):
    """A checkpoint is malformed, not signed by the given key, or not about this ledger."""

    code = "ledger.checkpoint_invalid"


@dataclass(frozen=True)
class SignedCheckpoint:
    body: str
    signature: str

    def to_json(self) -> str:
        return canonical({"body": self.body, "signature": self.signature}).decode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes) -> SignedCheckpoint:
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:  # also UnicodeDecodeError
            raise CheckpointError("the checkpoint file is not JSON") from exc
        if (
            not isinstance(value, dict)
            or set(value) != {"body", "signature"}
            or not all(isinstance(v, str) for v in value.values())
        ):
            raise CheckpointError('the checkpoint file is not {"body": ..., "signature": ...}')
        return cls(body=value["body"], signature=value["signature"])


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: str
    time: str
    key_id: str


def sign_checkpoint(
    key: Ed25519PrivateKey, *, tree_size: int, root_hash: bytes, now: dt.datetime
) -> SignedCheckpoint:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if tree_size < 0 or len(root_hash) != HASH_SIZE:
        raise ValueError("a checkpoint needs a tree size >= 0 and a 32-byte root hash")
    body = canonical(
        {
            "origin": ORIGIN,
            "tree_size": tree_size,
            "root_hash": root_hash.hex(),
            "time": now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "key_id": key_id(key.public_key()),
        }
    )
    signature = base64.b64encode(key.sign(body)).decode("ascii")
    return SignedCheckpoint(body=body.decode("utf-8"), signature=signature)


def verify_checkpoint(public_key: Ed25519PublicKey, signed: SignedCheckpoint) -> Checkpoint:
    """The checkpoint's claims, once its signature and form are checked; else CheckpointError."""
    try:
        body = signed.body.encode("utf-8")
        signature = base64.b64decode(signed.signature.encode("ascii"), validate=True)
        public_key.verify(signature, body)
    except (UnicodeEncodeError, binascii.Error, InvalidSignature) as exc:
        raise CheckpointError("the checkpoint's signature does not verify with this key") from exc
    claims = _claims(body)
    if claims["origin"] != ORIGIN:
        raise CheckpointError("the checkpoint is not about this ledger (wrong origin)")
    if not _HEX_ROOT.fullmatch(claims["root_hash"]):
        raise CheckpointError("the checkpoint's root hash is not 64 lower-case hex characters")
    if claims["key_id"] != key_id(public_key):
        raise CheckpointError("the checkpoint's key id does not match the public key")
    return Checkpoint(**claims)


def _claims(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
        same = isinstance(value, dict) and canonical(value) == body
    except (ValueError, RecursionError) as exc:  # not JSON, NaN, nesting too deep
        raise CheckpointError("the checkpoint body is not JSON") from exc
    if not same:
        raise CheckpointError("the checkpoint body is not a canonical JSON object")
    if set(value) != set(_CLAIMS) or not all(
        type(value[name]) is kind for name, kind in _CLAIMS.items()
    ):
        raise CheckpointError("the checkpoint body does not hold exactly the expected claims")
    if value["tree_size"] < 0:
        raise CheckpointError("the checkpoint's tree size is negative")
    if not _is_utc_time(value["time"]):
        raise CheckpointError("the checkpoint's time is not ISO 8601 UTC ending in Z")
    return dict(value)


def _is_utc_time(text: str) -> bool:
    if not text.endswith("Z"):
        return False
    try:
        parsed = dt.datetime.fromisoformat(text[:-1] + "+00:00")
    except ValueError:
        return False
    return parsed.utcoffset() == dt.timedelta(0)
