"""The error classes, and the hazardous primitives against plain pow()."""

from __future__ import annotations

import pickle
import random

import pytest

from homomorphic import errors, hazmat
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
from tests.unit.homomorphic.helpers import keypair

CODES: dict[type[HomomorphicError], str] = {
    HomomorphicError: "homomorphic_error",
    MalformedCiphertext: "malformed_ciphertext",
    MalformedKey: "malformed_key",
    Overflow: "overflow",
    PlaintextTooLarge: "plaintext_too_large",
    InvalidValue: "invalid_value",
    EmptyInput: "empty_input",
    LayoutMismatch: "layout_mismatch",
}


def test_every_error_has_a_stable_code_and_one_root() -> None:
    for cls, code in CODES.items():
        assert cls.code == code and issubclass(cls, HomomorphicError)
    for cls in (Overflow, PlaintextTooLarge, InvalidValue, EmptyInput, LayoutMismatch):
        assert issubclass(cls, ValueError)
    assert not issubclass(MalformedCiphertext, ValueError)
    assert str(MalformedCiphertext()) == errors.CIPHERTEXT_MESSAGE
    assert str(MalformedKey()) == errors.KEY_MESSAGE


def test_errors_pickle_across_processes() -> None:
    for err in (MalformedCiphertext(), MalformedKey(), Overflow("x"), EmptyInput("y")):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err)


@pytest.mark.parametrize("window", [1, 3, 4, 7, 8, 10])
def test_fixed_base_tables_agree_with_pow(window: int) -> None:
    public, _ = keypair(256)
    rnd = random.Random(window)
    bits = 130
    table = hazmat.FixedBaseTable(public.hs, public.nsquare, exponent_bits=bits, window_bits=window)
    for e in [0, 1, 2, 2**bits - 1, 2 ** (bits - 1), *(rnd.getrandbits(bits) for _ in range(20))]:
        assert table.power(e) == pow(public.hs, e, public.nsquare)
    for bad in (-1, 2**bits):
        with pytest.raises(ValueError):
            table.power(bad)
    assert table.nbytes > 0


def test_table_parameters_are_checked() -> None:
    for window, bits in ((0, 10), (11, 10), (4, 0)):
        with pytest.raises(ValueError):
            hazmat.FixedBaseTable(3, 35, exponent_bits=bits, window_bits=window)


def test_default_windows_fit_the_budget() -> None:
    assert hazmat.default_window_bits(1024, 4096) == 10
    assert hazmat.default_window_bits(1536, 6144) == 8
    for exponent_bits, modulus_bits in ((1024, 4096), (1536, 6144), (4096, 16384)):
        window = hazmat.default_window_bits(exponent_bits, modulus_bits)
        entry = modulus_bits // 8 + 32
        assert -(-exponent_bits // window) * (1 << window) * entry <= hazmat.TABLE_BUDGET_BYTES


def test_raw_primitives_follow_the_formulas() -> None:
    public, private = keypair(512)
    n, n2, hs = public.n, public.nsquare, public.hs
    c = hazmat.raw_encrypt(public, 1234, 987654321, 256)
    assert c == (1 + 1234 * n) * pow(hs, 987654321, n2) % n2
    assert hazmat.raw_decrypt(private, c) == 1234
    assert hazmat.raw_rerandomize(public, c, 5, 256) == c * pow(hs, 5, n2) % n2
    assert hazmat.encrypt_chunk(public, 256, [1234], [987654321]) == [c]
    assert hazmat.rerandomize_chunk(public, 256, [c], [5]) == [c * pow(hs, 5, n2) % n2]
    assert hazmat.decrypt_chunk(private, [c, c]) == [1234, 1234]
    exps = hazmat.random_exponents(lambda k: k, 256, 3)
    assert exps == [256, 256, 256]
