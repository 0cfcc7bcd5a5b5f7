"""psi.intersection / psi.cardinality through real bytes, against a plain set computation."""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import partial

import private_set_intersection.python as ompsi
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from psi.ecdh import DEFAULT_FPR, PsiClient, PsiServer
from psi.wire import Binding, MessageType, pack, unpack
from tests.unit.psi.helpers import expect_protocol_error, payload_of, reframe, rng_from

BI = Binding("job-7", 0, "psi.intersection")
BC = Binding("job-7", 0, "psi.cardinality")
SERVER_KEY = bytes.fromhex("11" * 32)
CLIENT_KEY = bytes.fromhex("22" * 32)


def run_psi(
    client_items: Sequence[str],
    server_items: Sequence[str],
    *,
    reveal: bool,
    binding: Binding | None = None,
) -> list[int] | int:
    """Both parties, each step a fresh object where it could be another process."""
    b = binding or (BI if reveal else BC)
    server = PsiServer(b, reveal=reveal)
    client = PsiClient(b, reveal=reveal)
    request = client.request(client_items)
    setup = server.setup(server_items, client_size=len(client_items))
    response = PsiServer(b, reveal=reveal, key=server.key_bytes()).respond(
        request, max_items=len(client_items)
    )
    if reveal:
        return client.intersect(setup, response)
    return client.cardinality(setup, response)


def expected_indices(client_items: Sequence[str], server_items: Sequence[str]) -> list[int]:
    s = set(server_items)
    return [i for i, x in enumerate(client_items) if x in s]


def random_sets(
    seed: int, n_client: int, n_server: int, overlap: int
) -> tuple[list[str], list[str]]:
    rnd = random.Random(seed)
    pool = [f"id-{rnd.getrandbits(64):016x}" for _ in range(n_client + n_server)]
    client = pool[:n_client]
    server = pool[n_client:] + rnd.sample(client, overlap)
    rnd.shuffle(server)
    return client, server[:n_server] if overlap == 0 else server


@pytest.mark.parametrize("seed", [1, 2])
def test_intersection_random(seed: int) -> None:
    client, server = random_sets(seed, 500, 800, 137)
    got = run_psi(client, server, reveal=True)
    assert got == expected_indices(client, server)
    assert isinstance(got, list) and len(got) == 137


@pytest.mark.parametrize("seed", [3, 4])
def test_cardinality_random(seed: int) -> None:
    client, server = random_sets(seed, 400, 700, 91)
    assert run_psi(client, server, reveal=False) == len(expected_indices(client, server)) == 91


ODD = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "naïve",
    "Ünïcödé",
    "数据",
    "👩‍👩‍👧",
    "مرحبا",
    "\u200b",
    "line\nbreak",
    "x" * 10_000,
    "e\u0301",
    "é",
]


@pytest.mark.parametrize("reveal", [True, False])
@pytest.mark.parametrize(
    ("client", "server"),
    [
        pytest.param(["a", "b", "c"], ["d", "e"], id="no-overlap"),
        pytest.param(["a", "b", "c"], ["c", "b", "a"], id="full-overlap"),
        pytest.param(["only"], ["only"], id="single-hit"),
        pytest.param(["only"], ["other"], id="single-miss"),
        pytest.param(["a", "b", "a", "c", "a"], ["a", "c"], id="client-duplicates"),
        pytest.param(["a", "b"], ["a", "a", "a", "z", "z"], id="server-duplicates"),
        pytest.param(ODD, [*ODD[::2], "E\u0301", "e"], id="odd-strings"),
    ],
)
def test_adversarial_sets(client: list[str], server: list[str], reveal: bool) -> None:
    got = run_psi(client, server, reveal=reveal)
    expected = expected_indices(client, server)
    assert got == (expected if reveal else len(expected))


def test_empty_sets_are_value_errors() -> None:
    with pytest.raises(ValueError):
        PsiClient(BI, reveal=True).request([])
    with pytest.raises(ValueError):
        PsiServer(BI, reveal=True).setup([], client_size=3)
    with pytest.raises(ValueError):
        PsiServer(BI, reveal=True).setup(["a"], client_size=0)


