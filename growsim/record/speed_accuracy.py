"""Speed-accuracy trade-off of a trained model (as in Spoerer et al. 2020): its accuracy and
the steps it computes when each input stops once its remaining halting mass is at most an
exit threshold, on the test set of every occlusion level."""

from __future__ import annotations

import numpy as np
import xarray as xr

from growsim.record.variables import attrs
from growsim.train.evaluation import EXIT_THRESHOLDS, evaluation_result
from growsim.train.trainer import Trainer


def speed_accuracy(trainer: Trainer, thresholds=EXIT_THRESHOLDS) -> xr.Dataset:
    """Accuracy and mean steps computed per (exit threshold, occlusion level)."""
    labels = trainer.data.test_labels
    by_threshold = trainer.test_predictions(tuple(thresholds))  # the final pass's, reused
    accuracy = np.zeros((len(thresholds), len(trainer.eval_levels)), dtype="float32")
    steps = np.zeros_like(accuracy)
    for row, threshold in enumerate(thresholds):
        predictions = by_threshold[threshold]
        accuracy[row] = evaluation_result(predictions, labels).accuracy_by_level
        steps[row] = [float(p.steps_computed.float().mean()) for p in predictions]
    return xr.Dataset(
        {
            "exit_accuracy": (("exit_threshold", "occlusion"), accuracy, attrs("exit_accuracy")),
            "exit_steps": (("exit_threshold", "occlusion"), steps, attrs("exit_steps")),
        },
        coords={"exit_threshold": ("exit_threshold", np.asarray(thresholds, dtype="float64"), attrs("exit_threshold"))},
    )  # fmt: skip
