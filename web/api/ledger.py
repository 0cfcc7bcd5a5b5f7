"""/api/v1/ledger: the latest signed checkpoint (any account), entries and proofs (the
bureau and auditors). Hashes in hex; the public key comes with the checkpoint, and an auditor
compares its key id with the one they hold."""

from __future__ import annotations

import json
from typing import Any

from sandbox.errors import InvalidInput, NotFound
from sandbox.keys import key_id, public_pem
from sandbox.ledger import log as ledger
from sandbox.ledger.models import LedgerCheckpoint
from sandbox.parties.roles import Role
from sandbox.parties.service import require_role
from web import context as ctx
from web.api import schemas as s
from web.api.routes import bp, caller, shaped
from web.api.spec import operation
from web.params import query_int


def _overseer() -> None:
    require_role(caller(), Role.AUDITOR, Role.BUREAU_ADMIN)


def checkpoint_json(row: LedgerCheckpoint) -> dict[str, Any]:
    claims = json.loads(row.body)
    public = ctx.ext()["ledger_key"].public_key()
    return {
        "tree_size": row.tree_size,
        "root_hash": row.root_hash,
        "time": claims["time"],
        "key_id": key_id(public),
        "body": row.body,
        "signature": row.signature,
        "public_key_pem": public_pem(public).decode(),
    }


@operation(
    bp,
    "GET",
    "/ledger/checkpoint",
    summary="The latest signed ledger checkpoint",
    response=s.CheckpointOut,
)
def ledger_checkpoint() -> Any:
    caller()
    row = ledger.latest_checkpoint(ctx.db())
    if row is None:
        raise NotFound("no checkpoint has been signed yet", code="ledger.no_checkpoint")
    return shaped(s.CheckpointOut, checkpoint_json(row))


@operation(
    bp,
    "POST",
    "/ledger/checkpoints",
    summary="Sign a checkpoint of the log now",
    response=s.CheckpointOut,
    status=201,
)
def ledger_sign_checkpoint() -> Any:
    _overseer()
    row = ledger.checkpoint(ctx.db(), ctx.ext()["ledger_key"], now=ctx.now())
    body = checkpoint_json(row)
    ctx.db().commit()
    return shaped(s.CheckpointOut, body), 201


@operation(
    bp,
    "GET",
    "/ledger/entries",
    summary="Entries [start, end) of the log",
    response=s.LedgerEntries,
    query=(("start", "integer"), ("end", "integer")),
)
def ledger_entries() -> Any:
    _overseer()
    size = ledger.size(ctx.db())
    start = query_int("start", default=0)
    end = min(query_int("end", default=start + ledger.MAX_PAGE), size)
    if start > size or end < start or end - start > ledger.MAX_PAGE:
        raise InvalidInput(
            f"need 0 <= start <= end <= {size} and at most {ledger.MAX_PAGE} entries",
            code="ledger.bad_range",
        )
    rows = ledger.entries(ctx.db(), start, end)
    return shaped(
        s.LedgerEntries,
        {
            "size": size,
            "entries": [
                {
                    "index": e.index,
                    "leaf_hash": e.leaf_hash.hex(),
                    "raw": e.body.decode(),
                    "entry": json.loads(e.body),
                }
                for e in rows
            ],
        },
    )


@operation(
    bp,
    "GET",
    "/ledger/proofs/inclusion",
    summary="Inclusion proof of one entry",
    response=s.InclusionProof,
    query=(("index", "integer"), ("tree_size", "integer")),
)
def ledger_inclusion() -> Any:
    _overseer()
    proof = ledger.inclusion(ctx.db(), query_int("index"), query_int("tree_size"))
    return shaped(s.InclusionProof, proof)


@operation(
    bp,
    "GET",
    "/ledger/proofs/consistency",
    summary="Consistency proof between sizes",
    response=s.ConsistencyProof,
    query=(("first", "integer"), ("second", "integer")),
)
def ledger_consistency() -> Any:
    _overseer()
    proof = ledger.consistency(ctx.db(), query_int("first"), query_int("second"))
    return shaped(s.ConsistencyProof, proof)
