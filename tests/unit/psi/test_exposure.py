"""The exposure protocol's ECDH part (psi.exposure) through real bytes: per-position joins
against a plain computation, the documented construction, what each party sees, and hostile,
malformed, oversized and reordered messages."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import pytest

from psi.errors import ProtocolError
from psi.exposure import (
    DST,
    HEADER_BYTES,
    MAX_PAYLOAD_BYTES,
    ExposureProvider,
    ExposureRequester,
    Matched,
    MessageKind,
    provider_binding,
    read_query,
    read_vector,
    seal_release,
)
from psi.group import ORDER, POINT_BYTES, hash_to_point, mul
from psi.wire import Binding
from tests.unit.psi.helpers import expect_protocol_error, rng_from, secp256k1_x_off_curve

B = Binding("job-X", 0, "secure_sum/exposure")
SIZE = 24
REQUESTER_KEY = ExposureRequester(B, rng=rng_from(1)).key_bytes()
PROVIDER_KEYS = [ExposureProvider(B, i, rng=rng_from(10 + i)).key_bytes() for i in range(3)]
Book = dict[bytes, bytes]


def flip(payloads: list[bytes]) -> list[bytes]:
    """A stand-in for re-randomization: a different byte string of the same size."""
    return [bytes(b ^ 0x5A for b in p) for p in payloads]


def fresh(payload: bytes | None) -> bytes:
    """A stand-in for the provider's output: a fresh zero, or the match transformed again."""
    return b"\x00" * SIZE if payload is None else bytes(b ^ 0x0F for b in payload)


def run(
    items: Sequence[bytes], books: Sequence[Book], *, max_items: int = 1000, max_rows: int = 1000
) -> tuple[list[list[bytes]], bytes]:
    """All parties, every step from stored keys as in separate processes; the gate's view (one
    vector per provider) and the plaintext the requester opens."""
    requester = ExposureRequester(B)
    query = requester.query(items)
    vectors: list[list[bytes]] = []
    q = read_query(query, B, max_items=max_items)
    for index, book in enumerate(books):
        provider = ExposureProvider(B, index)
        offer = provider.offer(list(book), list(book.values()), payload_size=SIZE)
        shuffled = ExposureRequester(B, key=requester.key_bytes()).shuffle(
            offer, provider=index, max_rows=max_rows, payload_size=SIZE, rerandomize=flip
        )
        again = ExposureProvider(B, index, key=provider.key_bytes())
        matched = again.match(
            query, shuffled, max_items=max_items, offered=len(book), payload_size=SIZE
        )
        message = again.vector(matched, [fresh(p) for p in matched.positions], payload_size=SIZE)
        vectors.append(read_vector(message, B, provider=index, query=q, payload_size=SIZE))
    sealed = seal_release(q, B, b"released:" + bytes([len(items) % 256]))
    opened = ExposureRequester(B, key=requester.key_bytes()).open(sealed, max_bytes=1 << 20)
    return vectors, opened


def expected(items: Sequence[bytes], book: Book) -> list[bytes]:
    return [fresh(flip([book[x]])[0]) if x in book else fresh(None) for x in items]


def random_books(
    seed: int, n_items: int, sizes: Sequence[int], overlap: float
) -> tuple[list[bytes], list[Book]]:
    rnd = random.Random(seed)
    items = list({rnd.randbytes(rnd.randrange(1, 24)) for _ in range(n_items)})
    books: list[Book] = []
    for size in sizes:
        ids = set(rnd.sample(items, round(min(size, len(items)) * overlap)))
        while len(ids) < size:
            ids.add(rnd.randbytes(rnd.randrange(1, 24)))
        books.append({i: rnd.randbytes(SIZE) for i in ids})
    rnd.shuffle(items)
    return items, books


@pytest.mark.parametrize(
    ("seed", "n_items", "sizes", "overlap"),
    [
        (1, 60, (40, 80), 0.5),
        (2, 30, (30, 30, 30), 1.0),
        (3, 50, (20, 10), 0.0),
        (4, 1, (1, 1), 1.0),
        (5, 1, (1,), 0.0),
    ],
    ids=["partial", "everyone-everywhere", "no-overlap", "one-hit", "one-miss"],
)
def test_every_position_gets_its_providers_payload(
    seed: int, n_items: int, sizes: tuple[int, ...], overlap: float
) -> None:
    items, books = random_books(seed, n_items, sizes, overlap)
    vectors, opened = run(items, books)
    assert len(vectors) == len(books)
    for vector, book in zip(vectors, books, strict=True):
        assert vector == expected(items, book)
    assert opened == b"released:" + bytes([len(items) % 256])


