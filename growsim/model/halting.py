"""The time distribution from halting logits: stick-breaking, and the logits that make it
uniform (a new network's)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def stick_breaking_log_probs(halting_logits: torch.Tensor) -> torch.Tensor:
    """log p_t from halting logits (batch, step); the last step takes the remaining mass."""
    log_halt = F.logsigmoid(halting_logits)
    log_continue = F.logsigmoid(-halting_logits)
    survived = torch.cumsum(log_continue, dim=1) - log_continue  # log prod_{s<t} (1 - lambda_s)
    log_probs = log_halt + survived
    return torch.cat([log_probs[:, :-1], survived[:, -1:]], dim=1)


def uniform_halting_bias(steps: int) -> torch.Tensor:
    """Halting logits that make the time distribution uniform over ``steps`` steps."""
    bias = torch.zeros(steps)
    for step in range(steps - 1):
        halt = 1.0 / (steps - step)
        bias[step] = math.log(halt / (1.0 - halt))
    return bias
