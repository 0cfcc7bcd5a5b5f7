"""Shared helpers for the psi tests: the opaque-error assertion and message surgery."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

import coincurve
import pytest

from psi.errors import MESSAGE, ProtocolError
from psi.wire import HEADER_BYTES


def expect_protocol_error(fn: Callable[[], object], *secrets: bytes | str | int) -> None:
    """``fn()`` raises ProtocolError with the fixed text, no cause, and none of ``secrets``."""
    with pytest.raises(ProtocolError) as info:
        fn()
    err = info.value
    assert type(err) is ProtocolError
    assert str(err) == MESSAGE
    assert err.args == (MESSAGE,)
    assert err.__cause__ is None
    assert err.__suppress_context__ or err.__context__ is None
    text = str(err) + repr(err)
    for secret in secrets:
        for shown in _renderings(secret):
            assert shown not in text


def _renderings(value: bytes | str | int) -> Iterable[str]:
    if isinstance(value, bytes):
        yield repr(value)
        if len(value) >= 4:
            yield value.hex()
    elif isinstance(value, str):
        if len(value) >= 3:
            yield value
    else:
        yield str(value)
        yield hex(value)


def rng_from(seed: int) -> Callable[[int], bytes]:
    """A deterministic rng with the os.urandom signature."""
    return random.Random(seed).randbytes


def payload_of(frame: bytes) -> bytes:
    return frame[HEADER_BYTES:]


def reframe(frame: bytes, payload: bytes) -> bytes:
    """The same header (type, binding) around another payload, with a consistent length."""
    return frame[: HEADER_BYTES - 8] + len(payload).to_bytes(8, "big") + payload


def secp256k1_x_off_curve() -> bytes:
    """A 33-byte compressed encoding with x < p for which no y exists on secp256k1."""
    for i in range(1, 1000):
        candidate = b"\x02" + i.to_bytes(32, "big")
        try:
            coincurve.PublicKey(candidate)
        except ValueError:
            return candidate
    raise AssertionError("no off-curve x found")  # pragma: no cover
