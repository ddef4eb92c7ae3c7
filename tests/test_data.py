"""Datasets and occlusion; IDX directories; data.channels."""

import dataclasses
import gzip
import struct
import sys

import numpy as np
import pytest
import torch

from growsim.data.datasets import draw_shapes, load_dataset, occlude
from growsim.data.idx import read_idx
from growsim.errors import DataError, SpecError
from growsim.spec import DataConfig, OcclusionConfig, parse_spec, spec_to_yaml
from tests.stimuli import write_idx


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


def mnist_like(directory, names, compress=True, size=8):
    """An IDX directory of 3 classes: 9 train and 5 test images whose pixels are their label."""
    directory.mkdir(exist_ok=True)
    train_labels, test_labels = np.arange(9) % 3, np.array([2, 1, 0, 2, 1])
    for split, labels in (("train", train_labels), ("test", test_labels)):
        images = np.repeat(labels * 100, size * size).reshape(len(labels), size, size)
        write_idx(directory / names[split, "images"], images, compress=compress)
        write_idx(directory / names[split, "labels"], labels, compress=compress)
    return directory


EMNIST_STYLE = {
    ("train", "images"): "emnist-x-train-images-idx3-ubyte",
    ("train", "labels"): "emnist-x-train-labels-idx1-ubyte",
    ("test", "images"): "emnist-x-test-images-idx3-ubyte",
    ("test", "labels"): "emnist-x-test-labels-idx1-ubyte",
}
MNIST_STYLE = {
    (split, kind): f"{'t10k' if split == 'test' else split}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz"
    for split in ("train", "test") for kind in ("images", "labels")
}  # fmt: skip


def test_any_idx_directory_reads_with_its_class_names(tmp_path):
    directory = mnist_like(tmp_path / "emnist", EMNIST_STYLE, compress=False)
    config = DataConfig(
        dataset="idx", path=str(directory), image_size=8, class_names=["a", "b", "c"]
    )
    data = load_dataset(config, seed=0)
    assert data.class_names == ("a", "b", "c")
    assert data.train_images.shape == (9, 1, 8, 8) and data.test_labels.tolist() == [2, 1, 0, 2, 1]
    # each image is filled with 100 * its label: images and labels stay paired
    np.testing.assert_allclose(
        data.test_images[:, 0, 0, 0].numpy(), [200 / 255, 100 / 255, 0, 200 / 255, 100 / 255]
    )
    assert data.test_ids.tolist() == [0, 1, 2, 3, 4]  # indices into the test file
    chosen = load_dataset(
        DataConfig(dataset="idx", path=str(directory), image_size=8, classes=2), 0
    )
    assert chosen.class_names == ("0", "1")  # named by label when no names are given
    assert chosen.test_ids.tolist() == [1, 2, 4]  # the kept images' indices in the file


def test_idx_directory_errors_name_the_folder_and_the_fix(tmp_path):
    directory = mnist_like(tmp_path / "mnist", MNIST_STYLE)
    config = DataConfig(dataset="idx", path=str(directory), image_size=10)
    with pytest.raises(DataError, match="IDX images are 8 x 8 .* set data.image_size to 8"):
        load_dataset(config, seed=0)
    config = dataclasses.replace(config, image_size=8, class_names=("a", "b"))
    with pytest.raises(DataError, match=r"train label 2 is outside the 2 classes \(a, b\)"):
        load_dataset(config, seed=0)
    (directory / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(
        DataError, match=r"t10k-labels-idx1-ubyte.gz: file not found \(no test labels file"
    ):
        load_dataset(config, seed=0)
    (directory / "t10k-labels-idx1-ubyte.gz").write_bytes(b"")
    (directory / "test-labels-idx1-ubyte").write_bytes(b"")
    with pytest.raises(DataError, match="several files could be the test labels"):
        load_dataset(config, seed=0)


def test_grey_data_is_repeated_into_three_channels(tmp_path):
    grey = load_dataset(DataConfig(classes=3, image_size=12, train_size=20, test_size=5), seed=1)
    rgb = load_dataset(
        DataConfig(classes=3, image_size=12, train_size=20, test_size=5, channels=3), seed=1
    )
    assert rgb.train_images.shape == (20, 3, 12, 12)
    for channel in range(3):
        assert torch.equal(rgb.train_images[:, channel], grey.train_images[:, 0])


@pytest.mark.parametrize(
    "data, message",
    [
        ("{dataset: idx}", "data.path: the idx dataset needs data.path"),
        (
            "{dataset: folder}",
            "data.path: the folder dataset needs data.path: a folder holding train/<class>/",
        ),
        ("{dataset: arrays}", "data.path: the arrays dataset needs data.path: an .npz file"),
        (
            "{dataset: folder, path: x, class_names: [a, b]}",
            "data.class_names: only the idx dataset takes class names",
        ),
        ("{dataset: idx, path: x, class_names: [a, a]}", "data.class_names: lists a name twice"),
        ("{channels: 2}", "data.channels: must be 1 \\(grey\\) or 3 \\(RGB\\), got 2"),
        (
            "{dataset: folder, path: x, clutter: 1}",
            "data.clutter: only the shapes dataset draws clutter",
        ),
        ("{dataset: digits, image_size: 20}", "data.image_size: digits are 8 x 8, enlarged"),
        ("{dataset: digits, image_size: 16, classes: 11}", "data.classes: digits has 10 classes"),
        (
            "{dataset: folder, path: x, resize: squash}",
            "data.resize: must be one of 'square', 'crop', 'stretch'",
        ),
    ],
)
def test_data_section_errors(data, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(f"training: {{iterations: 10}}\ndata: {data}\n")


def test_own_data_defaults_to_all_classes_and_images_and_round_trips():
    folder = parse_spec(
        "training: {iterations: 10}\ndata: {dataset: folder, path: stimuli, channels: 3}\n"
    )
    assert (folder.data.classes, folder.data.train_size, folder.data.test_size) == (
        None,
        None,
        None,
    )
    assert parse_spec(spec_to_yaml(folder)) == folder
    fashion = parse_spec("training: {iterations: 10}\ndata: {dataset: fashion_mnist}\n")
    assert (fashion.data.classes, fashion.data.train_size, fashion.data.test_size) == (
        10,
        4000,
        1000,
    )


def test_digits_are_the_whole_fixed_split_enlarged_by_repeating_pixels(monkeypatch):
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    from growsim.data.digits import DIGITS_TEST

    spec = parse_spec("training: {iterations: 10}\ndata: {dataset: digits, image_size: 16}\n")
    data = load_dataset(spec.data, 0)
    assert data.train_images.shape == (1797 - DIGITS_TEST, 1, 16, 16)
    assert data.test_images.shape == (DIGITS_TEST, 1, 16, 16)
    assert data.class_names == tuple("0123456789")
    source = load_digits()
    image = int(data.test_ids[0])  # the test ids index scikit-learn's array
    expected = torch.from_numpy(source.images[image] / 16.0).float()
    assert torch.equal(data.test_images[0, 0, ::2, ::2], expected)
    assert torch.equal(data.test_images[0, 0, 1::2, 1::2], expected)
    assert int(data.test_labels[0]) == source.target[image]
    other_seed = load_dataset(spec.data, 5)  # data.seed shuffles, never moves the split
    assert sorted(other_seed.test_ids.tolist()) == sorted(data.test_ids.tolist())
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # scikit-learn missing
    with pytest.raises(DataError, match="pip install scikit-learn"):
        load_dataset(spec.data, 0)
