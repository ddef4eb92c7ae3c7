"""Schedules: the factor in [0, 1] a cost weight or a learning rate is multiplied by at an
iteration."""

from __future__ import annotations

import math

from growsim.spec import CostsConfig, LearningRateSchedule, Schedule


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


def cost_weights(costs: CostsConfig, iteration: int) -> dict[str, float]:
    """The scheduled weight of each cost (breadth, depth, time) at ``iteration``."""
    return {
        name: getattr(costs, name).weight
        * schedule_factor(getattr(costs, name).schedule, iteration)
        for name in ("breadth", "depth", "time")
    }


def costs_at_full_weight(costs: CostsConfig, iteration: int) -> bool:
    """True once every cost with a weight has reached its full scheduled weight."""
    return all(
        schedule_factor(cost.schedule, iteration) >= 1.0
        for cost in (costs.breadth, costs.depth, costs.time)
        if cost.weight > 0
    )
