"""Questions the paper asks, answered from trajectories and per-image results.

Everything here reads plain xarray Datasets (a run's ``trajectory.zarr`` and
``per_image.zarr``, a sweep's ``sweep.zarr``) and returns numbers and small tables; the
figures and the written report are built on top of these.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from growsim.errors import DataError
from growsim.statistics import Correlation, PairedIncrease, bootstrap_spearman, paired_increase

# ----------------------------------------------------------------------------- sweeps

RESOURCE_COLUMNS = ("width", "effective_depth", "steps")


def final_checkpoints(dataset: xr.Dataset) -> xr.Dataset:
    """Each run's last recorded checkpoint (a sweep's runs may have different lengths)."""
    if "run" not in dataset.dims:
        return dataset.isel(checkpoint=-1)
    last = (dataset.iteration >= 0).sum("checkpoint") - 1
    return dataset.isel(checkpoint=last.compute())


def run_table(sweep: xr.Dataset) -> dict[str, np.ndarray]:
    """Per run: accuracy and the resources used at the end (columns of equal length).

    width: active channels summed over layers; depth: active layers; effective_depth:
    layers weighted by their strength (see ``effective_depth``); steps: expected steps on
    clean test images; plus each swept key.
    """
    final = final_checkpoints(sweep).compute()
    layer_mass = final.channel_norm.fillna(0).sum("channel").values
    table = {
        "run": final.run.values.astype(str),
        "accuracy": final.test_accuracy.values.astype(float),
        "width": final.active_width.sum("layer").values.astype(float),
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
    level_column = np.repeat(levels, steps.shape[1])
    trend = bootstrap_spearman(level_column, steps.ravel(), resamples=500)
    return OcclusionEffect(
        levels, steps.mean(axis=1), per_image.correct.values.mean(axis=1),
        by_class, names, increases, trend,
    )  # fmt: skip


# ----------------------------------------------------------------------------- difficulty


@dataclass
class DifficultyCorrelation:
    """Model time against one difficulty measure."""

    measure: str
    correlation: Correlation
    note: str


def time_difficulty(
    per_image: xr.Dataset, reaction_times: dict[int, float] | None = None
) -> list[DifficultyCorrelation]:
    """Spearman correlations of per-image expected steps with difficulty measures.

    With ``reaction_times`` (image_id -> RT), the clean images are matched to them by
    image_id. The measures that need no human data are always computed: occlusion level
    and the reference classifier's miss probability (1 - its true-class probability).
    """
    steps = per_image.expected_steps.values.astype(float)
    levels = np.repeat(per_image.occlusion.values, steps.shape[1])
    miss = 1.0 - per_image.reference_confidence.values.astype(float)
    results = []
    if reaction_times:
        ids = per_image.image_id.values
        matched = [i for i, image_id in enumerate(ids) if int(image_id) in reaction_times]
        if not matched:
            raise DataError(
                "reaction times: no image_id in the file matches a test image of this run "
                f"(run ids range {ids.min()}..{ids.max()}); ids are indices into the source test set"
            )
        rts = np.asarray([reaction_times[int(ids[i])] for i in matched])
        results.append(DifficultyCorrelation(
            "human reaction time", bootstrap_spearman(rts, steps[0, matched]),
            f"clean images matched by image_id ({len(matched)} of {len(ids)})",
        ))  # fmt: skip
    if len(per_image.occlusion) > 1:
        results.append(DifficultyCorrelation(
            "occlusion level", bootstrap_spearman(levels, steps.ravel(), resamples=500),
            "all (image, level) pairs; a proxy, not human data",
        ))  # fmt: skip
    results.append(DifficultyCorrelation(
        "reference classifier miss probability (clean)", bootstrap_spearman(miss[0], steps[0]),
        "1 - p(true class) of logistic regression on pixels; a proxy, not human data",
    ))  # fmt: skip
    if len(per_image.occlusion) > 1:
        results.append(DifficultyCorrelation(
            "reference classifier miss probability (all levels)",
            bootstrap_spearman(miss.ravel(), steps.ravel(), resamples=500),
            "all (image, level) pairs; a proxy, not human data",
        ))  # fmt: skip
    return results


def read_reaction_times(path: str | Path) -> dict[int, float]:
    """A CSV with header ``image_id,rt`` (more columns allowed) -> {image_id: rt}."""
    path = Path(path)
    try:
        stream = path.open(newline="")
    except OSError as error:
        raise DataError(f"{path}: cannot read the reaction-time file: {error.strerror}") from None
    with stream:
        reader = csv.DictReader(stream)
        fields = reader.fieldnames or []
        if "image_id" not in fields or "rt" not in fields:
            raise DataError(
                f"{path}:1: the header must name columns image_id and rt, got {','.join(fields) or 'nothing'}"
            )
        times: dict[int, float] = {}
        for row in reader:
            line = reader.line_num
            try:
                image_id, rt = int(row["image_id"]), float(row["rt"])
            except (TypeError, ValueError):
                raise DataError(
                    f"{path}:{line}: image_id must be an integer and rt a number, "
                    f"got {row['image_id']!r}, {row['rt']!r}"
                ) from None
            if not math.isfinite(rt) or rt <= 0:
                raise DataError(f"{path}:{line}: rt must be a positive number, got {rt}")
            if image_id in times:
                raise DataError(f"{path}:{line}: image_id {image_id} appears twice")
            times[image_id] = rt
    if not times:
        raise DataError(f"{path}: holds no reaction times")
    return times
