"""Known answers: DJN encryption and textbook (phe) ciphertexts with pinned p, q, x and exponents,
from tests/vectors/paillier_djn.json (its "source" says how it was made: Python's built-in pow
only, independent of gmpy2, phe and this package). Each vector is also recomputed here from the
formulas, so a wrong vector cannot pass silently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import phe
import pytest

from homomorphic.encryption import decrypt_raw, encrypt_raw, rerandomize_raw
from homomorphic.keys import keypair_from_primes
from tests.unit.homomorphic.helpers import scripted_rng

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "vectors" / "paillier_djn.json").read_text()
)
KEYS = VECTORS["keys"]


def test_the_vector_file_names_its_source() -> None:
    assert "built-in pow" in VECTORS["source"] and "Damgard" in VECTORS["source"]


@pytest.mark.parametrize("vector", KEYS, ids=[str(k["bits"]) for k in KEYS])
def test_vectors_match_the_textbook_formulas(vector: dict[str, Any]) -> None:
    p, q, x = int(vector["p"]), int(vector["q"]), int(vector["x"])
    n = p * q
    n2 = n * n
    assert n == int(vector["n"]) and n.bit_length() == vector["bits"]
    hs = pow(-x * x % n, n, n2)
    assert hs == int(vector["hs"])
    for case in vector["djn"]:
        m, a = int(case["m"]), int(case["a"])
        assert int(case["c"]) == (1 + m * n) * pow(hs, a, n2) % n2
    for case in vector["phe_raw"]:
        m, r = int(case["m"]), int(case["r"])
        assert int(case["c"]) == (1 + m * n) * pow(r, n, n2) % n2


@pytest.mark.parametrize("vector", KEYS, ids=[str(k["bits"]) for k in KEYS])
def test_djn_encryption_matches_the_vectors(vector: dict[str, Any]) -> None:
    bits = vector["bits"]
    p, q, x = int(vector["p"]), int(vector["q"]), int(vector["x"])
    public, private = keypair_from_primes(p, q, rng=scripted_rng((bits, x)), allow_insecure=True)
    assert public.hs == int(vector["hs"])
    assert vector["exponent_bits"] == bits // 2  # the default: |n|/2
    for case in vector["djn"]:
        m, a, c = int(case["m"]), int(case["a"]), int(case["c"])
        rng = scripted_rng((bits // 2, a))
        assert encrypt_raw(public, m, rng=rng) == c
        assert decrypt_raw(private, c) == m


@pytest.mark.parametrize("vector", KEYS, ids=[str(k["bits"]) for k in KEYS])
def test_textbook_ciphertexts_decrypt_and_match_phe(vector: dict[str, Any]) -> None:
    p, q = int(vector["p"]), int(vector["q"])
    public, private = keypair_from_primes(p, q, hs=int(vector["hs"]), allow_insecure=True)
    stock = public.to_phe()
    for case in vector["phe_raw"]:
        m, r, c = int(case["m"]), int(case["r"]), int(case["c"])
        assert stock.raw_encrypt(m, r_value=r) == c
        assert decrypt_raw(private, c) == m


def test_rerandomization_multiplies_by_a_pinned_factor() -> None:
    vector = KEYS[0]
    bits, n2 = vector["bits"], int(vector["n"]) ** 2
    public, private = keypair_from_primes(
        int(vector["p"]), int(vector["q"]), hs=int(vector["hs"]), allow_insecure=True
    )
    case = vector["djn"][2]
    c, a = int(case["c"]), 123456789
    fresh = rerandomize_raw(public, c, rng=scripted_rng((bits // 2, a)))
    assert fresh == c * pow(int(vector["hs"]), a, n2) % n2
    assert decrypt_raw(private, fresh) == int(case["m"])


def test_stock_phe_keys_of_the_vectors_agree() -> None:
    vector = KEYS[1]
    p, q = int(vector["p"]), int(vector["q"])
    _public, private = keypair_from_primes(p, q, hs=int(vector["hs"]), allow_insecure=True)
    stock_private = phe.PaillierPrivateKey(phe.PaillierPublicKey(p * q), p, q)
    for case in vector["djn"]:
        assert stock_private.raw_decrypt(int(case["c"])) == int(case["m"])
    assert private.to_phe() == stock_private
