"""Small stimulus sets written to a temporary directory: image folders, npz arrays, IDX files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from growsim.data.datasets import draw_shapes
from growsim.spec import DataConfig

SHAPE_NAMES = ("disc", "square", "triangle")


def write_image(path: Path, array: np.ndarray) -> Path:
    """Save a uint8 (H, W) grey or (H, W, 3) RGB array; the suffix picks PNG or JPEG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"quality": 95} if path.suffix.lower() in (".jpg", ".jpeg") else {}
    Image.fromarray(array).save(path, **options)
    return path


def shape_folders(root: Path, train: int = 120, test: int = 30, size: int = 24) -> Path:
    """A learnable folder dataset of three shape classes, ``root/train`` and ``root/test``.

    Files alternate between grey PNG and RGB JPEG, so one dataset holds both.
    """
    rng = np.random.default_rng(0)
    config = DataConfig(classes=len(SHAPE_NAMES), image_size=size)
    for split, count in (("train", train), ("test", test)):
        images, labels = draw_shapes(count, config, rng)
        for index, (image, label) in enumerate(zip(images[:, 0], labels)):
            grey = (image * 255).astype(np.uint8)
            folder = root / split / SHAPE_NAMES[label]
            if index % 2:
                write_image(folder / f"{split}{index:04d}.jpg", np.stack([grey] * 3, axis=-1))
            else:
                write_image(folder / f"{split}{index:04d}.png", grey)
    return root


def write_idx(path: Path, array: np.ndarray, magic_type: int = 0x08, compress: bool = True):
    """An IDX (MNIST-format) file of ``array``, gzipped or not."""
    header = bytes([0, 0, magic_type, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if compress else open
    with opener(path, "wb") as stream:
        stream.write(header + array.astype(np.uint8).tobytes())
