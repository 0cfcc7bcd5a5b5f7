"""Paillier keys, fast encryption compatible with ``phe``, fixed-point encoding, packing and
encrypted aggregates: pure, IO-free recipes. See README.md in this package for its boundary.

Only the safe recipes are exported here; the hazardous primitives (raw encryption with a given
exponent, fixed-base tables, CRT decryption of unvalidated input) stay in
``homomorphic.hazmat``.
"""

from homomorphic.aggregates import (
    Moments,
    decrypt_moments,
    encrypt_moments,
    moments_layout,
    sum_ciphertexts,
    sum_vectors,
)
from homomorphic.encoding import FixedPoint
from homomorphic.encryption import (
    decrypt,
    decrypt_many,
    decrypt_raw,
    encrypt,
    encrypt_many,
    encrypt_raw,
    rerandomize,
    rerandomize_raw,
    validate_ciphertext,
)
from homomorphic.errors import (
    EmptyInput,
    HomomorphicError,
    InvalidValue,
    LayoutMismatch,
    MalformedCiphertext,
    MalformedKey,
    Overflow,
    PlaintextTooLarge,
)
from homomorphic.keys import PrivateKey, PublicKey, generate_keypair, keypair_from_primes
from homomorphic.packing import (
    PackedCiphertext,
    PackingLayout,
    decrypt_packed,
    decrypt_packed_many,
    encrypt_packed,
    sum_packed,
)
from homomorphic.serialization import (
    ciphertext_from_bytes,
    ciphertext_to_bytes,
    packed_from_json,
    packed_to_json,
    private_key_from_bytes,
    private_key_from_json,
    private_key_to_bytes,
    private_key_to_json,
    public_key_from_bytes,
    public_key_from_json,
    public_key_to_bytes,
    public_key_to_json,
)

__all__ = [
    "EmptyInput",
    "FixedPoint",
    "HomomorphicError",
    "InvalidValue",
    "LayoutMismatch",
    "MalformedCiphertext",
    "MalformedKey",
    "Moments",
    "Overflow",
    "PackedCiphertext",
    "PackingLayout",
    "PlaintextTooLarge",
    "PrivateKey",
    "PublicKey",
    "ciphertext_from_bytes",
    "ciphertext_to_bytes",
    "decrypt",
    "decrypt_many",
    "decrypt_moments",
    "decrypt_packed",
    "decrypt_packed_many",
    "decrypt_raw",
    "encrypt",
    "encrypt_many",
    "encrypt_moments",
    "encrypt_packed",
    "encrypt_raw",
    "generate_keypair",
    "keypair_from_primes",
    "moments_layout",
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
    "rerandomize",
    "rerandomize_raw",
    "sum_ciphertexts",
    "sum_packed",
    "sum_vectors",
    "validate_ciphertext",
]
