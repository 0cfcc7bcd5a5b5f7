"""Review and listing: the bureau and the providing departments' CDOs each decide once on a
submitted version (any may refuse, with a reason; the last approval approves it); the bureau
lists an approved version (上架) and delists a product (下架)."""

from __future__ import annotations

import datetime as dt
from typing import Literal
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants import licenses
from grants.models import License
from products.models import (
    Product,
    ProductReview,
    ProductState,
    ProductVersion,
    VersionState,
)
from products.records import (
    get_product,
    record,
    reviewer_orgs,
    text_field,
    version_row,
    versions_of,
)
from products.views import visible_product
from sandbox.errors import Conflict, InvalidInput, PermissionDenied
from sandbox.ledger.entry import digest
from sandbox.parties.principal import Principal
from sandbox.parties.roles import OrgKind, Role
from sandbox.parties.service import require_role

MAX_REASON = 4000


def review(
    session: Session,
    who: Principal,
    product_id: UUID,
    version: int,
    *,
    decision: Literal["approve", "refuse"],
    reason: str = "",
    now: dt.datetime,
) -> ProductVersion:
    """One required organization's decision on a submitted version. A refusal refuses the
    version at once; the last approval approves it."""
    product = visible_product(session, who, product_id)
    row = version_row(session, product.id, version)
    orgs = reviewer_orgs(session, row)
    org = next((o for o in orgs if o.id == who.org_id), None)
    role = (
        Role.BUREAU_ADMIN if org is not None and org.kind == OrgKind.BUREAU else Role.PROVIDER_CDO
    )
    if org is None or who.role != role or who.org_id == product.operator_id:
        raise PermissionDenied(
            "you are not a reviewer of this product", code="product.not_reviewer"
        )
    if row.state != VersionState.SUBMITTED.value:
        raise Conflict(f"version {version} is {row.state}", code="product.version_state")
    decided = list(session.scalars(select(ProductReview).where(ProductReview.version_id == row.id)))
    if any(r.org_id == org.id for r in decided):
        raise Conflict(f"{org.slug} has already decided", code="product.already_reviewed")
    if decision not in ("approve", "refuse"):
        raise InvalidInput("decision must be approve or refuse", code="product.decision")
    reason = reason.strip()
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"reason: at most {MAX_REASON} characters", code="product.reason")
    if decision == "refuse" and not reason:
        raise InvalidInput("a refusal needs a reason", code="product.reason_required")
    session.add(
        ProductReview(
            version_id=row.id,
            org_id=org.id,
            user_id=who.user_id,
            decision=decision,
            reason=reason,
            at=now,
        )
    )
    session.flush()
    common = {"version": version, "org": org.slug}
    record(
        session,
        who,
        product,
        "product.reviewed",
        now,
        params={**common, "decision": decision, "reason": reason},
        details={**common, "decision": decision},
    )
    if decision == "refuse":
        row.state, row.decided_at = VersionState.REFUSED.value, now
        if product.state == ProductState.IN_REVIEW.value and product.listed_version is None:
            product.state = ProductState.DRAFT.value
        record(session, who, product, "product.refused", now, params=common, details=common)
    else:
        approved = {r.org_id for r in decided if r.decision == "approve"} | {org.id}
        if all(o.id in approved for o in orgs):
            row.state, row.decided_at = VersionState.APPROVED.value, now
            record(
                session,
                who,
                product,
                "product.approved",
                now,
                params={"version": version},
                details={
                    "version": version,
                    "reviewers": [o.slug for o in orgs],
                    "spec_digest": digest(row.spec),
                },
            )
    session.flush()
    return row


def list_product(
    session: Session, who: Principal, product_id: UUID, version: int, now: dt.datetime
) -> Product:
    """The bureau lists an approved version (上架); an older listed version is superseded."""
    require_role(who, Role.BUREAU_ADMIN)
    product = get_product(session, product_id)
    row = version_row(session, product.id, version)
    if row.state != VersionState.APPROVED.value:
        raise Conflict(
            f"version {version} is {row.state}, not approved", code="product.not_approved"
        )
    if product.state == ProductState.LISTED.value and product.listed_version == version:
        raise Conflict(f"version {version} is already listed", code="product.already_listed")
    lic = session.get(License, product.license_id)
    if lic is None or not licenses.is_in_force(lic, now):
        raise Conflict("the operating license is not in force", code="product.license_not_in_force")
    for other in versions_of(session, product.id):
        if other.version < version and other.state == VersionState.APPROVED.value:
            other.state = VersionState.SUPERSEDED.value
    previous = product.listed_version
    product.state, product.listed_version = ProductState.LISTED.value, version
    session.flush()
    record(
        session,
        who,
        product,
        "product.listed",
        now,
        params={"version": version},
        details={"version": version, "previous": previous, "spec_digest": digest(row.spec)},
    )
    return product


def delist(
    session: Session, who: Principal, product_id: UUID, *, reason: str, now: dt.datetime
) -> Product:
    """The bureau takes a product off the store (下架): calls stop being accepted."""
    require_role(who, Role.BUREAU_ADMIN)
    product = get_product(session, product_id)
    if product.state != ProductState.LISTED.value:
        raise Conflict(f"the product is {product.state}", code="product.not_listed")
    reason = text_field(reason, "reason", MAX_REASON)
    version = product.listed_version
    product.state, product.listed_version = ProductState.DELISTED.value, None
    session.flush()
    record(
        session,
        who,
        product,
        "product.delisted",
        now,
        params={"version": version, "reason": reason},
        details={"version": version},
    )
    return product
