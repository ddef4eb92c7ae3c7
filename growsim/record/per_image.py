"""Per-image results of a trained run: what the model did with each test image.

``per_image.zarr`` in the run directory holds, for every test image and occlusion level,
the prediction, the probability of the true class, the expected number of steps and the
whole time distribution, plus a reference classifier's probability of the true class (names,
units and meanings: growsim.record.variables) (a
difficulty measure independent of the grown network). ``image_id`` identifies the image in
its source (an index into the test file, or a path relative to ``test/`` for folders): the
key a file of human reaction times refers to. It also holds the model's speed-accuracy
curve over exit thresholds (growsim.record.speed_accuracy).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from growsim.data.array_cache import cached_by_key
from growsim.data.datasets import occlude_at_training_levels
from growsim.files import PER_IMAGE_NAME, write_zarr_atomically
from growsim.record.reference import fit_logistic_regression, true_class_probability
from growsim.record.speed_accuracy import speed_accuracy
from growsim.record.variables import CONVENTIONS, attrs
from growsim.train.trainer import Trainer

REFERENCE_FIT = "logistic-l2-1e-3-lbfgs-100-float32"  # names the fit in its cache key
IMAGE_ID_MEANING = (
    "the image in its source: index in the test file (IDX, arrays without ids), "
    "path relative to test/ (folders), or the id the arrays give"
)


def image_ids(ids) -> np.ndarray:
    """Image ids as stored: int64 when they are integers, else fixed-width unicode strings."""
    ids = np.asarray(ids)
    return ids.astype("int64") if ids.dtype.kind in "iu" else ids.astype(str)


def per_image_results(trainer: Trainer) -> xr.Dataset:
    """Evaluate ``trainer``'s model image by image on its fixed test sets."""
    predictions = trainer.predict_test_sets()
    levels = trainer.eval_levels
    labels = trainer.data.test_labels
    count, steps = len(labels), trainer.model.box.steps
    predicted = np.stack([p.class_probs.argmax(dim=1).cpu().numpy() for p in predictions]).astype(
        "int32"
    )
    true_probability = np.stack(
        [p.class_probs.gather(1, labels[:, None]).squeeze(1).cpu().numpy() for p in predictions]
    ).astype("float32")
    step_probs = np.stack([p.step_probs.cpu().numpy() for p in predictions]).astype("float32")
    expected = np.stack([p.expected_steps.cpu().numpy() for p in predictions]).astype("float32")
    reference = _reference_true_class_probability(trainer)
    labels_np = labels.cpu().numpy()
    dataset = xr.Dataset(
        {
            "label": ("image", labels_np.astype("int32"), attrs("label")),
            "predicted": (("occlusion", "image"), predicted, attrs("predicted")),
            "correct": (("occlusion", "image"), predicted == labels_np[None], attrs("correct")),
            "true_class_probability": (("occlusion", "image"), true_probability, attrs("true_class_probability")),
            "expected_steps": (("occlusion", "image"), expected, attrs("expected_steps")),
            "step_probs": (("occlusion", "image", "step"), step_probs, attrs("step_probs")),
            "reference_true_class_probability": (("occlusion", "image"), reference, attrs("reference_true_class_probability")),
        },
        coords={
            "occlusion": ("occlusion", np.asarray(levels, dtype="float64"), attrs("occlusion")),
            "image": ("image", np.arange(count), attrs("image")),
            "image_id": ("image", image_ids(trainer.dataset.test_ids[:count]), {"long_name": IMAGE_ID_MEANING}),
            "step": ("step", np.arange(steps), attrs("step")),
            "class_name": ("class", np.asarray(trainer.dataset.class_names), attrs("class_name")),
        },
        attrs={
            "Conventions": CONVENTIONS,
            "title": f"growsim per-image results of run {trainer.spec.name!r}",
            "iteration": trainer.iteration,
            "dataset": trainer.spec.data.dataset,
            # The input normalisation the model was trained with, for `growsim predict`.
            "input_mean": float(trainer.data.normalisation[0]),
            "input_std": float(trainer.data.normalisation[1]),
        },
    )  # fmt: skip
    return dataset


def write_per_image(trainer: Trainer, run_dir: Path) -> Path:
    """Compute the per-image results and write them to ``run_dir/per_image.zarr`` atomically."""
    results = xr.merge(
        [per_image_results(trainer), speed_accuracy(trainer)], combine_attrs="override"
    )
    return write_zarr_atomically(results, Path(run_dir) / PER_IMAGE_NAME)


def _reference_true_class_probability(trainer: Trainer) -> np.ndarray:
    """The reference classifier's true-class probability for every (level, image)."""
    images = trainer.data.train_images[:10_000].cpu()
    labels = trainer.data.train_labels[:10_000].cpu()
    generator = torch.Generator().manual_seed(trainer.spec.data.seed + 104_729)
    occluded = occlude_at_training_levels(images, trainer.spec.data.occlusion, generator)
    if occluded is not images:
        images, labels = torch.cat([images, occluded]), torch.cat([labels, labels])
    inputs, classes = trainer.data.normalise(images), len(trainer.dataset.class_names)
    digest = hashlib.sha256(f"{REFERENCE_FIT}:{classes}".encode())
    for tensor in (inputs, labels):
        digest.update(tensor.contiguous().numpy().tobytes())

    def fit() -> dict[str, np.ndarray]:
        weight, bias = fit_logistic_regression(inputs, labels, classes)
        return {"weight": weight.numpy(), "bias": bias.numpy()}

    # The fit depends only on these images and labels: the runs of a sweep or of several
    # seeds on the same data share it (growsim.data.array_cache, user cache directory).
    fitted = cached_by_key(f"reference-{digest.hexdigest()[:40]}", fit)
    weight, bias = torch.from_numpy(fitted["weight"]), torch.from_numpy(fitted["bias"])
    test_labels = trainer.data.test_labels.cpu()
    return np.stack(
        [
            true_class_probability(
                weight, bias, trainer.data.normalise(s.cpu()), test_labels
            ).numpy()
            for s in trainer.data.test_sets
        ]
    ).astype("float32")
