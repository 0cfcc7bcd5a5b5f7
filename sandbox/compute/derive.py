"""Derived labels: what a credit check releases instead of raw values.

A product names, per provider dataset, labels computed *inside the provider's domain* from its
raw columns: a band of a number (an insured-headcount band), a flag (arrears yes/no), or a
mapping of categories (a tax-grade band). The derivations travel in the provider's signed ticket;
the provider's worker applies them while it builds its lookup table, so the raw value never
leaves the domain, not even sealed.

Rules:

``map``
    a category, string or boolean value to a label (``mapping``); a value the mapping does not
    name gets ``default``.
``bands``
    a number to one of ``len(edges) + 1`` labels: below ``edges[0]`` the first label, from
    ``edges[i-1]`` (inclusive) below ``edges[i]`` label ``i``, from the last edge on the last.
``flag``
    ``yes`` when a boolean is true or a number is above zero, else ``no``.

A blank source value gives a blank label (unknown is not "no"). A value that cannot be read as
the rule needs (a number that is not one) gives ``default`` for ``map`` and blank otherwise.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}\Z")  # \Z: no trailing newline
RULES = ("map", "bands", "flag")
MAX_LABEL = 64
MAX_ENTRIES = 200
YES, NO = "yes", "no"
_TRUE = frozenset({"true", "1", "yes", "y", "t"})


@dataclass(frozen=True, slots=True)
class Derivation:
    name: str  # the label as released
    column: str  # the provider's raw column it is computed from
    rule: str  # one of RULES
    mapping: tuple[tuple[str, str], ...] = ()  # map
    edges: tuple[float, ...] = ()  # bands, ascending
    labels: tuple[str, ...] = ()  # bands: len(edges) + 1 labels
    default: str = ""  # map: for values the mapping does not name

    def __post_init__(self) -> None:
        # Edges as floats, however given: the JSON form (and so derived_digest, which names the
        # table on both sides of a ticket) must not depend on whether an edge was 10 or 10.0.
        try:
            edges = tuple(float(e) for e in self.edges)
        except (OverflowError, TypeError, ValueError):
            raise ValueError(f"derived label {self.name!r}: band edges are numbers") from None
        object.__setattr__(self, "edges", edges)
        problem = self._problem()
        if problem:
            raise ValueError(f"derived label {self.name!r}: {problem}")

    def _problem(self) -> str | None:
        if not NAME.match(self.name) or not NAME.match(self.column):
            return "names are lower-case letters, digits and underscores"
        if self.rule not in RULES:
            return f"the rule must be one of {', '.join(RULES)}"
        texts = [v for pair in self.mapping for v in pair] + [*self.labels, self.default]
        if any(len(t) > MAX_LABEL for t in texts):
            return f"labels are at most {MAX_LABEL} characters"
        if len(self.mapping) > MAX_ENTRIES or len(self.edges) > MAX_ENTRIES:
            return f"at most {MAX_ENTRIES} entries"
        if self.rule == "map":
            if not self.mapping:
                return "a mapping needs at least one entry"
            if len({k for k, _ in self.mapping}) != len(self.mapping):
                return "each mapped value once"
            if self.edges or self.labels:
                return "a mapping has no edges or band labels"
        elif self.rule == "bands":
            if not self.edges or len(self.labels) != len(self.edges) + 1:
                return "bands need edges and one more label than edges"
            if not all(math.isfinite(e) for e in self.edges) or any(
                b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)
            ):
                return "band edges must be finite and strictly ascending"
            if self.mapping:
                return "bands have no mapping"
        elif self.mapping or self.edges or self.labels:
            return "a flag takes no mapping, edges or labels"
        return None

    def outputs(self) -> tuple[str, ...]:
        """Every label value this derivation can produce (blank included): sizes the table."""
        if self.rule == "map":
            return tuple(sorted({v for _, v in self.mapping} | {self.default, ""}))
        if self.rule == "bands":
            return (*self.labels, "")
        return (YES, NO, "")

    def apply(self, raw: str | None) -> str:
        value = (raw or "").strip()
        if not value:
            return ""
        if self.rule == "map":
            return dict(self.mapping).get(value, self.default)
        if self.rule == "flag":
            if value.lower() in _TRUE:
                return YES
            number = _number(value)
            if number is None:
                return NO if value.lower() in {"false", "0", "no", "n", "f"} else ""
            return YES if number > 0 else NO
        number = _number(value)
        if number is None:
            return ""
        for edge, label in zip(self.edges, self.labels, strict=False):
            if number < Decimal(repr(edge)):
                return label
        return self.labels[-1]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "column": self.column,
            "rule": self.rule,
            "mapping": [list(pair) for pair in self.mapping],
            "edges": list(self.edges),
            "labels": list(self.labels),
            "default": self.default,
        }

    @classmethod
    def from_json(cls, value: Any) -> Derivation:
        """Parse a derivation from its JSON form (a ticket's scope, a product spec); any
        malformed field raises ``ValueError``."""
        if not isinstance(value, Mapping):
            raise ValueError("a derived label is an object")
        allowed = {"name", "column", "rule", "mapping", "edges", "labels", "default"}
        if not set(value) <= allowed or not {"name", "column", "rule"} <= set(value):
            raise ValueError("a derived label has name, column, rule and the rule's fields")
        mapping = value.get("mapping", [])
        if isinstance(mapping, Mapping):
            mapping = list(mapping.items())
        if not isinstance(mapping, list) or not all(
            isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(x, str) for x in p)
            for p in mapping
        ):
            raise ValueError("a mapping pairs text with text")
        edges = value.get("edges", [])
        if not isinstance(edges, list) or not all(
            isinstance(e, int | float) and not isinstance(e, bool) for e in edges
        ):
            raise ValueError("band edges are numbers")
        labels = value.get("labels", [])
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise ValueError("band labels are text")
        fields = (value["name"], value["column"], value["rule"], value.get("default", ""))
        if not all(isinstance(x, str) for x in fields):
            raise ValueError("name, column, rule and default are text")
        try:
            floats = tuple(float(e) for e in edges)
        except OverflowError:  # an integer too large for a float
            raise ValueError("band edges must be finite") from None
        return cls(
            name=value["name"],
            column=value["column"],
            rule=value["rule"],
            mapping=tuple((str(k), str(v)) for k, v in mapping),
            edges=floats,
            labels=tuple(labels),
            default=value.get("default", ""),
        )


def _number(value: str) -> Decimal | None:
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def check_set(derived: Sequence[Derivation]) -> None:
    """A set of derivations for one dataset: distinct output names (``ValueError`` if not)."""
    names = [d.name for d in derived]
    if len(set(names)) != len(names):
        raise ValueError("each derived label name once")


def derived_digest(derived: Sequence[Derivation]) -> str:
    """Names a table built with these derivations (with the dataset version and key)."""
    return hashlib.sha256(
        json.dumps([d.to_json() for d in derived], sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()[:32]
