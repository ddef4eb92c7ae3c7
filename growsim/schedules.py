"""Cost-weight schedules: the factor in [0, 1] a cost weight is multiplied by at an iteration."""

from __future__ import annotations

from growsim.spec import Schedule


def schedule_factor(schedule: Schedule, iteration: int) -> float:
    """0 before ``delay``; then 1 (constant) or a linear ramp to 1 over ``ramp`` iterations."""
    if iteration < schedule.delay:
        return 0.0
    if schedule.kind == "constant":
        return 1.0
    return min(1.0, (iteration - schedule.delay + 1) / schedule.ramp)
