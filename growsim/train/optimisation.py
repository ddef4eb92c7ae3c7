"""What takes a training step: the optimiser (its two parameter groups), the loss
function, compiled or not, and the breadth and depth pressure after each step."""

from __future__ import annotations

from typing import Callable

import torch

from growsim.model.lattice import Box, LatticeNetwork
from growsim.model.objective import loss_terms
from growsim.model.proximal import adam_second_moments, apply_pressure, pressure_learning_rate
from growsim.spec import CostsConfig, TrainingConfig


def make_optimizer(model: LatticeNetwork, training: TrainingConfig) -> torch.optim.Optimizer:
    """The optimiser of ``model``: its weights at ``training.lr``, its time-selection
    parameters at ``training.time_lr``. With ``training.trainable`` time the weights are
    frozen (requires_grad off) and their group is empty; it is kept, so the two groups'
    learning rates are scheduled alike whatever trains."""
    time_ids = {id(p) for p in model.time_parameters()}
    main = [p for p in model.parameters() if id(p) not in time_ids]
    # Set on every call: growth, compaction and loading replace parameters by new ones.
    for parameter in main:
        parameter.requires_grad_(training.trainable == "all")
    groups = [
        {"params": main if training.trainable == "all" else [], "lr": training.lr},
        {"params": model.time_parameters(), "lr": training.time_lr},
    ]
    if training.optimizer == "sgd":
        return torch.optim.SGD(groups, momentum=0.9)
    return torch.optim.Adam(groups)


def loss_function(mode: str, device: torch.device, backend: str | Callable) -> Callable:
    """``loss_terms``, compiled with ``backend`` when ``mode`` (training.compile) says so
    (auto: on CUDA only)."""
    if not (mode == "on" or (mode == "auto" and device.type == "cuda")):
        return loss_terms
    # One graph per box: a box change (growth, compaction, loading) compiles anew, and
    # dropping the graphs of earlier boxes keeps a run that changes its box more often than
    # dynamo's recompile limit from falling back to eager for good.
    torch._dynamo.reset()
    return torch.compile(loss_terms, dynamic=False, backend=backend)


def apply_cost_pressure(
    model: LatticeNetwork, optimizer: torch.optim.Optimizer, weights: dict[str, float],
    costs: CostsConfig, max_box: Box,
) -> None:  # fmt: skip
    """The breadth and depth pressure at the scheduled cost ``weights`` as a proximal step
    on ``model``'s weights, after ``optimizer``'s step (see growsim.model.proximal);
    nothing while both weights are 0 (always so with training.trainable time)."""
    if weights["breadth"] > 0 or weights["depth"] > 0:
        layers = model.incoming_weights()
        apply_pressure(
            layers, adam_second_moments(optimizer, layers), weights["breadth"], weights["depth"],
            pressure_learning_rate(optimizer), max_box.channels, max_box.layers,
            costs.breadth.exponent, costs.depth.exponent,
        )  # fmt: skip
