"""Shared helpers for the homomorphic tests: deterministic keys and rngs, and the checks that a
rejection is the documented error and shows no secret."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterable

import pytest

from homomorphic.errors import (
    CIPHERTEXT_MESSAGE,
    KEY_MESSAGE,
    HomomorphicError,
    MalformedCiphertext,
    MalformedKey,
)
from homomorphic.keys import PrivateKey, PublicKey, generate_keypair


def rng_from(seed: int) -> Callable[[int], int]:
    """A deterministic rng with the secrets.randbits signature (tests only)."""
    return random.Random(seed).getrandbits


def scripted_rng(*values: tuple[int, int]) -> Callable[[int], int]:
    """An rng that returns the given (bits, value) pairs in order, checking the bits asked."""
    queue = list(values)

    def rng(bits: int) -> int:
        expected_bits, value = queue.pop(0)
        assert bits == expected_bits, (bits, expected_bits)
        return value

    return rng


@functools.cache
def keypair(bits: int, seed: int = 0) -> tuple[PublicKey, PrivateKey]:
    """A deterministic key pair per (bits, seed); small sizes are explicitly insecure."""
    return generate_keypair(bits, rng=rng_from(7000 + bits + seed), allow_insecure=bits < 2048)


def expect_opaque(
    error: type[MalformedCiphertext | MalformedKey], fn: Callable[[], object], *secrets: int
) -> None:
    """``fn()`` raises exactly ``error`` with its fixed text, no cause, none of ``secrets``."""
    with pytest.raises(error) as info:
        fn()
    err = info.value
    assert type(err) is error
    text = CIPHERTEXT_MESSAGE if error is MalformedCiphertext else KEY_MESSAGE
    assert str(err) == text and err.args == (text,)
    assert err.__cause__ is None
    assert err.__suppress_context__ or err.__context__ is None
    _no_secrets(str(err) + repr(err), secrets)


def expect_error(
    error: type[HomomorphicError], fn: Callable[[], object], *secrets: int | str
) -> HomomorphicError:
    """``fn()`` raises ``error`` (exactly), with a message that shows none of ``secrets``."""
    with pytest.raises(error) as info:
        fn()
    err = info.value
    assert type(err) is error
    assert str(err)
    _no_secrets(str(err) + repr(err), secrets)
    return err


def _no_secrets(text: str, secrets: Iterable[int | str]) -> None:
    for secret in secrets:
        shown = [secret] if isinstance(secret, str) else [str(secret), hex(secret)[2:]]
        for s in shown:
            if len(s) >= 4:
                assert s not in text, "error text shows a secret"
