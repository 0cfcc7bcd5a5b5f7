"""Ed25519 keys kept as PEM files (created with mode 0600 on first use), and their key ids."""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sandbox.write_once import read_or_create


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_or_create_private_key(path: Path) -> Ed25519PrivateKey:
    """The key at ``path`` (PEM, mode 0600), made on first use, with its public half beside it
    (``*.pub.pem``). Safe when several processes start at once on a new data directory (the web
    processes and the workers all ask): one key is made, and everyone reads that one."""

    def make() -> bytes:
        return Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    key = serialization.load_pem_private_key(read_or_create(path, make), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    public = public_path(path)
    if not public.exists():  # made with the key, or lost since: made again from it
        read_or_create(public, lambda: public_pem(key.public_key()), mode=0o644)
    return key


def public_path(private_path: Path) -> Path:
    return private_path.with_suffix(".pub.pem")


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(private_path: Path) -> Ed25519PublicKey:
    """A domain host needs only the public half: it reads ``*.pub.pem`` when that is all it has."""
    pub = public_path(private_path)
    if pub.exists():
        key = serialization.load_pem_public_key(pub.read_bytes())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"{pub} does not hold an Ed25519 public key")
        return key
    return load_or_create_private_key(private_path).public_key()
