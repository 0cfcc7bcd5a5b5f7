"""Products and their versions: an operator designs a product under its license and grants,
the bureau and the providing departments' CDOs review each version, the bureau lists (上架)
and delists (下架) it, and consumers browse the store.

A spec is checked against the operator's grants when a version is created and again when it
is submitted: each grant approved, in force, the operator's own, under the product's license,
allowing the product's computation kind, for the same purpose, to the named consumers, with
the source columns granted. Every check runs before anything changes.
"""

from __future__ import annotations

import datetime as dt
import re
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from grants import licenses
from grants.applications import effective_state
from grants.models import Grant, GrantState, License
from grants.terms import Kind, Terms
from products.listing import delist, list_product, review
from products.models import (
    Product,
    ProductKind,
    ProductState,
    ProductVersion,
    VersionState,
)
from products.records import (
    current_schema,
    get_product,
    listed_spec,
    record,
    required_reviewers,
    spec_of,
    text_field,
    version_row,
    versions_of,
)
from products.spec import ProductSpec, SourceSpec
from products.views import ProductView, get_view, products_for, store
from sandbox.compute import lookup_steps
from sandbox.errors import Conflict, InvalidInput, NotFound
from sandbox.ledger.entry import digest
from sandbox.parties.models import Organization
from sandbox.parties.principal import Principal
from sandbox.parties.roles import OrgKind, Role
from sandbox.parties.service import require_role

SLUG = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
MAX_NAME = 200
__all__ = [
    "ProductView",
    "check_spec",
    "create_product",
    "current_schema",
    "delist",
    "get_product",
    "get_view",
    "list_product",
    "listed_spec",
    "new_version",
    "products_for",
    "required_reviewers",
    "review",
    "spec_of",
    "store",
    "submit",
    "version_row",
]

KIND_OF = {ProductKind.CREDIT_CHECK.value: Kind.LOOKUP, ProductKind.EXPOSURE.value: Kind.SECURE_SUM}


# --------------------------------------------------------------------------- checking a spec


def _grant_terms(
    session: Session, who: Principal, lic: License, grant_id: UUID, kind: Kind, now: dt.datetime
) -> Terms:
    grant = session.get(Grant, grant_id)
    if grant is None or grant.operator_id != who.org_id:
        raise NotFound("no such grant of yours", code="grant.not_found")
    if grant.license_id != lic.id:
        raise InvalidInput(
            "every grant must be under the product's license", code="product.grant_license"
        )
    if effective_state(grant, now) != GrantState.APPROVED.value or grant.approved is None:
        raise Conflict(
            "a grant the product uses is not in force", code="product.grant_not_in_force"
        )
    terms = Terms.model_validate(grant.approved)
    if not terms.valid_from <= now < terms.valid_until:
        raise Conflict(
            "a grant the product uses is not in force", code="product.grant_not_in_force"
        )
    if kind not in terms.kinds:
        raise InvalidInput(
            f"the grant does not allow {kind.value}", code="product.kind_not_granted"
        )
    return terms


def check_spec(
    session: Session, who: Principal, lic: License, kind: str, spec: ProductSpec, now: dt.datetime
) -> None:
    """Raise unless every grant the spec uses allows exactly what the spec promises."""
    if spec.kind != kind:
        raise InvalidInput("a product keeps its kind across versions", code="product.kind_changed")
    known = {
        slug: org_kind
        for slug, org_kind in session.execute(
            select(Organization.slug, Organization.kind).where(
                Organization.slug.in_(spec.consumers)
            )
        )
    }
    strangers = [c for c in spec.consumers if known.get(c) != OrgKind.BANK.value]
    if strangers:
        raise InvalidInput(
            f"consumers must be banks on the platform: {', '.join(strangers)}",
            code="product.consumers",
        )
    wanted = KIND_OF[spec.kind]
    for grant_id in spec.grant_ids():
        terms = _grant_terms(session, who, lic, grant_id, wanted, now)
        if spec.purpose != terms.purpose:
            raise InvalidInput(
                f"the grant's purpose is {terms.purpose}, not {spec.purpose}",
                code="product.purpose",
            )
        outside = sorted(set(spec.consumers) - set(terms.recipients))
        if outside:
            raise InvalidInput(
                f"not recipients of the grant: {', '.join(outside)}", code="product.consumers"
            )
        if spec.max_identifiers_per_call > terms.rows_per_call:
            raise InvalidInput(
                f"at most the grant's {terms.rows_per_call} identifiers per call",
                code="product.max_identifiers",
            )
        for source in spec.sources:
            if source.grant_id == grant_id:
                _check_source(session, terms, source)


