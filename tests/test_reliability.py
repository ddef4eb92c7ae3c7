"""Runs survive being killed, reproduce bit for bit, and fail cleanly on bad input."""

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import xarray as xr
import zarr

import growsim.train.optimisation
import growsim.train.trainer
from growsim.cli import main
from growsim.errors import RunError
from growsim.record.trajectory import SCHEMA, committed_checkpoints
from growsim.runs.experiment import run_experiment
from growsim.spec import load_spec
from growsim.train.checkpoint_file import read_checkpoint
from growsim.train.running_losses import RunningLosses

# Every checkpoint written at once: the crash points below count writes.
FAST = [
    "--set",
    "training.iterations=200",
    "--set",
    "record.every=25",
    "--set",
    "record.write_seconds=0",
]


def cli(spec, out, *extra, env=None):
    command = [sys.executable, "-m", "growsim.cli", "run", str(spec), "--out", str(out)]
    return subprocess.run(
        command + ["--no-progress", *FAST, *extra],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
    )


def trajectory(run_dir):
    with xr.open_zarr(run_dir / "trajectory.zarr") as dataset:
        return dataset.load()


def model_state(run_dir):
    return read_checkpoint(run_dir / "checkpoint.pt", "cpu")["model"]


def assert_same_run(run_dir, reference_dir, same_spec=True):
    """The same trajectory and final model; ``same_spec=False``: the spec attribute may
    differ (in keys that change no result, such as record.write_seconds)."""
    resumed, reference = trajectory(run_dir), trajectory(reference_dir)
    for dataset in (resumed, reference):
        dataset.attrs.pop("run_id")  # each run draws its own identity
        dataset.attrs.pop("spec_sha256", None) if not same_spec else None
        if not same_spec:
            dataset.attrs.pop("spec")
    iterations = resumed.iteration.values.tolist()
    assert iterations == sorted(set(iterations)), "missing or duplicated checkpoints"
    xr.testing.assert_identical(resumed, reference)
    reference_state = model_state(reference_dir)
    for name, tensor in model_state(run_dir).items():
        assert torch.equal(tensor, reference_state[name]), name


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of the tiny spec, made once for this module."""
    from tests.conftest import TINY_SPEC

    root = tmp_path_factory.mktemp("reference")
    spec = root / "tiny.yaml"
    spec.write_text(TINY_SPEC)
    result = cli(spec, root)
    assert result.returncode == 0, result.stderr
    return spec, root / "tiny"


def test_same_spec_and_seed_give_a_bit_identical_trajectory(reference, tmp_path):
    spec, reference_dir = reference
    assert cli(spec, tmp_path).returncode == 0
    assert_same_run(tmp_path / "tiny", reference_dir)
    assert trajectory(tmp_path / "tiny").attrs["seed"] == 0


@pytest.mark.parametrize(
    "kill_at", ["trajectory-commit:3", "checkpoint-rename:4", "trajectory-commit:1"]
)
def test_a_run_killed_mid_write_resumes_to_the_uninterrupted_result(reference, tmp_path, kill_at):
    spec, reference_dir = reference
    killed = cli(spec, tmp_path, env={"GROWSIM_KILL_AT": kill_at})
    assert killed.returncode == -signal.SIGKILL
    run_dir = tmp_path / "tiny"
    if (run_dir / "trajectory.zarr" / ".zmetadata").exists():
        xr.open_zarr(run_dir / "trajectory.zarr").load()  # readable after the crash
    resumed = cli(spec, tmp_path, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(run_dir, reference_dir)


@pytest.mark.slow  # the kills at fixed points above cover each crash point; this one is a soak
def test_a_run_killed_at_random_moments_resumes_to_the_uninterrupted_result(reference, tmp_path):
    spec, reference_dir = reference
    rng = random.Random(1234)
    command = [sys.executable, "-m", "growsim.cli", "run", str(spec), "--out", str(tmp_path)]
    command += ["--no-progress", *FAST, "--resume"]
    for _ in range(3):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(2.0, 5.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
        store = tmp_path / "tiny" / "trajectory.zarr"
        if (store / ".zmetadata").exists():
            assert committed_checkpoints(store) >= 0
    final = subprocess.run(command, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    assert_same_run(tmp_path / "tiny", reference_dir)


@pytest.mark.parametrize(
    "each_step", [True, False], ids=["checked-each-step", "checked-at-checkpoints"]
)
def test_a_nan_stops_the_run_naming_iteration_and_quantity(
    tiny_spec, tmp_path, monkeypatch, each_step
):
    # Nothing is due for writing before the fault (write_seconds 1000): the checkpoints kept
    # in memory are written on the way out, and checkpoint.pt agrees with the trajectory.
    # On CUDA the losses are read at checkpoints only (no step waits for the host): the
    # fault still names its iteration, and nothing after it is recorded.
    spec = load_spec(
        tiny_spec, ["record.every=20", "training.iterations=100", "record.write_seconds=1000"]
    )

    class Losses(RunningLosses):
        def __init__(self, device):
            super().__init__(device)
            self.check_each_step = each_step

    monkeypatch.setattr(growsim.train.trainer, "RunningLosses", Losses)
    original = growsim.train.optimisation.loss_terms
    calls = {"count": 0}

    def poisoned(*args):
        total, task, time_, correct = original(*args)
        calls["count"] += 1
        if calls["count"] == 48:  # the 48th training batch
            task = task * float("nan")
        return total + task * 0, task, time_, correct

    monkeypatch.setattr(growsim.train.optimisation, "loss_terms", poisoned)
    with pytest.raises(RunError, match=r"iteration 48: total loss, task loss became non-finite"):
        run_experiment(spec, tmp_path / "run", progress=False)
    assert calls["count"] == (48 if each_step else 60)  # deferred: found at the next checkpoint
    dataset = trajectory(tmp_path / "run")
    assert dataset.iteration.values.tolist() == [0, 20, 40]
    assert np.isfinite(dataset.validation_accuracy.values).all()
    state = read_checkpoint(tmp_path / "run" / "checkpoint.pt", "cpu")
    assert (state["iteration"], state["checkpoints_written"]) == (40, 3)


def test_a_full_disk_keeps_what_was_written(tiny_spec, tmp_path, monkeypatch):
    spec = load_spec(
        tiny_spec, ["record.every=20", "training.iterations=100", "record.write_seconds=0"]
    )
    original = zarr.AsyncArray.append  # the writer appends every array at once, async
    calls = {"count": 0}
    arrays_per_checkpoint = len(SCHEMA) + 1  # every variable and the iteration coordinate

    async def filling_disk(self, *args, **kwargs):
        calls["count"] += 1  # the disk fills half-way through the third checkpoint
        if calls["count"] == arrays_per_checkpoint + 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(zarr.AsyncArray, "append", filling_disk)
    with pytest.raises(RunError, match="No space left on device.*--resume"):
        run_experiment(spec, tmp_path / "run", progress=False)
    assert trajectory(tmp_path / "run").sizes["checkpoint"] == 2
    monkeypatch.setattr(zarr.AsyncArray, "append", original)
    run_experiment(spec, tmp_path / "run", resume=True, progress=False)
    assert trajectory(tmp_path / "run").iteration.values.tolist() == [0, 20, 40, 60, 80, 100]


def test_a_failed_checkpoint_save_keeps_the_previous_one(tiny_spec, tmp_path, monkeypatch):
    spec = load_spec(
        tiny_spec, ["record.every=20", "training.iterations=100", "record.write_seconds=0"]
    )
    original = torch.save
    calls = {"count": 0}

    def failing_save(obj, path, *args, **kwargs):
        calls["count"] += 1
        if calls["count"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(RunError, match="could not save the checkpoint"):
        run_experiment(spec, tmp_path / "run", progress=False)
    state = read_checkpoint(tmp_path / "run" / "checkpoint.pt", "cpu")
    assert state["iteration"] == 0
    assert not list((tmp_path / "run").glob("*.partial"))


def test_unwritable_output_gives_a_clear_error(tiny_spec, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["run", str(tiny_spec), "--out", str(blocker / "sub"), "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert "cannot write the run directory" in error and "--out" in error


def test_corrupt_dataset_through_the_cli(tiny_spec, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1"):
        (data / f"{name}-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00broken")
    result = cli(
        tiny_spec, tmp_path / "out", "--set", "data.dataset=fashion_mnist",
        "--set", "data.image_size=28", "--set", f"data.path={data}",
    )  # fmt: skip
    assert result.returncode == 2
    assert "not a readable gzip file" in result.stderr and "apt-get install" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "tiny" / "trajectory.zarr").exists()


def test_resume_refuses_a_different_spec(tiny_spec, tmp_path):
    assert cli(tiny_spec, tmp_path, "--set", "training.iterations=30").returncode == 0
    result = cli(
        tiny_spec,
        tmp_path,
        "--set",
        "training.iterations=30",
        "--set",
        "training.seed=5",
        "--resume",
    )
    assert result.returncode == 2 and "differs from the run's spec.yaml" in result.stderr


def test_sigterm_writes_what_it_kept_says_how_to_continue_and_wall_time_adds_up(
    reference, tmp_path
):
    """Stopped at the 5th checkpoint (iteration 100) with nothing written yet (write_seconds
    1000): SIGTERM writes the 4 complete ones kept in memory, and the resumed run goes on
    from iteration 75 to the result of the run that wrote at every checkpoint."""
    spec, reference_dir = reference
    slow = ["--set", "record.write_seconds=1000"]
    stopped = cli(spec, tmp_path, *slow, env={"GROWSIM_KILL_AT": "checkpoint-taken:5:SIGTERM"})
    assert stopped.returncode == 143
    assert "terminated (SIGTERM)" in stopped.stderr and "--resume" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    run_dir = tmp_path / "tiny"
    state = read_checkpoint(run_dir / "checkpoint.pt", "cpu")
    assert (state["iteration"], state["checkpoints_written"]) == (75, 4)
    assert committed_checkpoints(run_dir / "trajectory.zarr") >= 4  # extra rows: cut on resume
    first_segment, first_spent = state["wall_seconds"], state["time_spent"]
    first_cpu = state["cpu_seconds"]
    assert 0 < first_cpu  # the stopped process's own CPU seconds, kept for the resumed run
    started = time.perf_counter()
    resumed = cli(spec, tmp_path, *slow, "--resume")
    second_segment_bound = time.perf_counter() - started
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from iteration 75 of 200" in resumed.stderr  # a note, not the output
    assert_same_run(run_dir, reference_dir, same_spec=False)
    summary = json.loads((run_dir / "summary.json").read_text())
    # 75 iterations before the stop, 125 after: the totals cover both segments
    assert first_segment < summary["seconds"] < first_segment + second_segment_bound
    # CPU seconds too (one training thread; zarr writes in threads of its own)
    assert first_cpu < summary["cpu_seconds"] < first_cpu + 2 * second_segment_bound
    for part in ("training", "checkpoints"):
        assert (
            first_spent[part]
            < summary["time_spent"][part]
            < first_spent[part] + second_segment_bound
        )


def test_the_cpu_count_of_a_run_resumed_from_a_checkpoint_without_one_is_unknown():
    from growsim.train.timing import RunClock, core_seconds

    def busy(clock):
        clock.start()
        sum(i * i for i in range(200_000))  # some CPU seconds in this segment
        return clock

    counted = RunClock()
    counted.restore({"wall_seconds": 5.0, "cpu_seconds": 3.0})
    assert busy(counted).cpu() > 3.0 and counted.wall() > 5.0
    older = RunClock()  # its checkpoint predates CPU seconds: not this segment's alone
    older.restore({"wall_seconds": 5.0})
    assert busy(older).cpu() is None and older.state()["cpu_seconds"] is None
    again = RunClock()  # and stays unknown through a later resume
    again.restore(older.state())
    assert busy(again).cpu() is None and again.wall() > 5.0
    assert busy(RunClock()).cpu() > 0  # a fresh run counts from its start
    wall = {"training": 7.0, "checkpoints": 1.0, "per_image": 0.5}
    assert core_seconds({"time_spent": wall, "cpu_seconds": 4.0}) == 4.0
    assert core_seconds({"time_spent": wall}) == 8.5


def test_a_hard_kill_loses_the_checkpoints_in_memory_and_resume_starts_again(reference, tmp_path):
    """Killed (SIGKILL) at the 5th checkpoint with nothing written yet (write_seconds 1000):
    no checkpoint is on disk, the run starts again and writes all 9 checkpoints at the end in
    one write, and the finished run is the one that wrote at every checkpoint."""
    spec, reference_dir = reference
    slow = ["--set", "record.write_seconds=1000"]
    killed = cli(spec, tmp_path, *slow, env={"GROWSIM_KILL_AT": "checkpoint-taken:5"})
    assert killed.returncode == -signal.SIGKILL
    run_dir = tmp_path / "tiny"
    assert not (run_dir / "checkpoint.pt").exists()
    one_write = {"GROWSIM_KILL_AT": "trajectory-commit:2"}  # a second write would be killed
    resumed = cli(spec, tmp_path, *slow, "--resume", env=one_write)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(run_dir, reference_dir, same_spec=False)


def test_resume_accepts_another_thread_count(tiny_spec, tmp_path):
    """How many cores a machine lends and how often the disk is written are not part of the
    experiment: a run resumes with other values (and with another seed it is still refused)."""
    assert cli(tiny_spec, tmp_path, "--set", "training.iterations=30").returncode == 0
    result = cli(
        tiny_spec, tmp_path, "--set", "training.iterations=30", "--set", "training.threads=2",
        "--set", "record.write_seconds=7", "--resume",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "differs" not in result.stderr


def test_the_saver_writes_kept_checkpoints_on_a_stop_but_never_retries_a_cut_write(tmp_path):
    from growsim.train.saving import CheckpointSaver

    class Recorder:
        flushes = 0
        stop_in_flush = False

        def flush(self):
            self.flushes += 1
            if self.stop_in_flush:
                raise KeyboardInterrupt

    recorder = Recorder()
    saver = CheckpointSaver(tmp_path / "checkpoint.pt", recorder, write_seconds=1000)
    weights = torch.zeros(3)
    assert not saver.taken({"iteration": 5, "w": weights})  # not due: kept, as a copy
    weights += 1  # training goes on changing the tensors
    with pytest.raises(KeyboardInterrupt), saver.writing_unsaved_on_exit():
        raise KeyboardInterrupt  # Ctrl-C during training: the kept checkpoint is written
    state = read_checkpoint(tmp_path / "checkpoint.pt", "cpu")
    assert state["iteration"] == 5 and torch.equal(state["w"], torch.zeros(3))
    assert recorder.flushes == 1
    saver.taken({"iteration": 10, "w": weights})
    recorder.stop_in_flush = True
    with pytest.raises(KeyboardInterrupt), saver.writing_unsaved_on_exit():
        saver.taken({"iteration": 15, "w": weights}, write=True)  # Ctrl-C mid-write
    assert recorder.flushes == 2  # not retried: --resume cuts what the cut write left
    assert read_checkpoint(tmp_path / "checkpoint.pt", "cpu")["iteration"] == 5


def test_a_fault_not_yet_read_is_noted_on_the_interrupt_that_ends_the_run(
    tiny_spec, tmp_path, monkeypatch
):
    # as on CUDA: the losses are read at checkpoints; Ctrl-C comes between the fault and the
    # next checkpoint, and the fault still reaches the user, on the KeyboardInterrupt
    spec = load_spec(tiny_spec, ["record.every=20", "training.iterations=100"])

    class Losses(RunningLosses):
        def __init__(self, device):
            super().__init__(device)
            self.check_each_step = False

    original = growsim.train.optimisation.loss_terms
    calls = {"count": 0}

    def poisoned(*args):
        total, task, time_, correct = original(*args)
        calls["count"] += 1
        if calls["count"] == 55:
            raise KeyboardInterrupt
        if calls["count"] == 48:
            task = task * float("nan")
        return total + task * 0, task, time_, correct

    monkeypatch.setattr(growsim.train.trainer, "RunningLosses", Losses)
    monkeypatch.setattr(growsim.train.optimisation, "loss_terms", poisoned)
    with pytest.raises(KeyboardInterrupt) as stopped:
        run_experiment(spec, tmp_path / "run", progress=False)
    assert any("numerical fault at iteration 48" in note for note in stopped.value.__notes__)
    state = read_checkpoint(tmp_path / "run" / "checkpoint.pt", "cpu")
    assert state["iteration"] == 40  # written on the way out: the last checkpoint before the fault


def test_running_losses_sum_each_quantity_and_start_again_after_take():
    losses = RunningLosses(torch.device("cpu"))
    for iteration, (total, task, correct) in enumerate([(1.5, 1.0, 30), (2.5, 2.0, 40)]):
        values = (
            torch.tensor(total),
            torch.tensor(task),
            torch.tensor(0.25),
            torch.tensor(correct),
        )
        losses.add(iteration, 0, *values, seen=64)
    metrics = losses.take()
    assert (metrics.batches, metrics.seen, metrics.correct) == (2, 128, 70)
    assert (metrics.mean("total_loss"), metrics.mean("task_loss"), metrics.mean("time_cost")) == (
        2.0,
        1.5,
        0.25,
    )
    assert metrics.accuracy() == 70 / 128
    assert losses.take().batches == 0 and np.isnan(losses.take().mean("task_loss"))


def test_a_run_with_centred_halting_resumes_to_the_uninterrupted_result(tmp_path):
    """The running means halting is centred on are part of the run's state: a killed run
    resumes to the same trajectory and the same means as an uninterrupted one, which moved
    once per training iteration (FAST: 200)."""
    from tests.conftest import TINY_SPEC

    spec = tmp_path / "tiny.yaml"
    spec.write_text(
        TINY_SPEC.replace("  input_stride: 2\n", "  input_stride: 2\n  halting_centred: true\n")
    )
    assert cli(spec, tmp_path / "whole").returncode == 0
    killed = cli(spec, tmp_path / "killed", env={"GROWSIM_KILL_AT": "checkpoint-rename:2"})
    assert killed.returncode == -signal.SIGKILL
    resumed = cli(spec, tmp_path / "killed", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(tmp_path / "killed" / "tiny", tmp_path / "whole" / "tiny")
    state = model_state(tmp_path / "whole" / "tiny")
    assert (
        int(state["halting_mean_batches"]) == 200 and state["halting_feature_mean"].abs().sum() > 0
    )
