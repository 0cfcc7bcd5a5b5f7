"""intersection_sum's ECDH part (pjc) through real bytes, against a plain computation."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import pytest

from psi.group import ORDER, POINT_BYTES, hash_to_point, mul
from psi.pjc import DST, MAX_PAYLOAD_BYTES, PjcProvider, PjcRequester
from psi.wire import HEADER_BYTES, Binding, MessageType, pack
from tests.unit.psi.helpers import (
    expect_protocol_error,
    payload_of,
    reframe,
    rng_from,
    secp256k1_x_off_curve,
)

B = Binding("job-P", 0, "intersection_sum")
SIZE = 48  # payload bytes per row (a Paillier ciphertext would be 256-1024)
PROVIDER_KEY = PjcProvider(B, rng=rng_from(1)).key_bytes()
REQUESTER_KEY = PjcRequester(B, rng=rng_from(2)).key_bytes()
Rows = Sequence[tuple[bytes, bytes]]


def run_pjc(
    rows: Rows,
    items: Sequence[bytes],
    *,
    payload_size: int = SIZE,
    binding: Binding = B,
) -> list[bytes]:
    """Both parties; every step a fresh object from the stored key, as in separate processes."""
    provider = PjcProvider(binding)
    requester = PjcRequester(binding)
    setup = provider.setup([r[0] for r in rows], [r[1] for r in rows], payload_size=payload_size)
    request = requester.request(items)
    response = PjcProvider(binding, key=provider.key_bytes()).respond(request, max_items=len(items))
    return PjcRequester(binding, key=requester.key_bytes()).intersect(
        setup, response, request_size=len(items), max_items=len(rows), payload_size=payload_size
    )


def plain(rows: Rows, items: Sequence[bytes]) -> Counter[bytes]:
    wanted = set(items)
    return Counter(payload for item, payload in rows if item in wanted)


def random_case(
    seed: int, n_rows: int, n_items: int, overlap: int
) -> tuple[list[tuple[bytes, bytes]], list[bytes]]:
    rnd = random.Random(seed)
    ids = list({rnd.randbytes(rnd.randrange(4, 20)) for _ in range(n_rows + n_items)})
    rnd.shuffle(ids)
    row_ids, other = ids[:n_rows], ids[n_rows : n_rows + n_items - overlap]
    items = rnd.sample(row_ids, overlap) + other
    rnd.shuffle(items)
    # Payloads repeat on purpose (equal ciphertexts never happen, equal values might).
    rows = [(i, rnd.choice([b"A", b"B", rnd.randbytes(1)]) * SIZE) for i in row_ids]
    return rows, items


@pytest.mark.parametrize(
    ("seed", "n_rows", "n_items", "overlap"),
    [(1, 400, 300, 120), (2, 1500, 1000, 1000), (3, 200, 700, 0), (4, 1, 1, 1), (5, 1, 1, 0)],
    ids=["partial", "requester-subset", "no-overlap", "one-hit", "one-miss"],
)
def test_random_sets_match_a_plain_computation(
    seed: int, n_rows: int, n_items: int, overlap: int
) -> None:
    rows, items = random_case(seed, n_rows, n_items, overlap)
    assert len(rows) == n_rows and len(items) == n_items
    got = run_pjc(rows, items)
    assert Counter(got) == plain(rows, items)
    assert len(got) == overlap


ODD_IDS = [b"", b"\x00", b"\x00\x00", "数据".encode(), "👩‍👩‍👧".encode(), b"\xff" * 300, b" "]


@pytest.mark.parametrize(
    ("row_ids", "items"),
    [
        pytest.param([b"a", b"b", b"c"], [b"c", b"b", b"a"], id="full-overlap"),
        pytest.param([b"a", b"b"], [b"c", b"d", b"e"], id="no-overlap"),
        pytest.param([b"only"], [b"x", b"only", b"y"], id="one-row"),
        pytest.param([b"x", b"only", b"y"], [b"only"], id="one-item"),
        pytest.param(ODD_IDS, [*ODD_IDS[::2], b"\x00\x00\x00", "数".encode()], id="odd-ids"),
    ],
)
def test_small_sets(row_ids: list[bytes], items: list[bytes]) -> None:
    rows = [(i, hashlib.sha512(i).digest()) for i in row_ids]
    assert Counter(run_pjc(rows, items, payload_size=64)) == plain(rows, items)


def test_payload_size_edges() -> None:
    rows = [(b"a", b"\x01"), (b"b", b"\x02")]
    assert run_pjc(rows, [b"b"], payload_size=1) == [b"\x02"]
    big = [(b"a", b"\x07" * MAX_PAYLOAD_BYTES)]
    assert run_pjc(big, [b"a", b"z"], payload_size=MAX_PAYLOAD_BYTES) == [big[0][1]]


def test_local_misuse_is_a_value_or_type_error() -> None:
    provider, requester = PjcProvider(B), PjcRequester(B)
    value_errors: list[Callable[[], object]] = [
        partial(provider.setup, [], [], payload_size=SIZE),
        partial(provider.setup, [b"a", b"a"], [b"x" * SIZE] * 2, payload_size=SIZE),
        partial(provider.setup, [b"a", b"b"], [b"x" * SIZE], payload_size=SIZE),
        partial(provider.setup, [b"a"], [b"x" * SIZE] * 2, payload_size=SIZE),
        partial(provider.setup, [b"a"], [b"x" * (SIZE + 1)], payload_size=SIZE),
        partial(provider.setup, [b"a"], [b""], payload_size=0),
        partial(provider.setup, [b"a"], [b"x"], payload_size=MAX_PAYLOAD_BYTES + 1),
        partial(provider.setup, [b"a"], [b"x"], payload_size=True),
        partial(requester.request, []),
        partial(requester.request, [b"a", b"b", b"a"]),
        partial(provider.respond, b"", max_items=0),
        partial(requester.intersect, b"", b"", request_size=0, max_items=1, payload_size=1),
        partial(requester.intersect, b"", b"", request_size=1, max_items=0, payload_size=1),
        partial(requester.intersect, b"", b"", request_size=1, max_items=1, payload_size=0),
    ]
    for call in value_errors:
        with pytest.raises(ValueError):
            call()
    # Deliberately wrong types: the calls go through Any so that mypy lets them be written.
    setup: Any = provider.setup
    request: Any = requester.request
    type_errors: list[Callable[[], object]] = [
        partial(setup, ["a"], [b"x"], payload_size=1),
        partial(setup, b"ab", [b"x", b"y"], payload_size=1),
        partial(setup, [b"a"], ["x"], payload_size=1),
        partial(setup, [b"a"], b"x", payload_size=1),
        partial(request, ["a"]),
        partial(request, "ab"),
    ]
    for call in type_errors:
        with pytest.raises(TypeError):
            call()
    # The texts are fixed: no item or payload value travels with them.
    with pytest.raises(ValueError) as info:
        provider.setup([b"secret-id", b"secret-id"], [b"p" * SIZE] * 2, payload_size=SIZE)
    assert "secret-id" not in str(info.value)


def test_keys_round_trip_and_stay_private() -> None:
    provider = PjcProvider(B, key=PROVIDER_KEY)
    requester = PjcRequester(B, key=REQUESTER_KEY)
    assert provider.key_bytes() == PROVIDER_KEY and requester.key_bytes() == REQUESTER_KEY
    assert PjcProvider(B, rng=rng_from(1)).key_bytes() == PROVIDER_KEY
    assert PjcProvider(B, rng=rng_from(3)).key_bytes() != PROVIDER_KEY
    assert len(PROVIDER_KEY) == 32 and PROVIDER_KEY != REQUESTER_KEY
    for party in (provider, requester):
        assert PROVIDER_KEY.hex() not in repr(party) and REQUESTER_KEY.hex() not in repr(party)
        assert str(int.from_bytes(PROVIDER_KEY, "big")) not in repr(party)
    for raw in (bytes(32), ORDER.to_bytes(32, "big"), b"\x01" * 31, b"\x01" * 33):
        expect_protocol_error(partial(PjcProvider, B, key=raw), raw)
        expect_protocol_error(partial(PjcRequester, B, key=raw), raw)
    expect_protocol_error(partial(PjcProvider, B, key=PROVIDER_KEY.hex()))  # type: ignore[arg-type]


def test_recreated_parties_behave_like_the_originals() -> None:
    rows = [(b"a", b"1" * SIZE), (b"b", b"2" * SIZE), (b"c", b"3" * SIZE)]
    items = [b"c", b"z", b"a"]
    ids, payloads = [r[0] for r in rows], [r[1] for r in rows]

    def provider() -> PjcProvider:
        return PjcProvider(B, key=PROVIDER_KEY, rng=rng_from(7))

    setup = provider().setup(ids, payloads, payload_size=SIZE)
    assert setup == provider().setup(ids, payloads, payload_size=SIZE)
    request = PjcRequester(B, key=REQUESTER_KEY).request(items)
    assert request == PjcRequester(B, key=REQUESTER_KEY, rng=rng_from(99)).request(items)
    response = provider().respond(request, max_items=3)
    assert response == provider().respond(request, max_items=3)
    got = PjcRequester(B, key=REQUESTER_KEY).intersect(
        setup, response, request_size=3, max_items=3, payload_size=SIZE
    )
    assert sorted(got) == [b"1" * SIZE, b"3" * SIZE]
    # A requester with another key cannot use the response to someone else's request.
    expect_protocol_error(
        lambda: PjcRequester(B).intersect(
            setup, response, request_size=3, max_items=3, payload_size=SIZE
        )
    )


def _setup_records(setup: bytes, payload_size: int = SIZE) -> list[tuple[bytes, bytes]]:
    body = payload_of(setup)
    width = POINT_BYTES + payload_size
    return [
        (body[o : o + POINT_BYTES], body[o + POINT_BYTES : o + width])
        for o in range(24, len(body), width)
    ]


def _points(message: bytes, head: int) -> list[bytes]:
    body = payload_of(message)
    return [body[o : o + POINT_BYTES] for o in range(head, len(body), POINT_BYTES)]


def test_messages_follow_the_documented_construction() -> None:
    kp = int.from_bytes(PROVIDER_KEY, "big")
    kr = int.from_bytes(REQUESTER_KEY, "big")
    rows = [(f"row-{i}".encode(), bytes([i]) * SIZE) for i in range(20)]
    provider = PjcProvider(B, key=PROVIDER_KEY, rng=rng_from(5))
    setup = provider.setup([r[0] for r in rows], [r[1] for r in rows], payload_size=SIZE)
    body = payload_of(setup)
    key_tag = hashlib.sha256(b"sandbox/pjc/v1/key-tag" + B.digest() + PROVIDER_KEY).digest()[:16]
    assert body[:16] == key_tag
    assert int.from_bytes(body[16:20], "big") == 20 and int.from_bytes(body[20:24], "big") == SIZE
    assert len(body) == 24 + 20 * (33 + SIZE)
    pairs = _setup_records(setup)
    assert sorted(pairs) == sorted((mul(hash_to_point(i, DST), kp), p) for i, p in rows)
    assert [p for _, p in pairs] != [p for _, p in rows]  # shuffled

    items = [b"row-3", b"nope", b"row-17", b"row-0"]
    request = PjcRequester(B, key=REQUESTER_KEY).request(items)
    rbody = payload_of(request)
    request_tag = hashlib.sha256(b"sandbox/pjc/v1/request-tag" + B.digest() + REQUESTER_KEY)
    assert rbody[:16] == request_tag.digest()[:16] and int.from_bytes(rbody[16:20], "big") == 4
    assert _points(request, 20) == [mul(hash_to_point(i, DST), kr) for i in items]

    response = provider.respond(request, max_items=4)
    abody = payload_of(response)
    assert abody[:16] == rbody[:16] and abody[16:32] == key_tag
    assert int.from_bytes(abody[32:36], "big") == 4
    joint = [mul(mul(hash_to_point(i, DST), kr), kp) for i in items]
    assert sorted(_points(response, 36)) == sorted(joint)
    got = PjcRequester(B, key=REQUESTER_KEY).intersect(
        setup, response, request_size=4, max_items=20, payload_size=SIZE
    )
    # The output is the matching payloads in setup order.
    assert got == [p for _, p in pairs if p[0] in (0, 3, 17)]


def test_response_order_does_not_follow_the_request() -> None:
    kp = int.from_bytes(PROVIDER_KEY, "big")
    items = [f"item-{i}".encode() for i in range(50)]
    request = PjcRequester(B, key=REQUESTER_KEY).request(items)
    in_request_order = [mul(p, kp) for p in _points(request, 20)]
    orders = set()
    for seed in range(5):
        provider = PjcProvider(B, key=PROVIDER_KEY, rng=rng_from(seed))
        answered = _points(provider.respond(request, max_items=50), 36)
        assert sorted(answered) == sorted(in_request_order)
        assert answered != in_request_order
        position = {p: i for i, p in enumerate(in_request_order)}
        moved = sum(position[p] != i for i, p in enumerate(answered))
        assert moved > 40  # a random permutation of 50 keeps ~1 element in place
        orders.add(tuple(answered))
    assert len(orders) == 5


def test_shuffles_are_uniform() -> None:
    rows = [(b"a", b"A"), (b"b", b"B"), (b"c", b"C")]
    ids, payloads = [r[0] for r in rows], [r[1] for r in rows]
    trials = 600
    setup_orders: Counter[bytes] = Counter()
    output_orders: Counter[bytes] = Counter()
    request = PjcRequester(B, key=REQUESTER_KEY).request([b"c", b"a", b"b"])
    response = PjcProvider(B, key=PROVIDER_KEY).respond(request, max_items=3)
    for seed in range(trials):
        provider = PjcProvider(B, key=PROVIDER_KEY, rng=rng_from(1000 + seed))
        setup = provider.setup(ids, payloads, payload_size=1)
        setup_orders[b"".join(p for _, p in _setup_records(setup, 1))] += 1
        got = PjcRequester(B, key=REQUESTER_KEY).intersect(
            setup, response, request_size=3, max_items=3, payload_size=1
        )
        output_orders[b"".join(got)] += 1
    assert setup_orders == output_orders  # the output carries only the setup's random order
    assert len(setup_orders) == 6
    # Each of the 6 orders expects 100; 60..140 is over 4 standard deviations either way.
    assert all(60 <= n <= 140 for n in setup_orders.values()), setup_orders


def test_rng_that_repeats_itself_is_refused() -> None:
    provider = PjcProvider(B, key=PROVIDER_KEY, rng=lambda n: bytes(n))
    with pytest.raises(ValueError):
        provider.setup([b"a", b"b"], [b"x", b"y"], payload_size=1)
    assert PjcProvider(B, key=PROVIDER_KEY, rng=lambda n: bytes(n)).setup(
        [b"a"], [b"x"], payload_size=1
    )
    short = PjcProvider(B, key=PROVIDER_KEY, rng=lambda n: bytes(n - 1))
    with pytest.raises(ValueError):
        short.setup([b"a", b"b"], [b"x", b"y"], payload_size=1)


# ---------------------------------------------------------------------------------------------
# Hostile messages.

ROWS = [(b"alice", b"\x11" * SIZE), (b"bob", b"\x22" * SIZE), (b"carol", b"\x33" * SIZE)]
ITEMS = [b"bob", b"mallory", b"carol"]
SECRETS = (*ITEMS, b"alice", PROVIDER_KEY, REQUESTER_KEY)


def _round(binding: Binding = B) -> tuple[bytes, bytes, bytes]:
    provider = PjcProvider(binding, key=PROVIDER_KEY, rng=rng_from(11))
    setup = provider.setup([r[0] for r in ROWS], [r[1] for r in ROWS], payload_size=SIZE)
    request = PjcRequester(binding, key=REQUESTER_KEY).request(ITEMS)
    return setup, request, provider.respond(request, max_items=10)


def _intersect(
    setup: bytes, response: bytes, *, request_size: int = 3, max_items: int = 10
) -> list[bytes]:
    return PjcRequester(B, key=REQUESTER_KEY).intersect(
        setup, response, request_size=request_size, max_items=max_items, payload_size=SIZE
    )


def _respond(request: bytes, max_items: int = 10) -> bytes:
    return PjcProvider(B, key=PROVIDER_KEY).respond(request, max_items=max_items)


def test_honest_round() -> None:
    setup, _, response = _round()
    assert sorted(_intersect(setup, response)) == [b"\x22" * SIZE, b"\x33" * SIZE]


def _with_points(message: bytes, head: int, points: list[bytes], count: int | None = None) -> bytes:
    body = payload_of(message)
    n = len(points) if count is None else count
    return reframe(message, body[: head - 4] + n.to_bytes(4, "big") + b"".join(points))


BAD_POINTS: dict[str, Callable[[bytes], bytes]] = {
    "x-without-y": lambda p: secp256k1_x_off_curve(),
    "x-not-below-p": lambda p: b"\x02" + b"\xff" * 32,
    "prefix-04": lambda p: b"\x04" + p[1:],
    "prefix-00": lambda p: b"\x00" + p[1:],
    "zeros": lambda p: bytes(33),
}


@pytest.mark.parametrize("name", list(BAD_POINTS))
def test_bad_points_are_refused_everywhere(name: str) -> None:
    setup, request, response = _round()
    bad = BAD_POINTS[name]
    points = _points(request, 20)
    points[1] = bad(points[1])
    expect_protocol_error(partial(_respond, _with_points(request, 20, points)), *SECRETS)
    points = _points(response, 36)
    points[2] = bad(points[2])
    bad_response = _with_points(response, 36, points)
    expect_protocol_error(partial(_intersect, setup, bad_response), *SECRETS)
    records = _setup_records(setup)
    records[0] = (bad(records[0][0]), records[0][1])
    bad_setup = reframe(setup, payload_of(setup)[:24] + b"".join(p + q for p, q in records))
    expect_protocol_error(partial(_intersect, bad_setup, response), *SECRETS)


def test_respond_refuses_bad_requests() -> None:
    _, request, _ = _round()
    points = _points(request, 20)
    body = payload_of(request)
    cases: dict[str, tuple[bytes, int]] = {
        "over-max-items": (request, 2),
        "count-zero": (_with_points(request, 20, [], 0), 10),
        "count-says-more": (_with_points(request, 20, points, 4), 10),
        "count-says-fewer": (_with_points(request, 20, points, 2), 10),
        "count-huge": (_with_points(request, 20, points, 2**32 - 1), 10),
        "duplicated-point": (_with_points(request, 20, [points[0], points[1], points[0]]), 10),
        "trailing-byte": (reframe(request, body + b"\x00"), 10),
        "truncated-point": (reframe(request, body[:-1]), 10),
        "no-count": (reframe(request, body[:18]), 10),
        "empty-payload": (reframe(request, b""), 10),
        "truncated-frame": (request[:-1], 10),
        "extra-frame-byte": (request + b"\x00", 10),
        "oversized": (_with_points(request, 20, points * 4), 10),
        "wrong-type": (pack(MessageType.PJC_SETUP, B, body), 10),
        "other-protocol-type": (pack(MessageType.LOOKUP_QUERY, B, body), 10),
    }
    for name, (bad, limit) in cases.items():
        expect_protocol_error(partial(_respond, bad, limit), *SECRETS)
        assert name
    expect_protocol_error(partial(_respond, bytearray(request)))  # type: ignore[arg-type]
    assert _respond(request, 3)


def test_intersect_refuses_bad_setups() -> None:
    setup, _, response = _round()
    body = payload_of(setup)
    records = _setup_records(setup)
    other_key = PjcProvider(B, rng=rng_from(12))
    foreign = other_key.setup([r[0] for r in ROWS], [r[1] for r in ROWS], payload_size=SIZE)

    def rebuild(
        recs: list[tuple[bytes, bytes]], count: int | None = None, size: int = SIZE
    ) -> bytes:
        n = len(recs) if count is None else count
        head = body[:16] + n.to_bytes(4, "big") + size.to_bytes(4, "big")
        return reframe(setup, head + b"".join(p + q for p, q in recs))

    cases: dict[str, bytes] = {
        "payload-size-field": rebuild(records, size=SIZE + 1),
        "short-payload": rebuild([*records[:2], (records[2][0], records[2][1][:-1])]),
        "long-payload": rebuild([*records[:2], (records[2][0], records[2][1] + b"\x00")]),
        "count-zero": rebuild([], 0),
        "count-says-more": rebuild(records, 4),
        "count-says-fewer": rebuild(records, 2),
        "duplicated-point": rebuild([records[0], records[1], (records[0][0], records[2][1])]),
        "duplicated-record": rebuild([records[0], records[1], records[0]]),
        "trailing-byte": reframe(setup, body + b"\x00"),
        "truncated": setup[:-1],
        "header-only": reframe(setup, body[:23]),
        "empty": reframe(setup, b""),
        "other-provider-key": foreign,
        "key-tag-bit": reframe(setup, bytes([body[0] ^ 1]) + body[1:]),
        "wrong-type": pack(MessageType.PJC_RESPONSE, B, body),
    }
    for name, bad in cases.items():
        expect_protocol_error(partial(_intersect, bad, response), *SECRETS)
        assert name
    expect_protocol_error(partial(_intersect, setup, response, max_items=2), *SECRETS)
    expect_protocol_error(partial(_intersect, bytearray(setup), response))  # type: ignore[arg-type]
    assert _intersect(setup, response, max_items=3)
    # A larger setup than allowed is refused on its size, before it is parsed.
    big = rebuild(records * 2)
    expect_protocol_error(partial(_intersect, big, response, max_items=5))


def test_intersect_refuses_bad_responses() -> None:
    setup, request, response = _round()
    body = payload_of(response)
    points = _points(response, 36)
    other_requester = PjcRequester(B).request(ITEMS)
    other_provider = PjcProvider(B, rng=rng_from(13)).respond(request, max_items=10)
    cases: dict[str, bytes] = {
        "fewer": _with_points(response, 36, points[:2]),
        "more": _with_points(response, 36, [*points, mul(points[0], 2)]),
        "count-says-fewer": _with_points(response, 36, points, 2),
        "count-says-more": _with_points(response, 36, points, 4),
        "duplicated-point": _with_points(response, 36, [points[0], points[1], points[0]]),
        "trailing-byte": reframe(response, body + b"\x00"),
        "truncated": response[:-1],
        "empty": reframe(response, b""),
        "to-another-request": PjcProvider(B, key=PROVIDER_KEY).respond(
            other_requester, max_items=10
        ),
        "from-another-provider-key": other_provider,
        "request-tag-bit": reframe(response, bytes([body[0] ^ 1]) + body[1:]),
        "key-tag-bit": reframe(response, body[:16] + bytes([body[16] ^ 1]) + body[17:]),
        "wrong-type": pack(MessageType.PJC_REQUEST, B, body),
        "the-request-itself": request,
    }
    for name, bad in cases.items():
        expect_protocol_error(partial(_intersect, setup, bad), *SECRETS)
        assert name
    for size in (2, 4):
        expect_protocol_error(partial(_intersect, setup, response, request_size=size), *SECRETS)


@pytest.mark.parametrize(
    "other",
    [
        Binding("job-Q", 0, "intersection_sum"),
        Binding("job-P", 1, "intersection_sum"),
        Binding("job-P", 0, "psi.intersection"),
    ],
    ids=["other-job", "other-shard", "other-protocol"],
)
def test_replays_fail_on_the_binding(other: Binding) -> None:
    setup, _, response = _round()
    f_setup, f_request, f_response = _round(other)
    # Same keys, same items: only the binding differs, and it alone makes every message fail.
    expect_protocol_error(partial(_respond, f_request), *SECRETS)
    expect_protocol_error(partial(_intersect, f_setup, response), *SECRETS)
    expect_protocol_error(partial(_intersect, setup, f_response), *SECRETS)
    assert sorted(_intersect(setup, response)) == [b"\x22" * SIZE, b"\x33" * SIZE]
    again = PjcRequester(other, key=REQUESTER_KEY).intersect(
        f_setup, f_response, request_size=3, max_items=10, payload_size=SIZE
    )
    assert sorted(again) == [b"\x22" * SIZE, b"\x33" * SIZE]


def test_frame_sizes() -> None:
    setup, request, response = _round()
    assert len(setup) == HEADER_BYTES + 24 + 3 * (33 + SIZE)
    assert len(request) == HEADER_BYTES + 20 + 3 * 33
    assert len(response) == HEADER_BYTES + 36 + 3 * 33
    assert {setup[5], request[5], response[5]} == {
        MessageType.PJC_SETUP,
        MessageType.PJC_REQUEST,
        MessageType.PJC_RESPONSE,
    }
