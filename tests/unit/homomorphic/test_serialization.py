"""Keys and ciphertexts to bytes and JSON and back; truncated, garbage and inconsistent input."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from homomorphic.encryption import decrypt_raw, encrypt_raw
from homomorphic.errors import MalformedCiphertext, MalformedKey
from homomorphic.keys import PublicKey, derive_fixed_base
from homomorphic.packing import PackingLayout, decrypt_packed, encrypt_packed
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
from tests.unit.homomorphic.helpers import expect_opaque, keypair, rng_from


def test_keys_round_trip_through_bytes_and_json() -> None:
    public, private = keypair(512)
    data = public_key_to_bytes(public)
    assert len(data) == 7 + 3 * 64
    assert public_key_from_bytes(data, allow_insecure=True) == public
    assert public_key_from_json(public_key_to_json(public), allow_insecure=True) == public
    assert private_key_from_bytes(private_key_to_bytes(private), allow_insecure=True) == private
    as_text = json.dumps(private_key_to_json(private))
    restored = private_key_from_json(json.loads(as_text), allow_insecure=True)
    assert restored == private and restored.public_key.hs == public.hs
    assert decrypt_raw(restored, encrypt_raw(public, 77)) == 77


def test_a_2048_bit_key_round_trips_without_the_insecure_flag() -> None:
    public, private = keypair(2048)
    assert public_key_from_bytes(public_key_to_bytes(public)) == public
    assert private_key_from_json(private_key_to_json(private)) == private


def test_small_keys_load_only_when_allowed() -> None:
    public, private = keypair(512)
    expect_opaque(MalformedKey, lambda: public_key_from_bytes(public_key_to_bytes(public)))
    expect_opaque(
        MalformedKey,
        lambda: private_key_from_bytes(private_key_to_bytes(private)),
        private.p,
        private.q,
    )


def _public_cases(public: PublicKey) -> list[bytes]:
    good = public_key_to_bytes(public)
    n, hs, k = public.n, public.hs, 64
    header = good[:7]

    def body(n_value: int, hs_value: int) -> bytes:
        return header + n_value.to_bytes(k, "big") + hs_value.to_bytes(2 * k, "big")

    return [
        b"",
        good[:6],
        good[:-1],
        good + b"\x00",
        b"XEPK" + good[4:],
        good[:4] + b"\x02" + good[5:],
        good[:5] + (65).to_bytes(2, "big") + good[7:],
        body(n + 1, hs),  # even
        body(3 * (n // 3), hs),  # small factor
        body(n, 0),
        body(n, 1),
        body(n, n * n - 1),
        body(n, n),  # not a unit
        bytes(len(good)),
        b"\xff" * len(good),
    ]


def test_garbage_public_keys_are_refused() -> None:
    public, _ = keypair(512)
    for case in _public_cases(public):
        expect_opaque(
            MalformedKey, functools.partial(public_key_from_bytes, case, allow_insecure=True)
        )
    expect_opaque(
        MalformedKey,
        functools.partial(public_key_from_bytes, "text", allow_insecure=True),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "change",
    [
        {"format": "paillier-public/2"},
        {"n": "0x10"},
        {"n": "00ab"},
        {"n": "ABC"},
        {"n": 12345},
        {"n": "f" * 5000},
        {"hs": ""},
        {"hs": "-5"},
        {"extra": "1"},
    ],
)
def test_garbage_public_key_json_is_refused(change: dict[str, Any]) -> None:
    public, _ = keypair(512)
    data = public_key_to_json(public) | change
    expect_opaque(MalformedKey, lambda: public_key_from_json(data, allow_insecure=True))


def test_garbage_private_keys_are_refused() -> None:
    public, private = keypair(512)
    p, q = private.p, private.q
    good = private_key_to_bytes(private)
    h = 32

    def body(p_value: int, q_value: int, hs: int = public.hs) -> bytes:
        return (
            good[:7]
            + p_value.to_bytes(h, "big")
            + q_value.to_bytes(h, "big")
            + hs.to_bytes(128, "big")
        )

    cases = [
        b"",
        good[:7],
        good[:-1],
        good + b"\x00",
        b"HEPK" + good[4:],
        body(p, p),
        body(p, q + 2),
        body(p + 2, q),
        body(p, q, 1),
        body(p, q, p),
        good[:5] + (0).to_bytes(2, "big") + good[7:],
    ]
    for case in cases:
        expect_opaque(
            MalformedKey, functools.partial(private_key_from_bytes, case, allow_insecure=True), p, q
        )
    data = private_key_to_json(private)
    for change in ({"p": format(q, "x")}, {"q": "1"}, {"hs": "0"}, {"format": "x"}, {"p": None}):
        expect_opaque(
            MalformedKey,
            functools.partial(private_key_from_json, {**data, **change}, allow_insecure=True),
            p,
            q,
        )
    without = {k: v for k, v in data.items() if k != "hs"}
    expect_opaque(MalformedKey, lambda: private_key_from_json(without, allow_insecure=True), p)


def test_a_private_key_checks_that_its_fixed_base_is_an_nth_power() -> None:
    public, private = keypair(512)
    hs = derive_fixed_base(public.n, rng=rng_from(9))
    data = private_key_to_json(private) | {"hs": format(hs, "x")}
    assert private_key_from_json(data, allow_insecure=True).public_key.hs == hs
    not_a_power = (public.hs * (1 + public.n)) % public.nsquare  # times g: an encryption of 1
    data = private_key_to_json(private) | {"hs": format(not_a_power, "x")}
    expect_opaque(MalformedKey, lambda: private_key_from_json(data, allow_insecure=True))


def test_ciphertexts_round_trip_and_are_validated() -> None:
    public, private = keypair(512)
    c = encrypt_raw(public, 5)
    data = ciphertext_to_bytes(public, c)
    assert len(data) == 128 and ciphertext_from_bytes(public, data) == c
    for bad in (
        data[:-1],
        data + b"\x00",
        bytes(128),
        b"\xff" * 128,
        public.n.to_bytes(128, "big"),
    ):
        expect_opaque(MalformedCiphertext, functools.partial(ciphertext_from_bytes, public, bad))
    expect_opaque(MalformedCiphertext, lambda: ciphertext_to_bytes(public, 0))
    assert decrypt_raw(private, ciphertext_from_bytes(public, data)) == 5


def test_packed_ciphertexts_round_trip_through_json() -> None:
    public, private = keypair(512)
    layout = PackingLayout.fit(public, max_abs=1000, max_additions=4, decimals=1)
    packed = encrypt_packed(public, [1, -2, 3], layout)[0].add(
        encrypt_packed(public, [4], layout)[0]
    )
    data = json.loads(json.dumps(packed_to_json(packed)))
    restored = packed_from_json(public, data)
    assert restored == packed
    assert [str(v) for v in decrypt_packed(private, restored)] == ["5.0", "-2.0", "3.0"]


@pytest.mark.parametrize(
    "change",
    [
        {"format": "packed/2"},
        {"key_id": "0" * 64},
        {"count": 0},
        {"count": 5},
        {"count": "1"},
        {"length": 0},
        {"length": 10**6},
        {"ciphertext": "0"},
        {"ciphertext": "zz"},
        {"ciphertext": 5},
        {
            "layout": {
                "version": "packing/1",
                "slots": 0,
                "value_bits": 1,
                "max_additions": 1,
                "decimals": 0,
            }
        },
        {
            "layout": {
                "version": "packing/9",
                "slots": 1,
                "value_bits": 1,
                "max_additions": 1,
                "decimals": 0,
            }
        },
        {"layout": {"slots": 1}},
        {"layout": "x"},
        {"surplus": 1},
    ],
)
def test_garbage_packed_json_is_refused(change: dict[str, Any]) -> None:
    public, _ = keypair(512)
    layout = PackingLayout.fit(public, max_abs=1000, max_additions=4)
    data = packed_to_json(encrypt_packed(public, [1, 2], layout)[0]) | change
    expect_opaque(MalformedCiphertext, lambda: packed_from_json(public, data))


def test_packed_json_under_another_key_or_sharing_a_factor_is_refused() -> None:
    public, private = keypair(512)
    other, _ = keypair(512, seed=1)
    layout = PackingLayout.fit(public, max_abs=1000, max_additions=4)
    foreign = packed_to_json(encrypt_packed(other, [1], layout)[0])
    expect_opaque(MalformedCiphertext, lambda: packed_from_json(public, foreign))
    data = packed_to_json(encrypt_packed(public, [1], layout)[0]) | {
        "ciphertext": format(private.p * 5, "x")
    }
    expect_opaque(MalformedCiphertext, lambda: packed_from_json(public, data), private.p)