def test_odd_ids_and_payload_sizes() -> None:
    items = [b"", b"\x00", "数据".encode(), b"\xff" * 300, b" "]
    book = {b"\x00": b"\x01", b"\xff" * 300: b"\x02", b"zz": b"\x03"}
    requester = ExposureRequester(B)
    query = requester.query(items)
    provider = ExposureProvider(B, 0)
    offer = provider.offer(list(book), list(book.values()), payload_size=1)
    shuffled = requester.shuffle(
        offer, provider=0, max_rows=3, payload_size=1, rerandomize=lambda ps: ps
    )
    matched = provider.match(query, shuffled, max_items=5, offered=3, payload_size=1)
    assert matched.positions == (None, b"\x01", None, b"\x02", None)
    big = {b"a": b"\x07" * MAX_PAYLOAD_BYTES}
    offer = provider.offer(list(big), list(big.values()), payload_size=MAX_PAYLOAD_BYTES)
    shuffled = requester.shuffle(
        offer, provider=0, max_rows=1, payload_size=MAX_PAYLOAD_BYTES, rerandomize=lambda ps: ps
    )
    matched = provider.match(
        requester.query([b"b", b"a"]),
        shuffled,
        max_items=2,
        offered=1,
        payload_size=MAX_PAYLOAD_BYTES,
    )
    assert matched.positions == (None, big[b"a"])


def _body(message: bytes) -> bytes:
    return message[HEADER_BYTES:]


def test_messages_follow_the_documented_construction() -> None:
    a = int.from_bytes(REQUESTER_KEY[:32], "big")
    r = int.from_bytes(REQUESTER_KEY[32:], "big")
    b = int.from_bytes(PROVIDER_KEYS[0], "big")
    requester = ExposureRequester(B, key=REQUESTER_KEY)
    items = [b"x1", b"x2", b"x3"]
    query = requester.query(items)
    assert query[:6] == b"SBXE\x01" + bytes([MessageKind.QUERY])
    body = _body(query)
    tag = hashlib.sha256(b"sandbox/exposure/v1/query-tag" + B.digest() + REQUESTER_KEY[:32])
    assert body[:16] == tag.digest()[:16] == requester.tag
    import coincurve

    assert body[16:49] == coincurve.PrivateKey(REQUESTER_KEY[32:]).public_key.format()
    assert int.from_bytes(body[49:53], "big") == 3
    points = [body[o : o + 33] for o in range(53, len(body), 33)]
    assert points == [mul(hash_to_point(x, DST), a) for x in items]  # in the requester's order

    book = {b"x2": b"P" * SIZE, b"y": b"Q" * SIZE}
    provider = ExposureProvider(B, 0, key=PROVIDER_KEYS[0], rng=rng_from(3))
    offer = provider.offer(list(book), list(book.values()), payload_size=SIZE)
    obody = _body(offer)
    bound = provider_binding(B, 0)
    key_tag = hashlib.sha256(b"sandbox/exposure/v1/key-tag" + bound.digest() + PROVIDER_KEYS[0])
    assert obody[:16] == key_tag.digest()[:16] == provider.tag
    assert offer[6:38] == bound.digest() and bound == Binding("job-X", 1, B.protocol)
    pairs = sorted(
        (obody[o : o + 33], obody[o + 33 : o + 33 + SIZE]) for o in range(24, len(obody), 33 + SIZE)
    )
    assert pairs == sorted((mul(hash_to_point(y, DST), b), p) for y, p in book.items())

    shuffled = requester.shuffle(
        offer, provider=0, max_rows=2, payload_size=SIZE, rerandomize=flip, rng=rng_from(4)
    )
    sbody = _body(shuffled)
    assert sbody[:16] == requester.tag and sbody[16:32] == provider.tag
    joint = sorted(
        (sbody[o : o + 33], sbody[o + 33 : o + 33 + SIZE]) for o in range(40, len(sbody), 33 + SIZE)
    )
    assert joint == sorted(
        (mul(mul(hash_to_point(y, DST), b), a), flip([p])[0]) for y, p in book.items()
    )
    matched = provider.match(query, shuffled, max_items=3, offered=2, payload_size=SIZE)
    assert matched == Matched(requester.tag, (None, flip([b"P" * SIZE])[0], None))

    sealed = seal_release(read_query(query, B, max_items=3), B, b"totals", rng=rng_from(5))
    rbody = _body(sealed)
    e = int.from_bytes(rng_from(5)(32), "big")
    assert (
        rbody[:16] == requester.tag
        and rbody[16:49] == coincurve.PrivateKey(e.to_bytes(32, "big")).public_key.format()
    )
    assert b"totals" not in rbody
    assert mul(rbody[16:49], r) == mul(body[16:49], e)  # the shared point both sides derive
    assert requester.open(sealed, max_bytes=1000) == b"totals"


