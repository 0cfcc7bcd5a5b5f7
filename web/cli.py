"""The ``sandbox`` command line. Reads Settings once, here, and calls service functions."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from sandbox.clock import utcnow
from sandbox.errors import SandboxError
from sandbox.settings import Settings


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj  # type: ignore[no-any-return]


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """Privacy-preserving sandbox for the authorized operation of public data."""
    ctx.obj = Settings()


@main.command("init")
@click.pass_context
def init_cmd(ctx: click.Context) -> None:
    """Create or upgrade the control DB schema and the ticket key."""
    from sandbox.platform import init

    settings = _settings(ctx)
    init(settings)
    click.echo(f"control DB ready at {settings.control_db_url.split('@')[-1]}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--reset", is_flag=True, help="Delete the demo's data directory first.")
@click.option("--enterprises", default=5000, show_default=True, type=click.IntRange(100, 10**6))
@click.pass_context
def demo(ctx: click.Context, host: str, port: int, reset: bool, enterprises: int) -> None:
    """Everything in one process tree on embedded defaults, with demo data and accounts."""
    from web.demo import run_demo

    run_demo(_settings(ctx), host=host, port=port, reset=reset, enterprises=enterprises)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int) -> None:
    """Serve the web app and API with gunicorn."""
    from web.serve import serve as run

    run(_settings(ctx), host=host, port=port, workers=workers)


@main.command()
@click.option("--coordinator", "coordinator_role", is_flag=True, help="Serve queue coordinator.")
@click.option("--domain", default=None, help="Serve queue domain.NAME, with that domain's store.")
@click.pass_context
def worker(ctx: click.Context, coordinator_role: bool, domain: str | None) -> None:
    """Run a Celery worker process (solo pool; start more processes to scale out)."""
    from sandbox.jobs.worker import run_worker

    if not coordinator_role and domain is None:
        raise click.UsageError("pass --coordinator, --domain NAME, or both")
    from grants.sweep import sweep
    from products.calls import settle_pending

    # Expiry sweeps, and settling the usage of product calls whose jobs have ended.
    periodic = [sweep, settle_pending] if coordinator_role else []
    _guard(
        lambda: run_worker(
            _settings(ctx), coordinator_role=coordinator_role, domain=domain, periodic=periodic
        )
    )


@main.command("bench")
@click.argument("name", type=click.Choice(["psi", "paillier"]))
@click.option("--quick", is_flag=True, help="Small sizes: a smoke run of every code path.")
@click.option("--case", "cases", multiple=True, help="Only this case (repeatable).")
def bench_cmd(name: str, quick: bool, cases: tuple[str, ...]) -> None:
    """Run a benchmark; prints one JSON object per case (DESIGN §8)."""
    from bench import paillier, psi

    suite = psi if name == "psi" else paillier
    unknown = sorted(set(cases) - set(suite.CASES))
    if unknown:
        raise click.BadParameter(f"unknown case(s) {unknown}; choose from {list(suite.CASES)}")
    suite.run(quick=quick, only=cases)


def _guard(action: Callable[[], None]) -> None:
    try:
        action()
    except SandboxError as exc:
        raise click.ClickException(f"{exc.message} [{exc.code}]") from exc


@main.group()
def dataset() -> None:
    """Datasets inside domains."""


@dataset.command("load")
@click.option("--domain", required=True, help="The domain whose store receives the rows.")
@click.option("--file", "file_", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--schema", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--encoding",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "utf-8", "gbk", "gb18030"]),
)
@click.option("--json", "as_json", is_flag=True, help="Print the load report as JSON.")
@click.pass_context
def dataset_load(
    ctx: click.Context, domain: str, file_: Path, schema: Path, encoding: str, as_json: bool
) -> None:
    """Load a CSV into a domain's store and register its metadata in the catalog."""
    from sandbox.datasets.schema import load_schema_text
    from sandbox.datasets.service import load_dataset
    from sandbox.db.engine import make_engine, make_session_factory

    settings = _settings(ctx)
    for path, what in ((file_, "data file"), (schema, "schema file")):
        if not path.is_file():
            raise click.ClickException(f"{what} {path} does not exist")
    factory = make_session_factory(make_engine(settings))
    size = file_.stat().st_size
    try:
        parsed = load_schema_text(schema.read_bytes())
        stderr = sys.stderr
        with click.progressbar(
            length=max(size, 1), label=f"loading {file_.name}", file=stderr
        ) as bar:
            seen = [0]

            def progress(_rows: int, done_bytes: int) -> None:
                bar.update(max(0, done_bytes - seen[0]))
                seen[0] = max(seen[0], done_bytes)

            outcome = load_dataset(
                factory,
                settings,
                domain_name=domain,
                source=file_,
                schema=parsed,
                now=utcnow(),
                encoding=encoding,
                progress=progress,
            )
    except SandboxError as exc:
        raise click.ClickException(f"{exc.message} [{exc.code}]") from exc
    report = outcome.report
    summary = {
        "dataset_id": str(outcome.dataset_id),
        "domain": outcome.domain,
        "name": outcome.name,
        "version": outcome.version,
        "encoding": report.encoding,
        "rows_read": report.rows_read,
        "rows_loaded": report.rows_loaded,
        "rejected": report.rejected_count,
        "fingerprint": report.fingerprint,
        "rejections": [
            {"line": r.line, "column": r.column, "reason": r.reason} for r in report.rejections
        ],
    }
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    click.echo(
        f"loaded {domain}/{outcome.name} v{outcome.version}: {report.rows_loaded} rows "
        f"({report.encoding}), {report.rejected_count} rejected"
    )
    for r in report.rejections[:50]:
        click.echo(f"  line {r.line}: {r.column or 'row'}: {r.reason}")
    if report.rejected_count > 50:
        click.echo(f"  … and {report.rejected_count - 50} more (--json lists up to 1000)")