def test_set_sizes_that_overflow_the_hash_range_are_value_errors() -> None:
    server = PsiServer(BI, reveal=True)
    # max(client, server) * client / fpr must stay below 2**63.
    with pytest.raises(ValueError):
        server.setup(["a"], client_size=100_000)
    with pytest.raises(ValueError):
        server.setup(["a"] * 100_000, client_size=1, fpr=1e-15)
    with pytest.raises(ValueError):  # refused up front, not after padding a huge set
        server.setup(["a"], client_size=1, fpr=1e-300)


def test_a_small_server_set_is_padded_and_still_exact() -> None:
    # hash_range = 2000 * 2000 / 1e-11 = 4e17: more than 2**50 per server item for 3 items, so
    # the setup is padded with ~356 random dummies (the unpadded set would break the library).
    client_items, _ = random_sets(21, 2000, 0, 0)
    server_items = [client_items[5], client_items[1999], "not-in-client"]
    server = PsiServer(BI, reveal=True, key=SERVER_KEY)
    client = PsiClient(BI, reveal=True, key=CLIENT_KEY)
    request = client.request(client_items)
    setup = server.setup(server_items, client_size=2000, fpr=1e-11, rng=rng_from(1))
    assert setup == server.setup(server_items, client_size=2000, fpr=1e-11, rng=rng_from(1))
    assert setup != server.setup(server_items, client_size=2000, fpr=1e-11, rng=rng_from(2))
    assert len(payload_of(setup)) > 356 * 6  # ~50 bits per (dummy) element
    response = server.respond(request, max_items=2000)
    assert client.intersect(setup, response, fpr=1e-11) == [5, 1999]


def test_item_types_are_checked_without_echoing_them() -> None:
    client = PsiClient(BI, reveal=True)
    with pytest.raises(TypeError):
        client.request([b"bytes"])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        client.request("abc")
    with pytest.raises(ValueError) as info:
        client.request(["lone \ud800 surrogate"])
    assert "surrogate" not in str(info.value)
    with pytest.raises(ValueError):
        PsiServer(BI, reveal=True).setup(["a"], client_size=1, fpr=1.0)


def test_keys_persist_across_processes_and_results_are_deterministic() -> None:
    client_items, server_items = random_sets(9, 200, 300, 40)
    frames = []
    for _ in range(2):
        server = PsiServer(BI, reveal=True, key=SERVER_KEY)
        client = PsiClient(BI, reveal=True, key=CLIENT_KEY)
        assert server.key_bytes() == SERVER_KEY and client.key_bytes() == CLIENT_KEY
        setup = server.setup(server_items, client_size=200)
        request = client.request(client_items)
        response = PsiServer(BI, reveal=True, key=SERVER_KEY).respond(request, max_items=200)
        restored = PsiClient(BI, reveal=True, key=CLIENT_KEY)
        with pytest.raises(ValueError):
            restored.intersect(setup, response)  # the request size must be supplied
        got = restored.intersect(setup, response, request_size=200)
        assert (
            got == client.intersect(setup, response) == expected_indices(client_items, server_items)
        )
        frames.append((setup, request, response))
    assert frames[0] == frames[1]
    # A fresh random key gives other bytes (and still the right answer).
    other = PsiServer(BI, reveal=True)
    assert other.key_bytes() != SERVER_KEY and len(other.key_bytes()) == 32
    assert other.setup(server_items, client_size=200) != frames[0][0]


def test_a_different_server_key_between_setup_and_respond_finds_nothing() -> None:
    items = ["a", "b", "c"]
    setup = PsiServer(BI, reveal=True, key=SERVER_KEY).setup(items, client_size=3)
    client = PsiClient(BI, reveal=True)
    request = client.request(items)
    response = PsiServer(BI, reveal=True, key=b"\x33" * 32).respond(request, max_items=3)
    assert client.intersect(setup, response) == []


@pytest.mark.parametrize(
    "key",
    [b"\x00" * 32, b"\xff" * 32, b"\x01" * 31, b"\x01" * 33, b"", "11" * 32],
    ids=["zero", "above-order", "short", "long", "empty", "str"],
)
def test_bad_stored_keys(key: object) -> None:
    expect_protocol_error(lambda: PsiServer(BI, reveal=True, key=key))  # type: ignore[arg-type]
    expect_protocol_error(lambda: PsiClient(BI, reveal=True, key=key))  # type: ignore[arg-type]


def test_mode_mismatch_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        PsiClient(BC, reveal=False).intersect(b"", b"", request_size=1)
    with pytest.raises(ValueError):
        PsiClient(BI, reveal=True).cardinality(b"", b"", request_size=1)


