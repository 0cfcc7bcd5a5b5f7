"""secp256k1 helpers: scalars, hashing to the curve, validated multiplication."""

from __future__ import annotations

import hashlib
import random

import coincurve
import pytest
from coincurve.utils import GROUP_ORDER_INT

from psi import group
from psi.group import (
    ORDER,
    POINT_BYTES,
    hash_mul_many,
    hash_to_point,
    invert,
    mul,
    mul_many,
    random_scalar,
    scalar_bytes,
    scalar_from_bytes,
)
from tests.unit.psi.helpers import expect_protocol_error, rng_from, secp256k1_x_off_curve

G = bytes.fromhex("0279BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798")
DST = b"test/dst"


def test_order_is_the_secp256k1_order() -> None:
    assert ORDER == GROUP_ORDER_INT
    assert POINT_BYTES == 33


def test_random_scalar_is_deterministic_under_an_injected_rng() -> None:
    a = [random_scalar(rng_from(7)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    assert random_scalar(rng_from(8)) != a[0]
    assert all(1 <= random_scalar() < ORDER for _ in range(20))
    expected = int.from_bytes(random.Random(7).randbytes(32), "big")
    assert a[0] == expected


def test_random_scalar_rejects_out_of_range_draws() -> None:
    draws = iter([bytes(32), ORDER.to_bytes(32, "big"), b"\xff" * 32, (5).to_bytes(32, "big")])
    assert random_scalar(lambda n: next(draws)) == 5


def test_random_scalar_refuses_a_broken_rng() -> None:
    with pytest.raises(ValueError):
        random_scalar(lambda n: bytes(n))
    with pytest.raises(ValueError):
        random_scalar(lambda n: b"\x01" * (n - 1))


def test_scalar_encoding_round_trip_and_bounds() -> None:
    for k in (1, 2, ORDER - 1, random.Random(1).randrange(1, ORDER)):
        b = scalar_bytes(k)
        assert len(b) == 32 and scalar_from_bytes(b) == k
    for bad in (0, ORDER, ORDER + 1, -1):
        with pytest.raises(ValueError):
            scalar_bytes(bad)


@pytest.mark.parametrize(
    "raw",
    [
        bytes(32),
        ORDER.to_bytes(32, "big"),
        (ORDER + 1).to_bytes(32, "big"),
        b"\xff" * 32,
        b"\x01" * 31,
        b"\x01" * 33,
        b"",
    ],
    ids=["zero", "n", "n+1", "max", "short", "long", "empty"],
)
def test_scalar_from_bytes_rejects(raw: bytes) -> None:
    expect_protocol_error(lambda: scalar_from_bytes(raw), raw)


def test_scalar_from_bytes_rejects_wrong_type() -> None:
    expect_protocol_error(lambda: scalar_from_bytes(bytearray(32)))  # type: ignore[arg-type]


def test_invert() -> None:
    rnd = random.Random(3)
    for _ in range(5):
        k = rnd.randrange(1, ORDER)
        assert (k * invert(k)) % ORDER == 1
        p = hash_to_point(rnd.randbytes(8), DST)
        assert mul(mul(p, k), invert(k)) == p
    with pytest.raises(ValueError):
        invert(0)


def test_hash_to_point_known_answer_and_properties() -> None:
    p = hash_to_point(b"abc", DST)
    # Pinned so that a change of the hashing scheme (which would orphan built tables) is seen.
    assert p.hex() == "02b97915867ca768afd28391394552f44be073fb0b8bab8162dd043b92de72748b"
    assert hash_to_point(b"", b"sandbox/lookup/v1").hex() == (
        "02692e13b4618fb7a33261d9a3df1352fe32a46745e2fd58545a6f4005a4c6e2c2"
    )
    assert len(p) == 33 and p[0] == 2
    assert coincurve.PublicKey(p).format() == p
    assert hash_to_point(b"abc", DST) == p
    assert hash_to_point(b"abd", DST) != p
    assert hash_to_point(b"abc", DST + b"x") != p
    # Length prefixes keep (dst, item) pairs apart.
    assert hash_to_point(b"cabc", b"test/dst") != hash_to_point(b"abc", b"test/dstc")
    assert hash_to_point(b"", DST) != hash_to_point(b"\x00", DST)


def _spec_hash_to_point(item: bytes, dst: bytes) -> bytes:
    """The documented try-and-increment, written out independently."""
    for counter in range(256):
        x = hashlib.sha256(
            b"sandbox/psi/hash-to-secp256k1/v1"
            + len(dst).to_bytes(4, "big")
            + dst
            + len(item).to_bytes(4, "big")
            + item
            + bytes([counter])
        ).digest()
        try:
            return coincurve.PublicKey(b"\x02" + x).format()
        except ValueError:
            continue
    raise AssertionError("unreachable")


def test_hash_to_point_follows_the_documented_construction() -> None:
    rnd = random.Random(11)
    for _ in range(40):
        item = rnd.randbytes(rnd.randrange(0, 30))
        assert hash_to_point(item, DST) == _spec_hash_to_point(item, DST)


def test_mul_is_commutative_dh() -> None:
    rnd = random.Random(4)
    a, b = rnd.randrange(1, ORDER), rnd.randrange(1, ORDER)
    h = hash_to_point(b"item", DST)
    assert mul(mul(h, a), b) == mul(mul(h, b), a)
    assert mul(G, 1) == G
    assert mul(G, a) == coincurve.PrivateKey(scalar_bytes(a)).public_key.format()


def test_many_variants_match_the_single_ones() -> None:
    rnd = random.Random(5)
    k = rnd.randrange(1, ORDER)
    items = [rnd.randbytes(rnd.randrange(0, 40)) for _ in range(50)]
    points = [hash_to_point(i, DST) for i in items]
    assert mul_many(points, k) == [mul(p, k) for p in points]
    assert hash_mul_many(items, DST, k) == [mul(p, k) for p in points]
    assert mul_many([], k) == [] == hash_mul_many([], DST, k)


def _bad_points() -> dict[str, object]:
    valid = hash_to_point(b"x", DST)
    uncompressed = coincurve.PublicKey(valid).format(compressed=False)
    return {
        "x-without-y": secp256k1_x_off_curve(),
        "x-not-below-p": b"\x02" + b"\xff" * 32,
        "prefix-04": b"\x04" + valid[1:],
        "prefix-00": b"\x00" + valid[1:],
        "prefix-05": b"\x05" + valid[1:],
        "short": valid[:32],
        "long": valid + b"\x00",
        "empty": b"",
        "uncompressed-65": uncompressed,
        "zeros": bytes(33),
        "bytearray": bytearray(valid),
        "memoryview": memoryview(valid),
        "str": valid.hex(),
    }


@pytest.mark.parametrize("name", list(_bad_points()))
def test_mul_refuses_bad_points(name: str) -> None:
    bad = _bad_points()[name]
    expect_protocol_error(lambda: mul(bad, 12345))  # type: ignore[arg-type]
    good = hash_to_point(b"y", DST)
    expect_protocol_error(lambda: mul_many([good, bad, good], 12345))  # type: ignore[list-item]


def test_off_curve_helper_really_is_off_curve() -> None:
    bad = secp256k1_x_off_curve()
    with pytest.raises(ValueError):
        coincurve.PublicKey(bad)


def test_bad_scalars_for_mul_are_value_errors() -> None:
    p = hash_to_point(b"x", DST)
    for k in (0, ORDER):
        with pytest.raises(ValueError):
            mul(p, k)
        with pytest.raises(ValueError):
            mul_many([p], k)


def test_hash_items_must_be_bytes() -> None:
    with pytest.raises(TypeError):
        hash_to_point("abc", DST)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        hash_mul_many(["abc"], DST, 3)  # type: ignore[list-item]
    assert group.SCALAR_BYTES == 32
