"""Enterprise authorizations (sandbox/compute/authorized.py): the digest both sides compute is
stable and normalizes references the same way on both sides; a ticket's authorization scope is
parsed strictly, and every hostile value fails the step with step.scope."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.compute import authorized
from sandbox.compute.authorized import Authorizations, digest, normalize_reference
from sandbox.errors import SandboxError
from sandbox.identifiers import credit_code_check_char
from sandbox.tickets import Ticket

BODY = "91350100M000100Y4"
CODE = BODY + credit_code_check_char(BODY)
OTHER_BODY = "91110108MA01ABCDE"
OTHER = OTHER_BODY + credit_code_check_char(OTHER_BODY)
# SHA-256("sandbox/authorization/v1" || u32 len || "bank-a" || u32 len || CODE || u32 len ||
# "AUTH-A-000001"), computed by hand from the module's documented layout: registrations stored
# in the control DB must keep matching, so this may never change silently.
PINNED = "9b9157ce7e47c129318bc504300d4c7550219fda8e2a3be91fe81d6a38e77007"


def test_the_digest_is_stable() -> None:
    assert CODE == "91350100M000100Y43"
    assert digest("bank-a", CODE, "AUTH-A-000001") == PINNED


@pytest.mark.parametrize(
    "written",
    [
        "AUTH-A-000001",
        "auth-a-000001",
        "  AUTH-A-000001\t",
        "ＡＵＴＨ－Ａ－０００００１",  # full-width, as typed on a Chinese keyboard
    ],
)
def test_references_are_normalized_the_same_way_on_both_sides(written: str) -> None:
    assert normalize_reference(written) == "AUTH-A-000001"
    assert digest("bank-a", CODE, written) == PINNED


@pytest.mark.parametrize(
    "written",
    [
        "",
        "   ",
        "-AUTH",  # must start with a letter or digit
        "AUTH 1",
        "AUTH,1",
        "AUTH\n1",
        "A" * 65,
        "auth-ı",  # dotless i upper-cases to an ASCII I: refused, not folded onto AUTH-I
        "授权-001",
    ],
)
def test_implausible_references_are_refused(written: str) -> None:
    assert normalize_reference(written) is None
    with pytest.raises(ValueError):
        digest("bank-a", CODE, written)


def test_the_longest_reference_is_accepted() -> None:
    assert normalize_reference("a" * 64) == "A" * 64


def test_every_field_counts_and_fields_do_not_run_together() -> None:
    others = {
        digest("bank-b", CODE, "AUTH-A-000001"),
        digest("bank-a", OTHER, "AUTH-A-000001"),
        digest("bank-a", CODE, "AUTH-A-000002"),
        digest("bank-a" + CODE[:1], CODE[1:], "AUTH-A-000001"),
    }
    assert PINNED not in others and len(others) == 4


class _Params:
    """A stand-in for the control DB: the job's params, as ``Authorizations.load`` reads them."""

    def __init__(self, params: Any) -> None:
        self.params = params

    def __call__(self) -> _Params:
        return self

    def __enter__(self) -> _Params:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def scalar(self, _query: object) -> Any:
        return self.params


JOB = "0b6c1ad2-57d5-4a53-9d8c-5d1c5e0a7d11"


def _ticket(
    value: Any, *, columns: tuple[str, ...] = ("credit_code", "authorization_ref")
) -> Ticket:
    return Ticket(
        job=JOB,
        step="step",
        domain="bank-a",
        action="lookup.blind",
        datasets=(),
        columns=columns,
        issued_at=0,
        expires_at=0,
        key_id="k",
        scope={} if value is _ABSENT else {"authorization": value},
    )


def _load(value: Any, digests: Any = None) -> Authorizations | None:
    params = None if digests is None else {authorized.PARAM: digests}
    return Authorizations.load(_ticket(value), _Params(params))  # type: ignore[arg-type]


_ABSENT = object()


