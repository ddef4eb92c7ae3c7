"""Arrays in an .npz file: layouts and dtypes accepted, and each bad input refused clearly."""

import dataclasses

import numpy as np
import pytest
import xarray as xr

from growsim.cli import main
from growsim.data.datasets import load_dataset
from growsim.errors import DataError
from growsim.spec import DataConfig

RNG = np.random.default_rng(0)


def arrays(**changes):
    """A valid arrays dataset (grey uint8, 3 classes), with some arrays changed or removed."""
    stored = {
        "train_images": RNG.integers(0, 256, (12, 10, 10), dtype=np.uint8),
        "train_labels": np.arange(12) % 3,
        "test_images": RNG.integers(0, 256, (4, 10, 10), dtype=np.uint8),
        "test_labels": np.array([2, 0, 1, 2]),
    }
    stored.update(changes)
    return {key: value for key, value in stored.items() if value is not None}


def load(tmp_path, stored, **values):
    path = tmp_path / "data.npz"
    np.savez(path, **stored)
    return load_dataset(DataConfig(dataset="arrays", path=str(path), image_size=10, **values), 0)


def test_grey_uint8_arrays_load_with_index_ids_and_label_names(tmp_path):
    stored = arrays()
    data = load(tmp_path, stored)
    np.testing.assert_allclose(
        data.train_images[:, 0].numpy(), stored["train_images"] / 255, atol=1e-6
    )
    assert data.test_labels.tolist() == [2, 0, 1, 2]
    assert data.test_ids.tolist() == [0, 1, 2, 3]
    assert data.class_names == ("0", "1", "2")


def test_channels_last_rgb_floats_with_string_ids_and_class_names(tmp_path):
    images = RNG.uniform(0, 1, (4, 10, 10, 3)).astype(np.float32)
    images[0, :, :, :] = [1.0, 0.0, 0.0]  # pure red
    stored = arrays(
        test_images=images, test_ids=np.array(["a.png", "b.png", "c.png", "d.png"]),
        class_names=np.array(["cat", "dog", "owl"]),
    )  # fmt: skip
    rgb = load(tmp_path, stored, channels=3)
    assert rgb.test_images.shape == (4, 3, 10, 10) and rgb.train_images.shape == (12, 3, 10, 10)
    np.testing.assert_allclose(rgb.test_images[0, :, 3, 3].numpy(), [1, 0, 0])
    assert rgb.test_ids.tolist() == ["a.png", "b.png", "c.png", "d.png"]
    assert rgb.class_names == ("cat", "dog", "owl")
    grey = load(tmp_path, stored, channels=1)
    assert float(grey.test_images[0, 0, 3, 3]) == pytest.approx(0.299)  # luma of red


def test_channels_first_arrays_are_read_as_such(tmp_path):
    images = np.zeros((4, 3, 10, 10), np.uint8)
    images[:, 1] = 255  # green
    data = load(tmp_path, arrays(test_images=images), channels=3)
    np.testing.assert_allclose(data.test_images[:, :, 0, 0].numpy(), [[0, 1, 0]] * 4)


@pytest.mark.parametrize(
    "changes, message",
    [
        (
            {"test_labels": None},
            r"missing array\(s\) test_labels \(it holds test_images, train_images, train_labels\)",
        ),
        (
            {"train_images": np.zeros((12, 100), np.uint8)},
            r"train_images has shape \(12, 100\); expected",
        ),
        (
            {"train_images": np.zeros((12, 10, 10, 2), np.uint8)},
            r"train_images has shape \(12, 10, 10, 2\)",
        ),
        (
            {"test_images": np.zeros((4, 12, 12), np.uint8)},
            "test_images are 12 x 12 but data.image_size is 10",
        ),
        (
            {"train_images": np.zeros((12, 10, 10), np.int32)},
            "train_images has dtype int32; expected uint8",
        ),
        (
            {"test_images": np.full((4, 10, 10), 255.0)},
            r"test_images are floats from 255 to 255; float images must lie in \[0, 1\]",
        ),
        ({"test_images": np.full((4, 10, 10), np.nan)}, "test_images holds NaN"),
        (
            {"train_labels": np.zeros(12)},
            "train_labels must be a 1-d array of integers, got float64",
        ),
        ({"train_labels": np.zeros(11, int)}, "train_labels has 11 labels for 12 images"),
        ({"test_labels": np.array([0, 1, 2, -1])}, "test_labels holds a negative label"),
        ({"test_ids": np.array([5, 6, 5, 7])}, "test_ids repeats id 5; ids must be unique"),
        ({"test_ids": np.array([1, 2, 3])}, "test_ids has 3 ids for 4 images"),
        (
            {"test_ids": np.array(["a", 2, None, "d"], dtype=object)},
            "array test_ids holds Python objects",
        ),
        (
            {"class_names": np.array(["cat", "dog"])},
            r"train label 2 is outside the 2 classes \(cat, dog\)",
        ),
        ({"class_names": np.array(["cat", "cat", "owl"])}, "class_names lists a name twice"),
        (
            {"train_labels": np.arange(12) % 2},
            r"the test set has class '2' \(label 2\) but the training set has no image of it",
        ),
    ],
)
def test_bad_arrays_are_refused_naming_file_and_array(tmp_path, changes, message):
    with pytest.raises(DataError, match=message) as caught:
        load(tmp_path, arrays(**changes))
    assert "data.npz" in str(caught.value)


def test_a_file_that_is_not_an_npz_is_refused(tmp_path):
    (tmp_path / "data.npz").write_text("image_id,rt\n")
    config = DataConfig(dataset="arrays", path=str(tmp_path / "data.npz"), image_size=10)
    with pytest.raises(DataError, match="data.npz: not a readable .npz file"):
        load_dataset(config, 0)
    config = dataclasses.replace(config, path=str(tmp_path / "missing.npz"))
    with pytest.raises(DataError, match="missing.npz: file not found"):
        load_dataset(config, 0)


ARRAYS_SPEC = """
name: arrays
lattice: {{layers: {{initial: 1, max: 1}}, channels: {{initial: 4, max: 4}}, steps: {{initial: 2, max: 2}}}}
data: {{dataset: arrays, path: {path}, image_size: 10, channels: 3}}
training: {{iterations: 20, batch_size: 8, threads: 1}}
record: {{every: 10}}
"""


def test_an_arrays_run_through_the_cli_keys_images_by_the_files_ids(tmp_path, capsys):
    stored = arrays(test_ids=np.array(["w", "x", "y", "z"]), class_names=np.array(["a", "b", "c"]))
    np.savez(tmp_path / "data.npz", **stored)
    spec = tmp_path / "spec.yaml"
    spec.write_text(ARRAYS_SPEC.format(path=tmp_path / "data.npz"))
    assert main(["run", str(spec), "--out", str(tmp_path / "runs"), "--no-progress"]) == 0
    with xr.open_zarr(tmp_path / "runs" / "arrays" / "per_image.zarr") as per_image:
        assert per_image.image_id.values.tolist() == ["w", "x", "y", "z"]
        assert per_image.class_name.values.tolist() == ["a", "b", "c"]
    np.savez(tmp_path / "data.npz", **arrays(test_labels=np.array([0.0, 1.0, 2.0, 0.0])))
    capsys.readouterr()
    assert main(["run", str(spec), "--out", str(tmp_path / "runs"), "--overwrite"]) == 2
    error = capsys.readouterr().err
    assert "data.npz: test_labels must be a 1-d array of integers" in error
    assert "Traceback" not in error
