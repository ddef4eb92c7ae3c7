"""Schedules: the factor in [0, 1] a cost weight or a learning rate is multiplied by at an
iteration."""

from __future__ import annotations

import math

from growsim.spec.loading import LearningRateSchedule, Schedule


def schedule_factor(schedule: Schedule, iteration: int) -> float:
    """0 before ``delay``; then 1 (constant) or a linear ramp to 1 over ``ramp`` iterations."""
    if iteration < schedule.delay:
        return 0.0
    if schedule.kind == "constant":
        return 1.0
    return min(1.0, (iteration - schedule.delay + 1) / schedule.ramp)


def learning_rate_factor(schedule: LearningRateSchedule, iteration: int, total: int) -> float:
    """The learning rate at ``iteration`` (of ``total``) as a fraction of the spec's lr."""
    if iteration < schedule.warmup:
        return (iteration + 1) / schedule.warmup
    if schedule.kind == "constant":
        return 1.0
    span = max(1, total - schedule.warmup - 1)
    progress = min(1.0, (iteration - schedule.warmup) / span)
    return schedule.final + (1.0 - schedule.final) * 0.5 * (1.0 + math.cos(math.pi * progress))
