"""Products as each account may see them: the store (listed products a bank may subscribe
to, with their terms and price), the operator's own products with drafts, the bureau's and
auditor's all, and a CDO's those that read its datasets. Metadata only, never data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
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
    Subscription,
)
from products.records import (
    latest_version,
    listed_spec,
    reviewer_orgs,
    spec_of,
    version_row,
    versions_of,
)
from products.spec import ProductSpec
from sandbox.datasets.models import Dataset
from sandbox.domains.models import Domain
from sandbox.errors import NotFound
from sandbox.parties.models import Organization
from sandbox.parties.principal import Principal
from sandbox.parties.roles import Role


@dataclass(frozen=True, slots=True)
class ReviewerStatus:
    org: str
    decision: str | None  # approve | refuse | None (not yet)
    at: dt.datetime | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class SourceInfo:
    dataset_id: str
    dataset: str  # "domain/name"
    title: str
    owner: str  # the providing organization's slug
    labels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VersionInfo:
    version: int
    state: str
    submitted_at: dt.datetime | None
    decided_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ProductView:
    """A product as one account may see it: metadata, terms and price, never data."""

    id: str
    slug: str
    name: str
    kind: str
    state: str
    operator: str
    operator_name: str
    listed_version: int | None
    version: int  # the version shown: the listed one for consumers, else the latest
    version_state: str
    spec: ProductSpec
    sources: tuple[SourceInfo, ...]
    reviewers: tuple[ReviewerStatus, ...]
    versions: tuple[VersionInfo, ...]
    license_in_force: bool


# --------------------------------------------------------------------------- browsing


def _source_infos(session: Session, spec: ProductSpec) -> tuple[SourceInfo, ...]:
    out = []
    for source in spec.sources:
        dataset = session.get(Dataset, source.dataset_id)
        out.append(
            SourceInfo(
                dataset_id=str(source.dataset_id),
                dataset=f"{dataset.domain.name}/{dataset.name}" if dataset else "?",
                title=dataset.title if dataset else "",
                owner=dataset.domain.org.slug if dataset else "",
                labels=tuple(label.name for label in source.labels),
            )
        )
    return tuple(out)


def _view(
    session: Session, product: Product, row: ProductVersion, *, all_versions: bool, now: dt.datetime
) -> ProductView:
    operator = session.get(Organization, product.operator_id)
    decided = {
        r.org_id: r
        for r in session.scalars(select(ProductReview).where(ProductReview.version_id == row.id))
    }
    reviewers = tuple(
        ReviewerStatus(
            org=o.slug,
            decision=decided[o.id].decision if o.id in decided else None,
            at=decided[o.id].at if o.id in decided else None,
            reason=decided[o.id].reason if o.id in decided else None,
        )
        for o in reviewer_orgs(session, row)
    )
    versions = versions_of(session, product.id) if all_versions else [row]
    lic = session.get(License, product.license_id)
    spec = spec_of(row)
    return ProductView(
        id=str(product.id),
        slug=product.slug,
        name=product.name,
        kind=product.kind,
        state=product.state,
        operator=operator.slug if operator else "",
        operator_name=operator.name if operator else "",
        listed_version=product.listed_version,
        version=row.version,
        version_state=row.state,
        spec=spec,
        sources=_source_infos(session, spec),
        reviewers=reviewers,
        versions=tuple(
            VersionInfo(v.version, v.state, v.submitted_at, v.decided_at) for v in versions
        ),
        license_in_force=lic is not None and licenses.is_in_force(lic, now),
    )


def _offered_to(spec: ProductSpec, who: Principal) -> bool:
    return who.role != Role.BANK_ANALYST or who.org_slug in spec.consumers


def store(session: Session, who: Principal, now: dt.datetime) -> list[ProductView]:
    """Listed products with their listed version: for a bank, those it may subscribe to."""
    out = []
    listed = session.scalars(
        select(Product).where(Product.state == ProductState.LISTED.value).order_by(Product.slug)
    )
    for product in listed:
        if product.listed_version is None:
            continue
        row = version_row(session, product.id, product.listed_version)
        if _offered_to(spec_of(row), who):
            out.append(_view(session, product, row, all_versions=False, now=now))
    return out


def _cdo_sees(session: Session, who: Principal, product: Product) -> bool:
    mine = set(
        session.scalars(
            select(Dataset.id)
            .join(Domain, Domain.id == Dataset.domain_id)
            .where(Domain.org_id == who.org_id)
        )
    )
    return any(
        s.dataset_id in mine for v in versions_of(session, product.id) for s in spec_of(v).sources
    )


def products_for(session: Session, who: Principal, now: dt.datetime) -> list[ProductView]:
    """The operator its own products (drafts too); the bureau and the auditor all; a CDO those
    reading its datasets; a bank the store. Each with its latest version."""
    if who.role == Role.BANK_ANALYST:
        return store(session, who, now)
    query = select(Product).order_by(Product.slug)
    if who.role == Role.OPERATOR:
        query = query.where(Product.operator_id == who.org_id)
    elif not who.oversees_all and who.role != Role.PROVIDER_CDO:
        return []
    out = []
    for product in session.scalars(query):
        if who.role == Role.PROVIDER_CDO and not _cdo_sees(session, who, product):
            continue
        out.append(
            _view(session, product, latest_version(session, product.id), all_versions=True, now=now)
        )
    return out


def visible_product(session: Session, who: Principal, product_id: UUID) -> Product:
    """The product, if ``who`` may know it exists: the overseers, its operator, the CDOs whose
    data it uses, and a bank it is offered to (listed for it) or that has subscribed to it.
    Anyone else hears what a missing id answers, so no write path reveals that it exists."""
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound("no such product", code="product.not_found")
    if who.role == Role.BANK_ANALYST:
        spec = listed_spec(session, product)
        offered = spec is not None and _offered_to(spec, who)
        subscribed = session.scalar(
            select(Subscription.id)
            .where(Subscription.product_id == product.id, Subscription.consumer_id == who.org_id)
            .limit(1)
        )
        if offered or subscribed is not None:
            return product
    elif (
        who.oversees_all
        or (who.role == Role.OPERATOR and product.operator_id == who.org_id)
        or (who.role == Role.PROVIDER_CDO and _cdo_sees(session, who, product))
    ):
        return product
    raise NotFound("no such product", code="product.not_found")


def get_view(session: Session, who: Principal, product_id: UUID, now: dt.datetime) -> ProductView:
    product = visible_product(session, who, product_id)
    if who.role == Role.BANK_ANALYST:
        spec = listed_spec(session, product)
        if spec is None or not _offered_to(spec, who) or product.listed_version is None:
            raise NotFound("no such product", code="product.not_found")
        row = version_row(session, product.id, product.listed_version)
        return _view(session, product, row, all_versions=False, now=now)
    return _view(session, product, latest_version(session, product.id), all_versions=True, now=now)
