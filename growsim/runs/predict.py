"""``growsim predict``: a finished run's final model on new images (a stimulus set).

For every image and occlusion level: the predicted class, the model's confidence (the
probability of the class it predicts), the expected number of steps (the model's "reaction
time"), the whole time distribution, and the steps computed with early exit. Written as
``predictions.zarr`` (dims ``occlusion``, ``image``, ``step``; coordinate ``image_id``) and
``predictions.csv`` (one row per image and level), in ``RUN/predictions/<images>/`` unless
told otherwise. Images in folders named after the run's classes are labelled by them, which
adds the true class, its probability and whether the prediction is right.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from growsim.data.arrays import check_ids, check_images, check_labels, read_image_arrays
from growsim.data.datasets import load_dataset, occlude
from growsim.data.folders import read_image_set
from growsim.data.sources import to_channels
from growsim.errors import DataError, RunError
from growsim.files import (
    CHECKPOINT_NAME,
    PER_IMAGE_NAME,
    PREDICTIONS_CSV,
    PREDICTIONS_DIRECTORY,
    PREDICTIONS_NAME,
    SPEC_NAME,
    write_text_atomically,
    write_zarr_atomically,
)
from growsim.integrity import open_checked_store
from growsim.model.lattice import Box, LatticeNetwork, Prediction
from growsim.record.per_image import image_ids
from growsim.record.variables import CONVENTIONS, attrs
from growsim.spec import Spec, parse_stored_spec, read_spec_text
from growsim.train.checkpoint_file import read_checkpoint
from growsim.train.run_data import resolve_device


@dataclass
class FinishedRun:
    """A run's final model and what it needs to see new images as it saw its training set."""

    run_dir: Path
    spec: Spec
    model: LatticeNetwork
    class_names: tuple[str, ...]
    input_mean: float
    input_std: float
    iteration: int


@dataclass
class Stimuli:
    """Images to predict, with their ids and, where known, their classes."""

    images: torch.Tensor  # (n, channels, size, size) float32 in [0, 1]
    ids: np.ndarray  # (n,) int64 or str
    labels: np.ndarray | None  # (n,) int64 class indices of the run, or None
    source: Path


def load_finished_run(run_dir: str | Path, device: torch.device | None = None) -> FinishedRun:
    """The final model of a finished run directory (``checkpoint.pt``, ``spec.yaml``)."""
    run_dir = Path(run_dir)
    checkpoint = run_dir / CHECKPOINT_NAME
    if not checkpoint.exists() or not (run_dir / SPEC_NAME).exists():
        raise RunError(
            f"{run_dir}: not a run directory (no checkpoint.pt and spec.yaml); give the "
            "directory `growsim run` wrote"
        )
    per_image_path = run_dir / PER_IMAGE_NAME
    state = read_checkpoint(
        checkpoint, torch.device("cpu"),
        advice="; rerun it with this version, or predict with the version that wrote it",
    )  # fmt: skip
    if not state.get("finished") or not per_image_path.exists():
        raise RunError(
            f"{run_dir}: the run has not finished, so it has no final model; finish it with "
            "`growsim run SPEC --resume`"
        )
    spec_path = run_dir / SPEC_NAME
    spec = parse_stored_spec(read_spec_text(spec_path), str(spec_path))
    weights = state["model"]
    model = LatticeNetwork(
        Box(**state["box"]),
        in_channels=weights["bottom_up.0"].shape[1],
        classes=weights["readout_bias"].shape[0],
        kernel_size=spec.lattice.kernel_size,
        input_stride=spec.lattice.input_stride,
        connections=tuple(spec.lattice.connections),
        time_mode=spec.time_selection,
        readout_grid=spec.lattice.readout_grid,
        halting_reads_confidence=spec.lattice.halting_reads_confidence,
        halting_centred=spec.lattice.halting_centred,
        precision=spec.training.precision,
    )
    model.load_state_dict(weights)
    model.to(device or torch.device("cpu")).eval()
    per_image = open_checked_store(
        per_image_path, "the run's per-image results", "run it again with --overwrite"
    )
    class_names = tuple(str(name) for name in per_image.class_name.values)
    attrs = dict(per_image.attrs)
    if "input_mean" in attrs:
        mean, std = float(attrs["input_mean"]), float(attrs["input_std"])
    else:  # written before runs recorded it: the trainer's normalisation, recomputed
        images = load_dataset(spec.data, spec.data.seed).train_images
        mean, std = float(images.mean()), float(images.std()) or 1.0
    return FinishedRun(run_dir, spec, model, class_names, mean, std, int(state["iteration"]))


def read_stimuli(path: str | Path, run: FinishedRun) -> Stimuli:
    """A folder of image files or an ``.npz``, made like the run's training images."""
    path, data = Path(path), run.spec.data
    if path.is_dir():
        images, ids, labels = read_image_set(
            path, run.class_names, data.channels, data.image_size, data.resize
        )
    elif path.is_file():
        images, ids, labels = read_image_arrays(path, data.image_size)
    else:
        raise DataError(f"{path}: not found; give a folder of images or an .npz file")
    return _stimuli(run, images, ids, labels, path)


