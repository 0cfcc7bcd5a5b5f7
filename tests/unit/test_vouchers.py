"""Data-asset vouchers (数据资产凭证): an approved grant yields a signed voucher that verifies
offline with the grant authority's public key; any change to a claim or to the signature is
rejected with the same code, and a grant that is not approved has no voucher."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from grants import grants
from grants.terms import Terms
from grants.vouchers import CLAIMS, VERSION, issue_voucher, verify_voucher
from sandbox.clock import utcnow
from sandbox.errors import Conflict, InvalidInput, NotFound
from sandbox.keys import key_id, load_or_create_private_key
from sandbox.ledger.entry import canonical, digest
from sandbox.ledger.models import LedgerEntry
from tests.conftest import World
from tests.unit.test_grants import Gov, governed


@pytest.fixture
def gov(world: World) -> Iterator[Gov]:
    with world.factory() as session:
        yield governed(session, utcnow())


@pytest.fixture
def key(world: World) -> Ed25519PrivateKey:
    return load_or_create_private_key(world.settings.ticket_key_path)


def rejected(data: Any, key: Ed25519PrivateKey) -> str:
    with pytest.raises(InvalidInput) as info:
        verify_voucher(data, key.public_key())
    assert info.value.code == "voucher.invalid"
    return info.value.message


def test_an_approved_grant_yields_a_voucher_that_verifies(gov: Gov, key: Ed25519PrivateKey) -> None:
    grant = gov.approved_grant()
    voucher = issue_voucher(gov.session, gov.who("operator"), grant.id, key, now=gov.now)
    assert set(voucher) == {"voucher", "signature"}
    claims = verify_voucher(voucher, key.public_key())
    assert set(claims) == CLAIMS
    assert claims["version"] == VERSION
    assert claims["grant"] == str(grant.id)
    assert claims["operator"] == "operator"
    assert claims["license"] == {"id": str(gov.license.id), "zone": "finance"}
    assert Terms.model_validate(claims["terms"]) == Terms.model_validate(grant.approved)
    assert [(r["org"], r["user"], r["decision"]) for r in claims["reviewers"]] == [
        ("bureau", "bureau", "approve"),
        ("tax", "tax-cdo", "approve"),
    ]
    assert claims["key_id"] == key_id(key.public_key())
    # As downloaded: a file of bytes, in any JSON spelling, verifies the same.
    assert verify_voucher(json.dumps(voucher, indent=2).encode(), key.public_key()) == claims

    entry = gov.session.scalars(
        select(LedgerEntry).where(LedgerEntry.action == "voucher.issued")
    ).one()
    details = json.loads(entry.body)["details"]
    assert details == {"grant": str(grant.id), "digest": digest(voucher["voucher"])}


def test_every_role_that_sees_the_grant_may_have_its_voucher(
    gov: Gov, key: Ed25519PrivateKey
) -> None:
    grant = gov.approved_grant()
    # ... including a bank the grant names as a recipient of its outputs.
    for name in ("bureau", "auditor", "tax-cdo", "bank-a", "bank-b"):
        issue_voucher(gov.session, gov.who(name), grant.id, key, now=gov.now)
    for name in ("market-cdo", "court-cdo"):
        with pytest.raises(NotFound):
            issue_voucher(gov.session, gov.who(name), grant.id, key, now=gov.now)


def _tampered(voucher: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for field in sorted(CLAIMS):
        changed = copy.deepcopy(voucher)
        value = changed["voucher"][field]
        if isinstance(value, dict):
            value = {**value, "extra": 1}
        elif isinstance(value, list):
            value = [*value[:-1]]
        else:
            value = str(value) + "0"
        changed["voucher"][field] = value
        yield field, changed
    deeper = copy.deepcopy(voucher)
    deeper["voucher"]["terms"]["calls_per_day"] += 1
    yield "terms.calls_per_day", deeper
    deeper = copy.deepcopy(voucher)
    deeper["voucher"]["terms"]["recipients"].append("bank-c")
    yield "terms.recipients", deeper
    deeper = copy.deepcopy(voucher)
    deeper["voucher"]["reviewers"][0]["decision"] = "refuse"
    yield "reviewers.decision", deeper
    dropped = copy.deepcopy(voucher)
    del dropped["voucher"]["issued_at"]
    yield "dropped claim", dropped
    added = copy.deepcopy(voucher)
    added["voucher"]["note"] = "extra"
    yield "added claim", added


def test_tampering_with_any_claim_is_rejected(gov: Gov, key: Ed25519PrivateKey) -> None:
    voucher = issue_voucher(
        gov.session, gov.who("operator"), gov.approved_grant().id, key, now=gov.now
    )
    seen = 0
    for field, changed in _tampered(voucher):
        assert rejected(changed, key) == "voucher rejected: signature", field
        seen += 1
    assert seen == len(CLAIMS) + 5


def test_a_changed_or_foreign_signature_is_rejected(gov: Gov, key: Ed25519PrivateKey) -> None:
    voucher = issue_voucher(
        gov.session, gov.who("operator"), gov.approved_grant().id, key, now=gov.now
    )
    raw = bytearray(base64.b64decode(voucher["signature"]))
    raw[5] ^= 0x01
    assert rejected({**voucher, "signature": base64.b64encode(raw).decode()}, key).endswith(
        "signature"
    )
    other = Ed25519PrivateKey.generate()
    assert rejected(voucher, other).endswith("signature")
    # Genuinely signed by another key: the signature does not hold under ours.
    forged = {
        "voucher": voucher["voucher"],
        "signature": base64.b64encode(other.sign(canonical(voucher["voucher"]))).decode(),
    }
    assert rejected(forged, key).endswith("signature")
    # Signed by us, but claiming another version: refused as format.
    claims = {**voucher["voucher"], "version": "voucher/2"}
    resigned = {
        "voucher": claims,
        "signature": base64.b64encode(key.sign(canonical(claims))).decode(),
    }
    assert rejected(resigned, key) == "voucher rejected: format"


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        b'{"voucher": {}}',
        b'{"voucher": {}, "signature": "", "extra": 1}',
        b'{"voucher": "x", "signature": "AAAA"}',
        b'{"voucher": {}, "signature": "not base64!"}',
        b'{"voucher": {"a": NaN}, "signature": "AAAA"}',
        b'{"voucher": {}, "voucher": {}, "signature": "AAAA"}',
        b"\xff\xfe",
        b"[" * 100_000,
        {"voucher": {}, "signature": 5},
    ],
)
def test_malformed_vouchers_are_rejected_as_format(data: Any, key: Ed25519PrivateKey) -> None:
    assert rejected(data, key) == "voucher rejected: format"


def test_a_grant_that_is_not_approved_has_no_voucher(gov: Gov, key: Ed25519PrivateKey) -> None:
    pending = gov.apply()
    with pytest.raises(Conflict) as info:
        issue_voucher(gov.session, gov.who("operator"), pending.id, key, now=gov.now)
    assert info.value.code == "voucher.not_approved"

    grant = gov.approved_grant()
    grants.suspend(gov.session, gov.who("bureau"), grant.id, reason="audit", now=gov.now)
    with pytest.raises(Conflict):
        issue_voucher(gov.session, gov.who("operator"), grant.id, key, now=gov.now)
    grants.reinstate(gov.session, gov.who("bureau"), grant.id, reason="ok", now=gov.now)
    end = Terms.model_validate(grant.approved).valid_until
    with pytest.raises(Conflict):
        issue_voucher(gov.session, gov.who("operator"), grant.id, key, now=end)
    assert (
        gov.session.scalars(select(LedgerEntry).where(LedgerEntry.action == "voucher.issued")).all()
        == []
    )