@main.group()
def org() -> None:
    """Organizations."""


@org.command("add")
@click.option("--slug", required=True)
@click.option("--name", required=True)
@click.option(
    "--kind",
    required=True,
    type=click.Choice(["bureau", "provider", "operator", "bank", "auditor"]),
)
@click.option("--domain", default=None, help="Also create this organization's data domain.")
@click.pass_context
def org_add(ctx: click.Context, slug: str, name: str, kind: str, domain: str | None) -> None:
    """Add an organization (and, for providers and banks, its domain)."""
    from sandbox.db.engine import make_engine, make_session_factory, session_scope
    from sandbox.domains.service import create_domain
    from sandbox.parties.roles import OrgKind
    from sandbox.parties.service import create_organization

    factory = make_session_factory(make_engine(_settings(ctx)))

    def run() -> None:
        with session_scope(factory) as session:
            created = create_organization(
                session, slug=slug, name=name, kind=OrgKind(kind), now=utcnow()
            )
            if domain:
                create_domain(session, name=domain, org=created, now=utcnow())

    _guard(run)
    click.echo(f"organization {slug} added" + (f" with domain {domain}" if domain else ""))


@main.group()
def user() -> None:
    """Users."""


@user.command("add")
@click.option("--username", required=True)
@click.option("--org", "org_slug", required=True)
@click.option(
    "--role",
    required=True,
    type=click.Choice(["bureau_admin", "provider_cdo", "operator", "bank_analyst", "auditor"]),
)
@click.option("--display-name", default=None)
@click.password_option(prompt="Password (12+ characters)")
@click.pass_context
def user_add(
    ctx: click.Context,
    username: str,
    org_slug: str,
    role: str,
    display_name: str | None,
    password: str,
) -> None:
    """Add a user to an organization."""
    from sqlalchemy import select

    from sandbox.db.engine import make_engine, make_session_factory, session_scope
    from sandbox.errors import NotFound
    from sandbox.parties.models import Organization
    from sandbox.parties.roles import Role
    from sandbox.parties.service import create_user

    factory = make_session_factory(make_engine(_settings(ctx)))

    def run() -> None:
        with session_scope(factory) as session:
            found = session.scalar(select(Organization).where(Organization.slug == org_slug))
            if found is None:
                raise NotFound(f"unknown organization {org_slug!r}")
            create_user(
                session,
                username=username,
                display_name=display_name or username,
                org=found,
                role=Role(role),
                password=password,
                now=utcnow(),
            )

    _guard(run)
    click.echo(f"user {username} added")


