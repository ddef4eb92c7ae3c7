"""The training objective that backpropagation sees: task loss plus the weighted time cost.

The breadth and depth costs are group norms and are applied after each optimiser step as a
proximal step (``growsim.model.proximal``), not through this loss.
"""

from __future__ import annotations

import torch

from growsim.model import costs
from growsim.model.lattice import LatticeNetwork


def loss_terms(
    model: LatticeNetwork,
    images: torch.Tensor,
    labels: torch.Tensor,
    time_weight: torch.Tensor,
    step_supervision: float,
    entropy_weight: float = 0.0,
):
    """(total loss, task loss, time cost, correct count) of one batch.

    ``time_weight`` is the scheduled time-cost weight as a 0-d tensor, so that a compiled
    step sees a changing weight as data, not as a new constant (no recompilation).
    ``entropy_weight`` rewards spread in each input's time distribution: the loss is then
    minimised per input by p_t proportional to exp(-(CE_t + time_weight * t) / entropy_weight),
    a softmin over steps instead of all mass on one step (docs/model.md).
    """
    output = model(images)
    task = costs.expected_task_loss(output.logits, output.log_step_probs, labels, step_supervision)
    time_ = costs.time_cost(output.step_probs)
    total = task + time_weight * time_
    if entropy_weight:
        total = total - entropy_weight * costs.time_entropy(output.log_step_probs)
    correct = (output.class_probs().argmax(dim=1) == labels).sum()
    return total, task, time_, correct
