"""The benchmark's target verdicts: speedups as ratios, times scaled to this machine, and no
verdict where the run measured no scale."""

from __future__ import annotations

import pytest

from bench.targets import Target, judge


def test_speedup_target_is_a_ratio_whatever_the_machine() -> None:
    target = Target(speedup_min=1.8)
    assert judge(target, speedup=1.85, ours_s=16.0, peak_rss_mb=300, scale=None) == {
        "target": {"speedup_min": 1.8},
        "met": True,
    }
    assert judge(target, speedup=1.79, ours_s=16.0, peak_rss_mb=300, scale=3.0)["met"] is False


def test_time_target_scales_with_the_machine() -> None:
    target = Target(seconds_max=0.2)
    slow = judge(target, speedup=1.0, ours_s=0.3, peak_rss_mb=1, scale=1.8)
    assert slow == {
        "target": {"ours_s_max_reference": 0.2, "ours_s_max": 0.36},
        "met": True,
    }
    # The same time on a machine as fast as the reference misses the target.
    assert judge(target, speedup=1.0, ours_s=0.3, peak_rss_mb=1, scale=1.0)["met"] is False
    # At the bound is not under it.
    at = judge(Target(seconds_max=150.0), speedup=1.0, ours_s=300.0, peak_rss_mb=1, scale=2.0)
    assert at["met"] is False


def test_time_target_without_a_scale_is_not_judged() -> None:
    target = Target(seconds_max=150.0, peak_rss_mb_max=2048.0)
    out = judge(target, speedup=1.9, ours_s=100.0, peak_rss_mb=300, scale=None)
    assert out == {
        "target": {"ours_s_max_reference": 150.0, "peak_rss_mb_max": 2048.0},
        "met": None,
    }
    for bad_scale in (0.0, -1.0, float("nan")):
        assert judge(target, speedup=1.9, ours_s=1.0, peak_rss_mb=1, scale=bad_scale)["met"] is None
    # A bound that fails is a failure even when another could not be judged.
    over = judge(target, speedup=1.9, ours_s=100.0, peak_rss_mb=4096, scale=None)
    assert over["met"] is False


def test_memory_bound_is_not_scaled() -> None:
    target = Target(seconds_max=150.0, peak_rss_mb_max=2048.0)
    assert judge(target, speedup=1.9, ours_s=200.0, peak_rss_mb=300, scale=2.0)["met"] is True
    assert judge(target, speedup=1.9, ours_s=200.0, peak_rss_mb=2048, scale=2.0)["met"] is False


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"speedup_min": 0.0}, {"seconds_max": -1.0}, {"peak_rss_mb_max": float("nan")}],
)
def test_a_target_needs_positive_bounds(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Target(**kwargs)
