"""Reading products back: a product, a version, its spec, the listed spec, a dataset's current
schema, and who must review a version. Shared by the modules of this package."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grants.applications import bureau_org
from products.models import (
    Product,
    ProductState,
    ProductVersion,
)
from products.spec import ProductSpec
from sandbox.datasets.models import Dataset, DatasetVersion
from sandbox.datasets.schema import Schema
from sandbox.domains.models import Domain
from sandbox.errors import InvalidInput, NotFound
from sandbox.ledger.log import Actor, append
from sandbox.parties.models import Organization
from sandbox.parties.principal import Principal
from sandbox.parties.roles import OrgKind


def get_product(session: Session, product_id: UUID) -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound("no such product", code="product.not_found")
    return product


def version_row(session: Session, product_id: UUID, version: int) -> ProductVersion:
    row = session.scalar(
        select(ProductVersion).where(
            ProductVersion.product_id == product_id, ProductVersion.version == version
        )
    )
    if row is None:
        raise NotFound("no such product version", code="product.version_not_found")
    return row


def spec_of(row: ProductVersion) -> ProductSpec:
    return ProductSpec.model_validate(row.spec)


def listed_spec(session: Session, product: Product) -> ProductSpec | None:
    """The spec consumers call, or None when the product is not listed."""
    if product.state != ProductState.LISTED.value or product.listed_version is None:
        return None
    return spec_of(version_row(session, product.id, product.listed_version))


def versions_of(session: Session, product_id: UUID) -> list[ProductVersion]:
    return list(
        session.scalars(
            select(ProductVersion)
            .where(ProductVersion.product_id == product_id)
            .order_by(ProductVersion.version)
        )
    )


def current_schema(session: Session, dataset_id: UUID) -> Schema | None:
    """The schema of a dataset's current version (metadata), or None if there is none."""
    schema_json = session.scalar(
        select(DatasetVersion.schema_json)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .where(DatasetVersion.dataset_id == dataset_id)
        .where(DatasetVersion.version == Dataset.current_version)
    )
    return Schema.model_validate(schema_json) if schema_json is not None else None


def latest_version(session: Session, product_id: UUID) -> ProductVersion:
    latest = session.scalar(
        select(func.max(ProductVersion.version)).where(ProductVersion.product_id == product_id)
    )
    return version_row(session, product_id, int(latest or 1))


def reviewer_orgs(session: Session, row: ProductVersion) -> list[Organization]:
    bureau = bureau_org(session)
    dataset_ids = [s.dataset_id for s in spec_of(row).sources]
    if not dataset_ids:
        return [bureau]
    providers = session.scalars(
        select(Organization)
        .join(Domain, Domain.org_id == Organization.id)
        .join(Dataset, Dataset.domain_id == Domain.id)
        .where(Dataset.id.in_(dataset_ids), Organization.kind == OrgKind.PROVIDER.value)
        .distinct()
        .order_by(Organization.slug)
    )
    return [bureau, *providers]


def required_reviewers(session: Session, version: ProductVersion) -> list[str]:
    """The bureau, then the providing department of every source dataset (by slug). An
    exposure product reads only banks' own data, which they consent to separately: the
    bureau alone reviews it."""
    return [o.slug for o in reviewer_orgs(session, version)]


def record(
    session: Session,
    who: Principal,
    product: Product,
    action: str,
    now: dt.datetime,
    *,
    params: object,
    details: dict[str, object],
) -> None:
    append(
        session,
        actor=Actor.of(who),
        action=action,
        object_type="product",
        object_id=str(product.id),
        params=params,
        details=details,
        now=now,
    )


def text_field(value: str, field: str, limit: int) -> str:
    value = value.strip()
    if not 1 <= len(value) <= limit:
        raise InvalidInput(f"{field}: 1 to {limit} characters", code=f"product.{field}")
    return value
