"""The one typed configuration object, read from ``SANDBOX_*`` once at the edge.

Nothing else in the project reads ``os.environ``: the app factory, the worker entry point and
the command line build a :class:`Settings` and pass it down.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SANDBOX_", frozen=True, extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="Root of every local store.")
    database_url: str = Field(default="", description="Control DB; default SQLite in data_dir.")
    broker_url: str = Field(default="", description="Celery broker; default a filesystem queue.")
    domains_dir: Path | None = Field(
        default=None, description="Domain stores; default data_dir/domains."
    )
    secret_key: str = Field(
        default="", description="Flask session key; default a per-install file."
    )
    ticket_key_file: Path | None = Field(default=None, description="Ed25519 ticket authority key.")
    ledger_key_file: Path | None = Field(default=None, description="Ed25519 ledger key.")

    lease_seconds: float = Field(default=30.0, gt=0)
    reaper_interval_seconds: float = Field(default=5.0, gt=0)
    requeue_after_seconds: float = Field(default=60.0, gt=0, description="Re-send a queued step.")
    max_step_attempts: int = Field(default=5, ge=1)
    ticket_ttl_seconds: int = Field(default=3600, ge=10)
    checkpoint_batch_entries: int = Field(default=50, ge=1)
    checkpoint_interval_seconds: float = Field(default=30.0, gt=0)

    max_dataset_bytes: int = Field(default=1 << 30, gt=0)
    max_cell_chars: int = Field(default=4096, gt=0)
    max_columns: int = Field(default=200, gt=0)
    max_reject_ratio: float = Field(default=0.2, ge=0, le=1)
    max_request_bytes: int = Field(default=1 << 20, gt=0)

    exchange_url: str = Field(
        default="",
        description="Protocol message exchange: redis://…, or default data_dir/exchange.",
    )
    exchange_ttl_seconds: int = Field(default=24 * 3600, ge=60, description="Message lifetime.")
    psi_shard_rows: int = Field(
        default=5_000, ge=100, description="Split PSI jobs into shards of about this many ids."
    )
    lookup_shard_rows: int = Field(
        default=500, ge=100, description="Split lookup queries into shards of this many ids."
    )
    lookup_build_rows: int = Field(
        default=250_000, ge=1000, description="Rows per parallel part of a lookup table build."
    )
    max_shards: int = Field(default=64, ge=1, le=1024, description="Most shards of a PSI job.")
    lookup_max_shards: int = Field(default=8, ge=1, le=256, description="Most lookup shards.")
    gate_domain: str = Field(
        default="bureau", description="The domain whose worker holds aggregate keys (the gate)."
    )
    paillier_key_bits: int = Field(
        default=3072, ge=2048, le=8192, description="Paillier modulus size for per-job gate keys."
    )

    cookie_secure: bool = Field(default=False, description="Set behind HTTPS.")
    require_services: bool = Field(default=False, description="Tests fail instead of skip.")
    log_level: str = "INFO"

    @property
    def control_db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'control.db').resolve()}"

    @property
    def celery_broker_url(self) -> str:
        return self.broker_url or "filesystem://"

    @property
    def uses_filesystem_broker(self) -> bool:
        return self.celery_broker_url.startswith("filesystem://")

    @property
    def broker_dir(self) -> Path:
        return (self.data_dir / "broker").resolve()

    @property
    def exchange_dir(self) -> Path:
        return (self.data_dir / "exchange").resolve()

    @property
    def domain_root(self) -> Path:
        return (self.domains_dir or self.data_dir / "domains").resolve()

    @property
    def ticket_key_path(self) -> Path:
        return (self.ticket_key_file or self.data_dir / "keys" / "ticket-authority.pem").resolve()

    @property
    def ledger_key_path(self) -> Path:
        return (self.ledger_key_file or self.data_dir / "keys" / "ledger.pem").resolve()

    @property
    def secret_key_path(self) -> Path:
        return (self.data_dir / "keys" / "session-secret").resolve()
