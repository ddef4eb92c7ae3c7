"""Speed-accuracy trade-off of a trained model (as in Spoerer et al. 2020): its accuracy and
the steps it computes when each input stops once its remaining halting mass is at most an
exit threshold, on the test set of every occlusion level."""

from __future__ import annotations

import numpy as np
import xarray as xr

from growsim.train.evaluation import evaluation_result, predict_sets_at
from growsim.train.trainer import Trainer

# 0 computes every step (the exact prediction); 0.5 is the largest threshold predict allows.
EXIT_THRESHOLDS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.5)


def speed_accuracy(trainer: Trainer, thresholds=EXIT_THRESHOLDS) -> xr.Dataset:
    """Accuracy and mean steps computed per (exit threshold, occlusion level)."""
    labels = trainer.data.test_labels
    cached = trainer.spec.record.exit_threshold  # the final evaluation's, reused
    others = tuple(t for t in thresholds if t != cached)
    by_level = predict_sets_at(  # one pass for every other threshold
        trainer.model, trainer.data.test_sets, trainer.data.normalise, others
    ) if others else []  # fmt: skip
    accuracy = np.zeros((len(thresholds), len(trainer.eval_levels)), dtype="float32")
    steps = np.zeros_like(accuracy)
    for row, threshold in enumerate(thresholds):
        if threshold == cached:
            predictions = trainer.predict_test_sets()
        else:
            predictions = [at[others.index(threshold)] for at in by_level]
        accuracy[row] = evaluation_result(predictions, labels).accuracy_by_level
        steps[row] = [float(p.steps_computed.float().mean()) for p in predictions]
    return xr.Dataset(
        {
            "exit_accuracy": (("exit_threshold", "occlusion"), accuracy, {"units": "fraction", "long_name": "test accuracy with early exit at the threshold"}),
            "exit_steps": (("exit_threshold", "occlusion"), steps, {"units": "steps", "long_name": "mean steps computed with early exit at the threshold"}),
        },
        coords={"exit_threshold": ("exit_threshold", np.asarray(thresholds, dtype="float64"), {"units": "probability", "long_name": "halting mass left when an input stops"})},
    )  # fmt: skip
