"""What a domain worker does for each step action, after the ticket has been verified.

An action reads only its own domain's store and the metadata its ticket names, reports
progress, and returns a JSON-able result made of derived figures, never raw values.
"""

from __future__ import annotations

from typing import Any

from sandbox.compute.registry import PROTOCOL_ACTIONS
from sandbox.datasets.quality import profile_file
from sandbox.datasets.stored import open_stored
from sandbox.jobs.context import Action, StepContext
from sandbox.jobs.kinds import DATASET_PROFILE


def _profile(ctx: StepContext) -> dict[str, Any]:
    (ref,) = ctx.ticket.datasets
    data = open_stored(ctx.factory, ctx.store, ctx.domain, ref)
    total = max(data.row_count, 1)
    quality = profile_file(
        data.path,
        data.schema,
        progress=lambda done: ctx.progress(done / total),
        every=max(1000, total // 50),
    )
    result = quality.to_json()
    result["rejected_rows"] = data.rejected_count
    return result


ACTIONS: dict[str, Action] = {DATASET_PROFILE: _profile, **PROTOCOL_ACTIONS}
