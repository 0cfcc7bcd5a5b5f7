"""Helpers for integration tests: an initialized, seeded installation on either the embedded
stack (SQLite + filesystem broker) or the production one (PostgreSQL + Redis)."""

from __future__ import annotations

import csv
import random
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from sandbox.clock import utcnow
from sandbox.datasets.schema import load_schema_text
from sandbox.datasets.service import LoadOutcome, load_dataset
from sandbox.db.engine import make_engine, make_session_factory
from sandbox.demo import seed as demo_seed
from sandbox.identifiers import CREDIT_CODE_ALPHABET, credit_code_check_char
from sandbox.platform import init
from sandbox.settings import Settings


@dataclass
class Stack:
    settings: Settings
    engine: Engine
    factory: sessionmaker[Session]
    accounts: dict[str, dict[str, Any]]


def build_stack(
    data_dir: Path, *, database_url: str = "", broker_url: str = "", **overrides: Any
) -> Stack:
    settings = Settings(
        data_dir=data_dir, database_url=database_url, broker_url=broker_url, **overrides
    )
    init(settings)
    engine = make_engine(settings)
    factory = make_session_factory(engine)
    accounts = demo_seed.seed(
        factory, settings, now=utcnow(), enterprises=150, say=lambda _line: None
    )
    return Stack(settings, engine, factory, {a["username"]: a for a in accounts})


def credit_codes(count: int, *, seed: int) -> list[str]:
    rng = random.Random(seed)
    body = CREDIT_CODE_ALPHABET
    codes: set[str] = set()
    while len(codes) < count:
        first = "91" + "110108" + "".join(rng.choice(body) for _ in range(9))
        codes.add(first + credit_code_check_char(first))
    return sorted(codes)


CANARY_SCHEMA = """
name: canary_records
title: Canary records
description: Every string cell is a unique marker; none may leave the domain.
openness: conditional
grade: important
identifier: {column: credit_code, kind: credit_code}
freshness_column: updated_on
columns:
  - {name: credit_code, type: string, required: true}
  - {name: company_name, type: string}
  - {name: remark, type: string, sensitivity: personal}
  - {name: amount, type: decimal}
  - {name: updated_on, type: date}
"""


@dataclass
class Canaries:
    markers: list[str]
    identifiers: list[str]
    outcome: LoadOutcome


def load_canaries(stack: Stack, tmp: Path, *, rows: int = 300, domain: str = "tax") -> Canaries:
    ids = credit_codes(rows, seed=rows)
    markers: list[str] = []
    path = tmp / "canaries.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["credit_code", "company_name", "remark", "amount", "updated_on"])
        for i, code in enumerate(ids):
            name, remark = f"CANARYN{uuid.uuid4().hex[:12]}", f"CANARYR{uuid.uuid4().hex[:12]}"
            markers += [name, remark]
            writer.writerow([code, name, remark, f"{1000 + i}.25", "2026-10-01"])
    outcome = load_dataset(
        stack.factory,
        stack.settings,
        domain_name=domain,
        source=path,
        schema=load_schema_text(CANARY_SCHEMA),
        now=utcnow(),
    )
    return Canaries(markers, ids, outcome)


def big_dataset(tmp: Path, rows: int) -> Path:
    ids = credit_codes(rows, seed=7)
    path = tmp / "big.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["credit_code", "company_name", "remark", "amount", "updated_on"])
        for i, code in enumerate(ids):
            writer.writerow([code, f"Company {i}", "", f"{i}.50", "2026-10-01"])
    return path
