"""End to end through the command line: run a tiny spec, open its trajectory with xarray;
what the command line refuses, deletes and prints."""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from growsim import __version__
from growsim.cli import build_parser, main
from growsim.errors import SpecError
from growsim.spec import load_spec, parse_spec
from growsim.train.trainer import Trainer
from tests.conftest import TINY_SPEC

SHORT = ["--set", "training.iterations=20", "--set", "record.every=10"]


def run(tiny_spec, out, *extra):
    return main(["run", str(tiny_spec), "--out", str(out), "--no-progress", *extra])


def growsim(*args, **kwargs):
    """``growsim ARGS`` in a fresh process, as a user runs it."""
    command = [sys.executable, "-m", "growsim.cli", *map(str, args)]
    if "stdout" not in kwargs:
        kwargs["capture_output"] = True
    return subprocess.run(command, text=True, **kwargs)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """(spec, out, run directory) of a finished run of the tiny spec, made once."""
    out = tmp_path_factory.mktemp("finished")
    spec = out / "tiny.yaml"
    spec.write_text(TINY_SPEC)
    assert run(spec, out) == 0
    return spec, out, out / "tiny"


def test_test_every_evaluates_the_test_sets_at_those_checkpoints_and_the_last(tiny_spec, tmp_path):
    assert (
        run(tiny_spec, tmp_path, "--set", "record.test_every=2", "--set", "training.iterations=500")
        == 0
    )
    trajectory = xr.open_zarr(tmp_path / "tiny" / "trajectory.zarr")
    assert trajectory.iteration.values.tolist() == [0, 100, 200, 300, 400, 500]
    tested = np.isfinite(trajectory.test_accuracy.values).tolist()
    assert tested == [True, False, True, False, True, True]
    assert (np.isfinite(trajectory.expected_steps.values) == tested).all()
    assert np.isfinite(trajectory.validation_expected_steps.values).all()


def test_occluded_levels_are_validated_every_nth_checkpoint_and_compaction_waits_for_them(
    tiny_spec, tmp_path, monkeypatch
):
    attempts = []  # (checkpoint, levels validated) of every compaction attempt
    original = Trainer._compact

    def spy(self, region, validation):
        attempts.append((self.checkpoints_written, len(validation.step_probs)))
        return original(self, region, validation)

    monkeypatch.setattr(Trainer, "_compact", spy)
    extra = ["--set", "record.occluded_every=2", "--set", "training.iterations=500"]
    assert run(tiny_spec, tmp_path, *extra, "--set", "record.validation_size=7") == 0
    trajectory = xr.open_zarr(tmp_path / "tiny" / "trajectory.zarr")
    occluded = np.isfinite(trajectory.validation_accuracy_by_occlusion.values[:, 1]).tolist()
    assert occluded == [True, False, True, False, True, True]  # every 2nd and the last
    assert (
        np.isfinite(trajectory.validation_expected_steps_by_occlusion.values[:, 1]).tolist()
        == occluded
    )
    clean = trajectory.validation_accuracy.values
    assert np.isfinite(clean).all()
    # checkpoints validate on the first 7 images of a level, the last one on all 60
    assert np.allclose(clean[:-1] * 7, np.round(clean[:-1] * 7), atol=1e-4)
    assert not np.isclose(clean[-1] * 7, np.round(clean[-1] * 7), atol=1e-4)
    assert np.isclose(clean[-1] * 60, np.round(clean[-1] * 60), atol=1e-3)
    assert attempts and all(n % 2 == 0 and levels == 2 for n, levels in attempts)


def test_the_test_sets_get_one_pass_for_the_final_metrics_and_the_speed_accuracy_curve(
    tiny_spec, tmp_path, monkeypatch
):
    import growsim.train.trainer as trainer_module

    passes = []
    original = trainer_module.predict_sets_at

    def counted(model, sets, normalise, thresholds):
        passes.append(thresholds)
        return original(model, sets, normalise, thresholds)

    monkeypatch.setattr(trainer_module, "predict_sets_at", counted)
    assert run(tiny_spec, tmp_path, *SHORT) == 0
    assert len(passes) == 1 and set(passes[0]) == {0.0, 0.02, 0.05, 0.1, 0.2, 0.5}
    per_image = xr.open_zarr(tmp_path / "tiny" / "per_image.zarr")
    exact = per_image.exit_accuracy.sel(exit_threshold=0.0).values
    assert np.allclose(exact, per_image.correct.mean("image").values)


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
    assert trajectory.validation_accuracy.values[-1] > trajectory.validation_accuracy.values[0]
    # record.test_every 0: the test sets are evaluated at the last checkpoint only
    assert np.isnan(trajectory.test_accuracy.values[:-1]).all()
    assert np.isnan(trajectory.accuracy_by_occlusion.values[:-1]).all()
    assert np.isfinite(trajectory.validation_accuracy_by_occlusion.values).all()
    assert "torch" in trajectory.attrs["versions"] and len(trajectory.attrs["data_sha256"]) == 64
    # the box is padded to the maximum: positions outside it are NaN
    box_channels = int(trajectory.box_channels.values[0])
    assert np.isnan(
        trajectory.channel_norm.isel(checkpoint=0, channel=slice(box_channels, None))
    ).all()
    summary = json.loads((tmp_path / "tiny" / "summary.json").read_text())
    assert summary["iteration"] == 300
    assert (tmp_path / "tiny" / "checkpoint.pt").exists()
    # the run timed its parts: the overhead is what it spent besides training steps
    spent = summary["time_spent"]
    assert set(spent) == {"training", "checkpoints", "per_image"} and min(spent.values()) > 0
    assert spent["training"] + spent["checkpoints"] <= summary["seconds"]
    # CPU seconds: recorded, of the order of the training steps wall time (however loaded)
    assert spent["training"] / 10 < summary["cpu_seconds"]
    assert summary["overhead"] == (spent["checkpoints"] + spent["per_image"]) / spent["training"]


