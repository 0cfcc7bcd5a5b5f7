"""`sandbox voucher verify FILE` checks a downloaded voucher offline."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from grants.demo import seed_governance
from grants.vouchers import issue_voucher
from sandbox.clock import utcnow
from sandbox.keys import load_or_create_private_key, public_path
from sandbox.parties.models import User
from sandbox.parties.principal import Principal
from tests.conftest import World
from web.cli import main


def test_voucher_verifies_offline_and_tampering_fails(world: World, tmp_path: Path) -> None:
    key = load_or_create_private_key(world.settings.ticket_key_path)
    with world.factory() as session:
        gov = seed_governance(session, now=utcnow())
        operator = session.scalar(select(User).where(User.username == "operator"))
        assert operator is not None
        voucher = issue_voucher(
            session, Principal.of(operator), gov.approved_grant_id, key, now=utcnow()
        )
        session.commit()
    good = tmp_path / "voucher.json"
    good.write_text(json.dumps(voucher))
    env = {"SANDBOX_DATA_DIR": str(world.settings.data_dir)}
    ok = CliRunner().invoke(main, ["voucher", "verify", str(good)], env=env)
    assert ok.exit_code == 0 and f"grant {gov.approved_grant_id}" in ok.output, ok.output
    with_key = CliRunner().invoke(
        main,
        ["voucher", "verify", str(good), "--key", str(public_path(world.settings.ticket_key_path))],
    )
    assert with_key.exit_code == 0, with_key.output
    voucher["voucher"]["terms"]["calls_per_day"] = 10**6
    bad = tmp_path / "forged.json"
    bad.write_text(json.dumps(voucher))
    refused = CliRunner().invoke(main, ["voucher", "verify", str(bad)], env=env)
    assert refused.exit_code == 1 and "signature" in refused.output
