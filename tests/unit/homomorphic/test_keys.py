"""Key generation, the DJN fixed base, phe interop, pickling and what keys show of themselves."""

from __future__ import annotations

import functools
import math
import pickle

import phe
import pytest

from homomorphic.encryption import decrypt, decrypt_raw, encrypt, encrypt_raw
from homomorphic.errors import MalformedKey
from homomorphic.keys import (
    DEFAULT_KEY_BITS,
    PrivateKey,
    PublicKey,
    derive_fixed_base,
    generate_keypair,
    keypair_from_primes,
)
from tests.unit.homomorphic.helpers import expect_opaque, keypair, rng_from


@pytest.mark.parametrize("bits", [256, 512, 1024])
def test_generated_keys_have_the_promised_shape(bits: int) -> None:
    public, private = generate_keypair(bits, rng=rng_from(bits), allow_insecure=True)
    p, q, n = private.p, private.q, public.n
    assert n == p * q and n.bit_length() == bits == public.bits
    assert p < q and p.bit_length() == q.bit_length() == bits // 2
    assert p % 4 == 3 and q % 4 == 3
    assert math.gcd(n, (p - 1) * (q - 1)) == 1
    assert public.nsquare == n * n and public.max_int == n // 3 - 1
    # hs is a unit and an n-th power: hs^λ = 1 (mod n²) for λ = lcm(p-1, q-1).
    assert 1 < public.hs < n * n and math.gcd(public.hs, n) == 1
    assert pow(public.hs, math.lcm(p - 1, q - 1), n * n) == 1
    # h = -x² with p ≡ q ≡ 3 (mod 4): a non-residue modulo p and modulo q (so Jacobi symbol 1
    # modulo n, as in DJN); hs = h^n keeps both Legendre symbols since n is odd.
    assert pow(public.hs, (p - 1) // 2, p) == p - 1
    assert pow(public.hs, (q - 1) // 2, q) == q - 1


def test_generation_is_deterministic_under_an_injected_rng() -> None:
    a = generate_keypair(512, rng=rng_from(5), allow_insecure=True)
    b = generate_keypair(512, rng=rng_from(5), allow_insecure=True)
    c = generate_keypair(512, rng=rng_from(6), allow_insecure=True)
    assert a == b and a[0].key_id == b[0].key_id
    assert a[0] != c[0]


def test_default_size_and_small_keys_only_by_keyword() -> None:
    assert DEFAULT_KEY_BITS == 3072
    for bits in (1024, 512, 2047, 2049, 9000, 0):
        with pytest.raises(ValueError, match="bits"):
            generate_keypair(bits)
    with pytest.raises(ValueError):
        generate_keypair(128, allow_insecure=True)
    with pytest.raises(ValueError):
        generate_keypair(1023, allow_insecure=True)


def test_a_broken_rng_is_refused() -> None:
    with pytest.raises(ValueError, match="rng"):
        generate_keypair(512, rng=lambda bits: -1, allow_insecure=True)
    with pytest.raises(ValueError, match="rng"):
        generate_keypair(512, rng=lambda bits: 1 << bits, allow_insecure=True)
    with pytest.raises(ValueError, match="rng"):
        derive_fixed_base(keypair(512)[0].n, rng=lambda bits: 2.0)  # type: ignore[arg-type,return-value]


def test_keys_and_their_reprs_show_no_secret() -> None:
    public, private = keypair(512)
    for text in (repr(public), repr(private), str(private)):
        for secret in (private.p, private.q):
            assert str(secret) not in text and hex(secret)[2:] not in text
    assert "512" in repr(private) and public.key_id[:16] in repr(private)


def test_keys_pickle_for_executor_workers() -> None:
    public, private = keypair(512)
    assert pickle.loads(pickle.dumps(public)) == public
    restored = pickle.loads(pickle.dumps(private))
    assert restored == private
    c = encrypt_raw(public, 99)
    assert decrypt_raw(restored, c) == 99


def test_equality_and_hash() -> None:
    public, private = keypair(512)
    same = PublicKey(public.n, public.hs)
    assert same == public and hash(same) == hash(public)
    other_base = PublicKey(public.n, derive_fixed_base(public.n, rng=rng_from(1)))
    assert other_base != public
    assert PrivateKey(public, private.q, private.p) == private  # p, q order normalized
    assert public != "not a key"


def test_phe_keys_built_from_our_n_interoperate_both_ways() -> None:
    public, private = keypair(1024)
    stock_public = phe.PaillierPublicKey(public.n)
    stock_private = phe.PaillierPrivateKey(stock_public, private.p, private.q)
    assert decrypt(private, stock_public.encrypt(-17.25)) == -17.25
    assert stock_private.decrypt(encrypt(public, 123456789)) == 123456789
    assert private.to_phe() == stock_private and public.to_phe() == stock_public


def test_keys_import_from_phe() -> None:
    stock_public, stock_private = phe.generate_paillier_keypair(n_length=1024)
    public = PublicKey.from_phe(stock_public, rng=rng_from(3), allow_insecure=True)
    private = PrivateKey.from_phe(stock_private, public_key=public, allow_insecure=True)
    assert public.n == stock_public.n and private.public_key == public
    assert stock_private.decrypt(encrypt(public, 5)) == 5
    assert decrypt(private, stock_public.encrypt(2.5)) == 2.5
    fresh = PrivateKey.from_phe(stock_private, allow_insecure=True)
    assert fresh.public_key.n == public.n
    # 1024-bit phe keys are refused unless explicitly allowed.
    expect_opaque(MalformedKey, lambda: PublicKey.from_phe(stock_public))
    expect_opaque(MalformedKey, lambda: PrivateKey.from_phe(stock_private), stock_private.p)


def test_importing_something_else_is_refused() -> None:
    public, private = keypair(512)
    expect_opaque(MalformedKey, lambda: PublicKey.from_phe(public, allow_insecure=True))
    expect_opaque(MalformedKey, lambda: PrivateKey.from_phe(private, allow_insecure=True))
    other = keypair(512, seed=1)[0]
    expect_opaque(
        MalformedKey,
        lambda: PrivateKey.from_phe(private.to_phe(), public_key=other, allow_insecure=True),
        private.p,
    )


def test_inconsistent_key_material_is_refused() -> None:
    public, private = keypair(512)
    p, q, n = private.p, private.q, public.n
    for hs in (0, 1, n * n - 1, n * n, n * n + 5, p, n):
        expect_opaque(MalformedKey, functools.partial(PublicKey, n, hs))
    expect_opaque(MalformedKey, lambda: PublicKey(n + 1, public.hs))
    expect_opaque(MalformedKey, lambda: PrivateKey(public, p, p), p)
    expect_opaque(MalformedKey, lambda: PrivateKey(public, p, q + 2), p, q)
    expect_opaque(MalformedKey, lambda: PrivateKey(public, 1, n), p, q)
    expect_opaque(MalformedKey, lambda: keypair_from_primes(p, p + 2, allow_insecure=True), p)
    expect_opaque(MalformedKey, lambda: keypair_from_primes(p, q, allow_insecure=False), p, q)
    small = keypair(256)[1]
    expect_opaque(
        MalformedKey, lambda: keypair_from_primes(small.p, q, allow_insecure=True), q
    )  # unequal sizes
