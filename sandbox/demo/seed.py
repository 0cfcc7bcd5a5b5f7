"""Seeding the demo: organizations, domains, accounts with tokens, and the generated datasets
loaded into their domains through the same service as ``sandbox dataset load``."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sandbox.datasets.schema import load_schema_text
from sandbox.datasets.service import load_dataset
from sandbox.db.engine import session_scope
from sandbox.demo.world import ACCOUNTS, DATA_DOMAINS, GATE_DOMAINS, ORGANIZATIONS, write_world
from sandbox.domains.service import create_domain
from sandbox.domains.store import DomainStore
from sandbox.keys import load_or_create_private_key
from sandbox.ledger.log import checkpoint
from sandbox.parties import service as parties
from sandbox.parties.models import Organization
from sandbox.parties.principal import Principal
from sandbox.parties.roles import OrgKind, Role
from sandbox.settings import Settings


def accounts_path(settings: Settings) -> Path:
    return settings.data_dir / "demo-accounts.json"


def is_seeded(factory: sessionmaker[Session]) -> bool:
    with session_scope(factory) as session:
        return session.scalar(select(Organization.id).limit(1)) is not None


def seed(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    now: dt.datetime,
    enterprises: int = 5000,
    say: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    accounts: list[dict[str, Any]] = []
    with session_scope(factory) as session:
        orgs = {
            spec.slug: parties.create_organization(
                session, slug=spec.slug, name=spec.name, kind=OrgKind(spec.kind), now=now
            )
            for spec in ORGANIZATIONS
        }
        for domain, org_slug in DATA_DOMAINS + GATE_DOMAINS:
            create_domain(session, name=domain, org=orgs[org_slug], now=now)
        for spec in ACCOUNTS:
            password = secrets.token_urlsafe(12)
            user = parties.create_user(
                session,
                username=spec.username,
                display_name=spec.display_name,
                org=orgs[spec.org_slug],
                role=Role(spec.role),
                password=password,
                now=now,
            )
            token = parties.create_token(session, Principal.of(user), name="demo", now=now)
            accounts.append(
                {
                    "username": spec.username,
                    "password": password,
                    "role": spec.role,
                    "organization": spec.org_slug,
                    "token": token.secret,
                }
            )
    with tempfile.TemporaryDirectory() as tmp:
        files = write_world(Path(tmp), enterprises=enterprises)
        for item in files:
            store = DomainStore.at(settings.domain_root, item.domain)
            inbox = store.root / "inbox"
            inbox.mkdir(parents=True, exist_ok=True)
            csv_path = Path(shutil.copy(item.csv_path, inbox / item.csv_path.name))
            schema_path = Path(shutil.copy(item.schema_path, inbox / item.schema_path.name))
            outcome = load_dataset(
                factory,
                settings,
                domain_name=item.domain,
                source=csv_path,
                schema=load_schema_text(schema_path.read_text(encoding="utf-8")),
                now=now,
            )
            say(
                f"  loaded {item.domain}/{item.name}: {outcome.report.rows_loaded} rows, "
                f"{outcome.report.rejected_count} rejected"
            )
    with session_scope(factory) as session:
        checkpoint(session, load_or_create_private_key(settings.ledger_key_path), now=now)
    path = accounts_path(settings)
    path.write_text(json.dumps(accounts, indent=2, ensure_ascii=False), encoding="utf-8")
    path.chmod(0o600)
    return accounts
