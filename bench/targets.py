"""An issue's performance targets, judged in the run that measured them.

A speedup target is a ratio against the baseline measured in the same run, and holds on any
machine. A time or memory target was set on the issue's reference machine; a time target is
checked against ``seconds × scale``, where ``scale`` (measured in the same run, next to the case)
says how many times slower this machine is than the reference machine at the same work. The
JSON line keeps both numbers: the reference target and the one this run was held to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Target:
    speedup_min: float | None = None
    seconds_max: float | None = None  # on the reference machine
    peak_rss_mb_max: float | None = None

    def __post_init__(self) -> None:
        if self.speedup_min is None and self.seconds_max is None and self.peak_rss_mb_max is None:
            raise ValueError("a target needs at least one bound")
        for bound in (self.speedup_min, self.seconds_max, self.peak_rss_mb_max):
            if bound is not None and not bound > 0:
                raise ValueError("a target's bounds must be positive")


def judge(
    target: Target,
    *,
    speedup: float,
    ours_s: float,
    peak_rss_mb: float,
    scale: float | None,
) -> dict[str, Any]:
    """``target`` (what the case was held to) and ``met`` for a case's JSON line. A time bound
    needs ``scale``; without one (no calibration in this run) the bound is not judged and
    ``met`` is None (unless another bound failed), never a guess."""
    out: dict[str, Any] = {}
    checks: list[bool | None] = []
    if target.speedup_min is not None:
        out["speedup_min"] = target.speedup_min
        checks.append(speedup >= target.speedup_min)
    if target.seconds_max is not None:
        out["ours_s_max_reference"] = target.seconds_max
        if scale is None or not scale > 0:
            checks.append(None)
        else:
            limit = target.seconds_max * scale
            out["ours_s_max"] = round(limit, 4)
            checks.append(ours_s < limit)
    if target.peak_rss_mb_max is not None:
        out["peak_rss_mb_max"] = target.peak_rss_mb_max
        checks.append(peak_rss_mb < target.peak_rss_mb_max)
    met: bool | None = False if False in checks else None if None in checks else True
    return {"target": out, "met": met}
