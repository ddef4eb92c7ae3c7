"""The training objective: task loss plus the scheduled, weighted resource costs."""

from __future__ import annotations

import torch

from growsim import costs
from growsim.lattice import Box, LatticeNetwork


def loss_terms(
    model: LatticeNetwork,
    images: torch.Tensor,
    labels: torch.Tensor,
    weights: tuple[float, float, float],
    costs_config,
    max_box: Box,
    step_supervision: float,
):
    """(total loss, task loss, time cost, correct count) of one batch: the training objective.

    ``weights`` are the scheduled (breadth, depth, time) cost weights.
    """
    breadth_weight, depth_weight, time_weight = weights
    output = model(images)
    magnitudes = costs.channel_magnitudes(model.incoming_weights())
    task = costs.expected_task_loss(output.logits, output.log_step_probs, labels, step_supervision)
    breadth = costs.breadth_cost(magnitudes, max_box.channels, costs_config.breadth.exponent)
    depth = costs.depth_cost(magnitudes, max_box.layers, costs_config.depth.exponent)
    time_ = costs.time_cost(output.step_probs)
    total = task + breadth_weight * breadth + depth_weight * depth + time_weight * time_
    correct = (output.class_probs().argmax(dim=1) == labels).sum()
    return total, task, time_, correct