def test_the_requester_sees_no_link_between_its_ids_and_any_provider() -> None:
    """The requester's inputs from a provider are the offer (points under b only) and, never,
    b*a*H(x): none of the offer's points, nor their a-multiples' order, relates to its query."""
    items = [f"id-{i}".encode() for i in range(20)]
    book = {items[i]: bytes([i]) * SIZE for i in range(0, 20, 2)}
    requester = ExposureRequester(B, key=REQUESTER_KEY)
    query = requester.query(items)
    provider = ExposureProvider(B, 0, key=PROVIDER_KEYS[0])
    offer = provider.offer(list(book), list(book.values()), payload_size=SIZE)
    a = int.from_bytes(REQUESTER_KEY[:32], "big")
    b = int.from_bytes(PROVIDER_KEYS[0], "big")
    joined = {mul(mul(hash_to_point(x, DST), a), b) for x in items}
    obody, qbody = _body(offer), _body(query)
    for o in range(24, len(obody), 33 + SIZE):
        assert obody[o : o + 33] not in joined
        assert obody[o : o + 33] not in qbody
    # The shuffle changes the order of the offer every time.
    orders = set()
    for seed in range(5):
        shuffled = requester.shuffle(
            offer, provider=0, max_rows=10, payload_size=SIZE, rerandomize=flip, rng=rng_from(seed)
        )
        orders.add(_body(shuffled)[40:])
    assert len(orders) == 5
    # The provider's output may not carry a shuffled payload as it came.
    shuffled = requester.shuffle(
        offer, provider=0, max_rows=10, payload_size=SIZE, rerandomize=flip
    )
    matched = provider.match(query, shuffled, max_items=20, offered=10, payload_size=SIZE)
    assert sum(p is not None for p in matched.positions) == 10
    as_came = [p if p is not None else b"\x00" * SIZE for p in matched.positions]
    with pytest.raises(ValueError):
        provider.vector(matched, as_came, payload_size=SIZE)


def test_shuffles_are_uniform() -> None:
    book = {b"a": b"A", b"b": b"B", b"c": b"C"}
    requester = ExposureRequester(B, key=REQUESTER_KEY)
    offer = ExposureProvider(B, 0, key=PROVIDER_KEYS[0]).offer(
        list(book), list(book.values()), payload_size=1
    )
    orders: Counter[bytes] = Counter()
    for seed in range(600):
        shuffled = requester.shuffle(
            offer, provider=0, max_rows=3, payload_size=1, rerandomize=lambda ps: ps,
            rng=rng_from(1000 + seed),
        )  # fmt: skip
        body = _body(shuffled)
        orders[bytes(body[o + 33] for o in range(40, len(body), 34))] += 1
    assert len(orders) == 6
    assert all(60 <= n <= 140 for n in orders.values()), orders


