"""Datasets and occlusion."""

import gzip
import struct

import numpy as np
import pytest
import torch

from growsim.data import draw_shapes, load_dataset, occlude, read_idx
from growsim.errors import DataError
from growsim.spec import DataConfig, OcclusionConfig


def test_shapes_are_deterministic_balanced_and_in_range():
    config = DataConfig(
        classes=5, image_size=20, train_size=500, test_size=10, noise=0.1, clutter=2
    )
    first = load_dataset(config, seed=3)
    second = load_dataset(config, seed=3)
    assert torch.equal(first.train_images, second.train_images)
    assert first.fingerprint() == second.fingerprint()
    assert first.fingerprint() != load_dataset(config, seed=4).fingerprint()
    assert first.train_images.shape == (500, 1, 20, 20)
    assert 0.0 <= first.train_images.min() and first.train_images.max() <= 1.0
    counts = np.bincount(first.train_labels.numpy(), minlength=5)
    assert counts.min() > 60


def test_every_shape_class_draws_something_distinct():
    config = DataConfig(classes=10, image_size=28)
    rng = np.random.default_rng(0)
    images, labels = draw_shapes(400, config, rng)
    means = np.stack([images[labels == k].mean(axis=0).ravel() for k in range(10)])
    assert (images.reshape(400, -1).sum(axis=1) > 5).all()  # no empty image
    distances = np.linalg.norm(means[:, None] - means[None], axis=2)
    assert distances[~np.eye(10, dtype=bool)].min() > 0.5


@pytest.mark.parametrize("level", [0.0, 0.25, 0.5, 0.75])
def test_occlusion_covers_the_asked_fraction(level):
    config = OcclusionConfig(levels=[level], patch_size=4, value=0.5)
    images = torch.zeros(8, 1, 16, 16)
    covered = occlude(images, torch.full((8,), level), config, torch.Generator().manual_seed(0))
    fraction = (covered == 0.5).float().mean(dim=(1, 2, 3))
    assert torch.allclose(fraction, torch.full((8,), level))


def write_idx(path, array, magic_type=0x08):
    header = bytes([0, 0, magic_type, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as stream:
        stream.write(header + array.astype(np.uint8).tobytes())


def test_idx_reader_round_trips(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    assert np.array_equal(read_idx(tmp_path / "a.gz", expected_dims=3), array)


def test_missing_dataset_names_the_install_command(tmp_path):
    config = DataConfig(dataset="fashion_mnist", path=str(tmp_path))
    with pytest.raises(DataError, match="apt-get install -y dataset-fashion-mnist"):
        load_dataset(config, seed=0)


def test_corrupt_files_give_clear_errors(tmp_path):
    array = np.zeros((4, 5, 5), dtype=np.uint8)
    write_idx(tmp_path / "good.gz", array)
    raw = (tmp_path / "good.gz").read_bytes()
    (tmp_path / "cut.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="not a readable gzip file"):
        read_idx(tmp_path / "cut.gz", expected_dims=3)
    write_idx(tmp_path / "magic.gz", array, magic_type=0x0D)
    with pytest.raises(DataError, match="wrong IDX magic"):
        read_idx(tmp_path / "magic.gz", expected_dims=3)
    with gzip.open(tmp_path / "short.gz", "wb") as stream:
        stream.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", 4, 5, 5) + bytes(10))
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "short.gz", expected_dims=3)
