"""Findings 3 and 4 across seeds, from the per-image results of ``growsim reproduce``'s
runs (each run's ``per_image.zarr``): steps added by occlusion on the same images, how
model time follows difficulty, and each model's speed-accuracy curve.

Images are the unit of resampling: an interval of one run resamples its test images (each
drawn image brings all of its occlusion levels); an interval across runs is a t interval
over seeds (n = seeds), of a per-seed figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from growsim.analysis.reproduction import RunRecord
from growsim.analysis.statistics import (
    Correlation,
    LevelIncrease,
    MeanInterval,
    bootstrap_spearman,
    increases_by_level,
    mean_interval,
    spearman,
)
from growsim.files import PER_IMAGE_NAME
from growsim.record.variables import open_per_image

SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class SpeedAccuracy:
    """A model's speed-accuracy curve: test accuracy and mean steps computed when each input
    stops once its remaining halting mass is at most a threshold, per occlusion level."""

    thresholds: np.ndarray  # (threshold,)
    levels: np.ndarray
    accuracy: np.ndarray  # (threshold, level)
    steps: np.ndarray  # (threshold, level)


def speed_accuracy(per_image: xr.Dataset) -> SpeedAccuracy:
    """The curve a run stored with its per-image results (its opened ``per_image.zarr``)."""
    return SpeedAccuracy(
        per_image.exit_threshold.values, per_image.occlusion.values,
        per_image.exit_accuracy.values.astype("float64"), per_image.exit_steps.values.astype("float64"),
    )  # fmt: skip


@dataclass(frozen=True)
class RunTime:
    """One run's time use on its test images."""

    record: RunRecord
    levels: np.ndarray
    increases: list[LevelIncrease]  # per occluded level
    clean_std: float  # std over clean images of expected steps
    difficulty: float  # Spearman of clean steps with the reference's miss probability
    images: int
    curve: SpeedAccuracy | None = None  # the run's speed-accuracy curve

    def holds_at_top(self) -> bool:
        """Steps rise at the highest level: Holm-adjusted p < 0.05 and interval above 0
        (False when the test sets had no occluded level)."""
        if not self.increases:
            return False
        top = self.increases[-1]
        return top.p_holm < SIGNIFICANCE and top.low > 0


def run_time(record: RunRecord, resamples: int = 2000) -> RunTime:
    """Read ``record``'s per-image results (once) and measure its time use."""
    per_image = open_per_image(Path(record.run_dir) / PER_IMAGE_NAME)
    steps = per_image.expected_steps.values.astype("float64")  # (level, image)
    miss = 1.0 - per_image.reference_true_class_probability.values[0].astype("float64")
    levels = per_image.occlusion.values
    return RunTime(
        record, levels, increases_by_level(steps, levels, resamples), float(steps[0].std()),
        spearman(miss, steps[0]), steps.shape[1], speed_accuracy(per_image),
    )  # fmt: skip


@dataclass(frozen=True)
class WeightEffect:
    """The occlusion effect at one time weight: per seed, the mean over that seed's runs of
    the steps added at the highest level; their mean with a t interval across seeds."""

    weight: float
    top_level: float
    increase: MeanInterval  # across seeds
    holding: int  # runs where steps rise at the highest level (holds_at_top)
    runs: int


def effect_by_weight(times: list[RunTime], weight_index: int) -> list[WeightEffect]:
    """Group runs by the value at ``weight_index`` of their setting (the time weight); none
    when the runs' test sets had no occluded level (finding 3 is not measured then)."""
    times = [t for t in times if t.increases]
    weights = sorted({t.record.setting[weight_index] for t in times})
    result = []
    for weight in weights:
        chosen = [t for t in times if t.record.setting[weight_index] == weight]
        seeds = sorted({t.record.seed for t in chosen})
        per_seed = [np.mean([t.increases[-1].mean_difference for t in chosen if t.record.seed == s])
                    for s in seeds]  # fmt: skip
        result.append(WeightEffect(
            float(weight), float(chosen[0].levels[-1]), mean_interval(per_seed),
            sum(t.holds_at_top() for t in chosen), len(chosen),
        ))  # fmt: skip
    return result


@dataclass(frozen=True)
class DifficultySummary:
    """Finding 4 over a group of runs: per seed, the mean over its runs of the Spearman
    correlation of clean steps with the reference's miss probability; across seeds."""

    rho: MeanInterval | None  # None: no run had a defined rho
    positive: int  # runs with rho > 0
    runs: int
    undefined: int = 0  # runs whose clean steps were the same for every image (rho undefined)


def difficulty_summary(times: list[RunTime]) -> DifficultySummary:
    """The correlation of model time with difficulty over ``times``' runs; a run whose
    steps did not vary over images (rho undefined) is left out and counted."""
    defined = [t for t in times if np.isfinite(t.difficulty)]
    seeds = sorted({t.record.seed for t in defined})
    per_seed = [np.mean([t.difficulty for t in defined if t.record.seed == s]) for s in seeds]
    return DifficultySummary(
        mean_interval(per_seed) if per_seed else None, sum(t.difficulty > 0 for t in defined),
        len(times), len(times) - len(defined),
    )  # fmt: skip


def difficulty_correlations(
    record: RunRecord, resamples: int = 1000
) -> tuple[Correlation, Correlation]:
    """Spearman of expected steps with the reference's miss probability with image-level
    bootstrap intervals: on clean images, and over every (image, level) pair resampled by
    image."""
    per_image = open_per_image(Path(record.run_dir) / PER_IMAGE_NAME)
    steps = per_image.expected_steps.values.astype("float64")
    miss = 1.0 - per_image.reference_true_class_probability.values.astype("float64")
    clean = bootstrap_spearman(miss[0], steps[0], resamples=resamples)
    images = np.tile(np.arange(steps.shape[1]), steps.shape[0])
    pooled = bootstrap_spearman(miss.ravel(), steps.ravel(), resamples=resamples, clusters=images)
    return clean, pooled