def stimuli_from_arrays(run: FinishedRun, images, ids=None, labels=None) -> Stimuli:
    """Images given as an array (numpy, or anything ``np.asarray`` reads), made like the
    run's training images: (n, H, W) grey, or (n, H, W, C) / (n, C, H, W) with C = 1 or 3,
    uint8 in 0..255 or float in [0, 1], of the run's image size. ``ids`` name the images
    (default: their index), ``labels`` are their classes (indices of the run's classes)."""
    where = Path("<images given>")
    images = check_images(where, "images", np.asarray(images), run.spec.data.image_size)
    ids = check_ids(where, "ids", None if ids is None else np.asarray(ids), len(images))
    if labels is not None:
        labels = check_labels(where, "labels", np.asarray(labels), len(images))
    return _stimuli(run, images, ids, labels, where)


def _stimuli(run: FinishedRun, images: np.ndarray, ids, labels, source: Path) -> Stimuli:
    if labels is not None and len(labels) and labels.max() >= len(run.class_names):
        raise DataError(
            f"{source}: label {labels.max()} is outside the run's {len(run.class_names)} "
            f"classes ({', '.join(run.class_names)})"
        )
    floats = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images
    floats = to_channels(floats.astype(np.float32), run.spec.data.channels)
    return Stimuli(torch.from_numpy(np.ascontiguousarray(floats)), ids, labels, source)


def model_inputs(
    run: FinishedRun, images: torch.Tensor, level: float, generator: torch.Generator
) -> torch.Tensor:
    """``images`` occluded at ``level`` (its occluders drawn with ``generator``) and
    normalised as the run's training images were, on the model's device."""
    occluded = occlude(
        images, torch.full((len(images),), level), run.spec.data.occlusion, generator
    )
    device = next(run.model.parameters()).device
    return (occluded.to(device) - run.input_mean) / run.input_std


@torch.no_grad()
def predict_stimuli(
    run: FinishedRun,
    stimuli: Stimuli,
    levels: tuple[float, ...] = (0.0,),
    exit_threshold: float | None = None,
    seed: int = 0,
    batch_size: int = 500,
) -> xr.Dataset:
    """The run's model on every stimulus at every occlusion level (0 is always included)."""
    levels = tuple(sorted({0.0, *levels}))
    for level in levels:
        if not 0.0 <= level < 1.0:
            raise DataError(f"--occlusion: levels must lie in [0, 1), got {level:g}")
    if exit_threshold is None:
        exit_threshold = run.spec.record.exit_threshold
    generator = torch.Generator().manual_seed(seed)
    count = len(stimuli.images)
    predictions = []
    for level in levels:
        inputs = model_inputs(run, stimuli.images, level, generator)
        batches = [
            run.model.predict(inputs[start : start + batch_size], exit_threshold)
            for start in range(0, count, batch_size)
        ]
        predictions.append(Prediction(
            *(torch.cat([getattr(b, name) for b in batches]).cpu()
              for name in ("class_probs", "step_probs", "steps_computed"))
        ))  # fmt: skip
    return _predictions_dataset(run, stimuli, levels, predictions, exit_threshold, seed)


def _predictions_dataset(run, stimuli, levels, predictions, exit_threshold, seed) -> xr.Dataset:
    probs = torch.stack([p.class_probs for p in predictions])  # (level, image, class)
    confidence, predicted = probs.max(dim=2)
    step_probs = torch.stack([p.step_probs for p in predictions]).numpy().astype("float32")
    expected = torch.stack([p.expected_steps for p in predictions]).numpy().astype("float32")
    computed = torch.stack([p.steps_computed for p in predictions]).numpy().astype("int32")
    variables = {
        "predicted": (("occlusion", "image"), predicted.numpy().astype("int32"), attrs("predicted")),
        "confidence": (("occlusion", "image"), confidence.numpy().astype("float32"), attrs("confidence")),
        "expected_steps": (("occlusion", "image"), expected, attrs("expected_steps")),
        "steps_computed": (("occlusion", "image"), computed, attrs("steps_computed")),
        "step_probs": (("occlusion", "image", "step"), step_probs, attrs("step_probs")),
    }  # fmt: skip
    if stimuli.labels is not None:
        labels = torch.from_numpy(stimuli.labels)
        true_probability = probs.gather(2, labels.expand(len(levels), -1)[..., None]).squeeze(2)
        variables.update({
            "label": ("image", stimuli.labels.astype("int32"), attrs("label", "true class index (from the image's folder or the file's labels)")),
            "correct": (("occlusion", "image"), (predicted == labels).numpy(), attrs("correct")),
            "true_class_probability": (("occlusion", "image"), true_probability.numpy().astype("float32"), attrs("true_class_probability")),
        })  # fmt: skip
    return xr.Dataset(
        variables,
        coords={
            "occlusion": ("occlusion", np.asarray(levels, dtype="float64"), attrs("occlusion")),
            "image": ("image", np.arange(len(stimuli.ids)), attrs("image")),
            "image_id": ("image", image_ids(stimuli.ids), {"long_name": "the image: its path relative to the images folder, or its id in the .npz"}),
            "step": ("step", np.arange(step_probs.shape[2]), attrs("step")),
            "class_name": ("class", np.asarray(run.class_names), attrs("class_name")),
        },
        attrs={
            "Conventions": CONVENTIONS, "title": f"growsim predictions of run {run.spec.name!r}",
            "run": str(run.run_dir), "images": str(stimuli.source), "iteration": run.iteration,
            "exit_threshold": float(exit_threshold), "occlusion_seed": seed,
        },
    )  # fmt: skip