def test_no_scope_means_no_authorization_needed() -> None:
    assert _load(_ABSENT) is None
    assert _load(None) is None


def test_the_scope_round_trips_and_allows_only_what_it_names() -> None:
    auth = Authorizations("authorization_ref", "bank-a", frozenset({PINNED}))
    parsed = _load(auth.to_scope(), auth.to_params()[authorized.PARAM])
    assert parsed == auth
    assert parsed.allows(CODE, "auth-a-000001")
    assert not parsed.allows(CODE, "AUTH-A-000002")
    assert not parsed.allows(OTHER, "AUTH-A-000001")
    assert not parsed.allows(CODE, "")  # an unreadable reference is simply not allowed
    assert not parsed.allows(CODE, "-")


def test_the_ticket_signs_a_hash_of_the_set_not_the_set() -> None:
    many = frozenset(digest("bank-a", CODE, f"AUTH-A-{n}") for n in range(5000))
    scope = Authorizations("authorization_ref", "bank-a", many).to_scope()
    assert scope["count"] == 5000 and len(str(scope)) < 300


GOOD = {
    "column": "authorization_ref",
    "consumer": "bank-a",
    "set": authorized.set_digest([PINNED]),
    "count": 1,
}


@pytest.mark.parametrize(
    ("value", "digests"),
    [
        pytest.param("authorization_ref", [PINNED], id="not-an-object"),
        pytest.param([GOOD], [PINNED], id="a-list"),
        pytest.param({**GOOD, "extra": 1}, [PINNED], id="unknown-field"),
        pytest.param({**GOOD, "digests": [PINNED]}, [PINNED], id="digests-in-the-ticket"),
        pytest.param({**GOOD, "column": "applicant_name"}, [PINNED], id="column-not-in-ticket"),
        pytest.param({**GOOD, "column": ["authorization_ref"]}, [PINNED], id="column-not-text"),
        pytest.param({**GOOD, "consumer": ""}, [PINNED], id="no-consumer"),
        pytest.param({**GOOD, "consumer": 7}, [PINNED], id="consumer-not-text"),
        pytest.param({**GOOD, "set": "z" * 64}, [PINNED], id="set-not-hex"),
        pytest.param({**GOOD, "count": True}, [PINNED], id="count-a-bool"),
        pytest.param({**GOOD, "count": -1}, [PINNED], id="count-negative"),
        pytest.param({**GOOD, "count": 2}, [PINNED], id="count-differs"),
        pytest.param(GOOD, None, id="no-digests-in-the-job"),
        pytest.param(GOOD, PINNED, id="digests-not-a-list"),
        pytest.param(GOOD, {"d": PINNED}, id="digests-an-object"),
        pytest.param(GOOD, [PINNED.upper()], id="upper-case-hex"),
        pytest.param(GOOD, [PINNED[:-1]], id="short-digest"),
        pytest.param(GOOD, [PINNED + "\n"], id="digest-with-a-newline"),
        pytest.param(GOOD, [7], id="digest-not-text"),
        pytest.param(GOOD, [digest("bank-a", OTHER, "AUTH-A-1")], id="another-set"),
        pytest.param({**GOOD, "count": 2}, [PINNED, PINNED], id="repeated-digest"),
    ],
)
def test_hostile_scopes_fail_the_step(value: Any, digests: Any) -> None:
    with pytest.raises(SandboxError) as info:
        _load(value, digests)
    assert info.value.code == "step.scope"


def test_too_many_digests_fail_the_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(authorized, "MAX_DIGESTS", 2)
    three = sorted(digest("bank-a", CODE, f"AUTH-A-{n}") for n in range(3))
    two = Authorizations("authorization_ref", "bank-a", frozenset(three[:2]))
    assert _load(two.to_scope(), three[:2]) is not None
    whole = Authorizations("authorization_ref", "bank-a", frozenset(three))
    with pytest.raises(SandboxError) as info:
        _load(whole.to_scope(), three)
    assert info.value.code == "step.scope"
