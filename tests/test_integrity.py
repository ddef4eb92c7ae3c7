"""A run knows its own files: every corrupt, truncated or foreign file growsim reads is a
clean error (exit 2, the path, what to do), made here by damaging real files of real runs;
and what used to be accepted silently is refused or said."""

import errno
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import zarr

from growsim.cli import main
from growsim.errors import RunError
from growsim.integrity import read_checksummed, verify_store, write_checksummed

# 150 iterations, a checkpoint every 50: the runs stop (SIGTERM) at their third, iteration 100
TINY_OVERRIDES = [
    "--set",
    "record.write_seconds=0",
    "--set",
    "training.iterations=150",
    "--set",
    "record.every=50",
    "--no-progress",
]


def cli(*args, env=None):
    """Run the CLI in a fresh process: (exit code, stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "growsim.cli", *map(str, args)], capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=600,
    )  # fmt: skip
    return done.returncode, done.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory, request):
    """Real runs of the tiny spec: two interrupted at iteration 200 (seeds 0 and 1) and one
    finished."""
    from tests.conftest import TINY_SPEC

    root = tmp_path_factory.mktemp("runs")
    spec = root / "tiny.yaml"
    spec.write_text(TINY_SPEC)
    stop = {"GROWSIM_KILL_AT": "checkpoint-taken:3:SIGTERM"}
    for name, seed in (("stopped", 0), ("other", 1)):
        code, _ = cli("run", spec, "--out", root, "--name", name, "--set", f"training.seed={seed}",
                      *TINY_OVERRIDES, env=stop)  # fmt: skip
        assert code != 0
    code, error = cli("run", spec, "--out", root, "--name", "finished", *TINY_OVERRIDES)
    assert code == 0, error
    return root, spec


def copy_run(runs, name, tmp_path):
    root, spec = runs
    shutil.copytree(root / name, tmp_path / name)
    return tmp_path / name, spec


def resume(run_dir, spec, seed=0):
    return cli("run", spec, "--out", run_dir.parent, "--name", run_dir.name, "--resume",
               "--set", f"training.seed={seed}", *TINY_OVERRIDES)  # fmt: skip


def assert_clean_refusal(code, error, *words):
    assert code == 2, error
    assert "Traceback" not in error
    for word in words:
        assert word in error, error


def flip_a_byte(path, offset=None):
    content = bytearray(path.read_bytes())
    content[len(content) // 2 if offset is None else offset] ^= 0x10
    path.write_bytes(bytes(content))


@pytest.mark.parametrize("damage", ["truncated", "random", "empty", "flipped"])
def test_a_damaged_checkpoint_is_refused_on_resume(runs, tmp_path, damage):
    run_dir, spec = copy_run(runs, "stopped", tmp_path)
    checkpoint = run_dir / "checkpoint.pt"
    if damage == "truncated":
        checkpoint.write_bytes(checkpoint.read_bytes()[:-500])
    elif damage == "random":
        checkpoint.write_bytes(np.random.default_rng(0).bytes(5000))
    elif damage == "empty":
        checkpoint.write_bytes(b"")
    else:
        flip_a_byte(checkpoint)
    assert_clean_refusal(*resume(run_dir, spec), str(checkpoint), "--overwrite")


def test_a_checkpoint_copied_from_another_run_is_refused(runs, tmp_path):
    run_dir, spec = copy_run(runs, "stopped", tmp_path)
    other, _ = copy_run(runs, "other", tmp_path)
    shutil.copyfile(other / "checkpoint.pt", run_dir / "checkpoint.pt")
    assert_clean_refusal(*resume(run_dir, spec), "copied from another run", "checkpoint.pt")
    # and the run itself still resumes once its own checkpoint is back
    shutil.copyfile(runs[0] / "stopped" / "checkpoint.pt", run_dir / "checkpoint.pt")
    code, error = resume(run_dir, spec)
    assert code == 0, error


def test_a_trajectory_copied_from_another_run_is_refused(runs, tmp_path):
    run_dir, spec = copy_run(runs, "stopped", tmp_path)
    other, _ = copy_run(runs, "other", tmp_path)
    shutil.rmtree(run_dir / "trajectory.zarr")
    shutil.copytree(other / "trajectory.zarr", run_dir / "trajectory.zarr")
    assert_clean_refusal(*resume(run_dir, spec), "copied from another run", "trajectory.zarr")


@pytest.mark.parametrize("damage", ["metadata", "chunk-garbage", "chunk-deleted", "chunk-flipped"])
def test_a_damaged_trajectory_is_refused_by_resume_and_report(runs, tmp_path, damage):
    run_dir, spec = copy_run(runs, "stopped", tmp_path)
    store = run_dir / "trajectory.zarr"
    if damage == "metadata":
        (store / ".zmetadata").write_bytes(np.random.default_rng(1).bytes(300))
    elif damage == "chunk-garbage":
        (store / "validation_accuracy" / "1").write_bytes(b"garbage")
    elif damage == "chunk-deleted":
        (store / "depth" / "1").unlink()
    else:
        flip_a_byte(store / "validation_accuracy" / "1", offset=5)
    assert_clean_refusal(*resume(run_dir, spec), str(store))
    assert_clean_refusal(*cli("report", run_dir), str(store))


@pytest.mark.parametrize("damage", ["chunk-flipped", "chunk-deleted"])
def test_damaged_per_image_results_are_refused_by_report_and_predict(runs, tmp_path, damage):
    run_dir, _ = copy_run(runs, "finished", tmp_path)
    store = run_dir / "per_image.zarr"
    chunk = next(
        p for p in sorted((store / "expected_steps").iterdir()) if not p.name.startswith(".")
    )
    chunk.unlink() if damage == "chunk-deleted" else flip_a_byte(chunk, offset=10)
    assert_clean_refusal(*cli("report", run_dir), str(store))
    images = tmp_path / "images.npz"
    np.savez(images, images=np.zeros((4, 20, 20), dtype=np.float32))
    assert_clean_refusal(*cli("predict", run_dir, images), str(store))


def test_a_garbled_summary_or_a_missing_identity_is_refused(runs, tmp_path):
    run_dir, spec = copy_run(runs, "finished", tmp_path)
    (run_dir / "summary.json").write_text("{not json")
    assert_clean_refusal(*resume(run_dir, spec), "summary.json", "--overwrite")
    stopped, _ = copy_run(runs, "stopped", tmp_path)
    (stopped / "run.json").unlink()
    assert_clean_refusal(*resume(stopped, spec), "run.json", "--overwrite")


def test_every_file_of_a_run_names_its_identity(runs):
    root, _ = runs
    import json

    identity = json.loads((root / "finished" / "run.json").read_text())
    summary = json.loads((root / "finished" / "summary.json").read_text())
    attrs = zarr.open_group(str(root / "finished" / "trajectory.zarr"), mode="r").attrs
    from growsim.train.checkpoint_file import read_checkpoint

    state = read_checkpoint(root / "finished" / "checkpoint.pt", "cpu")
    assert summary["run_id"] == attrs["run_id"] == state["run_id"] == identity["run_id"]
    assert summary["spec_sha256"] == attrs["spec_sha256"] == identity["spec_sha256"]
    other = json.loads((root / "other" / "run.json").read_text())
    assert other["run_id"] != identity["run_id"]


def test_checksummed_files_find_every_single_flipped_byte(tmp_path):
    path = tmp_path / "file"
    payload = bytes(range(256)) * 4
    write_checksummed(path, payload)
    assert read_checksummed(path, "it", "fix") == payload
    written = path.read_bytes()
    for offset in range(0, len(written), 37):
        damaged = bytearray(written)
        damaged[offset] ^= 0x01
        path.write_bytes(bytes(damaged))
        with pytest.raises(RunError):
            read_checksummed(path, "it", "fix")


def test_a_store_checks_pass_on_an_intact_store(runs):
    root, _ = runs
    for store in ("trajectory.zarr", "per_image.zarr"):
        verify_store(root / "finished" / store, store, "fix")


# ------------------------------------------------------------------ silently accepted before


def test_labels_with_a_gap_are_refused(tmp_path):
    from growsim.data.arrays import read_array_dataset
    from growsim.errors import DataError

    images = np.zeros((8, 12, 12), dtype=np.float32)
    path = tmp_path / "gap.npz"
    np.savez(path, train_images=images, train_labels=np.array([0, 1, 2, 0, 1, 2, 0, 7]),
             test_images=images[:2], test_labels=np.array([0, 1]))  # fmt: skip
    with pytest.raises(DataError, match="classes 3, 4, 5, 6 have no training image"):
        read_array_dataset(path, 12)


@pytest.mark.parametrize(
    "problem", ["idx-without-test", "empty-directory", "file-as-directory", "text-as-npz"]
)
def test_validate_refuses_data_files_its_dataset_cannot_read(tmp_path, problem, capsys):
    spec = tmp_path / "spec.yaml"
    if problem == "text-as-npz":
        data = tmp_path / "images.npz"
        data.write_text("not an archive")
        kind = "arrays"
    else:
        data = tmp_path / "idx"
        kind = "idx"
        if problem == "file-as-directory":
            data.write_text("")
        else:
            data.mkdir()
            if problem == "idx-without-test":
                for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
                    (data / name).write_bytes(b"")
    spec.write_text(
        f"data: {{dataset: {kind}, path: {data}, image_size: 12}}\ntraining: {{iterations: 10}}\n"
    )
    assert main(["validate", str(spec)]) == 2
    assert str(data) in capsys.readouterr().err


def test_overwrite_removes_the_old_models_predictions(runs, tmp_path):
    run_dir, spec = copy_run(runs, "finished", tmp_path)
    images = tmp_path / "images.npz"
    np.savez(images, images=np.zeros((4, 20, 20), dtype=np.float32))
    assert cli("predict", run_dir, images)[0] == 0
    assert cli("predict", run_dir, images, "--occlusion", "0.3")[0] == 0
    folders = sorted(p.name for p in (run_dir / "predictions").iterdir())
    assert folders == ["images", "images_occlusion-0.3"]  # one folder per kind of call
    code, error = cli("run", spec, "--out", tmp_path, "--name", "finished", "--overwrite",
                      "--set", "training.iterations=100", *TINY_OVERRIDES)  # fmt: skip
    assert code == 0, error
    assert not (run_dir / "predictions").exists()


def test_report_says_a_run_is_unfinished(runs, tmp_path):
    run_dir, _ = copy_run(runs, "stopped", tmp_path)
    code, error = cli("report", run_dir)
    assert code == 0, error
    assert (
        "has not finished" in error
        or "has not finished" in (run_dir / "report" / "report.md").read_text()
    )
    assert "Unfinished run" in (run_dir / "report" / "report.md").read_text()


def test_a_run_name_given_on_the_command_line_is_the_runs_name(runs):
    root, _ = runs
    assert (root / "finished" / "spec.yaml").read_text().startswith("name: finished\n")


def test_limits_are_checked_before_training(tiny_spec, tmp_path, capsys):
    tmp_path = tmp_path / "out"
    for override, words in (
        ("data.image_size=4096", "data.image_size"),
        ("training.threads=1000", "training.threads"),
    ):
        assert (
            main(
                ["run", str(tiny_spec), "--out", str(tmp_path), "--set", override, "--no-progress"]
            )
            == 2
        )
        assert words in capsys.readouterr().err
    for name in ("a\nb", "x" * 250):
        assert (
            main(["run", str(tiny_spec), "--out", str(tmp_path), "--name", name, "--no-progress"])
            == 2
        )
    assert not tmp_path.exists() or all(
        p.name.endswith(".lock") for p in tmp_path.iterdir()
    )  # no run directory


def test_a_full_disk_at_the_first_write_says_nothing_was_written(tiny_spec, tmp_path, monkeypatch):
    from growsim.runs.experiment import run_experiment
    from growsim.spec import load_spec

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("xarray.Dataset.to_zarr", full)
    spec = load_spec(tiny_spec, ["record.write_seconds=0"])
    with pytest.raises(RunError, match="No checkpoint had been written yet") as raised:
        run_experiment(spec, tmp_path / "run", progress=False)
    assert "intact" not in str(raised.value)
    assert not (tmp_path / "run" / "trajectory.zarr").exists()


# ------------------------------------------------------------------ soak


def _damage(run_dir, rng, foreign):
    """One random fault of a run directory; its name."""
    import random

    kinds = ["truncate-checkpoint", "flip-checkpoint", "foreign-checkpoint", "flip-chunk", "delete-chunk",
             "garble-identity", "none"]  # fmt: skip
    kind = rng.choices(kinds, weights=[1, 1, 1, 1, 1, 1, 6])[0]  # half the trials: kills only
    checkpoint = run_dir / "checkpoint.pt"
    if kind == "truncate-checkpoint":
        content = checkpoint.read_bytes()
        checkpoint.write_bytes(content[: rng.randrange(len(content))])
    elif kind == "flip-checkpoint":
        flip_a_byte(checkpoint, rng.randrange(checkpoint.stat().st_size))
    elif kind == "foreign-checkpoint":
        shutil.copyfile(foreign / "checkpoint.pt", checkpoint)
    elif kind in ("flip-chunk", "delete-chunk"):
        store = run_dir / "trajectory.zarr"
        chunks = sorted(p for p in store.glob("*/*") if not p.name.startswith("."))
        chunk = random.Random(rng.random()).choice(chunks)
        chunk.unlink() if kind == "delete-chunk" else flip_a_byte(
            chunk, rng.randrange(chunk.stat().st_size)
        )
    elif kind == "garble-identity":
        (run_dir / "run.json").write_text('{"run_id": ')
    return kind


@pytest.mark.slow
def test_soak_damaged_and_killed_runs_are_refused_cleanly_or_resume_to_the_same_result(
    runs, tmp_path
):
    """Trials: damage an interrupted run at random (or not), resume it and kill the resume
    at a random moment (or not), then resume to the end. Every trial must end in a clean
    refusal (exit 2, no traceback) or in the trajectory of the uninterrupted run."""
    import random
    import signal
    import time

    import xarray as xr

    root, spec = runs
    with xr.open_zarr(root / "finished" / "trajectory.zarr") as reference:
        reference = reference.load()
    rng = random.Random(2026)
    outcomes = {}
    for trial in range(24):
        run_dir = tmp_path / f"trial-{trial}" / "stopped"
        shutil.copytree(root / "stopped", run_dir)
        kind = _damage(run_dir, rng, root / "other")
        command = [sys.executable, "-m", "growsim.cli", "run", str(spec), "--out", str(run_dir.parent),
                   "--name", "stopped", "--resume", *TINY_OVERRIDES]  # fmt: skip
        if rng.random() < 0.5:  # a kill in the middle of the resume
            process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            time.sleep(rng.uniform(1.0, 4.0))
            process.send_signal(signal.SIGKILL)
            process.wait()
            kind += "+kill"
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if done.returncode == 2:
            assert "Traceback" not in done.stderr, (kind, done.stderr)
            outcome = "refused"
        else:
            assert done.returncode == 0, (kind, done.stderr)
            with xr.open_zarr(run_dir / "trajectory.zarr") as resumed:
                resumed = resumed.load()
            for dataset in (resumed,):
                dataset.attrs = {
                    k: v
                    for k, v in dataset.attrs.items()
                    if k not in ("run_id", "spec_sha256", "title", "spec")
                }
            expected = reference.copy()
            expected.attrs = {
                k: v
                for k, v in expected.attrs.items()
                if k not in ("run_id", "spec_sha256", "title", "spec")
            }
            xr.testing.assert_identical(resumed, expected)
            outcome = "identical"
        outcomes.setdefault(kind, []).append(outcome)
    print("soak outcomes:", outcomes)
    assert sum(len(v) for v in outcomes.values()) == 24


def test_open_run_checks_the_stores_it_reads(runs, tmp_path):
    import growsim

    run_dir, _ = copy_run(runs, "finished", tmp_path)
    chunk = next(
        p
        for p in sorted((run_dir / "per_image.zarr" / "expected_steps").iterdir())
        if not p.name.startswith(".")
    )
    flip_a_byte(chunk, offset=10)
    flip_a_byte(run_dir / "trajectory.zarr" / "validation_accuracy" / "1", offset=5)
    run = growsim.open_run(run_dir)
    for read in (lambda: run.per_image, lambda: run.trajectory):
        with pytest.raises(RunError, match="corrupt"):
            read()