@main.group()
def audit() -> None:
    """The tamper-evident ledger: checkpoints, export, offline verification."""


def _session_factory(ctx: click.Context) -> Any:
    from sandbox.db.engine import make_engine, make_session_factory

    return make_session_factory(make_engine(_settings(ctx)))


@audit.command("checkpoint")
@click.pass_context
def audit_checkpoint(ctx: click.Context) -> None:
    """Sign a checkpoint of the ledger now."""
    from sandbox.db.engine import session_scope
    from sandbox.keys import load_or_create_private_key
    from sandbox.ledger.log import checkpoint

    key = load_or_create_private_key(_settings(ctx).ledger_key_path)
    with session_scope(_session_factory(ctx)) as session:
        row = checkpoint(session, key, now=utcnow())
        click.echo(f"checkpoint: tree_size={row.tree_size} root_hash={row.root_hash}")


@audit.command("export")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def audit_export(ctx: click.Context, out_dir: Path) -> None:
    """Write entries.jsonl, checkpoint.json and ledger-public-key.pem for offline checks."""
    from sandbox.db.engine import session_scope
    from sandbox.keys import load_or_create_private_key
    from sandbox.ledger.export import export
    from sandbox.ledger.log import Actor

    key = load_or_create_private_key(_settings(ctx).ledger_key_path)
    try:
        with session_scope(_session_factory(ctx)) as session:
            done = export(session, key, out_dir, actor=Actor("cli", None), now=utcnow())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"exported {done.tree_size} entries to {out_dir} (root {done.root_hash})")


@audit.command("verify")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--old-checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A checkpoint.json kept from earlier: check the log only grew since.",
)
def audit_verify(directory: Path, old_checkpoint: Path | None) -> None:
    """Verify an export with no database: every entry, the order, the signed checkpoint."""
    from sandbox.ledger.offline import verify_export

    try:
        report = verify_export(directory, old_checkpoint=old_checkpoint)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    _verdict(report)


@audit.command("consistency")
@click.option("--old", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--new", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "--proof",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The JSON of GET /api/v1/ledger/proofs/consistency.",
)
@click.option("--key", type=click.Path(dir_okay=False, path_type=Path), required=True)
def audit_consistency(old: Path, new: Path, proof: Path, key: Path) -> None:
    """Check a consistency proof between two signed checkpoints, with no entries at all."""
    from sandbox.ledger.offline import verify_consistency_files

    try:
        report = verify_consistency_files(old, new, proof, key)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    _verdict(report)


def _verdict(report: Any) -> None:
    if report.ok:
        extra = " and is consistent with the old checkpoint" if report.checked_old else ""
        click.echo(
            f"OK: {report.tree_size} entries, root {report.root_hash}, key {report.key_id}{extra}"
        )
        return
    click.echo(f"FAILED: {report.problem}", err=True)
    raise SystemExit(1)


@main.group()
def voucher() -> None:
    """Data-asset vouchers (数据资产凭证)."""


@voucher.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The grant authority's public key (PEM); default this installation's.",
)
@click.pass_context
def voucher_verify(ctx: click.Context, file: Path, key: Path | None) -> None:
    """Check a voucher's signature and format offline, and print what it covers."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from grants.vouchers import verify_voucher
    from sandbox.keys import load_public_key

    if not file.is_file():
        raise click.UsageError(f"{file} does not exist")
    if key is not None:
        public = load_pem_public_key(key.read_bytes())
        if not isinstance(public, Ed25519PublicKey):
            raise click.UsageError(f"{key} is not an Ed25519 public key")
    else:
        public = load_public_key(_settings(ctx).ticket_key_path)
    try:
        claims = verify_voucher(file.read_bytes(), public)
    except SandboxError as exc:
        click.echo(f"FAILED: {exc.message}", err=True)
        raise SystemExit(1) from exc
    click.echo(
        f"OK: voucher for grant {claims.get('grant')} "
        f"({claims.get('operator')}), issued {claims.get('issued_at')}"
    )


if __name__ == "__main__":
    main()
