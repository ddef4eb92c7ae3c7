"""The memory estimate and the check that refuses a run too large for the machine."""

from __future__ import annotations

import pytest

import growsim.model.memory
from benchmarks.memory_use import box_evaluation, box_step, peak_step_bytes
from growsim.errors import RunError
from growsim.model.lattice import Box
from growsim.model.memory import available_bytes, evaluation_bytes, step_bytes
from growsim.runs.experiment import run_experiment
from growsim.spec import load_spec


def test_a_box_too_large_for_the_memory_left_is_refused_before_training(
    tiny_spec, tmp_path, monkeypatch
):
    spec = load_spec(tiny_spec, ["lattice.channels.max=4096", "training.batch_size=512"])
    monkeypatch.setattr(growsim.model.memory, "available_bytes", lambda device: 2 * 2**30)
    with pytest.raises(RunError, match=r"4096 channels.*needs about \d+\.\d GiB.*2\.0 GiB available"
                                       r".*lattice.channels.max"):  # fmt: skip
        run_experiment(spec, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_a_box_that_fits_runs(tiny_spec, tmp_path, monkeypatch):
    spec = load_spec(tiny_spec, ["training.iterations=20", "record.every=20"])
    monkeypatch.setattr(growsim.model.memory, "available_bytes", lambda device: 2 * 2**30)
    run_experiment(spec, tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "checkpoint.pt").exists()


def test_the_estimate_bounds_the_measured_peak_of_a_training_step():
    box, batch = Box(2, 24, 4), 64
    measured = peak_step_bytes(box_step, box, batch)
    estimated = step_bytes(box.layers, box.channels, box.steps, batch, 14, 10)
    assert measured <= estimated
    assert measured > 0.3 * estimated  # and is not a uselessly loose bound
    assert step_bytes(2, 48, 4, batch, 14, 10) > 1.5 * estimated  # grows with the box


def test_the_estimate_bounds_the_measured_peak_of_an_evaluation():
    box = Box(3, 32, 6)
    measured = peak_step_bytes(box_evaluation, box)
    estimated = evaluation_bytes(box.layers, box.channels, 14)
    assert 0.3 * estimated < measured <= estimated


def test_available_memory_is_read_on_this_machine():
    import torch

    assert available_bytes(torch.device("cpu")) > 2**20
