"""Datasets and occlusion: the one place that knows which reader a spec's dataset needs.

Procedural shapes are drawn here; stored data is read by ``idx`` (Fashion-MNIST and any
MNIST-format directory), ``digits`` (scikit-learn's), ``folders`` and ``arrays``, then selected by
``sources.select``. Images are float32 tensors of shape (n, channels, size, size) with
values in [0, 1]; labels are int64 class indices in [0, classes).
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from growsim.data.arrays import REQUIRED, read_array_dataset
from growsim.data.digits import read_digits
from growsim.data.folders import class_folders, read_folder_dataset
from growsim.data.idx import find_idx_files, read_idx_source
from growsim.data.sources import SourceData, select, to_channels
from growsim.errors import DataError
from growsim.spec import DATA_DEFAULT_PATHS, DataConfig, OcclusionConfig

FASHION_MNIST_DIR = DATA_DEFAULT_PATHS["fashion_mnist"]
FASHION_MNIST_INSTALL = "sudo apt-get install -y dataset-fashion-mnist"
FASHION_MNIST_CLASSES = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle-boot",
)  # fmt: skip
SHAPE_CLASSES = (
    "disc", "square", "triangle", "cross", "ring",
    "bar", "diamond", "ellipse", "chevron", "frame",
)  # fmt: skip


@dataclass
class Dataset:
    """Train and test images with labels, plus what identifies them."""

    train_images: torch.Tensor  # (n_train, channels, H, W) float32 in [0, 1]
    train_labels: torch.Tensor  # (n_train,) int64
    test_images: torch.Tensor  # (n_test, channels, H, W)
    test_labels: torch.Tensor  # (n_test,)
    class_names: tuple[str, ...]
    # What identifies each test image in its source: the index in the t10k file for IDX
    # data and arrays without ids, the path relative to test/ for folders (a string). The
    # image_id that per-image results and human reaction-time files refer to.
    test_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.test_ids is None:
            self.test_ids = np.arange(len(self.test_labels))

    def fingerprint(self) -> str:
        """SHA-256 of all images and labels, to record which data a run saw."""
        digest = hashlib.sha256()
        for tensor in (self.train_images, self.train_labels, self.test_images, self.test_labels):
            digest.update(tensor.numpy().tobytes())
        return digest.hexdigest()


def load_dataset(config: DataConfig, seed: int) -> Dataset:
    """Load the dataset the spec names, subsampled to its sizes and classes."""
    rng = np.random.default_rng(seed)
    if config.dataset == "shapes":
        train = draw_shapes(config.train_size, config, rng)
        test = draw_shapes(config.test_size, config, rng)
        names = SHAPE_CLASSES[: config.classes]
        train = (to_channels(train[0], config.channels), train[1])
        test = (to_channels(test[0], config.channels), test[1])
        return Dataset(*_to_tensors(*train), *_to_tensors(*test), names)
    source = read_source(config)
    source.check_classes()
    chosen = select(
        source, config.classes, config.train_size, config.test_size, config.channels, rng
    )
    train = (chosen.train_images, chosen.train_labels)
    test = (chosen.test_images, chosen.test_labels)
    if config.noise:  # the same Gaussian pixel noise the shapes get, clipped to [0, 1]
        train, test = (_add_noise(*pair, config.noise, rng) for pair in (train, test))
    return Dataset(*_to_tensors(*train), *_to_tensors(*test), chosen.class_names, chosen.test_ids)


def check_source_files(config: DataConfig) -> None:
    """A DataError when a stored dataset's files are not what its kind reads (``growsim
    validate``): IDX files for all four roles, train/ and test/ class folders with images,
    an ``.npz`` with the required arrays. Cheap: nothing is decoded."""
    if config.dataset == "shapes":
        return
    if config.dataset == "digits":
        read_digits(config.image_size)  # scikit-learn is there (the images are in it)
        return
    if config.dataset == "folder":
        for split in ("train", "test"):
            class_folders(Path(config.path) / split)
    elif config.dataset == "arrays":
        path = Path(config.path)
        if not path.is_file():
            raise DataError(f"{path}: not a file (data.path of an arrays dataset is an .npz file)")
        try:
            with np.load(path, allow_pickle=False) as archive:
                names = set(archive.files)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, AttributeError) as error:
            raise DataError(f"{path}: not a readable .npz file ({error})") from None
        missing = [key for key in REQUIRED if key not in names]
        if missing:
            raise DataError(
                f"{path}: missing array(s) {', '.join(missing)}; an arrays dataset needs {', '.join(REQUIRED)}"
            )
    else:
        directory = Path(config.path or FASHION_MNIST_DIR)
        find_idx_files(
            directory,
            "Check the files in data.path (MNIST format: four IDX files, gzipped or not).",
        )


def read_source(config: DataConfig) -> SourceData:
    """All images, labels, ids and class names of a stored dataset, as its source holds them."""
    if config.dataset == "folder":
        return read_folder_dataset(
            Path(config.path), config.channels, config.image_size, config.resize
        )
    if config.dataset == "arrays":
        return read_array_dataset(Path(config.path), config.image_size)
    if config.dataset == "digits":
        return read_digits(config.image_size)
    if config.dataset == "fashion_mnist":
        directory = Path(config.path or FASHION_MNIST_DIR)
        fix = (
            f"Fashion-MNIST comes from Debian: {FASHION_MNIST_INSTALL} (or set data.path to "
            "a directory holding the four *-ubyte.gz files)"
        )
        names = FASHION_MNIST_CLASSES
    else:
        directory = Path(config.path)
        fix = "Check the files in data.path (MNIST format: four IDX files, gzipped or not)."
        names = tuple(config.class_names) if config.class_names else None
    return read_idx_source(directory, fix, names, config.image_size)


# --------------------------------------------------------------------------- shapes


def draw_shapes(
    count: int, config: DataConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``count`` images of random shapes (uint8-free float arrays) and their labels.

    Each image holds one shape of a random class at a random position, size and rotation,
    ``config.clutter`` distractor strokes, and Gaussian pixel noise of std ``config.noise``.
    """
    size = config.image_size
    labels = rng.integers(0, config.classes, size=count)
    grid = (np.arange(size) + 0.5) / size * 2.0 - 1.0  # pixel centres in [-1, 1]
    y, x = np.meshgrid(grid, grid, indexing="ij")  # (H, W)
    centre = rng.uniform(-0.3, 0.3, size=(count, 2, 1, 1))
    scale = rng.uniform(0.35, 0.6, size=(count, 1, 1))
    angle = rng.uniform(0, np.pi, size=(count, 1, 1))
    dx, dy = x[None] - centre[:, 0], y[None] - centre[:, 1]
    u = (np.cos(angle) * dx + np.sin(angle) * dy) / scale  # shape-frame coordinates
    v = (-np.sin(angle) * dx + np.cos(angle) * dy) / scale
    images = np.zeros((count, size, size), dtype=np.float32)
    for label in range(config.classes):
        chosen = labels == label
        images[chosen] = _shape_mask(label, u[chosen], v[chosen])
    for _ in range(config.clutter):
        images = np.maximum(images, _stroke(count, x, y, rng))
    if config.noise:
        images = images + rng.normal(0.0, config.noise, size=images.shape).astype(np.float32)
    images = np.clip(images, 0.0, 1.0)[:, None]
    return images.astype(np.float32), labels.astype(np.int64)


