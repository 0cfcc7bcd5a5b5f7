"""Splitting raw work into chunks for a caller's executor.

The package never creates a pool (Celery workers are daemonic and cannot have children):
callers pass any ``concurrent.futures.Executor``. Chunk functions live in ``hazmat`` at module
level and take only picklable arguments (keys are frozen dataclasses, the rest ints), so a
``ProcessPoolExecutor`` works; each worker process builds its fixed-base table once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from typing import Any

__all__ = ["map_chunks"]


def map_chunks(
    fn: Callable[..., list[int]],
    head: tuple[Any, ...],
    columns: tuple[Sequence[int], ...],
    *,
    executor: Executor | None,
    chunk_size: int,
) -> list[int]:
    """``fn(*head, *columns)``, run here, or chunk by chunk on ``executor`` (results in order)."""
    if type(chunk_size) is not int or chunk_size < 1:
        raise ValueError("chunk_size must be a positive int")
    total = len(columns[0])
    if executor is None:
        return fn(*head, *columns)
    futures: list[Future[list[int]]] = [
        executor.submit(fn, *head, *(column[start : start + chunk_size] for column in columns))
        for start in range(0, total, chunk_size)
    ]
    out: list[int] = []
    try:
        for future in futures:
            out.extend(future.result())
    finally:
        for future in futures:
            future.cancel()
    return out