def _check_source(session: Session, terms: Terms, source: SourceSpec) -> None:
    dataset_id, columns = source.dataset_id, source.columns
    granted = terms.columns_of(dataset_id)
    if not granted:
        raise InvalidInput(
            f"dataset {dataset_id} is not in the source's grant", code="product.dataset_not_granted"
        )
    outside = sorted(set(columns) - granted)
    if outside:
        raise InvalidInput(
            f"columns not in the grant: {', '.join(outside)}", code="product.columns_not_granted"
        )
    schema = current_schema(session, dataset_id)
    if schema is None:
        raise NotFound(f"no dataset {dataset_id}", code="dataset.not_found")
    if schema.identifier.column not in columns:
        raise InvalidInput(
            "a source names its dataset's identifier column", code="product.identifier_column"
        )
    if len(columns) < 2:
        raise InvalidInput(
            "a source reads at least one column besides the identifier", code="product.columns"
        )
    for label in source.labels:
        derivation = label.derivation()
        if derivation.column not in schema.column_names:
            raise InvalidInput(
                f"the label {derivation.name} reads {derivation.column}, which the dataset "
                "does not have",
                code="product.label_column",
            )
        kind = schema.column(derivation.column).type
        if derivation.column == schema.identifier.column or not lookup_steps.fits(derivation, kind):
            raise InvalidInput(
                f"the rule {derivation.rule} of the label {derivation.name} cannot read "
                f"{derivation.column} (a {kind.value} column)",
                code="product.label_rule",
            )


def _own_license(session: Session, who: Principal, license_id: UUID, now: dt.datetime) -> License:
    lic = session.get(License, license_id)
    if lic is None or lic.operator_id != who.org_id:
        raise NotFound("no such license of yours", code="license.not_found")
    if not licenses.is_in_force(lic, now):
        raise Conflict("the operating license is not in force", code="product.license_not_in_force")
    return lic


def _own_product(session: Session, who: Principal, product_id: UUID) -> Product:
    require_role(who, Role.OPERATOR)
    product = session.get(Product, product_id)
    if product is None or product.operator_id != who.org_id:
        raise NotFound("no such product of yours", code="product.not_found")
    return product


# --------------------------------------------------------------------------- the operator


def create_product(
    session: Session,
    who: Principal,
    *,
    slug: str,
    name: str,
    license_id: UUID,
    spec: ProductSpec,
    now: dt.datetime,
) -> Product:
    """An operator's new product, with version 1 in draft."""
    require_role(who, Role.OPERATOR)
    if not SLUG.match(slug):
        raise InvalidInput(
            "a slug is 2 to 63 lower-case letters, digits and hyphens", code="product.slug"
        )
    name = text_field(name, "name", MAX_NAME)
    lic = _own_license(session, who, license_id, now)
    if session.scalar(select(Product.id).where(Product.slug == slug)) is not None:
        raise Conflict(f"the slug {slug!r} is taken", code="product.slug_taken")
    check_spec(session, who, lic, spec.kind, spec, now)
    product = Product(
        slug=slug,
        name=name,
        operator_id=who.org_id,
        license_id=lic.id,
        kind=spec.kind,
        created_at=now,
        created_by=who.user_id,
        listed_version=None,
        state=ProductState.DRAFT.value,
    )
    session.add(product)
    session.flush()
    row = _add_version(session, product, 1, spec, now)
    record(
        session,
        who,
        product,
        "product.created",
        now,
        params={"slug": slug, "name": name, "license": str(lic.id), "spec": row.spec},
        details={"slug": slug, "kind": spec.kind, "version": 1, "spec_digest": digest(row.spec)},
    )
    return product


def _add_version(
    session: Session, product: Product, version: int, spec: ProductSpec, now: dt.datetime
) -> ProductVersion:
    row = ProductVersion(
        product_id=product.id,
        version=version,
        spec=spec.model_dump(mode="json"),
        state=VersionState.DRAFT.value,
        submitted_at=None,
        decided_at=None,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def new_version(
    session: Session, who: Principal, product_id: UUID, spec: ProductSpec, now: dt.datetime
) -> ProductVersion:
    """A new draft version. A listed product stays listed on its current version until the
    new one is approved and listed."""
    product = _own_product(session, who, product_id)
    versions = versions_of(session, product.id)
    if any(v.state in (VersionState.DRAFT.value, VersionState.SUBMITTED.value) for v in versions):
        raise Conflict(
            "the product already has a version in draft or in review", code="product.version_open"
        )
    lic = _own_license(session, who, product.license_id, now)
    check_spec(session, who, lic, product.kind, spec, now)
    number = max((v.version for v in versions), default=0) + 1
    row = _add_version(session, product, number, spec, now)
    record(
        session,
        who,
        product,
        "product.version_created",
        now,
        params={"version": number, "spec": row.spec},
        details={"version": number, "spec_digest": digest(row.spec)},
    )
    return row


def submit(
    session: Session, who: Principal, product_id: UUID, version: int, now: dt.datetime
) -> ProductVersion:
    """Send a draft version to its reviewers, after checking it against the grants again."""
    product = _own_product(session, who, product_id)
    row = version_row(session, product.id, version)
    if row.state != VersionState.DRAFT.value:
        raise Conflict(f"version {version} is {row.state}", code="product.version_state")
    lic = _own_license(session, who, product.license_id, now)
    check_spec(session, who, lic, product.kind, spec_of(row), now)
    row.state, row.submitted_at = VersionState.SUBMITTED.value, now
    if product.state in (ProductState.DRAFT.value, ProductState.DELISTED.value):
        product.state = ProductState.IN_REVIEW.value
    session.flush()
    record(
        session,
        who,
        product,
        "product.submitted",
        now,
        params={"version": version},
        details={
            "version": version,
            "spec_digest": digest(row.spec),
            "reviewers": required_reviewers(session, row),
        },
    )
    return row


# --------------------------------------------------------------------------- review and listing
