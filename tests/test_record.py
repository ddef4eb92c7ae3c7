"""The zarr trajectory: schema, appends, and recovery from a partial append."""

import numpy as np
import pytest
import xarray as xr
import zarr

from growsim.model.lattice import Box
from growsim.record.trajectory import (
    SCHEMA,
    TrajectoryLayout,
    TrajectoryWriter,
    committed_checkpoints,
    open_trajectory,
    truncate,
)

LAYOUT = TrajectoryLayout(Box(layers=3, channels=4, steps=5), occlusion_levels=(0.0, 0.4))


def values(fill):
    result = {name: LAYOUT.empty(name) for name in SCHEMA}
    for array in result.values():
        array[...] = fill if array.dtype != bool else bool(fill % 2)
    return result


def write(path, count):
    writer = TrajectoryWriter(path, LAYOUT, {"seed": 7})
    for index in range(count):
        writer.append(iteration=10 * index, values=values(index))
    return writer


def test_appended_checkpoints_read_back_with_named_dims(tmp_path):
    write(tmp_path / "t.zarr", 3)
    dataset = open_trajectory(tmp_path / "t.zarr")
    assert dataset.sizes["checkpoint"] == 3
    assert dataset.channel_norm.dims == ("checkpoint", "layer", "channel")
    assert dataset.accuracy_by_occlusion.sel(occlusion=0.4).values.tolist() == [0, 1, 2]
    assert dataset.channel_norm.chunks is not None  # lazy: dask-backed (dask is installed here)
    eager = open_trajectory(tmp_path / "t.zarr", lazy=False)  # what combining sweeps reads
    assert eager.channel_norm.chunks is None
    np.testing.assert_array_equal(eager.channel_norm.values, dataset.channel_norm.values)
    assert dataset.iteration.values.tolist() == [0, 10, 20]
    assert dataset.attrs["seed"] == 7
    assert dataset.channel_norm.attrs["long_name"]


def test_wrong_shapes_are_refused(tmp_path):
    bad = values(0)
    bad["channel_norm"] = np.zeros((2, 2))
    with pytest.raises(ValueError, match="channel_norm"):
        TrajectoryWriter(tmp_path / "t.zarr", LAYOUT, {}).append(0, bad)


def test_a_partial_append_stays_invisible_and_truncate_removes_it(tmp_path):
    path = tmp_path / "t.zarr"
    write(path, 2)
    # Simulate a run killed mid-append: one array already grew, metadata not consolidated.
    group = zarr.open_group(str(path), mode="r+", zarr_format=2, use_consolidated=False)
    group["test_accuracy"].resize((3,))
    group["test_accuracy"][2] = 0.99
    assert committed_checkpoints(path) == 2
    assert open_trajectory(path).sizes["checkpoint"] == 2
    truncate(path, 2)
    reopened = zarr.open_group(str(path), mode="r", zarr_format=2, use_consolidated=False)
    assert reopened["test_accuracy"].shape == (2,)
    TrajectoryWriter(path, LAYOUT, {}).append(20, values(5))
    dataset = xr.open_zarr(path)
    assert dataset.sizes["checkpoint"] == 3
    assert dataset.test_accuracy.values.tolist() == [0, 1, 5]


def test_the_float32_pixel_regression_matches_float64():
    import torch

    from growsim.record.reference import fit_logistic_regression, true_class_probability

    generator = torch.Generator().manual_seed(0)
    images = torch.randn(1500, 1, 12, 12, generator=generator)
    labels = (images.flatten(1) @ torch.randn(144, 4, generator=generator)
              + 4 * torch.randn(1500, 4, generator=generator)).argmax(1)  # fmt: skip
    fits = {dtype: fit_logistic_regression(images[:1000], labels[:1000], 4, dtype=dtype)
            for dtype in (torch.float32, torch.float64)}  # fmt: skip
    held_out = {dtype: true_class_probability(*fit, images[1000:], labels[1000:])
                for dtype, fit in fits.items()}  # fmt: skip
    assert 0.4 < float(held_out[torch.float64].mean()) < 0.9  # learned, not saturated
    assert float((held_out[torch.float32] - held_out[torch.float64]).abs().max()) < 0.02


def test_the_pixel_reference_is_fitted_once_per_data_then_read_from_the_cache(
    tiny_spec, tmp_path, monkeypatch
):
    import growsim.record.per_image as per_image
    from growsim.cli import main

    monkeypatch.setenv("GROWSIM_CACHE_DIR", str(tmp_path / "cache"))
    fits = []
    original = per_image.fit_logistic_regression
    monkeypatch.setattr(
        per_image, "fit_logistic_regression", lambda *a, **k: fits.append(1) or original(*a, **k)
    )
    short = [
        "--set",
        "training.iterations=20",
        "--set",
        "record.every=10",
        "--no-progress",
        "--out",
        str(tmp_path),
    ]
    for name, extra in (
        ("a", []),
        ("b", ["--set", "training.seed=1"]),
        ("c", ["--set", "data.seed=1"]),
    ):
        assert main(["run", str(tiny_spec), "--name", name, *short, *extra]) == 0
    assert len(fits) == 2  # seed 1 trains on the same data as seed 0; data seed 1 does not
    reference = {
        n: xr.open_zarr(tmp_path / n / "per_image.zarr").reference_true_class_probability.values
        for n in "abc"
    }
    assert np.array_equal(reference["a"], reference["b"]) and not np.array_equal(
        reference["a"], reference["c"]
    )


def test_a_per_image_store_of_an_older_growsim_reads_under_todays_names(tmp_path):
    from growsim.record.variables import open_per_image

    older = xr.Dataset({
        "confidence": (("occlusion", "image"), np.full((1, 3), 0.9)),  # P(true class), then
        "reference_confidence": (("occlusion", "image"), np.full((1, 3), 0.6)),
        "expected_steps": (("occlusion", "image"), np.full((1, 3), 2.0)),
    })  # fmt: skip
    older.to_zarr(tmp_path / "per_image.zarr", zarr_format=2)
    with open_per_image(tmp_path / "per_image.zarr") as per_image:
        assert set(per_image.data_vars) == {
            "true_class_probability",
            "reference_true_class_probability",
            "expected_steps",
        }
        assert float(per_image.true_class_probability[0, 0]) == 0.9
