"""The images a run learns from and is measured on: the training/validation split, the
fixed occluded evaluation sets, the input normalisation, and the batch of each iteration.

All randomness comes from generators seeded by (seed, purpose, index), so a run resumed
from a checkpoint draws exactly what the uninterrupted run would have drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from growsim.data.datasets import Dataset, occlude, occlude_at_training_levels, to_device
from growsim.errors import RunError
from growsim.spec import Spec

VALIDATION_OCCLUDER_SALT = 7907
TEST_OCCLUDER_SALT = 7919


@dataclass
class RunData:
    """A run's splits on its device. Evaluation sets hold one tensor per occlusion level."""

    train_images: torch.Tensor  # (image, channel, y, x) in [0, 1]
    train_labels: torch.Tensor  # (image,)
    validation_labels: torch.Tensor
    test_labels: torch.Tensor
    validation_sets: list[torch.Tensor]  # per evaluation level: (image, channel, y, x)
    test_sets: list[torch.Tensor]
    eval_levels: tuple[float, ...]  # 0.0 first, then the spec's occlusion levels
    normalisation: tuple[float, float]  # mean and std of the training images

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """Images as the network sees them: standardised with the training split's mean and std."""
        mean, std = self.normalisation
        return (images - mean) / std


def prepare_run_data(spec: Spec, dataset: Dataset, device: torch.device) -> RunData:
    """Hold out the validation split (a fixed part of the training images, drawn with
    ``data.seed``, never trained on: growth and compaction decide on it, the test set is
    only reported) and occlude both evaluation splits once at every level."""
    count = len(dataset.train_labels)
    held_out = max(1, round(spec.data.validation_fraction * count))
    if held_out >= count:
        raise RunError(
            f"data.validation_fraction {spec.data.validation_fraction} leaves no "
            f"training images of {count}; lower it or raise data.train_size"
        )
    order = torch.randperm(count, generator=torch.Generator().manual_seed(spec.data.seed))
    train_index, validation_index = order[held_out:], order[:held_out]
    train_images = dataset.train_images[train_index].to(device)
    std = float(train_images.std()) or 1.0
    eval_levels = tuple(sorted({0.0, *spec.data.occlusion.levels}))
    eval_size = spec.record.eval_size or len(dataset.test_labels)

    def occluded_sets(images: torch.Tensor, salt: int) -> list[torch.Tensor]:
        # Fixed occluders per level, so every checkpoint is evaluated on the same images.
        generator = torch.Generator().manual_seed(spec.data.seed + salt)
        images = images.to(device)
        return [
            occlude(images, torch.full((len(images),), level), spec.data.occlusion, generator)
            for level in eval_levels
        ]

    return RunData(
        train_images=train_images,
        train_labels=dataset.train_labels[train_index].to(device),
        validation_labels=dataset.train_labels[validation_index].to(device),
        test_labels=dataset.test_labels[:eval_size].to(device),
        validation_sets=occluded_sets(dataset.train_images[validation_index], VALIDATION_OCCLUDER_SALT),
        test_sets=occluded_sets(dataset.test_images[:eval_size], TEST_OCCLUDER_SALT),
        eval_levels=eval_levels,
        normalisation=(float(train_images.mean()), std),
    )  # fmt: skip


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RunError(
            "training.device: cuda was asked for but no CUDA GPU is visible; use auto or cpu"
        )
    return torch.device(name)


def seeded_generator(seed: int, purpose: int, index: int) -> torch.Generator:
    """A generator for one (purpose, index) of a training seed: 1 batch order per epoch,
    2 occluders per iteration, 3 growth initialisation per iteration."""
    return torch.Generator().manual_seed((seed * 1_000_003 + purpose * 7_919 + index) % (2**63))


def batches_per_epoch(train_count: int, batch_size: int) -> int:
    """Full batches in one pass over the training split (the remainder is left out of that
    epoch's order; a split smaller than one batch is one batch)."""
    return max(1, train_count // batch_size)


def training_batch(data: RunData, spec: Spec, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The normalised images and labels of ``iteration``: the epoch's fixed order, with
    occluders at the spec's training levels."""
    size, seed = spec.training.batch_size, spec.training.seed
    count = len(data.train_labels)
    epoch, position = divmod(iteration, batches_per_epoch(count, size))
    order = torch.randperm(count, generator=seeded_generator(seed, 1, epoch))
    index = to_device(order[position * size : (position + 1) * size], data.train_images.device)
    images, labels = data.train_images[index], data.train_labels[index]
    images = occlude_at_training_levels(
        images, spec.data.occlusion, seeded_generator(seed, 2, iteration)
    )
    return data.normalise(images), labels
