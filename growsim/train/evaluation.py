"""Evaluating a network on fixed evaluation sets: predictions and per-level metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from growsim.model.lattice import LatticeNetwork, Prediction

EVALUATION_BATCH = 500
# Exit thresholds of a model's speed-accuracy curve (growsim.record.speed_accuracy): 0
# computes every step (the exact prediction); 0.5 is the largest threshold predict allows.
# The final test pass computes them together with the run's own threshold.
EXIT_THRESHOLDS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.5)


@dataclass
class EvalResult:
    """Metrics of one evaluation split (validation or test) at one checkpoint."""

    accuracy_by_level: np.ndarray  # (occlusion,)
    expected_steps_by_level: np.ndarray  # (occlusion,)
    time_distribution: np.ndarray  # (step,) mean p_t on clean images
    step_probs: list[np.ndarray]  # per level, (image, step): p_t of every input


@dataclass
class PredictionCache:
    """A model state's predictions on fixed sets per exit threshold, each computed once. The
    caller names the state by a key (the trainer: its iteration and model version)."""

    key: tuple | None = None
    by_threshold: dict[float, list[Prediction]] = field(default_factory=dict)

    def at(
        self,
        key: tuple,
        thresholds: tuple[float, ...],
        compute: Callable[[tuple[float, ...]], list[list[Prediction]]],
    ) -> dict[float, list[Prediction]]:
        """Per threshold, the predictions of state ``key`` on every set; ``compute`` (like
        ``predict_sets_at``) gets the thresholds not yet known for it, in one call."""
        if key != self.key:
            self.key, self.by_threshold = key, {}
        missing = tuple(dict.fromkeys(t for t in thresholds if t not in self.by_threshold))
        if missing:
            by_set = compute(missing)
            self.by_threshold.update({t: [at[i] for at in by_set] for i, t in enumerate(missing)})
        return {t: self.by_threshold[t] for t in thresholds}


def predict_sets(
    model: LatticeNetwork,
    sets: list[torch.Tensor],
    normalise: Callable[[torch.Tensor], torch.Tensor],
    exit_threshold: float,
) -> list[Prediction]:
    """The model's predictions on each set (one per occlusion level), in batches."""
    return [at[0] for at in predict_sets_at(model, sets, normalise, (exit_threshold,))]


@torch.no_grad()
def predict_sets_at(
    model: LatticeNetwork,
    sets: list[torch.Tensor],
    normalise: Callable[[torch.Tensor], torch.Tensor],
    thresholds: tuple[float, ...],
) -> list[list[Prediction]]:
    """Per set, the model's predictions at each exit threshold, from one pass (see
    ``LatticeNetwork.predict_at``)."""
    model.eval()
    results = []
    for images in sets:
        batches = [
            model.predict_at(normalise(images[start : start + EVALUATION_BATCH]), thresholds)
            for start in range(0, len(images), EVALUATION_BATCH)
        ]
        results.append([
            Prediction(*(torch.cat([getattr(b[row], name) for b in batches])
                         for name in ("class_probs", "step_probs", "steps_computed")))
            for row in range(len(thresholds))
        ])  # fmt: skip
    return results


def evaluation_result(predictions: list[Prediction], labels: torch.Tensor) -> EvalResult:
    """Accuracy, expected steps and time distributions of predictions on every level."""
    accuracy = [float((p.class_probs.argmax(dim=1) == labels).float().mean()) for p in predictions]
    steps = [float(p.expected_steps.mean()) for p in predictions]
    step_probs = [p.step_probs.cpu().numpy() for p in predictions]
    return EvalResult(
        np.asarray(accuracy), np.asarray(steps), step_probs[0].mean(axis=0), step_probs
    )


def first_levels_result(
    predictions: list[Prediction], labels: torch.Tensor, levels: int
) -> EvalResult:
    """``evaluation_result`` of the first ``len(predictions)`` of ``levels`` levels (0.0
    first), NaN for the levels not measured; ``step_probs`` holds the measured ones only."""
    result = evaluation_result(predictions, labels)
    blank = np.full(levels - len(predictions), np.nan)
    return EvalResult(
        np.concatenate([result.accuracy_by_level, blank]),
        np.concatenate([result.expected_steps_by_level, blank]),
        result.time_distribution,
        result.step_probs,
    )


def not_evaluated(levels: int, steps: int) -> EvalResult:
    """The metrics of a split that was not evaluated at a checkpoint: NaN."""
    blank = np.full(levels, np.nan)
    return EvalResult(blank, blank, np.full(steps, np.nan), [])
