"""Random bearer secrets (session cookies, API tokens) and their at-rest digests."""

from __future__ import annotations

import hashlib
import secrets

SESSION_PREFIX = "sbs_"
TOKEN_PREFIX = "sbx_"  # noqa: S105  (a public prefix that marks our tokens)


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    # The secrets carry 256 random bits, so a fast hash suffices: nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()
