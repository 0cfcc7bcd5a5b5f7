"""The exchange: content-addressed, checked on every read, expiring."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from sandbox.exchange.store import ExchangeError, FileExchange, name_of, open_exchange


def test_put_get_by_content_name(tmp_path: Path) -> None:
    ex = FileExchange(tmp_path, ttl_seconds=60)
    name = ex.put(b"blinded points")
    assert name == name_of(b"blinded points") and ex.has(name)
    assert ex.get(name, max_bytes=100) == b"blinded points"
    assert ex.put(b"blinded points") == name  # the same content, the same name, once


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("../../etc/passwd", "exchange.bad_name"),
        ("A" * 64, "exchange.bad_name"),
        ("0" * 63, "exchange.bad_name"),
        ("0" * 64, "exchange.missing"),
    ],
)
def test_bad_and_unknown_names(tmp_path: Path, name: str, code: str) -> None:
    with pytest.raises(ExchangeError) as info:
        FileExchange(tmp_path, ttl_seconds=60).get(name, max_bytes=100)
    assert info.value.code == code


def test_corrupt_oversized_and_expired(tmp_path: Path) -> None:
    ex = FileExchange(tmp_path, ttl_seconds=60)
    name = ex.put(b"x" * 50)
    with pytest.raises(ExchangeError) as too_big:
        ex.get(name, max_bytes=49)
    assert too_big.value.code == "exchange.too_large"
    path = tmp_path / name[:2] / name
    path.write_bytes(b"y" * 50)
    with pytest.raises(ExchangeError) as corrupt:
        ex.get(name, max_bytes=100)
    assert corrupt.value.code == "exchange.corrupt"
    old = time.time() - 120
    os.utime(path, (old, old))
    assert not ex.has(name)
    with pytest.raises(ExchangeError) as expired:
        ex.get(name, max_bytes=100)
    assert expired.value.code == "exchange.missing"
    keep = ex.put(b"fresh")
    assert ex.sweep() == 1 and not path.exists() and ex.has(keep)


def test_only_redis_or_file_urls(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        open_exchange("s3://bucket", default_dir=tmp_path, ttl_seconds=60)
    assert isinstance(open_exchange("", default_dir=tmp_path, ttl_seconds=60), FileExchange)
