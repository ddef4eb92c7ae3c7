"""Emergence curves: each finding's measure re-measured on validation images at every
checkpoint of a run that kept its models (``record.keep_models``), and the rule that decides
whether a measure has stopped moving.

Per checkpoint and run (validation images only; the test set is never read here):
- ``validation_accuracy``: clean accuracy;
- ``steps_by_level``: mean expected steps per occlusion level;
- ``steps_added``: per occluded level, the mean over images of (steps occluded - steps clean),
  the same images at both (finding 3);
- ``difficulty_rho``: Spearman's rho of clean expected steps with the reference ensemble's
  miss probability (growsim.analysis.difficulty; finding 4);
- ``difficulty_partial_rho``: the same, controlling for the network's own confidence
  (max class probability) by partial rank correlation;
- ``step_spread``: the standard deviation of clean expected steps over images (halting that
  is the same for every input has none);
- ``objective_steps_added`` and ``agreement``: the steps the objective's own allocation adds
  per occluded level (``objective_allocation``), and the learned minus the objective's
  addition at the highest level (0: halting has learned what the objective asks);
  ``allocation_rho``: Spearman's rho of learned and objective expected steps over every
  (level, image).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from growsim.analysis.statistics import average_ranks, spearman
from growsim.files import EMERGENCE_NAME, FINAL_OUTPUTS_NAME, MODELS_DIRECTORY, TRAJECTORY_NAME
from growsim.integrity import CHECKSUM_HEADER
from growsim.model.growth import ActiveRegion, grown_box, initial_network
from growsim.model.lattice import Box
from growsim.model.reshape import grow, shrink_to
from growsim.spec import Spec
from growsim.train.checkpoint_file import load_checksummed_torch
from growsim.train.evaluation import predict_sets
from growsim.train.run_data import RunData

MEASURES = (
    "validation_accuracy",
    "steps_added",
    "difficulty_rho",
    "difficulty_partial_rho",
    "step_spread",
)


def partial_spearman(x: np.ndarray, y: np.ndarray, control: np.ndarray) -> float:
    """Spearman's rho of ``x`` and ``y`` controlling for ``control``: the Pearson
    correlation of the rank residuals after regressing each on the ranks of ``control``."""
    rx, ry, rc = (average_ranks(np.asarray(v, dtype="float64")) for v in (x, y, control))

    def residual(values: np.ndarray) -> np.ndarray:
        design = np.column_stack([np.ones_like(rc), rc])
        coefficients, *_ = np.linalg.lstsq(design, values, rcond=None)
        return values - design @ coefficients

    ex, ey = residual(rx), residual(ry)
    denominator = np.sqrt((ex * ex).sum() * (ey * ey).sum())
    return float((ex * ey).sum() / denominator) if denominator > 0 else float("nan")


@dataclass(frozen=True)
class ValidationOutputs:
    """What one model did with each validation image at each level."""

    expected_steps: np.ndarray  # (level, image)
    confidence: np.ndarray  # (level, image): max class probability
    correct: np.ndarray  # (level, image) bool


def validation_outputs(model, data: RunData, split: str = "validation") -> ValidationOutputs:
    """The model's expected steps, confidence and correctness on every level of ``split``
    (validation, or test for the final report; every step computed: the exact time
    distribution)."""
    sets = data.validation_sets if split == "validation" else data.test_sets
    predictions = predict_sets(model, sets, data.normalise, 0.0)
    labels = data.validation_labels if split == "validation" else data.test_labels
    return ValidationOutputs(
        np.stack([p.expected_steps.float().numpy() for p in predictions]),
        np.stack([p.class_probs.amax(dim=1).float().numpy() for p in predictions]),
        np.stack([(p.class_probs.argmax(dim=1) == labels).numpy() for p in predictions]),
    )


def checkpoint_measures(
    outputs: ValidationOutputs, difficulty: np.ndarray, objective: np.ndarray
) -> dict:
    """The emergence measures of one checkpoint; ``difficulty``: (level, image) miss
    probability of the reference ensemble; ``objective``: (level, image) expected steps of
    the objective's own allocation (``objective_allocation``)."""
    steps = outputs.expected_steps
    clean = steps[0]
    objective_added = (objective[1:] - objective[0]).mean(axis=1)
    return {
        "objective_steps_added": objective_added.tolist(),
        "agreement": float((steps[-1] - clean).mean() - objective_added[-1]),
        "allocation_rho": spearman(steps.ravel(), objective.ravel()),
        "validation_accuracy": float(outputs.correct[0].mean()),
        "accuracy_by_level": outputs.correct.mean(axis=1).tolist(),
        "steps_by_level": steps.mean(axis=1).tolist(),
        "steps_added": (steps[1:] - clean).mean(axis=1).tolist(),
        "difficulty_rho": spearman(clean, difficulty[0]),
        "difficulty_partial_rho": partial_spearman(clean, difficulty[0], outputs.confidence[0]),
        "step_spread": float(clean.std()),
    }