def test_keys_round_trip_and_stay_private() -> None:
    requester = ExposureRequester(B, key=REQUESTER_KEY)
    provider = ExposureProvider(B, 1, key=PROVIDER_KEYS[1])
    assert requester.key_bytes() == REQUESTER_KEY and provider.key_bytes() == PROVIDER_KEYS[1]
    assert ExposureRequester(B, rng=rng_from(1)).key_bytes() == REQUESTER_KEY
    assert len(REQUESTER_KEY) == 64 and len(set(PROVIDER_KEYS)) == 3
    for party in (requester, provider):
        for secret in (REQUESTER_KEY, *PROVIDER_KEYS):
            assert secret.hex() not in repr(party) and secret[:32].hex() not in repr(party)
    for raw in (bytes(32), ORDER.to_bytes(32, "big"), b"\x01" * 31, b"\x01" * 33):
        expect_protocol_error(partial(ExposureProvider, B, 0, key=raw), raw)
        expect_protocol_error(partial(ExposureRequester, B, key=raw + raw), raw)
    expect_protocol_error(partial(ExposureRequester, B, key=REQUESTER_KEY[:32]))
    expect_protocol_error(partial(ExposureRequester, B, key=bytes(32) + REQUESTER_KEY[32:]))


def test_local_misuse_is_a_value_or_type_error() -> None:
    requester, provider = ExposureRequester(B), ExposureProvider(B, 0)
    value_errors: list[Callable[[], object]] = [
        partial(requester.query, []),
        partial(requester.query, [b"a", b"a"]),
        partial(provider.offer, [], [], payload_size=SIZE),
        partial(provider.offer, [b"a", b"a"], [b"x" * SIZE] * 2, payload_size=SIZE),
        partial(provider.offer, [b"a"], [b"x" * SIZE] * 2, payload_size=SIZE),
        partial(provider.offer, [b"a"], [b"x"], payload_size=SIZE),
        partial(provider.offer, [b"a"], [b""], payload_size=0),
        partial(provider.offer, [b"a"], [b"x"], payload_size=MAX_PAYLOAD_BYTES + 1),
        partial(provider_binding, B, -1),
        partial(ExposureProvider, B, -1),
        partial(read_query, b"", B, max_items=0),
        partial(requester.open, b"", max_bytes=0),
        partial(provider.match, b"", b"", max_items=1, offered=0, payload_size=SIZE),
        partial(
            requester.shuffle, b"", provider=0, max_rows=0, payload_size=SIZE, rerandomize=flip
        ),
    ]
    for call in value_errors:
        with pytest.raises(ValueError):
            call()
    query: Any = requester.query
    offer: Any = provider.offer
    vector: Any = provider.vector
    type_errors: list[Callable[[], object]] = [
        partial(query, ["a"]),
        partial(query, b"ab"),
        partial(offer, [b"a"], ["x"], payload_size=1),
        partial(offer, [b"a"], b"x", payload_size=1),
        partial(vector, (b"tag", (None,)), [b"x"], payload_size=1),
        partial(seal_release, "query", B, b"x"),  # type: ignore[arg-type]
    ]
    for call in type_errors:
        with pytest.raises(TypeError):
            call()
    # A re-randomization that returns the wrong number or size of payloads is a local bug.
    book = {b"a": b"1" * SIZE, b"b": b"2" * SIZE}
    offered = provider.offer(list(book), list(book.values()), payload_size=SIZE)
    for wrong in (lambda ps: ps[:1], lambda ps: [p + b"!" for p in ps]):
        with pytest.raises(ValueError):
            requester.shuffle(offered, provider=0, max_rows=2, payload_size=SIZE, rerandomize=wrong)
    with pytest.raises(ValueError) as info:
        provider.offer([b"secret-id", b"secret-id"], [b"p" * SIZE] * 2, payload_size=SIZE)
    assert "secret-id" not in str(info.value)


def test_rng_that_repeats_itself_is_refused() -> None:
    provider = ExposureProvider(B, 0, key=PROVIDER_KEYS[0], rng=lambda n: bytes(n))
    with pytest.raises(ValueError):
        provider.offer([b"a", b"b"], [b"x", b"y"], payload_size=1)


# ---------------------------------------------------------------------------------------------
# Hostile, malformed, oversized and reordered messages.

ITEMS = [b"alice", b"bob", b"carol", b"dave"]
BOOKS: list[Book] = [
    {b"bob": b"\x11" * SIZE, b"erin": b"\x12" * SIZE, b"carol": b"\x13" * SIZE},
    {b"bob": b"\x21" * SIZE, b"frank": b"\x22" * SIZE},
]
SECRETS = (*ITEMS, b"erin", b"frank", REQUESTER_KEY, *PROVIDER_KEYS)