def predictions_csv(dataset: xr.Dataset) -> str:
    """One row per (image, occlusion level); ``p_step_t`` is the probability of answering
    after step t (1-based, so ``expected_steps`` = sum over t of t * p_step_t)."""
    names = [str(n) for n in dataset.class_name.values]
    labelled = "label" in dataset
    steps = dataset.sizes["step"]
    header = ["image_id", "occlusion"]
    header += ["true_class"] if labelled else []
    header += ["predicted_class", "confidence", "expected_steps", "steps_computed"]
    header += ["correct", "true_class_probability"] if labelled else []
    header += [f"p_step_{t + 1}" for t in range(steps)]
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(header)
    values = {name: dataset[name].values for name in dataset.data_vars}
    for image, image_id in enumerate(dataset.image_id.values.tolist()):
        for level_index, level in enumerate(dataset.occlusion.values.tolist()):
            at = (level_index, image)
            row = [image_id, f"{level:g}"]
            row += [names[values["label"][image]]] if labelled else []
            row += [
                names[values["predicted"][at]], f"{values['confidence'][at]:.6f}",
                f"{values['expected_steps'][at]:.6f}", int(values["steps_computed"][at]),
            ]  # fmt: skip
            if labelled:
                row += [int(values["correct"][at]), f"{values['true_class_probability'][at]:.6f}"]
            row += [f"{p:.6f}" for p in values["step_probs"][at]]
            writer.writerow(row)
    return stream.getvalue()


def write_predictions(dataset: xr.Dataset, out_dir: Path) -> tuple[Path, Path]:
    """Write ``predictions.csv`` and ``predictions.zarr`` into ``out_dir`` (each atomically)."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunError(f"{out_dir}: cannot create the output folder ({error.strerror})") from None
    csv_path = out_dir / PREDICTIONS_CSV
    write_text_atomically(csv_path, predictions_csv(dataset))
    return csv_path, write_zarr_atomically(dataset, out_dir / PREDICTIONS_NAME)


def run_prediction(
    run_dir: str | Path,
    images: str | Path,
    out_dir: str | Path | None = None,
    levels: tuple[float, ...] = (0.0,),
    exit_threshold: float | None = None,
    seed: int = 0,
) -> tuple[xr.Dataset, Path]:
    """Load the run, predict the images, write the results; returns them and their folder."""
    run = load_finished_run(run_dir, resolve_device("auto"))
    stimuli = read_stimuli(images, run)
    dataset = predict_stimuli(run, stimuli, levels, exit_threshold, seed)
    images = Path(images)
    name = images.stem if images.is_file() else images.resolve().name  # "." has no name
    out_dir = (
        Path(out_dir)
        if out_dir
        else Path(run_dir)
        / PREDICTIONS_DIRECTORY
        / prediction_folder_name(name, levels, exit_threshold, seed)
    )
    write_predictions(dataset, out_dir)
    return dataset, out_dir


def prediction_folder_name(images: str, levels, exit_threshold: float | None, seed: int) -> str:
    """The default folder of one ``growsim predict`` call: the images' name, then the options
    that change its results, so calls with other options do not overwrite each other."""
    parts = [images]
    occluded = [level for level in levels if level > 0]
    if occluded:
        parts.append("occlusion-" + "-".join(f"{level:g}" for level in occluded))
        if seed:
            parts.append(f"seed-{seed}")
    if exit_threshold is not None:
        parts.append(f"exit-{exit_threshold:g}")
    return "_".join(parts)


def prediction_summary(dataset: xr.Dataset, out_dir: Path) -> str:
    """A few lines for the terminal: what was predicted, how fast, where it went."""
    levels = dataset.occlusion.values
    lines = [
        f"predicted {dataset.sizes['image']} images from {dataset.attrs['images']} with run "
        f"{dataset.attrs['run']} (iteration {dataset.attrs['iteration']})"
    ]
    for index, level in enumerate(levels):
        at = dataset.isel(occlusion=index)
        text = (
            f"  occlusion {level:.0%}: mean expected steps {float(at.expected_steps.mean()):.2f}, "
            f"steps computed {float(at.steps_computed.mean()):.2f}"
        )
        if "correct" in at:
            text += f", accuracy {float(at.correct.mean()):.3f}"
        lines.append(text)
    if "correct" not in dataset:
        lines.append(
            "  (unlabelled: put images in folders named after the run's classes for accuracy)"
        )
    lines.append(f"wrote {out_dir / PREDICTIONS_CSV} and {out_dir / PREDICTIONS_NAME}")
    return "\n".join(lines)
