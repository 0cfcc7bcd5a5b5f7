"""lookup (labeled PSI): provider table + OPRF query/answer, through real bytes."""

from __future__ import annotations

import hashlib
import mmap
import random
import tracemalloc
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from psi.group import ORDER, hash_to_point, mul
from psi.lookup import (
    DST,
    MAX_LABEL_BYTES,
    TABLE_HEADER_BYTES,
    TAG_BYTES,
    LookupKey,
    LookupQuery,
    TableView,
    answer,
    assemble,
    build_records,
    record_width,
)
from psi.wire import HEADER_BYTES, Binding, MessageType, pack, unpack
from tests.unit.psi.helpers import (
    expect_protocol_error,
    payload_of,
    reframe,
    rng_from,
    secp256k1_x_off_curve,
)

B = Binding("job-L", 0, "lookup")
CTX = hashlib.sha256(b"dataset v1").digest()
CTX2 = hashlib.sha256(b"dataset v2").digest()
KEY = LookupKey.generate(rng_from(100))
WIDTH = 24
G = bytes.fromhex("0279BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798")


def make_table(
    rows: Sequence[tuple[bytes, bytes]],
    *,
    key: LookupKey = KEY,
    context: bytes = CTX,
    label_width: int = WIDTH,
    chunks: int = 1,
) -> bytes:
    size = max(1, -(-len(rows) // chunks))
    parts = [
        build_records(key, rows[i : i + size], context=context, label_width=label_width)
        for i in range(0, len(rows), size)
    ]
    return assemble(parts, context=context, key_id=key.key_id, label_width=label_width)


def run_lookup(
    rows: Sequence[tuple[bytes, bytes]],
    items: Sequence[bytes],
    *,
    label_width: int = WIDTH,
    chunks: int = 1,
) -> list[bytes | None]:
    table = make_table(rows, label_width=label_width, chunks=chunks)
    query, message = LookupQuery.start(B, items)
    reply = answer(LookupKey.from_bytes(KEY.to_bytes()), B, message, max_items=len(items))
    restored = LookupQuery.restore(B, items, query.secret())
    view = TableView(table, context=CTX, key_id=KEY.key_id)
    return restored.finish(reply, view, context=CTX)


def expected(rows: Sequence[tuple[bytes, bytes]], items: Sequence[bytes]) -> list[bytes | None]:
    first: dict[bytes, bytes] = {}
    for k, v in rows:
        first.setdefault(k, v)
    return [first.get(x) for x in items]


def random_rows(seed: int, n: int) -> list[tuple[bytes, bytes]]:
    rnd = random.Random(seed)
    return [
        (f"cust-{rnd.getrandbits(40):010x}".encode(), rnd.randbytes(rnd.randrange(0, WIDTH + 1)))
        for _ in range(n)
    ]


@pytest.mark.parametrize("seed", [1, 2])
def test_random_lookup_matches_a_dict(seed: int) -> None:
    rows = random_rows(seed, 800)
    rnd = random.Random(seed + 10)
    items = [k for k, _ in rnd.sample(rows, 150)] + [rnd.randbytes(12) for _ in range(150)]
    rnd.shuffle(items)
    got = run_lookup(rows, items, chunks=3)
    assert got == expected(rows, items)
    assert sum(x is not None for x in got) == 150


ODD_IDS = [b"", b"\x00", b"\x00\x00", "数据".encode(), "👩‍👩‍👧".encode(), b"\xff" * 300, b" ", b"a"]


@pytest.mark.parametrize(
    ("rows", "items"),
    [
        pytest.param([(b"a", b"1"), (b"b", b"2")], [b"c", b"d"], id="no-overlap"),
        pytest.param([(b"a", b"1"), (b"b", b"2")], [b"b", b"a"], id="full-overlap"),
        pytest.param([(b"only", b"L")], [b"only"], id="single-hit"),
        pytest.param([(b"only", b"L")], [b"other"], id="single-miss"),
        pytest.param([(b"a", b"1")], [b"a", b"a", b"b", b"a"], id="duplicate-queries"),
        pytest.param(
            [(b"a", b"first"), (b"b", b"x"), (b"a", b"second")], [b"a", b"b"], id="duplicate-rows"
        ),
        pytest.param([(i, i[:WIDTH]) for i in ODD_IDS], [*ODD_IDS, b"\x00\x00\x00"], id="odd-ids"),
        pytest.param(
            [(b"empty", b""), (b"full", b"\xff" * WIDTH), (b"zeros", bytes(WIDTH))],
            [b"empty", b"full", b"zeros"],
            id="label-edges",
        ),
        pytest.param([], [b"a", b"b"], id="empty-table"),
    ],
)
def test_adversarial_inputs(rows: list[tuple[bytes, bytes]], items: list[bytes]) -> None:
    assert run_lookup(rows, items) == expected(rows, items)
    assert run_lookup(rows, items, chunks=2) == expected(rows, items)


def test_duplicate_rows_across_parts_keep_the_first_part() -> None:
    a = build_records(KEY, [(b"id", b"from-part-1")], context=CTX, label_width=WIDTH)
    b = build_records(KEY, [(b"id", b"from-part-2")], context=CTX, label_width=WIDTH)
    for parts, want in (([a, b], b"from-part-1"), ([b, a], b"from-part-2")):
        table = assemble(parts, context=CTX, key_id=KEY.key_id, label_width=WIDTH)
        view = TableView(table, context=CTX, key_id=KEY.key_id)
        assert len(view) == 1
        query, msg = LookupQuery.start(B, [b"id"])
        assert query.finish(answer(KEY, B, msg, max_items=1), view, context=CTX) == [want]


def test_record_layout_follows_the_documented_construction() -> None:
    item, labels = b"4111-xx", b"score=712"
    record = build_records(KEY, [(item, labels)], context=CTX, label_width=WIDTH)
    assert len(record) == record_width(WIDTH) == TAG_BYTES + 2 + WIDTH + 16
    p = mul(hash_to_point(item, DST), KEY.secret)
    prefixed = len(item).to_bytes(4, "big") + item
    tag = hashlib.sha256(b"tag" + CTX + prefixed + p).digest()[:16]
    aead_key = hashlib.sha256(b"key" + CTX + prefixed + p).digest()
    plaintext = len(labels).to_bytes(2, "big") + labels + bytes(WIDTH - len(labels))
    sealed = ChaCha20Poly1305(aead_key).encrypt(bytes(12), plaintext, CTX)
    assert record == tag + sealed


def test_table_layout_is_sorted_with_a_header() -> None:
    rows = random_rows(3, 300)
    table = make_table(rows, chunks=4)
    w = record_width(WIDTH)
    header = table[:TABLE_HEADER_BYTES]
    assert header[:4] == b"SBLT" and header[4] == 1
    assert header[5:37] == CTX and header[37:69] == bytes.fromhex(KEY.key_id)
    assert int.from_bytes(header[69:71], "big") == WIDTH
    count = int.from_bytes(header[71:79], "big")
    assert count == len({k for k, _ in rows}) and len(table) == TABLE_HEADER_BYTES + count * w
    tags = [table[TABLE_HEADER_BYTES + i * w :][:16] for i in range(count)]
    assert tags == sorted(set(tags))


def test_empty_and_oversized_inputs() -> None:
    with pytest.raises(ValueError):
        LookupQuery.start(B, [])
    with pytest.raises(ValueError):
        build_records(KEY, [(b"a", b"x" * (WIDTH + 1))], context=CTX, label_width=WIDTH)
    for width in (-1, MAX_LABEL_BYTES + 1):
        with pytest.raises(ValueError):
            record_width(width)
    assert record_width(MAX_LABEL_BYTES) == MAX_LABEL_BYTES + 34
    with pytest.raises(ValueError):
        build_records(KEY, [], context=CTX[:31], label_width=WIDTH)
    with pytest.raises(ValueError):
        assemble(
            [b"\x00" * (record_width(WIDTH) + 1)], context=CTX, key_id=KEY.key_id, label_width=WIDTH
        )
    with pytest.raises(ValueError):
        assemble([], context=CTX, key_id=KEY.key_id.upper(), label_width=WIDTH)
    with pytest.raises(TypeError):
        build_records(KEY, [("a", b"x")], context=CTX, label_width=WIDTH)  # type: ignore[list-item]
    with pytest.raises(TypeError):
        LookupQuery.start(B, ["a"])  # type: ignore[list-item]
    assert build_records(KEY, [], context=CTX, label_width=WIDTH) == b""


def test_key_generation_encoding_and_id() -> None:
    assert LookupKey.generate(rng_from(5)) == LookupKey.generate(rng_from(5))
    assert LookupKey.generate(rng_from(5)) != LookupKey.generate(rng_from(6))
    assert LookupKey.from_bytes(KEY.to_bytes()) == KEY
    assert len(KEY.to_bytes()) == 32
    # key_id = SHA-256 of the compressed public point; for secret 1 that point is G.
    assert LookupKey(1).key_id == hashlib.sha256(G).hexdigest()
    assert str(KEY.secret) not in repr(KEY) and hex(KEY.secret)[2:12] not in repr(KEY)
    for bad in (0, ORDER, -3):
        with pytest.raises(ValueError):
            LookupKey(bad)
    for raw in (bytes(32), ORDER.to_bytes(32, "big"), b"\x01" * 31, b"\x01" * 33):
        expect_protocol_error(partial(LookupKey.from_bytes, raw), raw)


def test_build_records_is_deterministic_and_key_dependent() -> None:
    rows = random_rows(4, 50)
    a = build_records(KEY, rows, context=CTX, label_width=WIDTH)
    assert a == build_records(KEY, rows, context=CTX, label_width=WIDTH)
    assert a != build_records(LookupKey.generate(rng_from(7)), rows, context=CTX, label_width=WIDTH)
    assert a != build_records(KEY, rows, context=CTX2, label_width=WIDTH)


def test_start_is_deterministic_under_an_injected_rng_and_restore_resumes() -> None:
    items = [b"a", b"b", b"c"]
    q1, m1 = LookupQuery.start(B, items, rng=rng_from(9))
    q2, m2 = LookupQuery.start(B, items, rng=rng_from(9))
    _, m3 = LookupQuery.start(B, items, rng=rng_from(10))
    assert m1 == m2 != m3
    assert q1.secret() == q2.secret()
    assert len(payload_of(m1)) == 16 + 4 + 3 * 33
    assert int.from_bytes(payload_of(m1)[16:20], "big") == 3
    # Blinded points are r * H(x): unlinkable to H(x) without r, the same x gives the same point.
    r = int.from_bytes(q1.secret(), "big")
    assert payload_of(m1)[20:53] == mul(hash_to_point(b"a", DST), r)
    assert payload_of(m1)[20:53] != hash_to_point(b"a", DST)
    table = TableView(make_table([(b"b", b"B!")]), context=CTX, key_id=KEY.key_id)
    reply = answer(KEY, B, m1, max_items=3)
    resumed = LookupQuery.restore(B, items, q1.secret())
    assert resumed.finish(reply, table, context=CTX) == [None, b"B!", None]
    assert "secret" not in repr(resumed) and q1.secret().hex() not in repr(resumed)
    for raw in (bytes(32), b"\xff" * 32, b"\x01" * 5):
        expect_protocol_error(partial(LookupQuery.restore, B, items, raw), raw)


def test_table_view_on_mmap_and_memoryview(tmp_path: Path) -> None:
    rows = random_rows(5, 400)
    table = make_table(rows)
    path = tmp_path / "table.bin"
    path.write_bytes(table)
    items = [rows[7][0], rows[399][0], b"missing"]
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        view = TableView(mm, context=CTX, key_id=KEY.key_id)
        assert len(view) == 400
        query, msg = LookupQuery.start(B, items)
        got = query.finish(answer(KEY, B, msg, max_items=3), view, context=CTX)
        assert got == expected(rows, items)
        mm.close()  # the view holds no buffer export, so the mmap can close under it
    for mv in (memoryview(table), memoryview(table).cast("c")):
        mv_view = TableView(mv, context=CTX, key_id=KEY.key_id)
        query, msg = LookupQuery.start(B, items)
        assert query.finish(answer(KEY, B, msg, max_items=3), mv_view, context=CTX) == got


def test_table_view_does_not_copy_a_large_mmap(tmp_path: Path) -> None:
    w = record_width(WIDTH)
    count = 400_000  # 26 MB of records with increasing tags (valid layout, dummy contents)
    path = tmp_path / "big.bin"
    header = b"SBLT\x01" + CTX + bytes.fromhex(KEY.key_id) + WIDTH.to_bytes(2, "big")
    with path.open("wb") as fh:
        fh.write(header + count.to_bytes(8, "big"))
        filler = bytes(w - 16)
        step = 10_000
        for start in range(0, count, step):
            fh.write(b"".join(i.to_bytes(16, "big") + filler for i in range(start, start + step)))
    with path.open("rb") as rfh, mmap.mmap(rfh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        tracemalloc.start()
        try:
            view = TableView(mm, context=CTX, key_id=KEY.key_id)
            hits = [view.find(i.to_bytes(16, "big")) for i in (0, 1, 12345, count - 1)]
            miss = view.find(count.to_bytes(16, "big"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert len(view) == count
        assert hits == [bytes(w - 16)] * 4 and miss is None
        assert peak < 1_000_000
        del view


def test_find_returns_none_between_and_beyond_tags() -> None:
    table = make_table(random_rows(6, 50))
    view = TableView(table, context=CTX, key_id=KEY.key_id)
    assert view.find(bytes(16)) is None and view.find(b"\xff" * 16) is None
    w = record_width(WIDTH)
    first = table[TABLE_HEADER_BYTES : TABLE_HEADER_BYTES + 16]
    assert view.find(first) == table[TABLE_HEADER_BYTES + 16 : TABLE_HEADER_BYTES + w]
    with pytest.raises(ValueError):
        view.find(b"short")


# ---------------------------------------------------------------------------------------------
# Hostile inputs.

ROWS = [(b"alice", b"score=700"), (b"bob", b"score=420"), (b"carol", b"score=810")]
ITEMS = [b"bob", b"mallory"]


def _setup() -> tuple[LookupQuery, bytes, bytes, bytes]:
    table = make_table(ROWS)
    query, message = LookupQuery.start(B, ITEMS, rng=rng_from(3))
    reply = answer(KEY, B, message, max_items=10)
    return query, message, reply, table


def _finish(query: LookupQuery, reply: bytes, table: bytes) -> list[bytes | None]:
    return query.finish(reply, TableView(table, context=CTX, key_id=KEY.key_id), context=CTX)


def test_honest_round() -> None:
    query, _, reply, table = _setup()
    assert _finish(query, reply, table) == [b"score=420", None]


def _points(message: bytes) -> list[bytes]:
    body = payload_of(message)
    count = int.from_bytes(body[16:20], "big")
    return [body[20 + 33 * i : 53 + 33 * i] for i in range(count)]


def _with_points(message: bytes, points: list[bytes], count: int | None = None) -> bytes:
    body = payload_of(message)
    n = len(points) if count is None else count
    return reframe(message, body[:16] + n.to_bytes(4, "big") + b"".join(points))


BAD_POINTS: dict[str, Callable[[bytes], bytes]] = {
    "x-without-y": lambda p: secp256k1_x_off_curve(),
    "x-not-below-p": lambda p: b"\x02" + b"\xff" * 32,
    "prefix-04": lambda p: b"\x04" + p[1:],
    "prefix-00": lambda p: b"\x00" + p[1:],
    "zeros": lambda p: bytes(33),
}


@pytest.mark.parametrize("name", list(BAD_POINTS))
def test_answer_refuses_bad_points(name: str) -> None:
    _, message, _, _ = _setup()
    points = _points(message)
    points[1] = BAD_POINTS[name](points[1])
    bad = _with_points(message, points)
    expect_protocol_error(lambda: answer(KEY, B, bad, max_items=10), *ITEMS)


@pytest.mark.parametrize("name", list(BAD_POINTS))
def test_finish_refuses_bad_points(name: str) -> None:
    query, _, reply, table = _setup()
    points = _points(reply)
    points[0] = BAD_POINTS[name](points[0])
    bad = _with_points(reply, points)
    expect_protocol_error(lambda: _finish(query, bad, table), *ITEMS)


def test_answer_refuses_bad_counts_and_lengths() -> None:
    _, message, _, _ = _setup()
    points = _points(message)
    body = payload_of(message)
    cases: dict[str, tuple[bytes, int]] = {
        "over-max-items": (message, 1),
        "count-zero": (_with_points(message, [], 0), 10),
        "count-says-more": (_with_points(message, points, 3), 10),
        "count-says-fewer": (_with_points(message, points, 1), 10),
        "count-huge": (_with_points(message, points, 2**32 - 1), 10),
        "trailing-byte": (reframe(message, body + b"\x00"), 10),
        "truncated-point": (reframe(message, body[:-1]), 10),
        "no-count": (reframe(message, body[:18]), 10),
        "empty-payload": (reframe(message, b""), 10),
        "truncated-frame": (message[:-1], 10),
        "extra-frame-byte": (message + b"\x00", 10),
        "wrong-type": (pack(MessageType.LOOKUP_ANSWER, B, body), 10),
    }
    for name, (bad, limit) in cases.items():
        expect_protocol_error(partial(answer, KEY, B, bad, max_items=limit), *ITEMS)
        assert name
    not_bytes = bytearray(message)
    expect_protocol_error(partial(answer, KEY, B, not_bytes, max_items=10))  # type: ignore[arg-type]
    assert answer(KEY, B, message, max_items=2)
    with pytest.raises(ValueError):
        answer(KEY, B, message, max_items=0)


def test_answer_frames_are_size_limited_before_parsing() -> None:
    _, message, _, _ = _setup()
    points = _points(message) * 3
    oversized = _with_points(message, points)  # 6 points against max_items=5
    expect_protocol_error(lambda: answer(KEY, B, oversized, max_items=5))
    assert answer(KEY, B, oversized, max_items=6)


def test_finish_refuses_bad_answers() -> None:
    query, _, reply, table = _setup()
    points = _points(reply)
    body = payload_of(reply)
    other_query, other_message = LookupQuery.start(B, ITEMS, rng=rng_from(4))
    other_reply = answer(KEY, B, other_message, max_items=10)
    bad_replies = {
        "fewer": _with_points(reply, points[:1]),
        "more": _with_points(reply, [*points, points[0]]),
        "count-mismatch": _with_points(reply, points, 1),
        "trailing": reframe(reply, body + b"\x00"),
        "truncated": reply[:-1],
        "other-query": other_reply,
        "query-id-bit": reframe(reply, bytes([body[0] ^ 1]) + body[1:]),
        "wrong-type": pack(MessageType.LOOKUP_QUERY, B, body),
        "oversized": _with_points(reply, points * 50),
    }
    for name, bad in bad_replies.items():
        expect_protocol_error(partial(_finish, query, bad, table), *ITEMS)
        assert name
    assert _finish(other_query, other_reply, table) == [b"score=420", None]


@pytest.mark.parametrize(
    "other",
    [Binding("job-M", 0, "lookup"), Binding("job-L", 1, "lookup"), Binding("job-L", 0, "psi.x")],
    ids=["other-job", "other-shard", "other-protocol"],
)
def test_replays_fail_on_the_binding(other: Binding) -> None:
    query, message, reply, table = _setup()
    expect_protocol_error(lambda: answer(KEY, other, message, max_items=10), *ITEMS)
    foreign_query, foreign_message = LookupQuery.start(other, ITEMS, rng=rng_from(3))
    foreign_reply = answer(KEY, other, foreign_message, max_items=10)
    expect_protocol_error(lambda: _finish(query, foreign_reply, table), *ITEMS)
    expect_protocol_error(lambda: _finish(foreign_query, reply, table), *ITEMS)
    assert _finish(foreign_query, foreign_reply, table) == [b"score=420", None]


def test_table_for_another_context_or_key_is_refused() -> None:
    other_version = make_table(ROWS, context=CTX2)
    expect_protocol_error(lambda: TableView(other_version, context=CTX, key_id=KEY.key_id))
    assert len(TableView(other_version, context=CTX2, key_id=KEY.key_id)) == 3
    other_key = LookupKey.generate(rng_from(55))
    foreign = make_table(ROWS, key=other_key)
    expect_protocol_error(lambda: TableView(foreign, context=CTX, key_id=KEY.key_id))
    # A table for another version, opened as such, does not serve this version's context.
    query, _, reply, _ = _setup()
    view2 = TableView(other_version, context=CTX2, key_id=KEY.key_id)
    with pytest.raises(ValueError):
        query.finish(reply, view2, context=CTX)
    # And answering with another key than the table's makes every item look absent.
    _, message, _, table = _setup()
    wrong = answer(other_key, B, message, max_items=10)
    fresh = LookupQuery.restore(B, ITEMS, LookupQuery.start(B, ITEMS, rng=rng_from(3))[0].secret())
    assert _finish(fresh, wrong, table) == [None, None]


def test_malformed_tables_are_refused() -> None:
    table = make_table(ROWS)
    w = record_width(WIDTH)
    bad_tables = {
        "magic": b"XBLT" + table[4:],
        "version": table[:4] + b"\x02" + table[5:],
        "truncated": table[:-1],
        "extra": table + b"\x00",
        "missing-record": table[:-w],
        "count-high": table[:71] + (4).to_bytes(8, "big") + table[79:],
        "count-huge": table[:71] + (2**64 - 1).to_bytes(8, "big") + table[79:],
        "width": table[:69] + (WIDTH + 1).to_bytes(2, "big") + table[71:],
        "width-over-max": table[:69] + (MAX_LABEL_BYTES + 1).to_bytes(2, "big") + table[71:],
        "header-only-short": table[: TABLE_HEADER_BYTES - 1],
        "empty": b"",
    }
    for name, bad in bad_tables.items():
        expect_protocol_error(partial(TableView, bad, context=CTX, key_id=KEY.key_id))
        assert name
    for wrong_type in (bytearray(table), table.hex(), None):
        expect_protocol_error(
            partial(TableView, wrong_type, context=CTX, key_id=KEY.key_id)  # type: ignore[arg-type]
        )


def test_tampered_record_fails_to_decrypt() -> None:
    query, _, reply, table = _setup()
    view = TableView(table, context=CTX, key_id=KEY.key_id)
    p = mul(hash_to_point(b"bob", DST), KEY.secret)
    prefixed = (3).to_bytes(4, "big") + b"bob"
    tag = hashlib.sha256(b"tag" + CTX + prefixed + p).digest()[:16]
    assert view.find(tag) is not None
    w = record_width(WIDTH)
    index = next(i for i in range(len(view)) if table[TABLE_HEADER_BYTES + i * w :][:16] == tag)
    for offset in (16, 20, w - 1):  # the length field, the labels, the Poly1305 tag
        tampered = bytearray(table)
        tampered[TABLE_HEADER_BYTES + index * w + offset] ^= 0x01
        expect_protocol_error(partial(_finish, query, reply, bytes(tampered)), *ITEMS)
    # A record moved under another tag (another id's slot) does not open either.
    swapped = bytearray(table)
    other = (index + 1) % len(view)
    a = TABLE_HEADER_BYTES + index * w + 16
    b = TABLE_HEADER_BYTES + other * w + 16
    swapped[a : a + w - 16], swapped[b : b + w - 16] = table[b : b + w - 16], table[a : a + w - 16]
    expect_protocol_error(lambda: _finish(query, reply, bytes(swapped)), *ITEMS)


def test_frame_header_sizes() -> None:
    _, message, reply, _ = _setup()
    assert len(message) == len(reply) == HEADER_BYTES + 16 + 4 + 2 * 33
    assert (
        unpack(reply, MessageType.LOOKUP_ANSWER, B)[:16]
        == unpack(message, MessageType.LOOKUP_QUERY, B)[:16]
    )


def _crafted_record(item: bytes, plaintext: bytes) -> bytes:
    """A record that authenticates (built with the real key) around an arbitrary plaintext."""
    p = mul(hash_to_point(item, DST), KEY.secret)
    prefixed = len(item).to_bytes(4, "big") + item
    tag = hashlib.sha256(b"tag" + CTX + prefixed + p).digest()[:16]
    aead_key = hashlib.sha256(b"key" + CTX + prefixed + p).digest()
    return tag + ChaCha20Poly1305(aead_key).encrypt(bytes(12), plaintext, CTX)


@pytest.mark.parametrize(
    "plaintext",
    [
        (WIDTH + 1).to_bytes(2, "big") + bytes(WIDTH),  # length beyond the label width
        (3).to_bytes(2, "big") + b"abc" + b"\x01" + bytes(WIDTH - 4),  # non-zero padding
    ],
    ids=["length-too-long", "dirty-padding"],
)
def test_authentic_but_malformed_plaintexts_are_refused(plaintext: bytes) -> None:
    good = build_records(KEY, [(b"alice", b"ok")], context=CTX, label_width=WIDTH)
    table = assemble(
        [good, _crafted_record(b"bob", plaintext)],
        context=CTX,
        key_id=KEY.key_id,
        label_width=WIDTH,
    )
    query, message = LookupQuery.start(B, [b"alice"])
    view = TableView(table, context=CTX, key_id=KEY.key_id)
    assert query.finish(answer(KEY, B, message, max_items=1), view, context=CTX) == [b"ok"]
    query, message = LookupQuery.start(B, [b"alice", b"bob"])
    reply = answer(KEY, B, message, max_items=2)
    expect_protocol_error(partial(query.finish, reply, view, context=CTX), b"alice", b"bob")