@pytest.fixture(scope="module")
def honest() -> dict[str, Any]:
    """One honest round's messages, made from the fixed keys."""
    requester = ExposureRequester(B, key=REQUESTER_KEY)
    query = requester.query(ITEMS)
    out: dict[str, Any] = {"query": query, "offers": [], "shuffled": [], "vectors": []}
    for index, book in enumerate(BOOKS):
        provider = ExposureProvider(B, index, key=PROVIDER_KEYS[index])
        offer = provider.offer(list(book), list(book.values()), payload_size=SIZE)
        shuffled = requester.shuffle(
            offer, provider=index, max_rows=10, payload_size=SIZE, rerandomize=flip
        )
        matched = provider.match(
            query, shuffled, max_items=10, offered=len(book), payload_size=SIZE
        )
        out["offers"].append(offer)
        out["shuffled"].append(shuffled)
        out["vectors"].append(
            provider.vector(matched, [fresh(p) for p in matched.positions], payload_size=SIZE)
        )
    out["release"] = seal_release(read_query(query, B, max_items=10), B, b"the totals")
    return out


def _reframe(message: bytes, body: bytes) -> bytes:
    return message[: HEADER_BYTES - 8] + len(body).to_bytes(8, "big") + body


def _shuffle(offer: bytes, index: int = 0, *, max_rows: int = 10, size: int = SIZE) -> bytes:
    return ExposureRequester(B, key=REQUESTER_KEY).shuffle(
        offer, provider=index, max_rows=max_rows, payload_size=size, rerandomize=flip
    )


def _match(query: bytes, shuffled: bytes, index: int = 0, *, max_items: int = 10) -> Matched:
    return ExposureProvider(B, index, key=PROVIDER_KEYS[index]).match(
        query, shuffled, max_items=max_items, offered=len(BOOKS[index]), payload_size=SIZE
    )


def _gate(vector: bytes, index: int, query: bytes) -> list[bytes]:
    return read_vector(
        vector, B, provider=index, query=read_query(query, B, max_items=10), payload_size=SIZE
    )


def _points_edit(
    message: bytes, head: int, record: int, edit: Callable[[list[bytes]], None]
) -> bytes:
    body = _body(message)
    points = [body[o : o + POINT_BYTES] for o in range(head, len(body), record)]
    edit(points)
    out = bytearray(body)
    for k, o in enumerate(range(head, len(body), record)):
        out[o : o + POINT_BYTES] = points[k]
    return _reframe(message, bytes(out))


def test_the_honest_round(honest: dict[str, Any]) -> None:
    assert _gate(honest["vectors"][0], 0, honest["query"]) == [
        fresh(None), fresh(flip([b"\x11" * SIZE])[0]), fresh(flip([b"\x13" * SIZE])[0]), fresh(None)
    ]  # fmt: skip
    assert ExposureRequester(B, key=REQUESTER_KEY).open(honest["release"], max_bytes=1000) == (
        b"the totals"
    )


def _bad_queries(query: bytes) -> dict[str, bytes]:
    body = _body(query)
    off = secp256k1_x_off_curve()
    return {
        "truncated": query[:-1],
        "trailing": _reframe(query, body + b"\x02"),
        "count-too-large": _reframe(query, body[:49] + (5).to_bytes(4, "big") + body[53:]),
        "count-zero": _reframe(query, body[:49] + bytes(4)),
        "duplicate": _points_edit(query, 53, 33, lambda ps: ps.__setitem__(1, ps[0])),
        "off-curve": _points_edit(query, 53, 33, lambda ps: ps.__setitem__(2, off)),
        "prefix-04": _points_edit(query, 53, 33, lambda ps: ps.__setitem__(0, b"\x04" + ps[0][1:])),
        "recipient-off-curve": _reframe(query, body[:16] + off + body[49:]),
        "other-job": query[:6] + Binding("job-Y", 0, B.protocol).digest() + query[38:],
        "other-kind": query[:5] + bytes([MessageKind.OFFER]) + query[6:],
        "other-magic": b"SBXP" + query[4:],
        "other-version": query[:4] + b"\x02" + query[5:],
        "empty": b"",
    }