def snapshot_model(spec: Spec, data: RunData, path: Path) -> torch.nn.Module:
    """The network saved at one checkpoint by ``record.keep_models``."""
    with open(path, "rb") as stream:
        framed = stream.read(len(CHECKSUM_HEADER)) == CHECKSUM_HEADER
    if framed:
        state = load_checksummed_torch(
            path, "a kept model", "train the run again with record.keep_models"
        )
    else:  # kept by a development version before checksums (the first competent runs)
        state = torch.load(path, map_location="cpu", weights_only=True)
    classes = int(state["model"]["readout_bias"].shape[0])
    model = initial_network(spec, data.train_images.shape[1], classes)
    box = Box(**state["box"])
    shrink_to(model, box)
    grow(model, box, spec.growth.new_step_mass)
    model.load_state_dict(state["model"])
    return model.eval()


def run_emergence(run_dir: Path, spec: Spec, data: RunData, difficulty: np.ndarray) -> dict:
    """Measure every kept model of ``run_dir`` on validation images (``difficulty``: the
    reference ensemble's miss probability there, (level, image)); written with the
    resources over training to ``run_dir/emergence.json``, the final model's per-image
    outputs on the validation and test sets to ``FINAL_OUTPUTS_NAME``, and returned."""
    run_dir = Path(run_dir)
    paths = sorted((run_dir / MODELS_DIRECTORY).glob("iteration-*.pt"))
    if not paths:
        raise FileNotFoundError(
            f"{run_dir}: no {MODELS_DIRECTORY}/ (train it with record.keep_models: true)"
        )
    iterations, rows = [], []
    for path in paths:
        model = snapshot_model(spec, data, path)
        outputs = validation_outputs(model, data)
        objective, _ = objective_allocation(
            model, data, spec.costs.time.weight, spec.training.time_entropy
        )
        iterations.append(int(path.stem.split("-")[1]))
        rows.append(checkpoint_measures(outputs, difficulty, objective))
    result = {
        "iterations": iterations,
        "levels": list(data.eval_levels),
        "total_iterations": spec.training.iterations,
        "measures": {name: [row[name] for row in rows] for name in rows[0]},
        "resources": trajectory_resources(run_dir / TRAJECTORY_NAME, spec),
    }
    (run_dir / EMERGENCE_NAME).write_text(json.dumps(result, indent=1))
    test = validation_outputs(snapshot_model(spec, data, paths[-1]), data, "test")
    np.savez_compressed(run_dir / FINAL_OUTPUTS_NAME, **{
        f"{split}_{name}": getattr(found, name)
        for split, found in (("validation", outputs), ("test", test))
        for name in ("expected_steps", "confidence", "correct")
    })  # fmt: skip
    return result


