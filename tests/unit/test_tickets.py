"""Job tickets (DESIGN §3): Ed25519-signed scope for one step. Anything but a genuine, current
ticket for exactly this job, step, domain and action raises the same opaque TicketRejected."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sandbox.errors import TicketRejected
from sandbox.keys import key_id
from sandbox.tickets import (
    MAX_TICKET_CHARS,
    VERSION,
    DatasetRef,
    TicketSigner,
    canonical,
    issue,
    verify,
)

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)
TTL = 600
SCOPE = {"job": "job-1", "step": "step-1", "domain": "tax", "action": "dataset.profile"}
DATASETS = (DatasetRef(id="3d32c074-fc43-493c-b599-dee840b2ce33", version=2),)
COLUMNS = ("credit_code", "rating", "year")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def other_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def make(key: Ed25519PrivateKey, *, now: dt.datetime = NOW, ttl: int = TTL, **scope: str) -> str:
    fields = {**SCOPE, **scope}
    return TicketSigner(key, ttl).sign(datasets=DATASETS, columns=COLUMNS, now=now, **fields)


def check(
    key: Ed25519PrivateKey,
    token: str,
    *,
    now: dt.datetime = NOW,
    scope: dict[str, str] | None = None,
) -> Any:
    s = {**SCOPE, **(scope or {})}
    return verify(
        key.public_key(),
        token,
        now=now,
        job=s["job"],
        step=s["step"],
        domain=s["domain"],
        action=s["action"],
    )


def signed(key: Ed25519PrivateKey, body: bytes) -> str:
    """A token whose signature is genuine over an arbitrary body."""
    return f"{b64(body)}.{b64(key.sign(body))}"


def claims(key: Ed25519PrivateKey, **changes: Any) -> dict[str, Any]:
    base = json.loads(unb64(make(key).split(".")[0]))
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


# --- the good path ----------------------------------------------------------------------------


def test_round_trip(key: Ed25519PrivateKey) -> None:
    token = make(key)
    ticket = check(key, token)
    assert (ticket.job, ticket.step, ticket.domain, ticket.action) == tuple(SCOPE.values())
    assert ticket.datasets == DATASETS
    assert ticket.columns == COLUMNS
    assert ticket.issued_at == int(NOW.timestamp())
    assert ticket.expires_at == int(NOW.timestamp()) + TTL
    assert ticket.key_id == key_id(key.public_key())
    assert ticket.version == VERSION


def test_format_is_canonical_claims_dot_signature(key: Ed25519PrivateKey) -> None:
    token = make(key)
    body_b64, sig_b64 = token.split(".")
    body = unb64(body_b64)
    assert canonical(json.loads(body)) == body
    assert len(unb64(sig_b64)) == 64
    assert "=" not in token  # unpadded base64url
    key.public_key().verify(unb64(sig_b64), body)  # raises if not a signature over the body


def test_issue_and_signer_agree(key: Ed25519PrivateKey) -> None:
    direct = issue(key, datasets=DATASETS, columns=COLUMNS, now=NOW, ttl_seconds=TTL, **SCOPE)
    assert direct == make(key)  # Ed25519 is deterministic


def test_valid_just_before_expiry_and_with_small_clock_skew(key: Ed25519PrivateKey) -> None:
    token = make(key)
    check(key, token, now=NOW + dt.timedelta(seconds=TTL - 1))
    check(key, token, now=NOW - dt.timedelta(seconds=60))  # a worker clock a minute behind


# --- every failure ----------------------------------------------------------------------------


def _flip(text: str, index: int) -> str:
    raw = bytearray(unb64(text))
    raw[index % len(raw)] ^= 0x01
    return b64(bytes(raw))


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _unused_bit(last: str) -> str:
    # A 64-byte signature is 86 base64 characters: the last one carries 4 unused low bits.
    return ALPHABET[ALPHABET.index(last) ^ 0x01]


def tampered_tokens(key: Ed25519PrivateKey, other_key: Ed25519PrivateKey) -> dict[str, str]:
    token = make(key)
    body, sig = token.split(".")
    other_body = make(key, job="job-2").split(".")[0]
    cases = {f"body-byte-{i}": f"{_flip(body, i)}.{sig}" for i in (0, 1, 10, 50, -2, -1)}
    cases.update({f"sig-byte-{i}": f"{body}.{_flip(sig, i)}" for i in (0, 1, 31, 32, 63)})
    cases.update(
        {
            "body-of-another-ticket": f"{other_body}.{sig}",
            "signature-swapped-in": f"{body}.{make(key, job='job-2').split('.')[1]}",
            "truncated-signature": f"{body}.{sig[:-4]}",
            "truncated-body": f"{body[:-4]}.{sig}",
            "truncated-half": token[: len(token) // 2],
            "body-only": body,
            "signature-only": f".{sig}",
            "empty": "",
            "dot": ".",
            "extra-dot-at-end": token + ".",
            "extra-part": f"{token}.{sig}",
            "extra-dot-inside": f"{body[:5]}.{body[5:]}.{sig}",
            "non-base64": "!!!!$$$$.****%%%%",
            "non-ascii": f"{body}é.{sig}",
            "whitespace": f" {body}.{sig}\n",
            "padding-junk": f"{body}====.{sig}",
            # Non-canonical spellings of the same bytes: a lenient decoder would accept them.
            "junk-char-inside-body": f"{body[:5]}!{body[5:]}.{sig}",
            "junk-char-inside-signature": f"{body}.{sig[:5]}*{sig[5:]}",
            "padded-signature": f"{body}.{sig}==",
            "unused-bits-of-signature": f"{body}.{sig[:-1]}{_unused_bit(sig[-1])}",
            "oversized-garbage": "A" * (MAX_TICKET_CHARS + 1),
            "oversized-real-prefix": token + "A" * MAX_TICKET_CHARS,
            "signed-by-another-key": make(other_key),
            "other-key-with-our-kid": signed(other_key, canonical(claims(key))),
            "json-not-bytes-of-signature": f"{b64(json.dumps(claims(key)).encode())}.{sig}",
        }
    )
    return cases


TAMPERED_IDS = list(tampered_tokens(Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()))


@pytest.mark.parametrize("case", TAMPERED_IDS)
def test_tampering_is_rejected(
    key: Ed25519PrivateKey, other_key: Ed25519PrivateKey, case: str
) -> None:
    token = tampered_tokens(key, other_key)[case]
    assert token != make(key)
    with pytest.raises(TicketRejected):
        check(key, token)


def test_oversized_ticket_is_rejected_even_when_genuine(key: Ed25519PrivateKey) -> None:
    columns = tuple(f"column_{i:05d}" for i in range(2000))
    token = TicketSigner(key, TTL).sign(datasets=DATASETS, columns=columns, now=NOW, **SCOPE)
    assert len(token) > MAX_TICKET_CHARS
    with pytest.raises(TicketRejected):
        check(key, token)
    small = TicketSigner(key, TTL).sign(datasets=DATASETS, columns=columns[:50], now=NOW, **SCOPE)
    assert check(key, small).columns == columns[:50]


SIGNED_BODIES: dict[str, Callable[[Ed25519PrivateKey], bytes]] = {
    "not-json": lambda k: b"not json at all",
    "not-utf8": lambda k: b"\xff\xfe\x00{",
    "json-list": lambda k: b"[1, 2, 3]",
    "json-string": lambda k: b'"ticket"',
    "json-null": lambda k: b"null",
    "missing-job": lambda k: canonical(claims(k, job=...)),
    "missing-exp": lambda k: canonical(claims(k, exp=...)),
    "missing-kid": lambda k: canonical(claims(k, kid=...)),
    "datasets-null": lambda k: canonical(claims(k, datasets=None)),
    "dataset-version-text": lambda k: canonical(
        claims(k, datasets=[{"id": "x", "version": "two"}])
    ),
    "exp-text": lambda k: canonical(claims(k, exp="soon")),
    "wrong-version": lambda k: canonical(claims(k, v="ticket/2")),
    "wrong-kid": lambda k: canonical(claims(k, kid="0" * 16)),
    "issued-in-the-future": lambda k: canonical(
        claims(k, iat=int(NOW.timestamp()) + 3600, exp=int(NOW.timestamp()) + 7200)
    ),
    "already-expired": lambda k: canonical(claims(k, exp=int(NOW.timestamp()))),
}


@pytest.mark.parametrize("case", list(SIGNED_BODIES))
def test_genuinely_signed_but_malformed_claims_are_rejected(
    key: Ed25519PrivateKey, case: str
) -> None:
    with pytest.raises(TicketRejected):
        check(key, signed(key, SIGNED_BODIES[case](key)))


def test_the_claims_helper_builds_an_acceptable_ticket(key: Ed25519PrivateKey) -> None:
    # The control for the test above: unchanged claims, signed the same way, verify.
    assert check(key, signed(key, canonical(claims(key)))).job == SCOPE["job"]


@pytest.mark.parametrize(
    "when",
    [
        NOW + dt.timedelta(seconds=TTL),
        NOW + dt.timedelta(seconds=TTL + 1),
        NOW + dt.timedelta(days=365),
        NOW - dt.timedelta(seconds=61),
        NOW - dt.timedelta(days=1),
    ],
)
def test_outside_validity_window_is_rejected(key: Ed25519PrivateKey, when: dt.datetime) -> None:
    with pytest.raises(TicketRejected):
        check(key, make(key), now=when)


@pytest.mark.parametrize("field", list(SCOPE))
def test_replay_for_another_scope_is_rejected(key: Ed25519PrivateKey, field: str) -> None:
    token = make(key)
    with pytest.raises(TicketRejected):
        check(key, token, scope={field: SCOPE[field] + "-other"})
    with pytest.raises(TicketRejected):
        check(key, token, scope={field: SCOPE[field].upper() + " "})
    with pytest.raises(TicketRejected):
        check(key, token, scope={field: ""})


def test_ticket_for_another_job_does_not_open_this_one(key: Ed25519PrivateKey) -> None:
    # Two tickets for the same step scope differ only in the job: each verifies for its own.
    mine, theirs = make(key, job="job-A"), make(key, job="job-B")
    assert check(key, mine, scope={"job": "job-A"}).job == "job-A"
    with pytest.raises(TicketRejected):
        check(key, theirs, scope={"job": "job-A"})


def test_rejection_says_nothing_about_the_cause(
    key: Ed25519PrivateKey, other_key: Ed25519PrivateKey
) -> None:
    failures: list[TicketRejected] = []

    def attempt(token: str, **kwargs: Any) -> None:
        try:
            check(key, token, **kwargs)
        except TicketRejected as exc:
            failures.append(exc)
        else:
            raise AssertionError("accepted")

    for token in tampered_tokens(key, other_key).values():
        attempt(token)
    for build in SIGNED_BODIES.values():
        attempt(signed(key, build(key)))
    attempt(make(key), now=NOW + dt.timedelta(days=1))
    for field in SCOPE:
        attempt(make(key), scope={field: "elsewhere"})
    assert len(failures) > 40
    assert {(str(e), e.message, e.code, e.details == {}) for e in failures} == {
        ("job ticket rejected", "job ticket rejected", "ticket.rejected", True)
    }
