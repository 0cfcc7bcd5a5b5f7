"""Framing: round trip, and every way a frame can be wrong is one opaque ProtocolError."""

from __future__ import annotations

import hashlib
import pickle
from functools import partial

import pytest

from psi.errors import MESSAGE, ProtocolError
from psi.wire import (
    HEADER_BYTES,
    MAX_MESSAGE_BYTES,
    WIRE_VERSION,
    Binding,
    MessageType,
    pack,
    unpack,
)
from tests.unit.psi.helpers import expect_protocol_error

B = Binding("job-1", 3, "psi.intersection")
PAYLOAD = b"secret-payload-\x00\xff" * 3


def test_protocol_error_is_fixed_and_picklable() -> None:
    err = ProtocolError()
    assert str(err) == MESSAGE == "malformed or out-of-range protocol message"
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is ProtocolError and str(again) == MESSAGE
    with pytest.raises(TypeError):
        ProtocolError("details")  # type: ignore[call-arg]


def test_round_trip_and_layout() -> None:
    frame = pack(MessageType.PSI_REQUEST, B, PAYLOAD)
    assert frame[:4] == b"SBXP"
    assert frame[4] == WIRE_VERSION == 1
    assert frame[5] == int(MessageType.PSI_REQUEST) == 2
    assert frame[6:38] == B.digest()
    assert int.from_bytes(frame[38:46], "big") == len(PAYLOAD)
    assert len(frame) == HEADER_BYTES + len(PAYLOAD) == 46 + len(PAYLOAD)
    assert unpack(frame, MessageType.PSI_REQUEST, B) == PAYLOAD
    empty = pack(MessageType.LOOKUP_QUERY, B, b"")
    assert unpack(empty, MessageType.LOOKUP_QUERY, B) == b""


def test_binding_digest_is_canonical() -> None:
    d = B.digest()
    assert len(d) == 32 and d == Binding("job-1", 3, "psi.intersection").digest()
    expected = hashlib.sha256(
        (22).to_bytes(4, "big")
        + b"sandbox/psi/binding/v1"
        + (5).to_bytes(4, "big")
        + b"job-1"
        + (3).to_bytes(8, "big")
        + (16).to_bytes(4, "big")
        + b"psi.intersection"
    ).digest()
    assert d == expected
    # Length prefixes: moving a character between fields changes the digest.
    assert Binding("ab", 0, "c").digest() != Binding("a", 0, "bc").digest()
    digests = {
        Binding(j, s, p).digest()
        for j in ("a", "b")
        for s in (0, 1)
        for p in ("psi.intersection", "lookup")
    }
    assert len(digests) == 8


@pytest.mark.parametrize(
    ("job", "shard", "protocol", "exc"),
    [
        ("j", -1, "p", ValueError),
        ("j", 1 << 64, "p", ValueError),
        ("j", True, "p", TypeError),
        (b"j", 0, "p", TypeError),
        ("j", 0, None, TypeError),
    ],
)
def test_binding_rejects_bad_fields(
    job: object, shard: object, protocol: object, exc: type
) -> None:
    with pytest.raises(exc):
        Binding(job, shard, protocol)  # type: ignore[arg-type]


def _frame() -> bytes:
    return pack(MessageType.PSI_RESPONSE, B, PAYLOAD)


def _with_byte(frame: bytes, index: int, value: int) -> bytes:
    out = bytearray(frame)
    out[index] = value
    return bytes(out)


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda f: b"XBXP" + f[4:], id="magic"),
        pytest.param(lambda f: _with_byte(f, 4, 2), id="version"),
        pytest.param(lambda f: _with_byte(f, 4, 0), id="version-0"),
        pytest.param(lambda f: _with_byte(f, 5, MessageType.PSI_SETUP), id="type"),
        pytest.param(lambda f: _with_byte(f, 5, 99), id="unknown-type"),
        pytest.param(lambda f: _with_byte(f, 10, f[10] ^ 1), id="binding-bit"),
        pytest.param(lambda f: f[:-1], id="truncated-payload"),
        pytest.param(lambda f: f[:HEADER_BYTES], id="header-only"),
        pytest.param(lambda f: f[: HEADER_BYTES - 1], id="truncated-header"),
        pytest.param(lambda f: b"", id="empty"),
        pytest.param(lambda f: f + b"\x00", id="trailing-byte"),
        pytest.param(lambda f: f[:38] + (2**64 - 1).to_bytes(8, "big") + f[46:], id="huge-length"),
        pytest.param(lambda f: f[:38] + (0).to_bytes(8, "big") + f[46:], id="zero-length"),
    ],
)
def test_unpack_rejects_mangled_frames(mangle: object) -> None:
    bad = mangle(_frame())  # type: ignore[operator]
    expect_protocol_error(lambda: unpack(bad, MessageType.PSI_RESPONSE, B), PAYLOAD)


@pytest.mark.parametrize(
    "other",
    [
        Binding("job-2", 3, "psi.intersection"),
        Binding("job-1", 4, "psi.intersection"),
        Binding("job-1", 3, "psi.cardinality"),
    ],
    ids=["other-job", "other-shard", "other-protocol"],
)
def test_replay_under_another_binding_fails(other: Binding) -> None:
    frame = _frame()
    expect_protocol_error(lambda: unpack(frame, MessageType.PSI_RESPONSE, other), PAYLOAD)
    assert unpack(frame, MessageType.PSI_RESPONSE, B) == PAYLOAD


def test_wrong_message_type_fails() -> None:
    frame = _frame()
    for kind in MessageType:
        if kind is not MessageType.PSI_RESPONSE:
            expect_protocol_error(partial(unpack, frame, kind, B), PAYLOAD)


def test_size_limit() -> None:
    frame = _frame()
    assert unpack(frame, MessageType.PSI_RESPONSE, B, max_bytes=len(frame)) == PAYLOAD
    expect_protocol_error(
        lambda: unpack(frame, MessageType.PSI_RESPONSE, B, max_bytes=len(frame) - 1), PAYLOAD
    )
    assert MAX_MESSAGE_BYTES == 512 * 1024 * 1024


@pytest.mark.parametrize("value", [bytearray(b"SBXP"), memoryview(b"SBXP"), "SBXP", None, 5])
def test_wrong_types_fail(value: object) -> None:
    expect_protocol_error(lambda: unpack(value, MessageType.PSI_SETUP, B))  # type: ignore[arg-type]


def test_pack_checks_its_arguments() -> None:
    with pytest.raises(TypeError):
        pack(MessageType.PSI_SETUP, B, "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        pack(1, B, b"")  # type: ignore[arg-type]
