"""An optional recorder that shows a run's checkpoints in TensorBoard as it trains.

It records a few numbers per checkpoint as scalars (accuracy, active channels per layer,
depth, time used, losses, the box), beside the trajectory store, which stays the record a run
is analysed from. It needs the ``tensorboard`` package (``pip install 'growsim[tensorboard]'``)
unless it is given a writer: any object with ``add_scalar(tag, value, step)``, ``flush()`` and
``close()``, as ``torch.utils.tensorboard.SummaryWriter`` has.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from growsim.data.datasets import Dataset
from growsim.errors import RunError
from growsim.model.lattice import Box
from growsim.spec import Spec
from growsim.train.checkpoint_state import CheckpointState


class TensorBoardRecorder:
    """Writes ``checkpoint_scalars`` of every checkpoint to TensorBoard event files in
    ``log_dir`` (or to ``writer``)."""

    def __init__(self, log_dir: str | Path, writer: Any = None) -> None:
        self.log_dir = Path(log_dir)
        self.writer = writer
        self.eval_levels: tuple[float, ...] = (0.0,)

    def start(
        self, spec: Spec, dataset: Dataset, max_box: Box, eval_levels: tuple[float, ...]
    ) -> None:
        """Open the event files (the first time) and note the occlusion levels."""
        if self.writer is None:
            self.writer = summary_writer(self.log_dir)
        self.eval_levels = eval_levels

    def record(self, state: CheckpointState) -> None:
        """Write the checkpoint's scalars at its iteration (NaN ones, e.g. test metrics
        between test evaluations, are left out)."""
        for tag, value in checkpoint_scalars(state, self.eval_levels).items():
            if math.isfinite(value):
                self.writer.add_scalar(tag, value, state.iteration)

    def flush(self) -> None:
        """Push the scalars written so far to the disk."""
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        """Flush and close the event files."""
        if self.writer is not None:
            self.writer.close()


def checkpoint_scalars(state: CheckpointState, eval_levels: tuple[float, ...]) -> dict[str, float]:
    """What TensorBoard shows of one checkpoint: {tag: value}."""
    validation, test = state.validation, state.evaluation
    scalars = {
        "accuracy/validation": float(validation.accuracy_by_level[0]),
        "accuracy/test": float(test.accuracy_by_level[0]),
        "accuracy/train": state.running.accuracy(),
        "resources/depth": float(state.region.depth),
        "resources/active_channels": float(state.region.width.sum()),
        "resources/expected_steps": float(validation.expected_steps_by_level[0]),
        "box/layers": float(state.model.box.layers),
        "box/channels": float(state.model.box.channels),
        "box/steps": float(state.model.box.steps),
        "loss/task": state.running.mean("task_loss"),
        "loss/total": state.running.mean("total_loss"),
    }
    for layer, width in enumerate(state.region.width.tolist()):
        scalars[f"active_channels/layer {layer}"] = float(width)
    for index, level in enumerate(eval_levels[1:], start=1):
        scalars[f"accuracy/validation, {level:.0%} occluded"] = float(
            validation.accuracy_by_level[index]
        )
        scalars[f"resources/expected_steps, {level:.0%} occluded"] = float(
            validation.expected_steps_by_level[index]
        )
    for cost, weight in state.cost_weights.items():
        scalars[f"weights/{cost}"] = float(weight)
    return scalars


def summary_writer(log_dir: Path):
    """torch's TensorBoard writer into ``log_dir``; a RunError saying what to install when
    the tensorboard package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise RunError(
            "TensorBoard logging needs the tensorboard package: pip install 'growsim[tensorboard]'"
        ) from None
    return SummaryWriter(log_dir=str(log_dir))