@pytest.mark.parametrize(
    "case",
    [
        "truncated", "trailing", "count-too-large", "count-zero", "duplicate", "off-curve",
        "prefix-04", "recipient-off-curve", "other-job", "other-kind", "other-magic",
        "other-version", "empty",
    ],
)  # fmt: skip
def test_a_bad_query_is_refused_by_providers_and_the_gate(
    honest: dict[str, Any], case: str
) -> None:
    bad = _bad_queries(honest["query"])[case]
    expect_protocol_error(partial(read_query, bad, B, max_items=10), *SECRETS)
    expect_protocol_error(partial(_match, bad, honest["shuffled"][0]), *SECRETS)


def test_an_oversized_query_is_refused_before_it_is_read(honest: dict[str, Any]) -> None:
    expect_protocol_error(partial(read_query, honest["query"], B, max_items=3))
    expect_protocol_error(partial(_match, honest["query"], honest["shuffled"][0], max_items=3))


def _bad_offers(offer: bytes) -> dict[str, bytes]:
    body = _body(offer)
    record = 33 + SIZE
    return {
        "truncated": offer[:-1],
        "trailing": _reframe(offer, body + b"\x00"),
        "count-mismatch": _reframe(offer, body[:16] + (4).to_bytes(4, "big") + body[20:]),
        "payload-size": _reframe(offer, body[:20] + (SIZE + 1).to_bytes(4, "big") + body[24:]),
        "duplicate": _points_edit(offer, 24, record, lambda ps: ps.__setitem__(1, ps[0])),
        "off-curve": _points_edit(
            offer, 24, record, lambda ps: ps.__setitem__(0, secp256k1_x_off_curve())
        ),
        "x-not-below-p": _points_edit(
            offer, 24, record, lambda ps: ps.__setitem__(2, b"\x02" + b"\xff" * 32)
        ),
        "other-provider": offer[:6] + provider_binding(B, 1).digest() + offer[38:],
        "other-job": offer[:6]
        + provider_binding(Binding("job-Y", 0, B.protocol), 0).digest()
        + offer[38:],
        "other-kind": offer[:5] + bytes([MessageKind.SHUFFLED]) + offer[6:],
        "empty-rows": _reframe(offer, body[:16] + bytes(4) + body[20:24]),
    }


@pytest.mark.parametrize(
    "case",
    [
        "truncated", "trailing", "count-mismatch", "payload-size", "duplicate", "off-curve",
        "x-not-below-p", "other-provider", "other-job", "other-kind", "empty-rows",
    ],
)  # fmt: skip
def test_a_bad_offer_is_refused_by_the_requester(honest: dict[str, Any], case: str) -> None:
    bad = _bad_offers(honest["offers"][0])[case]
    expect_protocol_error(partial(_shuffle, bad), *SECRETS)


def test_offer_bounds_and_a_refused_ciphertext(honest: dict[str, Any]) -> None:
    offer = honest["offers"][0]
    expect_protocol_error(partial(_shuffle, offer, max_rows=2))  # 3 rows > max_rows
    expect_protocol_error(partial(_shuffle, offer, size=SIZE - 1))
    expect_protocol_error(partial(_shuffle, honest["offers"][1], 0))  # provider 1's, as 0's

    def refuse(payloads: list[bytes]) -> list[bytes]:
        raise ProtocolError

    expect_protocol_error(
        lambda: ExposureRequester(B, key=REQUESTER_KEY).shuffle(
            offer, provider=0, max_rows=10, payload_size=SIZE, rerandomize=refuse
        )
    )


def _bad_shuffles(honest: dict[str, Any]) -> dict[str, bytes]:
    shuffled = honest["shuffled"][0]
    body = _body(shuffled)
    record = 33 + SIZE
    other_query = ExposureRequester(B, rng=rng_from(77))
    return {
        "truncated": shuffled[:-1],
        "dropped-row": _reframe(shuffled, body[:32] + (2).to_bytes(4, "big") + body[36:-record]),
        "extra-row": _reframe(
            shuffled, body[:32] + (4).to_bytes(4, "big") + body[36:] + body[-record:]
        ),
        "count-lies": _reframe(shuffled, body[:32] + (2).to_bytes(4, "big") + body[36:]),
        "duplicate": _points_edit(shuffled, 40, record, lambda ps: ps.__setitem__(1, ps[0])),
        "off-curve": _points_edit(
            shuffled, 40, record, lambda ps: ps.__setitem__(0, secp256k1_x_off_curve())
        ),
        "other-query-tag": _reframe(shuffled, other_query.tag + body[16:]),
        "other-key-tag": _reframe(shuffled, body[:16] + bytes(16) + body[32:]),
        "for-provider-1": honest["shuffled"][1],
        "the-offer-itself": honest["offers"][0],
        "other-kind": shuffled[:5] + bytes([MessageKind.MATCH]) + shuffled[6:],
    }


