"""Uniform shuffles for the protocols that must hide an order (the requester's, or a provider's
rows): sort by distinct random keys."""

from __future__ import annotations

from collections.abc import Callable, Sequence

SORT_KEY_BYTES = 16
_MAX_RNG_ATTEMPTS = 4


def permutation(count: int, rng: Callable[[int], bytes]) -> list[int]:
    """A uniformly random ordering of range(count): sort by distinct 128-bit keys from ``rng``.
    Ties would favour the input order; with 128-bit keys they only come from a broken rng,
    which is refused after a few attempts."""
    size = SORT_KEY_BYTES
    for _ in range(_MAX_RNG_ATTEMPTS):
        raw = rng(size * count)
        if not isinstance(raw, bytes) or len(raw) != size * count:
            raise ValueError("rng must return exactly the number of bytes asked for")
        keys = [raw[i : i + size] for i in range(0, len(raw), size)]
        if len(set(keys)) == count:
            return sorted(range(count), key=keys.__getitem__)
    raise ValueError("rng keeps returning repeated sort keys")


def distinct_items(items: Sequence[bytes], *, what: str, limit: int) -> tuple[bytes, ...]:
    """A party's own items: a non-empty sequence of distinct byte strings, at most ``limit``
    (equal ids would give equal points and show the other party how often an id repeats)."""
    if isinstance(items, bytes | str):
        raise TypeError("items must be a sequence of bytes")
    values = tuple(items)
    if not values:
        raise ValueError(f"{what} needs at least one item")
    if len(values) > limit:
        raise ValueError("too many items")
    for item in values:
        if not isinstance(item, bytes):
            raise TypeError("items must be bytes")
    if len(set(values)) != len(values):
        raise ValueError("items must be distinct (add up rows per id first)")
    return values
