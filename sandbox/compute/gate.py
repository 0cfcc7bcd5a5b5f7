"""The output gate's controls (DESIGN §4): what the gate does with decrypted aggregates before
anything is released. Small groups are suppressed (fewer than the grant's minimum cohort k),
differential-privacy noise comes from OpenDP's vetted samplers when the computation spends ε,
and numbers are rounded as the grant says.

Under differential privacy a record changes one group only (the groups are disjoint), so each
group may use the whole ε; inside a group, ε is split evenly over the noisy quantities (count,
sum, and for variance the sum of squares). Sensitivities follow from the value bounds, which a
DP release must state (values are clamped to them in the providers' domains before encryption).
Suppression under DP looks at the noisy count, so it reveals nothing the noise does not cover.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from homomorphic.aggregates import Moments
from sandbox.errors import SandboxError

SUPPRESSED = "suppressed"
RELEASED = "released"


@dataclass(frozen=True, slots=True)
class Controls:
    min_cohort: int
    statistics: tuple[str, ...]  # of "count", "sum", "mean", "variance"
    epsilon: float | None = None
    bounds: tuple[Decimal, Decimal] | None = None
    round_to: Decimal | None = None

    def __post_init__(self) -> None:
        if self.min_cohort < 1:
            raise SandboxError("the minimum cohort must be at least 1", code="gate.controls")
        if self.epsilon is not None:
            if not (math.isfinite(self.epsilon) and self.epsilon > 0):
                raise SandboxError("ε must be a positive number", code="gate.controls")
            if self.bounds is None and set(self.statistics) - {"count"}:
                raise SandboxError(
                    "a differentially private sum needs bounds for the value column",
                    code="gate.bounds_required",
                )


@dataclass(frozen=True, slots=True)
class Row:
    group: tuple[str, ...]
    status: str
    values: dict[str, str]  # statistic -> released text; empty when suppressed


def _noisy(epsilon_part: float, sensitivity: float, value: float, *, integer: bool) -> float:
    import opendp.prelude as dp

    dp.enable_features("contrib")  # OpenDP's samplers outside its vetted pipelines
    scale = sensitivity / epsilon_part
    if integer:
        mech = dp.m.make_laplace(dp.atom_domain(T="i64"), dp.absolute_distance(T="i64"), scale)
        return float(mech(int(value)))
    mech = dp.m.make_laplace(
        dp.atom_domain(T=float, nan=False), dp.absolute_distance(T=float), scale
    )
    return float(mech(float(value)))


def _round(value: Decimal, round_to: Decimal | None, places: int = 6) -> str:
    if round_to is not None and round_to > 0:
        value = (value / round_to).quantize(Decimal(1), rounding=ROUND_HALF_EVEN) * round_to
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return str(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN).normalize())


def release(
    groups: Sequence[tuple[str, ...]], moments: Sequence[Moments], controls: Controls
) -> list[Row]:
    """The rows the gate may release, one per group, in order."""
    if len(groups) != len(moments):
        raise SandboxError("the aggregate does not match its groups", code="gate.mismatch")
    return [_one(group, m, controls) for group, m in zip(groups, moments, strict=True)]


def _one(group: tuple[str, ...], m: Moments, c: Controls) -> Row:
    count, total, squares = Decimal(m.count), Decimal(m.total), Decimal(m.sum_squares)
    if c.epsilon is not None:
        wants_sum = bool({"sum", "mean", "variance"} & set(c.statistics))
        wants_var = "variance" in c.statistics
        eps = c.epsilon / (1 + int(wants_sum) + int(wants_var))
        count = Decimal(max(int(_noisy(eps, 1.0, float(count), integer=True)), 0))
        if wants_sum and c.bounds is not None:
            bound = float(max(abs(c.bounds[0]), abs(c.bounds[1])))
            total = Decimal(repr(_noisy(eps, bound, float(total), integer=False)))
            if wants_var:
                noisy = _noisy(eps, bound * bound, float(squares), integer=False)
                squares = Decimal(repr(max(noisy, 0.0)))
    if count < c.min_cohort:
        return Row(group, SUPPRESSED, {})
    values: dict[str, str] = {}
    for stat in c.statistics:
        if stat == "count":
            values[stat] = str(int(count))
        elif stat == "sum":
            values[stat] = _round(total, c.round_to)
        elif stat == "mean":
            values[stat] = _round(total / count, c.round_to)
        elif stat == "variance":
            mean = total / count
            values[stat] = _round(max(squares / count - mean * mean, Decimal(0)), None)
    return Row(group, RELEASED, values)
