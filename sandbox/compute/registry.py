"""The protocol actions a domain worker can run, by name."""

from __future__ import annotations

from sandbox.compute import exposure_steps, he_steps, isum_steps, lookup_steps, psi_steps
from sandbox.jobs.context import Action

PROTOCOL_ACTIONS: dict[str, Action] = {
    psi_steps.PREPARE: psi_steps.prepare,
    psi_steps.SETUP: psi_steps.setup,
    psi_steps.REQUEST: psi_steps.request,
    psi_steps.RESPOND: psi_steps.respond,
    psi_steps.FINISH: psi_steps.finish,
    psi_steps.COLLECT: psi_steps.collect,
    lookup_steps.BUILD: lookup_steps.build,
    lookup_steps.PUBLISH: lookup_steps.publish,
    lookup_steps.INSTALL: lookup_steps.install,
    lookup_steps.BLIND: lookup_steps.blind,
    lookup_steps.EVALUATE: lookup_steps.evaluate,
    lookup_steps.OPEN: lookup_steps.open_,
    lookup_steps.COLLECT: lookup_steps.collect,
    he_steps.KEYGEN: he_steps.keygen,
    he_steps.ENCRYPT: he_steps.encrypt,
    he_steps.COMBINE: he_steps.combine,
    he_steps.RELEASE: he_steps.release,
    isum_steps.PREPARE: isum_steps.prepare,
    isum_steps.SETUP: isum_steps.setup,
    isum_steps.REQUEST: isum_steps.request,
    isum_steps.RESPOND: isum_steps.respond,
    isum_steps.FINISH: isum_steps.finish,
    isum_steps.COLLECT: isum_steps.collect,
    isum_steps.RELEASE: isum_steps.release,
    exposure_steps.BLIND: exposure_steps.blind,
    exposure_steps.OFFER: exposure_steps.offer,
    exposure_steps.SHUFFLE: exposure_steps.shuffle,
    exposure_steps.MATCH: exposure_steps.match,
    exposure_steps.RELEASE: exposure_steps.release,
    exposure_steps.COLLECT: exposure_steps.collect,
}
