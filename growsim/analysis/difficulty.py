"""A difficulty measure that owes nothing to the grown network: an ensemble of reference
classifiers of other architectures, trained on the same training split.

An image's difficulty is the ensemble's mean miss probability, 1 - P(true class), averaged
over the members. Finding 4 correlates model time with it; because halting reads the grown
network's own confidence, the analysis also reports the partial correlation that controls
for that confidence (growsim.analysis.emergence).

Members (five, each trained with its own seed on images occluded as in training):
logistic regression on pixels, a one-hidden-layer perceptron, two feedforward CNNs of
different depth and width, and a plain recurrent CNN (fixed three steps, no halting).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from growsim.data.datasets import occlude_at_training_levels
from growsim.spec import Spec
from growsim.train.run_data import RunData

REFERENCE_ARCHITECTURES = ("logistic", "perceptron", "cnn-small", "cnn-wide", "recurrent-cnn")
# Fewest training batches of a reference model: two epochs of the 39000 Fashion-MNIST
# training images are 609, so every dataset gets at least that much training.
REFERENCE_MIN_STEPS = 600


class RecurrentCNN(nn.Module):
    """A plain recurrent conv net: one conv layer unrolled ``steps`` times with a lateral
    kernel, read out at the last step (no halting, no growth)."""

    def __init__(self, in_channels: int, classes: int, width: int = 32, steps: int = 3) -> None:
        super().__init__()
        self.steps = steps
        self.input = nn.Conv2d(in_channels, width, 3, stride=2, padding=1)
        self.lateral = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.readout = nn.Linear(width * 16, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits after the last step. images: (batch, channel, y, x)."""
        drive = self.input(images)
        state = torch.zeros_like(drive)
        for _ in range(self.steps):
            state = torch.relu(drive + self.lateral(state))
        return self.readout(F.adaptive_avg_pool2d(state, 4).flatten(1))


def reference_model(architecture: str, in_channels: int, size: int, classes: int) -> nn.Module:
    """An untrained reference classifier of ``architecture`` (REFERENCE_ARCHITECTURES)."""
    pixels = in_channels * size * size
    if architecture == "logistic":
        return nn.Sequential(nn.Flatten(), nn.Linear(pixels, classes))
    if architecture == "perceptron":
        return nn.Sequential(
            nn.Flatten(), nn.Linear(pixels, 256), nn.ReLU(), nn.Linear(256, classes)
        )
    if architecture == "cnn-small":
        return nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(32 * (size // 4) ** 2, classes),
        )  # fmt: skip
    if architecture == "cnn-wide":
        return nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * (size // 4) ** 2, 128), nn.ReLU(), nn.Linear(128, classes),
        )  # fmt: skip
    if architecture == "recurrent-cnn":
        return RecurrentCNN(in_channels, classes)
    raise ValueError(
        f"unknown reference architecture {architecture!r}; one of {REFERENCE_ARCHITECTURES}"
    )


SPLITS = ("validation", "test")


@dataclass(frozen=True)
class ReferenceDifficulty:
    """Per split, reference model and evaluation level, each image's P(true class)."""

    architectures: tuple[str, ...]
    true_class_probability: dict[str, np.ndarray]  # split -> (model, level, image)
    accuracy: dict[str, np.ndarray]  # split -> (model, level)

    def miss_probability(self, split: str) -> np.ndarray:
        """The ensemble's mean miss probability per (level, image) of ``split``: the
        difficulty."""
        return 1.0 - self.true_class_probability[split].mean(axis=0)

    def save(self, path: Path) -> None:
        """Write to an ``.npz`` file (read back by ``load``)."""
        arrays = {f"{kind}_{split}": table[split] for split in SPLITS
                  for kind, table in (("probability", self.true_class_probability), ("accuracy", self.accuracy))}  # fmt: skip
        np.savez_compressed(path, architectures=np.asarray(self.architectures), **arrays)

    @classmethod
    def load(cls, path: Path) -> "ReferenceDifficulty":
        """Read a file written by ``save``."""
        with np.load(path) as stored:
            return cls(
                tuple(str(a) for a in stored["architectures"]),
                {split: stored[f"probability_{split}"] for split in SPLITS},
                {split: stored[f"accuracy_{split}"] for split in SPLITS},
            )


def train_reference(
    architecture: str,
    data: RunData,
    spec: Spec,
    seed: int,
    epochs: float = 2.0,
    batch_size: int = 128,
    lr: float = 5e-3,
    min_steps: int = REFERENCE_MIN_STEPS,
) -> nn.Module:
    """A reference model trained with Adam on ``data``'s training split, occluded at the
    spec's training levels (as the grown network saw it), for ``epochs`` but at least
    ``min_steps`` batches (a small dataset's two epochs are a few dozen steps)."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    images, labels = data.train_images, data.train_labels
    model = reference_model(architecture, images.shape[1], images.shape[-1], int(labels.max()) + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    steps = max(min_steps, round(epochs * len(labels) / batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps)
    model.train()
    for _ in range(steps):
        index = torch.randint(len(labels), (batch_size,), generator=generator)
        batch = occlude_at_training_levels(images[index], spec.data.occlusion, generator)
        loss = F.cross_entropy(model(data.normalise(batch)), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()


@torch.no_grad()
def true_class_probabilities(
    model: nn.Module, data: RunData, split: str = "validation"
) -> tuple[np.ndarray, np.ndarray]:
    """P(true class) of ``model`` on each image of ``split`` at each level, (level, image),
    and whether its top class is the true one (same shape)."""
    labels = data.validation_labels if split == "validation" else data.test_labels
    sets = data.validation_sets if split == "validation" else data.test_sets
    probabilities, correct = [], []
    for images in sets:
        probs = torch.cat([
            model(data.normalise(images[start : start + 500])).softmax(dim=-1)
            for start in range(0, len(images), 500)
        ])  # fmt: skip
        probabilities.append(probs[torch.arange(len(labels)), labels].numpy())
        correct.append((probs.argmax(dim=-1) == labels).numpy())
    return np.stack(probabilities), np.stack(correct)


def reference_difficulty(
    data: RunData,
    spec: Spec,
    architectures: tuple[str, ...] = REFERENCE_ARCHITECTURES,
    seed: int = 100,
) -> ReferenceDifficulty:
    """Train every reference model (seeds ``seed``, ``seed + 1``, ...) and measure it on the
    validation and test images of every level."""
    probabilities = {split: [] for split in SPLITS}
    accuracies = {split: [] for split in SPLITS}
    for offset, architecture in enumerate(architectures):
        model = train_reference(architecture, data, spec, seed + offset)
        for split in SPLITS:
            probability, correct = true_class_probabilities(model, data, split)
            probabilities[split].append(probability)
            accuracies[split].append(correct.mean(axis=1))
    return ReferenceDifficulty(
        tuple(architectures),
        {split: np.stack(values) for split, values in probabilities.items()},
        {split: np.stack(values) for split, values in accuracies.items()},
    )
