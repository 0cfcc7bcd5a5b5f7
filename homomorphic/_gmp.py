"""The one import of gmpy2, with the few operations the package composes, typed.

gmpy2 2.3 ships no type hints (no ``py.typed``, no stubs), so its values are opaque to mypy:
:data:`Mpz` names them, and every function here that leaves the package's hot loops returns a
plain ``int``. All big-number arithmetic of the package is these gmpy2 calls (and the ``*``,
``%``, ``+``, ``-`` operators on ``mpz`` that call the same GMP routines); nothing is written
by hand.
"""

from __future__ import annotations

import functools
from typing import Any, TypeAlias

import gmpy2  # type: ignore[import-untyped, unused-ignore]

__all__ = [
    "Mpz",
    "digits",
    "gcd",
    "invert",
    "is_prime",
    "is_square",
    "mpz",
    "next_prime",
    "pack",
    "powmod",
    "small_primes_product",
    "unpack",
]

Mpz: TypeAlias = Any
"""A ``gmpy2.mpz``: supports the int operators and ``__index__``, but is not an ``int``."""

# Miller-Rabin rounds on top of GMP's own checks when loading keys: error < 4**-40 per prime.
PRIME_ROUNDS = 40


def mpz(value: int) -> Mpz:
    return gmpy2.mpz(value)


def powmod(base: int | Mpz, exponent: int | Mpz, modulus: int | Mpz) -> Mpz:
    return gmpy2.powmod(base, exponent, modulus)


def invert(value: int | Mpz, modulus: int | Mpz) -> int:
    return int(gmpy2.invert(value, modulus))


def gcd(a: int | Mpz, b: int | Mpz) -> int:
    return int(gmpy2.gcd(a, b))


def next_prime(value: int) -> int:
    return int(gmpy2.next_prime(value))


def is_prime(value: int) -> bool:
    return bool(gmpy2.is_prime(value, PRIME_ROUNDS))


def is_square(value: int) -> bool:
    return bool(gmpy2.is_square(value))


@functools.cache
def small_primes_product() -> int:
    """The product of the primes below 2000, for a cheap "no small factor" check."""
    return int(gmpy2.primorial(2000))


def pack(values: list[int], bits: int) -> int:
    """Concatenate non-negative ``bits``-bit integers, ``values[0]`` least significant."""
    return int(gmpy2.pack(values, bits))


def digits(value: int, bits: int) -> list[Mpz]:
    """Base-2**bits digits of ``value``, least significant first, as mpz (valid list indices)."""
    return list(gmpy2.unpack(value, bits))


def unpack(value: int, bits: int, count: int) -> list[int]:
    """The first ``count`` ``bits``-bit fields of ``value``, least significant first."""
    fields = [int(f) for f in gmpy2.unpack(value, bits)[:count]]
    return fields + [0] * (count - len(fields))