# ---------------------------------------------------------------------------------------------
# Hostile messages. A small honest exchange, then surgery on one message at a time.

ITEMS = ["alice@example.org", "bob@example.org", "carol@example.org"]
SERVER_ITEMS = ["bob@example.org", "dave@example.org"]


class Exchange:
    def __init__(self, reveal: bool = True) -> None:
        self.b = BI if reveal else BC
        self.reveal = reveal
        self.server = PsiServer(self.b, reveal=reveal, key=SERVER_KEY)
        self.client = PsiClient(self.b, reveal=reveal, key=CLIENT_KEY)
        self.setup = self.server.setup(SERVER_ITEMS, client_size=len(ITEMS))
        self.request = self.client.request(ITEMS)
        self.response = self.server.respond(self.request, max_items=10)

    def respond(self, request: bytes, max_items: int = 10) -> bytes:
        return self.server.respond(request, max_items=max_items)

    def finish(self, setup: bytes | None = None, response: bytes | None = None) -> object:
        s = self.setup if setup is None else setup
        r = self.response if response is None else response
        if self.reveal:
            return self.client.intersect(s, r)
        return self.client.cardinality(s, r)


def _request_msg(frame: bytes) -> ompsi.Request:
    msg = ompsi.Request()
    msg.ParseFromString(payload_of(frame))
    return msg


def _response_msg(frame: bytes) -> ompsi.Response:
    msg = ompsi.Response()
    msg.ParseFromString(payload_of(frame))
    return msg


def _setup_msg(frame: bytes) -> ompsi.ServerSetup:
    msg = ompsi.ServerSetup()
    msg.ParseFromString(payload_of(frame))
    return msg


def _p256_off_curve(like: bytes) -> bytes:
    """Flip bits of a valid P-256 point until its x has no y on the curve."""
    for i in range(1, 33):
        for bit in range(8):
            cand = bytearray(like)
            cand[i] ^= 1 << bit
            try:
                ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes(cand))
            except ValueError:
                return bytes(cand)
    raise AssertionError("unreachable")  # pragma: no cover


def _p256_uncompressed(like: bytes) -> bytes:
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), like)
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def test_honest_exchange_works() -> None:
    assert Exchange().finish() == [1]
    assert Exchange(reveal=False).finish() == 1


ELEMENT_MUTATIONS = {
    "off-curve": _p256_off_curve,
    "x-not-below-p": lambda e: b"\x02" + b"\xff" * 32,
    "prefix-04": lambda e: b"\x04" + e[1:],
    "prefix-00": lambda e: b"\x00" + e[1:],
    "short": lambda e: e[:32],
    "long": lambda e: e + b"\x00",
    "empty": lambda e: b"",
    "infinity": lambda e: b"\x00",
    "uncompressed": _p256_uncompressed,
}


@pytest.mark.parametrize("name", list(ELEMENT_MUTATIONS))
def test_server_refuses_bad_request_elements(name: str) -> None:
    ex = Exchange()
    msg = _request_msg(ex.request)
    original = msg.encrypted_elements[1]
    msg.encrypted_elements[1] = ELEMENT_MUTATIONS[name](original)
    bad = reframe(ex.request, msg.SerializeToString())
    expect_protocol_error(lambda: ex.respond(bad), *ITEMS)


def test_the_off_curve_point_really_is_off_curve() -> None:
    ex = Exchange()
    element = _request_msg(ex.request).encrypted_elements[0]
    with pytest.raises(ValueError):
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _p256_off_curve(element))
    # And the library itself, unguarded, would raise (not crash): the guard is not hiding a crash.
    req = _request_msg(ex.request)
    req.encrypted_elements[0] = _p256_off_curve(element)
    with pytest.raises(RuntimeError):
        ompsi.server.CreateFromKey(SERVER_KEY, True).ProcessRequest(req)


@pytest.mark.parametrize("name", list(ELEMENT_MUTATIONS))
def test_client_refuses_bad_response_elements(name: str) -> None:
    ex = Exchange()
    msg = _response_msg(ex.response)
    msg.encrypted_elements[0] = ELEMENT_MUTATIONS[name](msg.encrypted_elements[0])
    bad = reframe(ex.response, msg.SerializeToString())
    expect_protocol_error(lambda: ex.finish(response=bad), *ITEMS)


