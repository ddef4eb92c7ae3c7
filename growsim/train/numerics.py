"""The trainer's checks for numerical faults: a clear error that says where the trajectory
stands and what to change, instead of NaNs carried into the record."""

from __future__ import annotations

import math

import numpy as np

from growsim.errors import RunError

LOSS_NAMES = ("total loss", "task loss", "time cost")


def check_losses(values: list[float], iteration: int, checkpoints_written: int) -> None:
    """Raise RunError when a training step's (total, task, time) values are not finite."""
    if all(math.isfinite(v) for v in values):
        return
    bad = [name for name, value in zip(LOSS_NAMES, values) if not math.isfinite(value)]
    raise RunError(
        f"numerical fault at iteration {iteration + 1}: {', '.join(bad)} became "
        f"non-finite ({values}). The trajectory holds every checkpoint up to the last "
        f"good one ({checkpoints_written}). Lower training.lr or the cost weights."
    )


def check_magnitudes(magnitudes: np.ndarray, iteration: int, checkpoints_written: int) -> None:
    """Raise RunError when a channel's incoming weight norm (layer, channel) is not finite."""
    if np.isfinite(magnitudes).all():
        return
    layer = int(np.argwhere(~np.isfinite(magnitudes))[0][0])
    raise RunError(
        f"numerical fault at iteration {iteration}: the weights into layer {layer} "
        f"became non-finite. The trajectory holds every checkpoint up to the last good "
        f"one ({checkpoints_written}). Lower training.lr or the cost weights."
    )
