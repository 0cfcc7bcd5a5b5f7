"""Known answers for the ledger's Merkle tree (RFC 6962 / RFC 9162 §2.1), from rfc6962.json.

Each group in the JSON names its source. Trillian's legacy proofs count leaves from 1; the
transparency-dev probes count from 0. Probes with ``wantErr`` are mutated or invalid inputs
that a verifier must reject.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

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

VECTORS: dict[str, Any] = json.loads(Path(__file__).with_name("rfc6962.json").read_text())
TREE8 = VECTORS["tree8"]
LEAVES = [leaf_hash(bytes.fromhex(data)) for data in TREE8["leaf_inputs_hex"]]
ROOTS = {int(size): bytes.fromhex(h) for size, h in TREE8["root_hashes_by_size"].items()}
LEGACY = VECTORS["trillian_legacy_proofs"]
PROBES = VECTORS["transparency_dev_probes"]
REKOR = VECTORS["rekor_entry"]


def _hexes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(v) for v in values]


def test_every_group_names_its_source() -> None:
    groups = {k: v for k, v in VECTORS.items() if isinstance(v, dict)}
    assert set(groups) == {
        "hash_vectors",
        "tree8",
        "trillian_legacy_proofs",
        "transparency_dev_probes",
        "rekor_entry",
    }
    assert all(group["source"].startswith("github.com/") for group in groups.values())


def test_hash_vectors() -> None:
    vectors = VECTORS["hash_vectors"]
    assert root([]).hex() == vectors["empty_root"]
    assert leaf_hash(b"").hex() == vectors["leaf_hash_of_empty"]
    leaf = vectors["leaf_hash"]
    assert leaf_hash(leaf["input_ascii"].encode("ascii")).hex() == leaf["want"]
    node = vectors["node_hash"]
    left, right = node["left_ascii"].encode("ascii"), node["right_ascii"].encode("ascii")
    assert node_hash(left, right).hex() == node["want"]


@pytest.mark.parametrize("size", range(9))
def test_tree8_root_for_every_size(size: int) -> None:
    assert root(LEAVES[:size]) == ROOTS[size]


def test_tree8_node_hashes() -> None:
    for level in range(4):
        width = 1 << level
        published = TREE8["node_hashes"][f"level{level}"]
        computed = [root(LEAVES[i : i + width]).hex() for i in range(0, 8, width)]
        assert computed == published


@pytest.mark.parametrize(
    "case", LEGACY["inclusion"], ids=lambda c: f"{c['leaf']}-of-{c['snapshot']}"
)
def test_legacy_inclusion_proofs(case: dict[str, Any]) -> None:
    index, size = case["leaf"] - 1, case["snapshot"]  # "leaf" is 1-based
    if index < 0:  # the {0, 0, nil} invalid-input probe
        with pytest.raises(ValueError):
            inclusion_proof(LEAVES, index, size)
        with pytest.raises(ProofError):
            verify_inclusion(LEAVES[0], index, size, [], ROOTS[size])
        return
    proof = inclusion_proof(LEAVES, index, size)
    assert [p.hex() for p in proof] == case["proof"]
    verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size])


@pytest.mark.parametrize(
    "case", LEGACY["consistency"], ids=lambda c: f"{c['snapshot1']}-to-{c['snapshot2']}"
)
def test_legacy_consistency_proofs(case: dict[str, Any]) -> None:
    first, second = case["snapshot1"], case["snapshot2"]
    proof = consistency_proof(LEAVES, first, second)
    assert [p.hex() for p in proof] == case["proof"]
    verify_consistency(first, second, ROOTS[first], ROOTS[second], proof)


def _run_probe(kind: str, probe: dict[str, Any]) -> None:
    proof = _hexes(probe["proof"])
    if kind == "inclusion":
        leaf, probe_root = bytes.fromhex(probe["leafHash"]), bytes.fromhex(probe["root"])
        verify_inclusion(leaf, probe["leafIdx"], probe["treeSize"], proof, probe_root)
    else:
        root1, root2 = bytes.fromhex(probe["root1"]), bytes.fromhex(probe["root2"])
        verify_consistency(probe["size1"], probe["size2"], root1, root2, proof)


def _hash_fields(probe: dict[str, Any]) -> list[str]:
    names = ("leafHash", "root", "root1", "root2")
    return [probe[n] for n in names if n in probe] + list(probe["proof"])


def _well_sized(probe: dict[str, Any]) -> bool:
    return all(len(h) == 2 * HASH_SIZE for h in _hash_fields(probe))


ALL_PROBES = [("inclusion", p) for p in PROBES["inclusion"]] + [
    ("consistency", p) for p in PROBES["consistency"]
]


@pytest.mark.parametrize(("kind", "probe"), ALL_PROBES, ids=[p["file"] for _, p in ALL_PROBES])
def test_transparency_dev_probe(kind: str, probe: dict[str, Any]) -> None:
    # Stricter than the Go verifier on one point: every hash must be exactly 32 bytes, so a
    # happy-path probe that compares two 12-byte "roots" is rejected here too.
    if probe["wantErr"] or not _well_sized(probe):
        with pytest.raises(ProofError):
            _run_probe(kind, probe)
    else:
        _run_probe(kind, probe)


def test_only_one_happy_probe_is_refused_for_its_hash_length() -> None:
    refused = [p["file"] for _, p in ALL_PROBES if not p["wantErr"] and not _well_sized(p)]
    assert refused == [
        "testdata/consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"
    ]


def test_probes_cover_both_outcomes() -> None:
    assert sum(not p["wantErr"] for _, p in ALL_PROBES) >= 10
    assert sum(p["wantErr"] for _, p in ALL_PROBES) >= 150


def test_rekor_entry_inclusion_and_consistency() -> None:
    leaf = leaf_hash(base64.b64decode(REKOR["body_b64"]))
    first_leaf = bytes.fromhex(REKOR["root_size1"])  # a one-leaf tree's root is its leaf hash
    tree_root = bytes.fromhex(REKOR["rootHash"])
    leaves = [first_leaf, leaf]
    assert root(leaves) == tree_root
    index, size = REKOR["logIndex"], REKOR["treeSize"]
    assert [p.hex() for p in inclusion_proof(leaves, index, size)] == REKOR["inclusion_proof"]
    verify_inclusion(leaf, index, size, _hexes(REKOR["inclusion_proof"]), tree_root)
    assert [p.hex() for p in consistency_proof(leaves, 1, 2)] == REKOR["consistency_proof_1_to_2"]
    verify_consistency(1, 2, first_leaf, tree_root, _hexes(REKOR["consistency_proof_1_to_2"]))
    with pytest.raises(ProofError):
        verify_inclusion(leaf, 0, size, _hexes(REKOR["inclusion_proof"]), tree_root)
