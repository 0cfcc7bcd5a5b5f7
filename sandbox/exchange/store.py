"""Content-addressed message store between domains.

A message is put as bytes and named by its SHA-256; whoever gets it by that name checks the
hash, so a message cannot be swapped in transit or at rest. Messages expire after a TTL. The
broker and the control DB only ever carry these names (the job's transcript digests).

Two backends: a directory (``sandbox demo``, and domains that share a filesystem) and Redis
(domains on separate hosts). Both refuse an expired, missing, oversized or corrupted message
with :class:`ExchangeError`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import redis

from sandbox.errors import SandboxError
from sandbox.settings import Settings

DIGEST = re.compile(r"^[0-9a-f]{64}$")


class ExchangeError(SandboxError):
    code = "exchange.unavailable"


def name_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not DIGEST.fullmatch(name):
        raise ExchangeError("not a message name", code="exchange.bad_name")
    return name


def _verified(name: str, data: bytes, max_bytes: int) -> bytes:
    if len(data) > max_bytes:
        raise ExchangeError("the message is larger than allowed", code="exchange.too_large")
    if name_of(data) != name:
        raise ExchangeError("the message does not match its name", code="exchange.corrupt")
    return data


class Exchange(Protocol):
    def put(self, data: bytes) -> str: ...
    def get(self, name: str, *, max_bytes: int) -> bytes: ...
    def has(self, name: str) -> bool: ...
    def sweep(self) -> int: ...


@dataclass(frozen=True, slots=True)
class FileExchange:
    root: Path
    ttl_seconds: int

    def _path(self, name: str) -> Path:
        name = _check_name(name)
        return self.root / name[:2] / name

    def put(self, data: bytes) -> str:
        name = name_of(data)
        path = self._path(name)
        if path.exists():
            os.utime(path)  # the same content again: extend its life, write nothing
            return name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{name}.{uuid.uuid4().hex}")
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        return name

    def _live(self, path: Path) -> bool:
        try:
            return time.time() - path.stat().st_mtime < self.ttl_seconds
        except FileNotFoundError:
            return False

    def get(self, name: str, *, max_bytes: int) -> bytes:
        path = self._path(name)
        if not self._live(path):
            raise ExchangeError("no such message (expired or never sent)", code="exchange.missing")
        if path.stat().st_size > max_bytes:
            raise ExchangeError("the message is larger than allowed", code="exchange.too_large")
        return _verified(name, path.read_bytes(), max_bytes)

    def has(self, name: str) -> bool:
        return self._live(self._path(name))

    def sweep(self) -> int:
        """Delete expired messages; returns how many."""
        removed = 0
        if not self.root.exists():
            return 0
        for path in self.root.glob("*/*"):
            if not self._live(path):
                path.unlink(missing_ok=True)
                removed += 1
        return removed


@dataclass(frozen=True, slots=True)
class RedisExchange:
    url: str
    ttl_seconds: int
    prefix: str = "sandbox:exchange:"

    def _client(self) -> redis.Redis:
        return _redis(self.url)

    def put(self, data: bytes) -> str:
        name = name_of(data)
        client = self._client()
        key = self.prefix + name
        if not client.set(key, data, ex=self.ttl_seconds, nx=True):
            client.expire(key, self.ttl_seconds)
        return name

    def get(self, name: str, *, max_bytes: int) -> bytes:
        key = self.prefix + _check_name(name)
        client = self._client()
        size = client.strlen(key)
        if not size:
            raise ExchangeError("no such message (expired or never sent)", code="exchange.missing")
        if size > max_bytes:
            raise ExchangeError("the message is larger than allowed", code="exchange.too_large")
        data = client.get(key)
        if not isinstance(data, bytes):
            raise ExchangeError("no such message (expired or never sent)", code="exchange.missing")
        return _verified(name, data, max_bytes)

    def has(self, name: str) -> bool:
        return bool(self._client().exists(self.prefix + _check_name(name)))

    def sweep(self) -> int:
        return 0  # Redis expires keys itself


@functools.lru_cache(maxsize=8)
def _redis(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def open_exchange(url: str, *, default_dir: Path, ttl_seconds: int) -> Exchange:
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisExchange(url, ttl_seconds)
    if url and not url.startswith("file://"):
        raise ValueError("SANDBOX_EXCHANGE_URL must be redis://… or file://…")
    root = Path(url.removeprefix("file://")) if url else default_dir
    return FileExchange(root.resolve(), ttl_seconds)


def exchange_for(settings: Settings) -> Exchange:
    return open_exchange(
        settings.exchange_url,
        default_dir=settings.exchange_dir,
        ttl_seconds=settings.exchange_ttl_seconds,
    )
