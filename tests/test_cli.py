"""End to end through the command line: run a tiny spec, open its trajectory with xarray."""

import json
import subprocess
import sys

import numpy as np
import xarray as xr

from growsim.cli import main


def run(tiny_spec, out, *extra):
    return main(["run", str(tiny_spec), "--out", str(out), "--no-progress", *extra])


def test_run_writes_a_trajectory_that_xarray_opens(tiny_spec, tmp_path, capsys):
    assert run(tiny_spec, tmp_path) == 0
    printed = capsys.readouterr().out
    assert "test accuracy (clean)" in printed and "occlusion 30%" in printed
    trajectory = xr.open_zarr(tmp_path / "tiny" / "trajectory.zarr")
    assert dict(trajectory.sizes) == {
        "checkpoint": 4, "layer": 2, "channel": 10, "step": 3,
        "occlusion": 2, "connection": 3, "resource": 3,
    }  # fmt: skip
    assert trajectory.iteration.values.tolist() == [0, 100, 200, 300]
    assert trajectory.test_accuracy.values[-1] > 1 / 3 + 0.15  # three classes: beats chance
    assert trajectory.test_accuracy.values[-1] > trajectory.test_accuracy.values[0]
    assert "torch" in trajectory.attrs["versions"] and len(trajectory.attrs["data_sha256"]) == 64
    # the box is padded to the maximum: positions outside it are NaN
    box_channels = int(trajectory.box_channels.values[0])
    assert np.isnan(
        trajectory.channel_norm.isel(checkpoint=0, channel=slice(box_channels, None))
    ).all()
    summary = json.loads((tmp_path / "tiny" / "summary.json").read_text())
    assert summary["iteration"] == 300
    assert (tmp_path / "tiny" / "checkpoint.pt").exists()


def test_breadth_pressure_ends_narrower(tiny_spec, tmp_path):
    common = ["--set", "growth.enabled=false", "--set", "training.steps=300"]
    assert run(tiny_spec, tmp_path, "--name", "free", *common) == 0
    assert (
        run(tiny_spec, tmp_path, "--name", "pressed", "--set", "costs.breadth.weight=0.3", *common)
        == 0
    )
    free = xr.open_zarr(tmp_path / "free" / "trajectory.zarr").active_width.isel(checkpoint=-1)
    pressed = xr.open_zarr(tmp_path / "pressed" / "trajectory.zarr").active_width.isel(
        checkpoint=-1
    )
    assert pressed.sum() < free.sum() - 3


def test_an_existing_run_is_refused_without_resume_or_overwrite(tiny_spec, tmp_path, capsys):
    assert run(tiny_spec, tmp_path, "--set", "training.steps=40") == 0
    capsys.readouterr()
    assert run(tiny_spec, tmp_path, "--set", "training.steps=40") == 2
    assert "already exists" in capsys.readouterr().err
    assert run(tiny_spec, tmp_path, "--set", "training.steps=40", "--overwrite") == 0


def test_bad_spec_prints_one_line_without_traceback(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("training:\n  steps: 10\ncosts:\n  time:\n    weight: -1\n")
    result = subprocess.run(
        [sys.executable, "-m", "growsim.cli", "validate", str(spec)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "bad.yaml:5: costs.time.weight: must be >= 0, got -1" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_accepts_a_good_spec(tiny_spec, capsys):
    assert main(["validate", str(tiny_spec), "--set", "training.seed=3"]) == 0
    assert "valid" in capsys.readouterr().out


def test_topology_is_recorded_and_printed(tiny_spec, tmp_path, capsys):
    assert run(tiny_spec, tmp_path) == 0
    trajectory = xr.open_zarr(tmp_path / "tiny" / "trajectory.zarr")
    assert trajectory.longest_path.dims == ("checkpoint", "step")
    assert trajectory.active_edges.dims == ("checkpoint", "connection", "layer")
    final = trajectory.isel(checkpoint=-1)
    steps = int(final.box_steps)
    assert (final.longest_path[:steps] >= final.shortest_path[:steps]).all()
    assert int(final.shortest_path[0]) >= int(final.depth)  # one connection per layer at least
    capsys.readouterr()
    assert main(["topology", str(tmp_path / "tiny"), "--at", "1"]) == 0
    table = capsys.readouterr().out
    assert "checkpoint 1 of 4" in table and "longest" in table
    assert main(["topology", str(tmp_path / "tiny"), "--at", "9"]) == 2
    assert "out of range" in capsys.readouterr().err