def test_request_count_limits() -> None:
    ex = Exchange()
    assert payload_of(ex.respond(ex.request, max_items=3))
    expect_protocol_error(lambda: ex.respond(ex.request, max_items=2), *ITEMS)
    empty = ompsi.Request()
    empty.reveal_intersection = True
    zero = reframe(ex.request, empty.SerializeToString())
    expect_protocol_error(lambda: ex.respond(zero))
    with pytest.raises(ValueError):
        ex.respond(ex.request, max_items=0)


@pytest.mark.parametrize("reveal", [True, False])
def test_response_count_must_match_the_request(reveal: bool) -> None:
    ex = Exchange(reveal)
    fewer = _response_msg(ex.response)
    del fewer.encrypted_elements[0]
    more = _response_msg(ex.response)
    more.encrypted_elements.append(more.encrypted_elements[0])
    for msg in (fewer, more):
        bad = reframe(ex.response, msg.SerializeToString())
        expect_protocol_error(partial(ex.finish, response=bad), *ITEMS)
    # Told a different request size, an honest response is refused as well.
    if reveal:
        expect_protocol_error(
            lambda: ex.client.intersect(ex.setup, ex.response, request_size=4), *ITEMS
        )


def test_reveal_flag_mismatch_is_refused() -> None:
    card = PsiClient(BI, reveal=False).request(ITEMS)  # cardinality request, intersection server
    expect_protocol_error(lambda: PsiServer(BI, reveal=True).respond(card, max_items=10))
    inter = PsiClient(BC, reveal=True).request(ITEMS)
    expect_protocol_error(lambda: PsiServer(BC, reveal=False).respond(inter, max_items=10))


def test_frames_truncated_trailing_oversized_wrong_type() -> None:
    ex = Exchange()
    for bad in (ex.request[:-1], ex.request + b"\x00", ex.request[:50], ex.setup, ex.response):
        expect_protocol_error(partial(ex.respond, bad), *ITEMS)
    for bad_setup in (ex.setup[:-1], ex.setup + b"\x00", ex.request, ex.response):
        expect_protocol_error(partial(ex.finish, setup=bad_setup), *ITEMS)
    for bad_response in (ex.response[:-1], ex.response + b"\x00", ex.setup, ex.request):
        expect_protocol_error(partial(ex.finish, response=bad_response), *ITEMS)
    expect_protocol_error(
        lambda: ex.client.intersect(ex.setup, ex.response, max_setup_bytes=len(ex.setup) - 1)
    )
    assert ex.client.intersect(ex.setup, ex.response, max_setup_bytes=len(ex.setup)) == [1]
    # Oversized request: more bytes than max_items elements can take.
    padded = _request_msg(ex.request)
    padded.encrypted_elements.extend([padded.encrypted_elements[0]] * 20)
    big = reframe(ex.request, padded.SerializeToString())
    expect_protocol_error(lambda: ex.respond(big, max_items=5))


@pytest.mark.parametrize(
    "other",
    [
        Binding("job-8", 0, "psi.intersection"),
        Binding("job-7", 1, "psi.intersection"),
        Binding("job-7", 0, "psi.cardinality"),
    ],
    ids=["other-job", "other-shard", "other-protocol"],
)
def test_replayed_messages_fail_on_the_binding(other: Binding) -> None:
    ex = Exchange()
    foreign_server = PsiServer(other, reveal=True, key=SERVER_KEY)
    foreign_client = PsiClient(other, reveal=True, key=CLIENT_KEY)
    foreign_request = foreign_client.request(ITEMS)
    foreign_setup = foreign_server.setup(SERVER_ITEMS, client_size=3)
    foreign_response = foreign_server.respond(foreign_request, max_items=10)
    expect_protocol_error(lambda: ex.respond(foreign_request), *ITEMS)
    expect_protocol_error(lambda: ex.finish(setup=foreign_setup), *ITEMS)
    expect_protocol_error(lambda: ex.finish(response=foreign_response), *ITEMS)
    # The same messages are fine where they belong.
    assert foreign_client.intersect(foreign_setup, foreign_response) == [1]