def trajectory_resources(path: Path, spec: Spec) -> dict:
    """Resources over training from a trajectory store: per checkpoint its iteration, the
    box, the active depth, the mean active width over active layers and the clean
    validation expected steps; and ``pressing_edge``: per resource (width, depth, steps),
    whether the final active region touches the box's edge there, so that the growth rule
    (``grown_box``, with ``spec``'s growth and thresholds) would grow the box further."""
    with xr.open_zarr(path, chunks=None) as trajectory:
        box = Box(
            *(int(trajectory[f"box_{d}"].values[-1]) for d in ("layers", "channels", "steps"))
        )
        region = ActiveRegion(
            trajectory.channel_active.values[-1, : box.layers, : box.channels].astype(bool),
            float(trajectory.validation_time_distribution.values[-1, box.steps - 1]),
        )
        unbounded = Box(box.layers + spec.growth.layers, box.channels + spec.growth.channels,
                        box.steps + spec.growth.steps)  # fmt: skip
        grown = grown_box(box, region, spec.growth, unbounded, spec.active.time_threshold)
        width = trajectory.active_width.values.astype("float64")  # (checkpoint, layer)
        active = width > 0
        mean_width = np.where(
            active.any(axis=1),
            (width * active).sum(axis=1) / np.maximum(active.sum(axis=1), 1),
            0.0,
        )
        return {
            "iteration": trajectory.iteration.values.tolist(),
            "box_layers": trajectory.box_layers.values.tolist(),
            "box_channels": trajectory.box_channels.values.tolist(),
            "box_steps": trajectory.box_steps.values.tolist(),
            "depth": trajectory.depth.values.tolist(),
            "width": mean_width.tolist(),
            "expected_steps": trajectory.validation_expected_steps.values.astype(
                "float64"
            ).tolist(),
            "pressing_edge": [
                grown.channels > box.channels,
                grown.layers > box.layers,
                grown.steps > box.steps,
            ],
        }


def stopped_moving(curves: np.ndarray, iterations, total: int, tail: float = 0.2) -> np.ndarray:
    """Per run, whether a measure has stopped moving: over the last ``tail`` of training its
    change (final value minus the value at the last checkpoint at or before
    (1 - tail) * total) is smaller in size than the seed-to-seed standard deviation of the
    final values. ``curves``: (run, checkpoint) of runs of one setting (at least 2)."""
    curves = np.asarray(curves, dtype="float64")
    if curves.shape[0] < 2:
        raise ValueError("stopped_moving needs at least two runs (seeds) for the seed spread")
    iterations = np.asarray(iterations)
    start = int(np.searchsorted(iterations, (1 - tail) * total, side="right")) - 1
    if start < 0 or start >= len(iterations) - 1:
        raise ValueError(f"no checkpoint at the start of the last {tail:.0%} of training")
    change = np.abs(curves[:, -1] - curves[:, start])
    spread = curves[:, -1].std(ddof=1)
    return change < spread


@torch.no_grad()
def objective_allocation(
    model, data: RunData, time_weight: float, entropy_weight: float, split: str = "validation"
) -> tuple[np.ndarray, np.ndarray]:
    """The time the objective itself asks for, per level and image of ``split``: with every
    step's readout cross-entropy CE_t, the per-input minimiser of the loss is
    p_t proportional to exp(-(CE_t + time_weight * t) / entropy_weight) (a softmin over steps;
    the argmin when ``entropy_weight`` is 0). Returns its expected steps (level, image) and
    the learned halting's (same shape), steps counted from 1 as in ``expected_steps``."""
    sets = data.validation_sets if split == "validation" else data.test_sets
    labels = data.validation_labels if split == "validation" else data.test_labels
    wanted, learned = [], []
    for images in sets:
        target_rows, learned_rows = [], []
        for start in range(0, len(images), 500):
            output = model(data.normalise(images[start : start + 500]))
            batch_labels = labels[start : start + 500]
            log_probs = output.logits.float().log_softmax(dim=-1)  # (batch, step, class)
            cross_entropy = -log_probs.gather(
                2, batch_labels[:, None, None].expand(-1, log_probs.shape[1], 1)
            )[..., 0]
            steps = torch.arange(1, log_probs.shape[1] + 1, dtype=torch.float32)
            score = cross_entropy + time_weight * steps  # (batch, step)
            if entropy_weight > 0:
                allocation = torch.softmax(-score / entropy_weight, dim=1)
            else:
                allocation = torch.nn.functional.one_hot(
                    score.argmin(dim=1), score.shape[1]
                ).float()
            target_rows.append((allocation * steps).sum(dim=1))
            learned_rows.append((output.step_probs * steps).sum(dim=1))
        wanted.append(torch.cat(target_rows).numpy())
        learned.append(torch.cat(learned_rows).numpy())
    return np.stack(wanted), np.stack(learned)
