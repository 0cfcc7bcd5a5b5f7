"""The Merkle tree against a literal transcription of RFC 6962 §2.1, and its verifiers against
every small mutation of genuine proofs. Seeded randomness: hypothesis is not installed."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence

import pytest

from sandbox.ledger import merkle
from sandbox.ledger.merkle import (
    HASH_SIZE,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)

SMALL = range(1, 34)  # every index and every pair of sizes, across several powers of two
RNG_SEED = 6962


def _leaves(n: int, seed: int = 0) -> list[bytes]:
    return [leaf_hash(f"entry {seed}/{i}".encode()) for i in range(n)]


# RFC 6962 §2.1, written as the RFC writes it (slices, recursion), for comparison only.
def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _k(len(d))
    return node_hash(_mth(d[:k]), _mth(d[k:]))


def _path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*_path(m, d[:k]), _mth(d[k:])]
    return [*_path(m - k, d[k:]), _mth(d[:k])]


def _subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*_subproof(m, d[:k], b), _mth(d[k:])]
    return [*_subproof(m - k, d[k:], False), _mth(d[:k])]


def test_matches_the_rfc_on_every_small_tree() -> None:
    leaves = _leaves(max(SMALL))
    for n in [0, *SMALL]:
        assert root(leaves[:n]) == _mth(leaves[:n])
        for m in range(n):
            assert inclusion_proof(leaves, m, n) == _path(m, leaves[:n])
        for m in range(1, n):
            assert consistency_proof(leaves, m, n) == _subproof(m, leaves[:n], True)


def test_matches_the_rfc_on_random_trees_up_to_300() -> None:
    rng = random.Random(RNG_SEED)
    for _ in range(25):
        n = rng.randint(34, 300)
        leaves = _leaves(n, seed=n)
        assert root(leaves) == _mth(leaves)
        m = rng.randrange(n)
        assert inclusion_proof(leaves, m, n) == _path(m, leaves)
        first, second = sorted(rng.sample(range(1, n + 1), 2))
        assert consistency_proof(leaves, first, second) == _subproof(first, leaves[:second], True)


def test_every_generated_proof_verifies() -> None:
    leaves = _leaves(max(SMALL))
    roots = [root(leaves[:n]) for n in range(len(leaves) + 1)]
    for n in SMALL:
        for m in range(n):
            verify_inclusion(leaves[m], m, n, inclusion_proof(leaves, m, n), roots[n])
        for m in range(n + 1):
            verify_consistency(m, n, roots[m], roots[n], consistency_proof(leaves, m, n))


def test_random_proofs_up_to_300_leaves_verify() -> None:
    rng = random.Random(RNG_SEED + 1)
    leaves = _leaves(300, seed=1)
    for _ in range(300):
        n = rng.randint(1, 300)
        m = rng.randrange(n)
        verify_inclusion(leaves[m], m, n, inclusion_proof(leaves, m, n), root(leaves[:n]))
        first = rng.randint(0, n)
        proof = consistency_proof(leaves, first, n)
        verify_consistency(first, n, root(leaves[:first]), root(leaves[:n]), proof)


def _flip(value: bytes, at: int, bit: int = 1) -> bytes:
    return value[:at] + bytes([value[at] ^ bit]) + value[at + 1 :]


def _mutations(proof: list[bytes], rng: random.Random) -> list[list[bytes]]:
    """Every byte of every element flipped, each element dropped, an element added anywhere."""
    out = [
        [*proof[:i], _flip(p, at, 1 << rng.randrange(8)), *proof[i + 1 :]]
        for i, p in enumerate(proof)
        for at in range(HASH_SIZE)
    ]
    out += [proof[:i] + proof[i + 1 :] for i in range(len(proof))]
    extra = leaf_hash(b"not in the tree")
    out += [[*proof[:i], extra, *proof[i:]] for i in range(len(proof) + 1)]
    return out


def _rejects(verify: Callable[..., None], *args: object) -> None:
    with pytest.raises(ProofError):
        verify(*args)


CASES = [(1, 0), (2, 1), (5, 4), (8, 3), (13, 0), (13, 12), (33, 16), (300, 171)]


@pytest.mark.parametrize(("n", "m"), CASES)
def test_inclusion_rejects_every_mutation(n: int, m: int) -> None:
    rng = random.Random(n * 1000 + m)
    leaves = _leaves(n)
    proof, r, leaf = inclusion_proof(leaves, m, n), root(leaves), leaves[m]
    for bad in _mutations(proof, rng):
        _rejects(verify_inclusion, leaf, m, n, bad, r)
    _rejects(verify_inclusion, _flip(leaf, 0), m, n, proof, r)
    _rejects(verify_inclusion, leaf, m, n, proof, _flip(r, HASH_SIZE - 1))
    for index in [*range(-1, m), *range(m + 1, n + 2)]:
        _rejects(verify_inclusion, leaf, index, n, proof, r)
    # The size is bound to a proof only through the root (a checkpoint signs both): a size whose
    # proof has the same shape recomputes the same hashes, so only other shapes must fail here.
    big = _leaves(2 * n + 2)
    for size in range(2 * n + 2):
        if m >= size or len(inclusion_proof(big, m, size)) != len(proof):
            _rejects(verify_inclusion, leaf, m, size, proof, r)


@pytest.mark.parametrize(("second", "first"), [(n, m) for n, m in CASES if m > 0])
def test_consistency_rejects_every_mutation(second: int, first: int) -> None:
    rng = random.Random(second * 1000 + first)
    leaves = _leaves(second)
    proof = consistency_proof(leaves, first, second)
    r1, r2 = root(leaves[:first]), root(leaves)
    for bad in _mutations(proof, rng):
        _rejects(verify_consistency, first, second, r1, r2, bad)
    _rejects(verify_consistency, first, second, r2, r1, proof)
    _rejects(verify_consistency, first, second, _flip(r1, 5), r2, proof)
    _rejects(verify_consistency, first, second, r1, _flip(r2, 5), proof)
    for f in [*range(first), *range(first + 1, second + 2)]:
        _rejects(verify_consistency, f, second, r1, r2, proof)
    big = _leaves(2 * second + 2)
    for size in range(2 * second + 2):  # as for inclusion: only other shapes must fail
        if size < first or len(consistency_proof(big, first, size)) != len(proof):
            _rejects(verify_consistency, first, size, r1, r2, proof)


@pytest.mark.parametrize("length", [0, 1, HASH_SIZE - 1, HASH_SIZE + 1, 2 * HASH_SIZE])
def test_wrong_length_hashes_are_rejected(length: int) -> None:
    leaves = _leaves(8)
    r, proof, wrong = root(leaves), inclusion_proof(leaves, 3, 8), b"\x07" * length
    _rejects(verify_inclusion, wrong, 3, 8, proof, r)
    _rejects(verify_inclusion, leaves[3], 3, 8, proof, wrong)
    _rejects(verify_inclusion, leaves[3], 3, 8, [wrong, *proof[1:]], r)
    cproof, r5 = consistency_proof(leaves, 5, 8), root(leaves[:5])
    _rejects(verify_consistency, 5, 8, wrong, r, cproof)
    _rejects(verify_consistency, 5, 8, r5, wrong, cproof)
    _rejects(verify_consistency, 5, 8, r5, r, [*cproof[:-1], wrong])
    _rejects(verify_consistency, 3, 3, wrong, wrong, [])


def test_edge_sizes() -> None:
    leaves, empty = _leaves(4), root([])
    _rejects(verify_inclusion, leaves[0], 0, 0, [], empty)  # size 0 holds no leaf
    _rejects(verify_consistency, 4, 3, root(leaves), root(leaves[:3]), [])
    _rejects(verify_consistency, 1, 0, leaves[0], empty, [])
    verify_consistency(0, 0, empty, empty, [])
    verify_consistency(0, 4, empty, root(leaves), [])
    _rejects(verify_consistency, 0, 4, leaves[0], root(leaves), [])  # not the empty root
    _rejects(verify_consistency, 0, 4, empty, root(leaves), [leaves[0]])
    _rejects(verify_consistency, 4, 4, root(leaves), root(leaves), [leaves[0]])
    _rejects(verify_consistency, 4, 4, root(leaves), root(leaves[:3]), [])
    assert consistency_proof(leaves, 0, 4) == consistency_proof(leaves, 4, 4) == []


def test_generation_refuses_out_of_range_arguments() -> None:
    leaves = _leaves(4)
    for index, size in [(4, 4), (-1, 4), (0, 0), (0, 5)]:
        with pytest.raises(ValueError):
            inclusion_proof(leaves, index, size)
    for first, second in [(3, 2), (-1, 2), (1, 5)]:
        with pytest.raises(ValueError):
            consistency_proof(leaves, first, second)


def test_proofs_for_100k_leaves_take_linear_work(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 100_000
    rng = random.Random(RNG_SEED + 2)
    leaves = [rng.randbytes(HASH_SIZE) for _ in range(n)]
    calls = 0
    real = merkle.node_hash

    def counting(left: bytes, right: bytes) -> bytes:
        nonlocal calls
        calls += 1
        return real(left, right)

    monkeypatch.setattr(merkle, "node_hash", counting)
    r = root(leaves)
    assert calls == n - 1
    for index in (0, 54_321, n - 1):
        calls = 0
        proof = inclusion_proof(leaves, index, n)
        assert calls < n
        verify_inclusion(leaves[index], index, n, proof, r)
    for first in (1, 65_536, 77_777, n - 1):
        calls = 0
        proof = consistency_proof(leaves, first, n)
        assert calls < n
        verify_consistency(first, n, root(leaves[:first]), r, proof)


def test_messages_say_what_is_wrong_in_general_terms() -> None:
    leaves = _leaves(8)
    r, r5, proof = root(leaves), root(leaves[:5]), inclusion_proof(leaves, 3, 8)
    cproof, extra = consistency_proof(leaves, 5, 8), leaf_hash(b"extra")
    cases: list[tuple[str, Callable[..., None], tuple[object, ...]]] = [
        ("32-byte", verify_inclusion, (leaves[3], 3, 8, [*proof, b"short"], r)),
        ("32-byte", verify_consistency, (5, 8, r5, r, [b"", *cproof])),
        ("index", verify_inclusion, (leaves[3], 8, 8, proof, r)),
        ("empty tree", verify_inclusion, (leaves[3], 0, 0, proof, r)),
        ("more elements", verify_inclusion, (leaves[3], 3, 8, [*proof, extra], r)),
        ("fewer elements", verify_inclusion, (leaves[3], 3, 8, proof[:-1], r)),
        ("root", verify_inclusion, (leaves[4], 3, 8, proof, r)),
        ("larger", verify_consistency, (8, 5, r, r5, cproof)),
        ("more elements", verify_consistency, (5, 8, r5, r, [*cproof, extra])),
        ("fewer elements", verify_consistency, (5, 8, r5, r, cproof[:-1])),
        ("both roots", verify_consistency, (5, 8, r5, r5, cproof)),
        ("empty", verify_consistency, (5, 8, r5, r, [])),
    ]
    for words, verify, args in cases:
        with pytest.raises(ProofError, match=words):
            verify(*args)
