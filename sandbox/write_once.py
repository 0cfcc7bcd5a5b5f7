"""Files made once and then only read (keys above all), safe when several processes ask for
them at the same moment: no one ever reads a file that another has created but not yet written."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path


def read_or_create(path: Path, make: Callable[[], bytes], *, mode: int = 0o600) -> bytes:
    """The bytes at ``path``, made by ``make()`` and kept if nothing is there yet. Each caller
    that finds nothing writes a whole value under a private name and links it into place
    (``link`` fails when the name is taken, and the loser reads the winner's value)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.fchmod(fd, mode)  # the umask may have narrowed a public file's mode
            with os.fdopen(fd, "wb") as fh:
                fh.write(make())
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_bytes()