def _shape_mask(label: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Filled mask (float 0/1) of shape class ``label`` in shape-frame coordinates."""
    r = np.hypot(u, v)
    au, av = np.abs(u), np.abs(v)
    masks = {
        0: r < 0.8,  # disc
        1: np.maximum(au, av) < 0.7,  # square
        2: (v < 0.65) & (au < 0.6 * (v + 0.75)),  # triangle, apex up
        3: ((au < 0.22) & (av < 0.9)) | ((av < 0.22) & (au < 0.9)),  # cross
        4: (r < 0.85) & (r > 0.5),  # ring
        5: (au < 0.95) & (av < 0.2),  # bar
        6: au + av < 0.9,  # diamond
        7: (u / 0.95) ** 2 + (v / 0.45) ** 2 < 1.0,  # ellipse
        8: (np.abs(v - 0.9 * au + 0.3) < 0.2) & (au < 0.85),  # chevron
        9: (np.maximum(au, av) < 0.85) & (np.maximum(au, av) > 0.55),  # frame
    }
    return masks[label].astype(np.float32)


def _stroke(count: int, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random short line segment per image, a distractor that belongs to no class."""
    start = rng.uniform(-1, 1, size=(count, 2, 1, 1))
    angle = rng.uniform(0, np.pi, size=(count, 1, 1))
    length = rng.uniform(0.3, 0.7, size=(count, 1, 1))
    dx, dy = x[None] - start[:, 0], y[None] - start[:, 1]
    along = np.cos(angle) * dx + np.sin(angle) * dy
    across = -np.sin(angle) * dx + np.cos(angle) * dy
    return ((np.abs(across) < 0.06) & (along > 0) & (along < length)).astype(np.float32)


# --------------------------------------------------------------------------- helpers


def _add_noise(
    images: np.ndarray, labels: np.ndarray, std: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    noisy = images + rng.normal(0.0, std, size=images.shape).astype(np.float32)
    return np.clip(noisy, 0.0, 1.0).astype(np.float32), labels


def _to_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels)


# --------------------------------------------------------------------------- occlusion


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor`` on ``device``; a CPU tensor goes to a GPU through pinned memory without
    waiting (a plain copy first waits for every kernel already queued)."""
    if tensor.device.type != "cpu" or device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def occlude(
    images: torch.Tensor,
    levels: torch.Tensor,
    config: OcclusionConfig,
    generator: torch.Generator,
) -> torch.Tensor:
    """Cover a fraction ``levels[i]`` of image i with opaque square patches.

    The image is tiled into ``patch_size`` squares; ``round(level * tiles)`` of them, chosen
    at random, are set to ``config.value``. images: (n, 1, H, W); levels: (n,) in [0, 1).
    """
    count, _, height, width = images.shape
    patch = config.patch_size
    rows, cols = -(-height // patch), -(-width // patch)
    tiles = rows * cols
    scores = torch.rand(count, tiles, generator=generator, device=generator.device)
    scores = to_device(scores, images.device)
    ranks = scores.argsort(dim=1).argsort(dim=1)  # a random rank per tile
    covered = ranks < torch.round(to_device(levels, images.device) * tiles).unsqueeze(1)
    mask = covered.view(count, 1, rows, cols)
    mask = mask.repeat_interleave(patch, dim=2).repeat_interleave(patch, dim=3)
    mask = mask[:, :, :height, :width]
    return torch.where(mask, torch.full_like(images, config.value), images)


def occlude_at_training_levels(
    images: torch.Tensor, config: OcclusionConfig, generator: torch.Generator
) -> torch.Tensor:
    """``images`` each occluded at a level drawn from ``config.levels`` (as in training);
    unchanged when training sees no occlusion (``config.train`` off or every level 0)."""
    if not config.train or not any(level > 0 for level in config.levels):
        return images
    choice = torch.randint(len(config.levels), (len(images),), generator=generator)
    return occlude(images, torch.tensor(config.levels)[choice], config, generator)