def test_garbage_and_non_canonical_protobufs() -> None:
    ex = Exchange()
    for junk in (b"\xff\xff\xff", b"\x0a\x05ab", b"\x12\x21" + b"\x02" * 10):
        expect_protocol_error(partial(ex.respond, reframe(ex.request, junk)))
        expect_protocol_error(partial(ex.finish, setup=reframe(ex.setup, junk)))
        expect_protocol_error(partial(ex.finish, response=reframe(ex.response, junk)))
    # A valid message plus an unknown field is not the canonical encoding: refused.
    unknown = b"\xf8\x01\x01"  # field 31, varint 1
    expect_protocol_error(lambda: ex.respond(reframe(ex.request, payload_of(ex.request) + unknown)))
    expect_protocol_error(
        lambda: ex.finish(setup=reframe(ex.setup, payload_of(ex.setup) + unknown))
    )


def _with_setup(ex: Exchange, edit: object) -> bytes:
    msg = _setup_msg(ex.setup)
    edit(msg)  # type: ignore[operator]
    return reframe(ex.setup, msg.SerializeToString())


def _set_bloom(m: ompsi.ServerSetup) -> None:
    m.bloom_filter.num_hash_functions = 0
    m.bloom_filter.bits = b"\x00"


def _set_raw(m: ompsi.ServerSetup) -> None:
    m.raw.encrypted_elements.append(b"\x02" * 33)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda m: setattr(m.gcs, "hash_range", 0), id="hash-range-0-would-abort"),
        pytest.param(lambda m: setattr(m.gcs, "hash_range", -5), id="hash-range-negative"),
        pytest.param(lambda m: setattr(m.gcs, "hash_range", 1), id="hash-range-1-all-match"),
        pytest.param(lambda m: setattr(m.gcs, "div", 63), id="div-63"),
        pytest.param(lambda m: setattr(m.gcs, "div", -1), id="div-negative"),
        pytest.param(lambda m: setattr(m.gcs, "bits", b""), id="no-bits"),
        pytest.param(_set_bloom, id="bloom-filter"),
        pytest.param(_set_raw, id="raw"),
        pytest.param(lambda m: m.ClearField("gcs"), id="empty-setup"),
    ],
)
def test_client_refuses_hostile_setups(edit: object) -> None:
    for reveal in (True, False):
        ex = Exchange(reveal)
        bad = _with_setup(ex, edit)
        expect_protocol_error(partial(ex.finish, setup=bad), *ITEMS)


def test_truncated_golomb_bits_do_not_crash() -> None:
    ex = Exchange()
    for cut in range(len(_setup_msg(ex.setup).gcs.bits)):
        bad = _with_setup(ex, lambda m, c=cut: setattr(m.gcs, "bits", m.gcs.bits[: c + 1]))
        got = ex.finish(setup=bad)
        assert isinstance(got, list) and all(0 <= i < len(ITEMS) for i in got)

    def widen(m: ompsi.ServerSetup) -> None:
        m.gcs.div = 62
        m.gcs.bits = b"\x01"

    wide = _with_setup(ex, widen)
    got = ex.finish(setup=wide)
    assert isinstance(got, list) and all(0 <= i < len(ITEMS) for i in got)


def test_the_setup_must_promise_the_expected_false_positive_rate() -> None:
    server = PsiServer(BI, reveal=True, key=SERVER_KEY)
    client = PsiClient(BI, reveal=True, key=CLIENT_KEY)
    request = client.request(ITEMS)
    response = server.respond(request, max_items=10)
    weak = server.setup(SERVER_ITEMS, client_size=3, fpr=1e-3)
    expect_protocol_error(lambda: client.intersect(weak, response))
    assert client.intersect(weak, response, fpr=1e-3) == [1]
    small = server.setup(SERVER_ITEMS, client_size=1)  # sized for fewer client items
    expect_protocol_error(lambda: client.intersect(small, response))
    strict = server.setup(SERVER_ITEMS, client_size=3, fpr=DEFAULT_FPR / 10)
    assert client.intersect(strict, response) == [1]


def test_setup_payload_is_a_gcs_protobuf() -> None:
    ex = Exchange()
    msg = _setup_msg(ex.setup)
    assert msg.WhichOneof("data_structure") == "gcs"
    # fpr bounds the whole request: each of the 3 client lookups gets fpr / 3.
    assert msg.gcs.hash_range == int(3 / (DEFAULT_FPR / 3)) == 8_999_999_999
    assert unpack(ex.setup, MessageType.PSI_SETUP, BI) == msg.SerializeToString()
    assert pack(MessageType.PSI_SETUP, BI, msg.SerializeToString()) == ex.setup
