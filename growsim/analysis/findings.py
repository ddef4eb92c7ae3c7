"""Questions the paper asks, answered from trajectories and per-image results.

Everything here reads plain xarray Datasets (a run's ``trajectory.zarr`` and
``per_image.zarr``, a sweep's ``sweep.zarr``) and returns numbers and small tables; the
figures and the written report are built on top of these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import xarray as xr

from growsim.analysis.reaction_times import MatchedTimes
from growsim.analysis.statistics import (
    Correlation,
    PairedIncrease,
    bootstrap_spearman,
    holm,
    paired_increase,
)

# ----------------------------------------------------------------------------- sweeps

RESOURCE_COLUMNS = ("channels", "effective_depth", "steps")


def final_checkpoints(dataset: xr.Dataset) -> xr.Dataset:
    """Each run's last recorded checkpoint (a sweep's runs may have different lengths)."""
    if "run" not in dataset.dims:
        return dataset.isel(checkpoint=-1)
    last = (dataset.iteration >= 0).sum("checkpoint") - 1
    return dataset.isel(checkpoint=last.compute())


def run_table(sweep: xr.Dataset) -> dict[str, np.ndarray]:
    """Per run: accuracy and the resources used at the end (columns of equal length).

    accuracy: clean test accuracy (for reporting); validation_accuracy: on the held-out
    part of the training data (what choices such as the equal-accuracy band are made on;
    NaN in stores written before it was recorded); channels: active channels summed over
    layers (not a width: 3 full layers of 16 give 48); width: active channels per active
    layer (mean over the layers with any); depth: active layers; effective_depth: layers
    weighted by their strength (see ``effective_depth``); steps: expected steps on clean
    test images; plus each swept key.
    """
    final = final_checkpoints(sweep).compute()
    layer_mass = final.channel_norm.fillna(0).sum("channel").values
    active = final.active_width.fillna(0).values.astype(float)  # (run, layer)
    layers_with_any = np.maximum((active > 0).sum(axis=-1), 1)
    validation = (final.validation_accuracy.values.astype(float) if "validation_accuracy" in final
                  else np.full(final.sizes["run"], np.nan))  # fmt: skip
    table = {
        "run": final.run.values.astype(str),
        "accuracy": final.test_accuracy.values.astype(float),
        "validation_accuracy": validation,
        "channels": active.sum(axis=-1),
        "width": active.sum(axis=-1) / layers_with_any,
        "depth": final.depth.values.astype(float),
        "effective_depth": effective_depth(layer_mass),
        "steps": final.expected_steps.values.astype(float),
    }
    for key in sweep.attrs.get("swept_keys", []):
        if key in final.coords:
            table[key] = final[key].values
    return table


def effective_depth(layer_mass: np.ndarray) -> np.ndarray:
    """Layers weighted by strength: sum over layers of (layer's total channel magnitude /
    the strongest layer's), per run. (run, layer) -> (run,).

    The count of active layers moves in whole steps and sits at the box maximum when every
    layer keeps one active channel; this measure also shows a depth cost thinning the
    upper layers.
    """
    layer_mass = np.atleast_2d(np.asarray(layer_mass, dtype=float))
    strongest = layer_mass.max(axis=1, keepdims=True)
    return (layer_mass / np.where(strongest > 0, strongest, 1.0)).sum(axis=1)


def choice_accuracy(table: dict[str, np.ndarray]) -> tuple[np.ndarray, str]:
    """The accuracy runs are compared and chosen on, and its name: validation accuracy when
    every run has it (the test set is for reporting only), else test accuracy (stores
    written before validation accuracy was recorded)."""
    validation = table.get("validation_accuracy")
    if validation is not None and np.all(np.isfinite(validation)):
        return validation, "validation accuracy"
    return table["accuracy"], "test accuracy"


def equal_accuracy_band(accuracy: np.ndarray, tolerance: float = 0.02) -> tuple[np.ndarray, float]:
    """Runs whose accuracy is within ``tolerance`` of the band centre, and that centre.

    The centre is the accuracy that the most runs lie within ``tolerance`` of, so the
    band holds as many comparable runs as the sweep has.
    """
    accuracy = np.asarray(accuracy, dtype=float)
    counts = [np.sum(np.abs(accuracy - centre) <= tolerance) for centre in accuracy]
    centre = float(accuracy[int(np.argmax(counts))])
    return np.abs(accuracy - centre) <= tolerance, centre


def pareto_front(cost: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """Indices of runs no other run beats on both lower cost and higher accuracy, by cost."""
    order = np.lexsort((-np.asarray(accuracy), np.asarray(cost)))
    front, best = [], -math.inf
    for index in order:
        if accuracy[index] > best:
            front.append(index)
            best = accuracy[index]
    return np.asarray(front, dtype=int)


def resource_cost(table: dict[str, np.ndarray], maxima: dict[str, float]) -> np.ndarray:
    """Total resources used, each resource as a fraction of the sweep's largest box."""
    return sum(table[name] / maxima[name] for name in RESOURCE_COLUMNS)


# ----------------------------------------------------------------------------- occlusion


@dataclass
class OcclusionEffect:
    """Expected steps and accuracy per occlusion level, and tests of the increase."""

    levels: np.ndarray
    mean_steps: np.ndarray
    accuracy: np.ndarray
    steps_by_class: np.ndarray  # (class, level)
    class_names: list[str]
    increases: list[PairedIncrease]  # level 0 vs each level > 0, same images
    trend: Correlation  # Spearman of level vs steps over all (level, image) pairs


def occlusion_effect(per_image: xr.Dataset) -> OcclusionEffect:
    """How time and accuracy change with occlusion, overall and per class."""
    steps = per_image.expected_steps.values.astype(float)  # (level, image)
    levels = per_image.occlusion.values
    labels = per_image.label.values
    names = [str(n) for n in per_image.class_name.values]
    by_class = np.full((len(names), len(levels)), np.nan)
    for label in range(len(names)):
        chosen = labels == label
        if chosen.any():
            by_class[label] = steps[:, chosen].mean(axis=1)
    increases = [paired_increase(steps[0], steps[index]) for index in range(1, len(levels))]
    adjusted = holm([increase.p_value for increase in increases]) if increases else []
    increases = [replace(increase, p_holm=p) for increase, p in zip(increases, adjusted)]
    level_column = np.repeat(levels, steps.shape[1])
    trend = bootstrap_spearman(level_column, steps.ravel(), resamples=500,
                               clusters=_image_of_pair(steps))  # fmt: skip
    return OcclusionEffect(
        levels, steps.mean(axis=1), per_image.correct.values.mean(axis=1),
        by_class, names, increases, trend,
    )  # fmt: skip


@dataclass
class TimeSpread:
    """How differently a model spends time on different images, per occlusion level."""

    levels: np.ndarray
    steps_std: np.ndarray  # (level,): standard deviation over images of expected steps
    mean_step_probs: np.ndarray  # (level, step): p_t averaged over images
    steps_used: np.ndarray  # (level,): steps carrying at least ``share`` of the mean mass
    share: float


def time_spread(per_image: xr.Dataset, share: float = 0.05) -> TimeSpread:
    """Spread of time use over images: the guard against halting that locks every input
    onto one step (then the standard deviation is 0 and one step carries all the mass)."""
    steps = per_image.expected_steps.values.astype(float)  # (level, image)
    mean_probs = per_image.step_probs.values.astype(float).mean(axis=1)  # (level, step)
    return TimeSpread(
        per_image.occlusion.values, steps.std(axis=1), mean_probs,
        (mean_probs >= share).sum(axis=1), share,
    )  # fmt: skip


# ----------------------------------------------------------------------------- difficulty


@dataclass
class DifficultyCorrelation:
    """Model time against one difficulty measure."""

    measure: str
    correlation: Correlation
    note: str


def time_difficulty(
    per_image: xr.Dataset, reaction_times: MatchedTimes | None = None
) -> list[DifficultyCorrelation]:
    """Spearman correlations of per-image expected steps with difficulty measures.

    ``per_image`` is a run's ``per_image.zarr`` or a ``growsim predict`` output. With
    ``reaction_times`` (matched to its images), model time on the clean images is
    correlated with them. The measures that need no human data are computed where the data
    has them: occlusion level (with several levels) and the reference classifier's miss
    probability (1 - its true-class probability; runs only).
    """
    steps = per_image.expected_steps.values.astype(float)
    levels = np.repeat(per_image.occlusion.values, steps.shape[1])
    results = []
    if reaction_times is not None:
        matched = reaction_times.image_index
        results.append(DifficultyCorrelation(
            "human reaction time", bootstrap_spearman(reaction_times.rts, steps[0, matched]),
            f"clean images matched by image_id ({len(matched)} of {steps.shape[1]})",
        ))  # fmt: skip
    if len(per_image.occlusion) > 1:
        results.append(DifficultyCorrelation(
            "occlusion level",
            bootstrap_spearman(levels, steps.ravel(), resamples=500, clusters=_image_of_pair(steps)),
            "all (image, level) pairs, resampled by image; a proxy, not human data",
        ))  # fmt: skip
    if "reference_true_class_probability" not in per_image:
        return results
    miss = 1.0 - per_image.reference_true_class_probability.values.astype(float)
    results.append(DifficultyCorrelation(
        "reference classifier miss probability (clean)", bootstrap_spearman(miss[0], steps[0]),
        "1 - p(true class) of logistic regression on pixels; a proxy, not human data",
    ))  # fmt: skip
    if len(per_image.occlusion) > 1:
        results.append(DifficultyCorrelation(
            "reference classifier miss probability (all levels)",
            bootstrap_spearman(miss.ravel(), steps.ravel(), resamples=500,
                               clusters=_image_of_pair(steps)),
            "all (image, level) pairs, resampled by image; a proxy, not human data",
        ))  # fmt: skip
    return results


def _image_of_pair(steps: np.ndarray) -> np.ndarray:
    """The image index of every (level, image) pair of a (level, image) array, raveled."""
    return np.tile(np.arange(steps.shape[1]), steps.shape[0])
