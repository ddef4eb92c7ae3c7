"""Real data: Fashion-MNIST from Debian's dataset-fashion-mnist package."""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from growsim.cli import main
from growsim.data.datasets import FASHION_MNIST_DIR, load_dataset
from growsim.spec import DataConfig

SPECS = Path(__file__).parent.parent / "specs"
needs_data = pytest.mark.skipif(
    not Path(FASHION_MNIST_DIR, "train-images-idx3-ubyte.gz").exists(),
    reason="apt-get install -y dataset-fashion-mnist",
)


@needs_data
def test_fashion_mnist_loads_subsampled_by_class():
    data = load_dataset(
        DataConfig(dataset="fashion_mnist", classes=4, train_size=500, test_size=100), seed=0
    )
    assert data.train_images.shape == (500, 1, 28, 28)
    assert set(data.train_labels.tolist()) == {0, 1, 2, 3}
    assert data.class_names == ("t-shirt", "trouser", "pullover", "dress")
    assert 0.2 < float(data.train_images.mean()) < 0.4  # real clothing images, not noise


@pytest.mark.slow
@needs_data
def test_occlusion_spec_end_to_end(tmp_path):
    code = main(
        [
            "run",
            str(SPECS / "occlusion.yaml"),
            "--out",
            str(tmp_path),
            "--no-progress",
            "--set",
            "training.iterations=400",
            "--set",
            "record.every=100",
            "--set",
            "data.train_size=4000",
            "--set",
            "data.test_size=500",
            *[
                f"--set=costs.{cost}.schedule.{key}={value}"
                for cost in ("breadth", "depth", "time")
                for key, value in (("delay", 50), ("ramp", 100))
            ],
        ]
    )  # fmt: skip  (costs at full weight by iteration 150, so the box grows within the 400)
    assert code == 0
    run = xr.open_zarr(tmp_path / "occlusion" / "trajectory.zarr")
    assert run.occlusion.values.tolist() == [0.0, 0.2, 0.4, 0.6]
    final = run.isel(checkpoint=-1)
    assert float(final.test_accuracy) > 0.5  # ten classes: chance is 0.1
    assert (final.expected_steps_by_occlusion >= 1).all()
    assert int(final.box_layers) >= 2  # the box grew from its single initial layer
    assert main(["report", str(tmp_path / "occlusion")]) == 0
    report = (tmp_path / "occlusion" / "report" / "report.md").read_text()
    assert "## Occlusion" in report and "reference classifier miss probability" in report
    assert "std of expected steps" in report  # the time-spread table


@pytest.mark.slow
@needs_data
@pytest.mark.parametrize("name", ["tradeoff", "complexity"])
def test_experiment_sweeps_end_to_end(tmp_path, name):
    shrink = ["--set", "training.iterations=120", "--set", "record.every=60",
              "--set", "data.train_size=2000", "--set", "data.test_size=200"]  # fmt: skip
    out = tmp_path / "out"
    assert (
        main(["sweep", str(SPECS / f"{name}.yaml"), "--out", str(out), "--no-progress", *shrink])
        == 0
    )
    sweep = xr.open_zarr(out / name / "sweep.zarr")
    assert sweep.sizes["run"] == {"tradeoff": 8, "complexity": 6}[name]
    assert np.isfinite(sweep.test_accuracy.isel(checkpoint=-1).values).all()
    assert main(["report", str(out / name)]) == 0
    report = (out / name / "report" / "report.md").read_text()
    assert "## Resources against the swept keys" in report
    # the equal-accuracy trade-off fits a sweep of cost weights, not one of task difficulty
    assert ("## Trade-offs" in report) == (name == "tradeoff")
