"""The ledger's Merkle tree: RFC 6962 §2.1 (= RFC 9162 §2.1) over SHA-256.

- leaf hash ``H(0x00 || entry)``, node hash ``H(0x01 || left || right)``, empty tree ``H("")``
  (RFC 9162 §2.1.1);
- inclusion proofs: ``PATH(m, D[n])`` (RFC 6962 §2.1.1, RFC 9162 §2.1.3.1) and their
  verification (RFC 9162 §2.1.3.2);
- consistency proofs: ``PROOF(m, D[n])`` / ``SUBPROOF`` (RFC 6962 §2.1.2, RFC 9162 §2.1.4.1)
  and their verification (RFC 9162 §2.1.4.2).

Proof functions take the list of LEAF hashes. A proof walks down from the root and hashes only
the subtree it does not follow at each level (n/2 + n/4 + ... leaves), so it costs O(n) hashes.

A proof binds a tree size only through the root it leads to: the sizes whose proofs have the
same shape recompute the same hashes. Checkpoints therefore sign the size and root together.

The RFC defines consistency only for ``0 < first < second``. Here ``first == second`` needs an
empty proof and equal roots, and ``first == 0`` needs an empty proof and the empty-tree root as
``first_root``: every log extends the empty one, so nothing else can be checked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sandbox.errors import SandboxError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(SandboxError):
    """A Merkle proof or its inputs do not verify."""

    code = "ledger.proof_invalid"


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n > 1``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) for ``hi > lo``, in O(hi - lo) hashes."""
    if hi - lo == 1:
        return leaves[lo]
    k = _split(hi - lo)
    return node_hash(_subtree(leaves, lo, lo + k), _subtree(leaves, lo + k, hi))


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of ``leaves`` (leaf hashes); the empty tree's root is SHA-256 of b""."""
    return _subtree(leaves, 0, len(leaves)) if leaves else EMPTY_ROOT


def _check_size(leaves: Sequence[bytes], tree_size: int) -> None:
    if not 0 <= tree_size <= len(leaves):
        raise ValueError(f"tree size {tree_size} is not within the {len(leaves)} leaves given")


def inclusion_proof(leaves: Sequence[bytes], index: int, tree_size: int) -> list[bytes]:
    """PATH(index, D[tree_size]), leaf to root, over the first ``tree_size`` leaves."""
    _check_size(leaves, tree_size)
    if not 0 <= index < tree_size:
        raise ValueError(f"leaf index {index} is not within a tree of size {tree_size}")
    path: list[bytes] = []
    lo, hi = 0, tree_size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(_subtree(leaves, lo + k, hi))
            hi = lo + k
        else:
            path.append(_subtree(leaves, lo, lo + k))
            lo += k
    path.reverse()
    return path


def consistency_proof(leaves: Sequence[bytes], first: int, second: int) -> list[bytes]:
    """PROOF(first, D[second]); empty when ``first == second`` or ``first == 0``."""
    _check_size(leaves, second)
    if not 0 <= first <= second:
        raise ValueError(f"first size {first} is not within 0..{second}")
    if first in (0, second):
        return []
    # SUBPROOF(m, D[lo:hi], b), unrolled: each step descends into one half and records the
    # hash of the other, so the total work is O(second). ``whole`` is the RFC's flag b: it
    # stays true while the walk has only gone left, so that D[lo:hi] reaching size m is the
    # first tree itself, whose root the verifier already holds.
    path: list[bytes] = []
    m, lo, hi, whole = first, 0, second, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            path.append(_subtree(leaves, lo + k, hi))
            hi = lo + k
        else:
            path.append(_subtree(leaves, lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        path.append(_subtree(leaves, lo, hi))
    path.reverse()
    return path


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is not a {HASH_SIZE}-byte hash")


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2: raise ProofError unless ``leaf`` (a leaf hash) is at ``index``."""
    _check_hash(leaf, "the leaf")
    _check_hash(root, "the root")
    for element in proof:
        _check_hash(element, "a proof element")
    if tree_size <= 0:
        raise ProofError("an empty tree includes no leaf")
    if not 0 <= index < tree_size:
        raise ProofError("the leaf index is not within the tree size")
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof has more elements than the tree needs")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof has fewer elements than the tree needs")
    if r != root:
        raise ProofError("the inclusion proof does not lead to the root")


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2: raise ProofError unless tree ``second`` extends tree ``first``."""
    _check_hash(first_root, "the first root")
    _check_hash(second_root, "the second root")
    for element in proof:
        _check_hash(element, "a proof element")
    if first < 0 or second < 0:
        raise ProofError("a tree size is negative")
    if first > second:
        raise ProofError("the first tree is larger than the second")
    if first == second or first == 0:
        if proof:
            raise ProofError("the consistency proof should be empty for these sizes")
        if first == second and first_root != second_root:
            raise ProofError("trees of the same size have different roots")
        if first == 0 and first_root != EMPTY_ROOT:
            raise ProofError("the first root is not the empty tree's root")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof has more elements than the trees need")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof has fewer elements than the trees need")
    if fr != first_root or sr != second_root:
        raise ProofError("the consistency proof does not lead to both roots")
