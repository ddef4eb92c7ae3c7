"""What the trainer hands a recorder at each checkpoint, and the recorder it expects.

The trainer does not know how a checkpoint is stored: it measures the model, builds a
``CheckpointState`` and passes it to the ``Recorder`` it was given (growsim.record.recorder
writes the trajectory store).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from growsim.data.datasets import Dataset
from growsim.model.growth import ActiveRegion
from growsim.model.lattice import Box, LatticeNetwork
from growsim.spec import Spec
from growsim.train.evaluation import EvalResult


@dataclass
class RunningMetrics:
    """Training metrics accumulated since the last checkpoint."""

    batches: int = 0
    task_loss: float = 0.0
    total_loss: float = 0.0
    time_cost: float = 0.0
    correct: int = 0
    seen: int = 0

    def mean(self, name: str) -> float:
        """Mean of a summed metric over the batches seen (NaN before any)."""
        return getattr(self, name) / self.batches if self.batches else math.nan

    def accuracy(self) -> float:
        """Training accuracy over the batches seen (NaN before any)."""
        return self.correct / self.seen if self.seen else math.nan


@dataclass
class CheckpointState:
    """The model and its measurements at one checkpoint, after any growth or compaction."""

    iteration: int
    epoch: float  # iterations / batches per epoch
    model: LatticeNetwork
    old_box: Box  # the box before this checkpoint's growth or compaction
    max_box: Box
    magnitudes: np.ndarray  # (layer, channel) norm of each channel's incoming weights
    region: ActiveRegion
    validation: EvalResult  # decided on
    evaluation: EvalResult  # test sets: reported only, NaN when not evaluated
    running: RunningMetrics  # training since the last checkpoint
    cost_weights: dict[str, float]  # scheduled weights of the last training iteration


class Recorder(Protocol):
    """Receives a run's checkpoints (see growsim.record.recorder.TrajectoryRecorder)."""

    def start(
        self, spec: Spec, dataset: Dataset, max_box: Box, eval_levels: tuple[float, ...]
    ) -> None:
        """Called once the trainer has loaded its data, before any checkpoint."""

    def record(self, state: CheckpointState) -> None:
        """Take one checkpoint (it may be kept in memory until ``flush``)."""

    def flush(self) -> None:
        """Write every checkpoint taken so far (the trainer saves ``checkpoint.pt`` right
        after, so the two always agree on disk)."""


def checkpoint_summary(
    iteration: int, box: Box, region: ActiveRegion, validation: EvalResult, evaluation: EvalResult,
    train_accuracy: float, eval_levels: tuple[float, ...],
) -> dict:  # fmt: skip
    """What a checkpoint tells the progress bar and the run's caller (test metrics NaN
    where the test sets were not evaluated)."""
    return {
        "iteration": iteration,
        "box": box,
        "width": region.width.tolist(),
        "depth": region.depth,
        "expected_steps": float(evaluation.expected_steps_by_level[0]),
        "test_accuracy": float(evaluation.accuracy_by_level[0]),
        "train_accuracy": train_accuracy,
        "validation_accuracy": float(validation.accuracy_by_level[0]),
        "validation_expected_steps": float(validation.expected_steps_by_level[0]),
        "accuracy_by_occlusion": dict(zip(eval_levels, evaluation.accuracy_by_level.tolist())),
        "steps_by_occlusion": dict(zip(eval_levels, evaluation.expected_steps_by_level.tolist())),
    }


def progress_text(summary: dict) -> str:
    """The progress bar's note: validation accuracy, active width per layer, depth, steps."""
    width = "/".join(str(w) for w in summary["width"])
    return (
        f"val acc {summary['validation_accuracy']:.3f} width {width} depth {summary['depth']} "
        f"steps {summary['validation_expected_steps']:.2f}"
    )
