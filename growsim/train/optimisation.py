"""What takes a training step: the optimiser (its two parameter groups) and the loss
function, compiled or not."""

from __future__ import annotations

from typing import Callable

import torch

from growsim.model.lattice import LatticeNetwork
from growsim.model.objective import loss_terms
from growsim.spec import TrainingConfig


def make_optimizer(model: LatticeNetwork, training: TrainingConfig) -> torch.optim.Optimizer:
    """The optimiser of ``model``: its weights at ``training.lr``, its time-selection
    parameters at ``training.time_lr``."""
    time_ids = {id(p) for p in model.time_parameters()}
    main = [p for p in model.parameters() if id(p) not in time_ids]
    groups = [
        {"params": main, "lr": training.lr},
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