@pytest.mark.parametrize(
    "case",
    [
        "truncated", "dropped-row", "extra-row", "count-lies", "duplicate", "off-curve",
        "other-query-tag", "other-key-tag", "for-provider-1", "the-offer-itself", "other-kind",
    ],
)  # fmt: skip
def test_a_bad_shuffle_is_refused_by_the_provider(honest: dict[str, Any], case: str) -> None:
    bad = _bad_shuffles(honest)[case]
    expect_protocol_error(partial(_match, honest["query"], bad), *SECRETS)


def test_a_shuffle_for_another_query_is_refused(honest: dict[str, Any]) -> None:
    other = ExposureRequester(B, rng=rng_from(78)).query(ITEMS)
    expect_protocol_error(partial(_match, other, honest["shuffled"][0]))


def _bad_vectors(honest: dict[str, Any]) -> dict[str, bytes]:
    vector = honest["vectors"][0]
    body = _body(vector)
    return {
        "truncated": vector[:-1],
        "short": _reframe(vector, body[:32] + (3).to_bytes(4, "big") + body[36:-SIZE]),
        "long": _reframe(vector, body[:32] + (5).to_bytes(4, "big") + body[36:] + body[-SIZE:]),
        "payload-size": _reframe(vector, body[:36] + (SIZE + 1).to_bytes(4, "big") + body[40:]),
        "other-query-tag": _reframe(vector, bytes(16) + body[16:]),
        "provider-1-as-0": honest["vectors"][1],
        "the-shuffle": honest["shuffled"][0],
        "other-job": vector[:6]
        + provider_binding(Binding("job-Y", 0, B.protocol), 0).digest()
        + vector[38:],
    }


@pytest.mark.parametrize(
    "case",
    ["truncated", "short", "long", "payload-size", "other-query-tag", "provider-1-as-0",
     "the-shuffle", "other-job"],
)  # fmt: skip
def test_a_bad_vector_is_refused_by_the_gate(honest: dict[str, Any], case: str) -> None:
    bad = _bad_vectors(honest)[case]
    expect_protocol_error(partial(_gate, bad, 0, honest["query"]), *SECRETS)


def test_the_release_opens_only_for_its_requester(honest: dict[str, Any]) -> None:
    release = honest["release"]
    body = _body(release)
    mine = ExposureRequester(B, key=REQUESTER_KEY)
    flipped = bytearray(body)
    flipped[-1] ^= 1
    cases = {
        "tampered": _reframe(release, bytes(flipped)),
        "truncated": release[:-1],
        "no-ciphertext": _reframe(release, body[:49]),
        "other-ephemeral": _reframe(release, body[:16] + hash_to_point(b"e", DST) + body[49:]),
        "off-curve-ephemeral": _reframe(release, body[:16] + secp256k1_x_off_curve() + body[49:]),
        "other-tag": _reframe(release, bytes(16) + body[16:]),
        "other-job": release[:6] + Binding("job-Y", 0, B.protocol).digest() + release[38:],
        "the-query": honest["query"],
    }
    for bad in cases.values():
        expect_protocol_error(partial(mine.open, bad, max_bytes=1000), b"the totals")
    expect_protocol_error(partial(mine.open, release, max_bytes=len(release) - 1))
    # Another requester (another key) cannot open it, nor can the same key under another job.
    expect_protocol_error(partial(ExposureRequester(B).open, release, max_bytes=1000))
    other = ExposureRequester(Binding("job-Y", 0, B.protocol), key=REQUESTER_KEY)
    expect_protocol_error(partial(other.open, release, max_bytes=1000))
    # Sealed to another requester's query (its tag and recipient point): not for this one.
    stranger = ExposureRequester(B, rng=rng_from(99)).query(ITEMS)
    sealed = seal_release(read_query(stranger, B, max_items=10), B, b"x")
    expect_protocol_error(partial(mine.open, sealed, max_bytes=1000))