def test_breadth_pressure_ends_narrower(tiny_spec, tmp_path):
    common = ["--set", "growth.enabled=false", "--set", "training.iterations=300"]
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
    assert run(tiny_spec, tmp_path, "--set", "training.iterations=40") == 0
    capsys.readouterr()
    assert run(tiny_spec, tmp_path, "--set", "training.iterations=40") == 2
    assert "already exists" in capsys.readouterr().err
    assert run(tiny_spec, tmp_path, "--set", "training.iterations=40", "--overwrite") == 0


def test_bad_spec_prints_one_line_without_traceback(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("training:\n  iterations: 10\ncosts:\n  time:\n    weight: -1\n")
    result = subprocess.run(
        [sys.executable, "-m", "growsim.cli", "validate", str(spec)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "bad.yaml:5: costs.time.weight: must be >= 0, got -1" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_accepts_a_good_spec(tiny_spec, capsys):
    assert main(["validate", str(tiny_spec), "--set", "training.seed=3"]) == 0
    assert "valid" in capsys.readouterr().out


def test_topology_is_recorded_and_printed(finished, capsys):
    _, _, run_dir = finished
    trajectory = xr.open_zarr(run_dir / "trajectory.zarr")
    assert trajectory.longest_path.dims == ("checkpoint", "step")
    assert trajectory.active_edges.dims == ("checkpoint", "connection", "layer")
    final = trajectory.isel(checkpoint=-1)
    steps = int(final.box_steps)
    assert (final.longest_path[:steps] >= final.shortest_path[:steps]).all()
    assert int(final.shortest_path[0]) >= int(final.depth)  # one connection per layer at least
    capsys.readouterr()
    assert main(["topology", str(run_dir), "--at", "1"]) == 0
    table = capsys.readouterr().out
    assert "checkpoint 1 of 4" in table and "longest" in table
    # time steps count from 1, as in expected steps and every figure
    rows = table.split("log #paths\n")[1].splitlines()
    box_steps = int(trajectory.box_steps.isel(checkpoint=1))
    assert [int(row.split()[0]) for row in rows] == list(range(1, box_steps + 1))
    assert main(["topology", str(run_dir), "--at", "9"]) == 2
    assert "out of range" in capsys.readouterr().err


# ----------------------------------------------------------------------------- what is deleted


@pytest.mark.parametrize("flags", [[], ["--overwrite"]])
def test_a_directory_growsim_did_not_make_is_never_written_or_deleted(
    tiny_spec, tmp_path, capsys, flags
):
    thesis = tmp_path / "thesis"
    (thesis / "data").mkdir(parents=True)
    (thesis / "thesis.tex").write_text("chapter 1")
    assert run(tiny_spec, tmp_path, "--name", "thesis", *SHORT, *flags) == 2
    error = capsys.readouterr().err
    assert "was not made by growsim" in error
    assert "--overwrite" not in error  # the refusal must not recommend deleting it
    assert sorted(p.name for p in thesis.iterdir()) == ["data", "thesis.tex"]
    assert (thesis / "thesis.tex").read_text() == "chapter 1"


def test_overwrite_deletes_only_growsims_own_files(tiny_spec, tmp_path):
    assert run(tiny_spec, tmp_path, *SHORT) == 0
    run_dir = tmp_path / "tiny"
    (run_dir / "notes.txt").write_text("mine")
    assert main(["report", str(run_dir)]) == 0
    (run_dir / "report" / "annotated.pdf").write_text("mine too")
    assert run(tiny_spec, tmp_path, "--set", "training.iterations=10", "--set", "record.every=10",
               "--overwrite") == 0  # fmt: skip
    assert (run_dir / "notes.txt").read_text() == "mine"
    assert [p.name for p in (run_dir / "report").iterdir()] == ["annotated.pdf"]
    assert xr.open_zarr(run_dir / "trajectory.zarr").iteration.values.tolist() == [0, 10]


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".", ""])
def test_run_names_are_single_path_components(tiny_spec, tmp_path, capsys, name):
    out = tmp_path / "out"
    assert run(tiny_spec, out, "--name", name, *SHORT) == 2
    assert f"--name {name!r}: a run name must" in capsys.readouterr().err
    assert not list(tmp_path.rglob("spec.yaml")) and not (tmp_path / "escape").exists()


def test_a_spec_name_that_leaves_the_output_directory_is_refused(tiny_spec, tmp_path, capsys):
    assert run(tiny_spec, tmp_path / "out", "--set", "name=../escape", *SHORT) == 2
    assert "--set 'name=../escape': name: the run's directory name" in capsys.readouterr().err
    assert not list(tmp_path.rglob("spec.yaml"))


def test_a_run_that_failed_before_its_first_checkpoint_is_simply_run_again(
    tiny_spec, tmp_path, capsys
):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1"):
        (broken / f"{name}-ubyte.gz").write_bytes(b"not gzip")
    bad_data = ["--set", "data.dataset=fashion_mnist", "--set", "data.image_size=28",
                "--set", f"data.path={broken}"]  # fmt: skip
    assert run(tiny_spec, tmp_path, *bad_data) == 2
    assert "not a readable gzip file" in capsys.readouterr().err
    assert run(tiny_spec, tmp_path, *SHORT) == 0  # the fixed spec, no --overwrite needed
    assert "starting it again" in capsys.readouterr().err  # a note on the way, not the output
    assert xr.open_zarr(tmp_path / "tiny" / "trajectory.zarr").iteration.values.tolist() == [
        0,
        10,
        20,
    ]


def test_resume_of_a_finished_run_changes_nothing(finished, capsys):
    spec, out, run_dir = finished
    summary = (run_dir / "summary.json").read_text()
    checkpoint_time = (run_dir / "checkpoint.pt").stat().st_mtime_ns
    capsys.readouterr()
    assert run(spec, out, "--resume") == 0
    printed = capsys.readouterr()
    assert "growsim: " in printed.err and "the run has finished; nothing to resume" in printed.err
    assert (run_dir / "summary.json").read_text() == summary  # the recorded wall time stays
    assert (run_dir / "checkpoint.pt").stat().st_mtime_ns == checkpoint_time
    assert f"{json.loads(summary)['seconds']:.1f} s" in printed.out  # the summary table


def test_a_run_made_before_training_steps_was_renamed_still_resumes(finished, tmp_path, capsys):
    spec, out, run_dir = finished
    old = tmp_path / "tiny"
    shutil.copytree(run_dir, old)
    stored = (old / "spec.yaml").read_text()
    assert "\n  iterations: " in stored
    (old / "spec.yaml").write_text(stored.replace("\n  iterations: ", "\n  steps: "))
    capsys.readouterr()
    assert run(spec, tmp_path, "--resume") == 0
    assert "the run has finished; nothing to resume" in capsys.readouterr().err


# ----------------------------------------------------------------------------- discoverability


def test_version_and_help_with_defaults_and_examples(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out.strip() == f"growsim {__version__}"
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "examples:" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "root of run directories (default: outputs)" in text
    assert "examples: growsim run specs/quick.yaml" in text
    assert "(default: None)" not in text and "(default: False)" not in text


def test_the_version_is_written_once_and_python_m_growsim_is_the_command():
    from pathlib import Path

    root = Path(__file__).parent.parent
    pyproject = (root / "pyproject.toml").read_text()
    assert (
        'dynamic = ["version"]' in pyproject
        and 'attr = "growsim._version.__version__"' in pyproject
    )
    assert not re.search(r"^version\s*=\s*\"", pyproject, flags=re.MULTILINE)  # no literal version
    finished = subprocess.run(
        [sys.executable, "-m", "growsim", "--version"], capture_output=True, text=True, cwd=root
    )
    assert finished.stdout.strip() == f"growsim {__version__}"


def test_debug_works_before_and_after_the_command(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("training: {stepz: 3}\n")
    assert main(["validate", str(bad)]) == 2
    for argv in (["--debug", "validate", str(bad)], ["validate", str(bad), "--debug"]):
        with pytest.raises(SpecError, match="stepz: unknown key"):
            main(argv)


def test_validate_show_prints_the_resolved_spec_with_every_default(tiny_spec, capsys):
    assert main(["validate", str(tiny_spec), "--set", "training.seed=4", "--show"]) == 0
    text = capsys.readouterr().out
    assert parse_spec(text) == load_spec(tiny_spec, ["training.seed=4"])
    assert "compaction:" in text and "exit_threshold:" in text  # not in the file: defaults


def test_validate_checks_that_the_data_is_there(tiny_spec, tmp_path, capsys):
    fashion = ["--set", "data.dataset=fashion_mnist", "--set", "data.image_size=28"]
    missing = tmp_path / "nowhere"
    assert main(["validate", str(tiny_spec), *fashion, "--set", f"data.path={missing}"]) == 2
    error = capsys.readouterr().err
    assert f"data.path: {missing} does not exist" in error
    missing.mkdir()  # a directory without the four IDX files is not Fashion-MNIST
    assert main(["validate", str(tiny_spec), *fashion, "--set", f"data.path={missing}"]) == 2
    assert "train-images-idx3-ubyte.gz: file not found" in capsys.readouterr().err
    for name in ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1"):
        (missing / f"{name}-ubyte.gz").write_bytes(b"")
    assert main(["validate", str(tiny_spec), *fashion, "--set", f"data.path={missing}"]) == 0


def test_run_rejects_a_bad_spec_before_importing_torch(tmp_path):
    bad = tmp_path / "typo.yaml"
    bad.write_text("traning: {steps: 3}\n")
    code = (
        "import sys; from growsim.cli import main; code = main(['run', sys.argv[1]]); "
        "print(code, 'torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True)
    assert result.stdout.split() == ["2", "False"], result.stderr
    assert "traning: unknown key" in result.stderr


# ----------------------------------------------------------------------------- no tracebacks


@pytest.mark.parametrize("command", ["validate", "run", "sweep"])
def test_a_png_given_as_the_spec_is_a_clean_error(tmp_path, command):
    png = tmp_path / "figure.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00")
    result = growsim(command, png)
    assert result.returncode == 2
    assert "figure.png: not a text file" in result.stderr and "Traceback" not in result.stderr


def test_a_report_that_cannot_be_written_is_a_clean_error(finished, tmp_path):
    _, _, run_dir = finished
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = growsim("report", run_dir, "--out", blocker / "report")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot write the report" in result.stderr and "--out" in result.stderr
    taken = tmp_path / "taken"
    (taken / "growth.png").mkdir(parents=True)  # the figure's name is taken by a directory
    result = growsim("report", run_dir, "--out", taken)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "growth.png: cannot write the figure" in result.stderr


def test_topology_into_a_closed_pipe_ends_quietly(finished):
    _, _, run_dir = finished
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `growsim topology RUN | head` once head has exited
    try:
        result = growsim("topology", run_dir, stdout=write_end, stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    assert result.returncode == 141
    assert result.stderr == ""


def test_schema_prints_the_spec_json_schema(capsys):
    from growsim.spec import spec_schema_text

    assert main(["schema"]) == 0
    assert capsys.readouterr().out == spec_schema_text()


@pytest.mark.parametrize("flags, expected", [
    ([], ("outputs/reproduce", "docs/results.md", None)),
    (["--quick"], ("outputs/reproduce-quick", "outputs/reproduce-quick/results.md", None)),
    (["--out", "/s/r"], ("/s/r", "/s/r/results.md", None)),
    (["--out", "/s/r", "--results", "page.md"], ("/s/r", "page.md", None)),
    (["--competent"], ("outputs/competent", "docs/results/competent.md", "docs/results/competent")),
    (["--competent", "--out", "/s/c"], ("/s/c", "/s/c/results.md", "/s/c/results")),
    (["--competent", "--quick"],
     ("outputs/competent-quick", "outputs/competent-quick/results.md", "outputs/competent-quick/results")),
])  # fmt: skip
def test_reproduce_writes_in_the_repository_by_default_and_under_out_when_given(flags, expected):
    from growsim.cli.reproduction import places

    found = places(build_parser().parse_args(["reproduce", *flags]))
    assert tuple(None if p is None else str(p) for p in found) == expected


@pytest.mark.parametrize("flags, message", [
    (["--arms", "long"], "--arms goes with --competent"),
    (["--competent", "--arms", "nope"], "no arm nope in this protocol; its arms are"),
    (["--competent", "--quick", "--arms", "centred"], "no arm centred in this protocol (--quick)"),
    (["--competent", "--page-only", "--arms", "main"], "--arms and --datasets go with training"),
    (["--competent", "--datasets", "mnist"], "no dataset mnist in this protocol; its datasets are"),
    (["--competent", "--page-only", "--out", "{tmp}"], "{tmp}/results: no per-run files"),
])  # fmt: skip
def test_reproduce_refuses_arms_it_does_not_run_and_a_page_without_runs(
    flags, message, tmp_path, capsys
):
    flags = [f.format(tmp=tmp_path) for f in flags]
    assert main(["reproduce", *flags]) == 2
    assert message.format(tmp=tmp_path) in capsys.readouterr().err
