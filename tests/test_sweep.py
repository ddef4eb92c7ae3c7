"""Sweeps: expansion of the sweep: block, a real two-member sweep, failures, concurrency."""

import json
import math
import multiprocessing
import os
import struct
import time

import hypothesis.strategies as st
import numpy as np
import pytest
import xarray as xr
import yaml
from hypothesis import given, settings

from growsim.cli import main
from growsim.errors import RunError, SpecError
from growsim.locks import exclusive_lock
from growsim.record.combine import combine_trajectories
from growsim.runs.directories import SWEEP_MARKER
from growsim.sweep import runner
from growsim.sweep.runner import _member_state
from growsim.sweep.spec import member_name, parse_sweep
from growsim.train.checkpoint_file import read_checkpoint
from tests.conftest import TINY_SPEC

# Keys a sweep may vary, each with values the tiny spec accepts.
SWEEPABLE = {
    "costs.breadth.weight": [0.0, 0.01, 0.05],
    "costs.time.weight": [0.0, 0.02],
    "data.classes": [2, 3, 4],
    "data.noise": [0.0, 0.1],
    "lattice.channels.max": [8, 10, 12],
    "training.lr": [0.01, 0.003],
}

# 2 members x 60 iterations of the tiny spec: a few seconds each.
TINY_SWEEP = (
    TINY_SPEC.replace("name: tiny", "name: tinysweep")
    .replace("iterations: 300", "iterations: 60")
    .replace("every: 100", "every: 30")
    + """
sweep:
  grid:
    costs.breadth.weight: [0.0, 0.02]
"""
)


def sweep_text(grid: dict, points: list, seeds: list | None) -> str:
    block = {"grid": grid, "points": points}
    if seeds is not None:
        block["seeds"] = seeds
    return TINY_SPEC + yaml.safe_dump({"sweep": block})


@settings(max_examples=40, deadline=None)
@given(
    grid_keys=st.lists(st.sampled_from(sorted(SWEEPABLE)), max_size=3, unique=True),
    point_keys=st.lists(st.sampled_from(sorted(SWEEPABLE)), max_size=2, unique=True),
    seeds=st.one_of(st.none(), st.lists(st.integers(0, 50), min_size=1, max_size=3, unique=True)),
    data=st.data(),
)
def test_sweep_expands_to_every_combination(grid_keys, point_keys, seeds, data):
    grid = {
        key: data.draw(
            st.lists(st.sampled_from(SWEEPABLE[key]), min_size=1, max_size=3, unique=True)
        )
        for key in grid_keys
    }
    free = [k for k in point_keys if k not in grid]
    points = [
        {key: data.draw(st.sampled_from(SWEEPABLE[key])) for key in free}
        for _ in range(data.draw(st.integers(1, 3)))
    ]
    sweep = parse_sweep(sweep_text(grid, points, seeds))
    expected = len(points) * math.prod(len(v) for v in grid.values()) * len(seeds or [0])
    assert len(sweep.members) == expected
    assert len({m.name for m in sweep.members}) == expected  # one directory each
    for member in sweep.members:
        spec = member.spec
        for key, value in member.overrides.items():
            section, _, leaf = key.rpartition(".")
            node = spec
            for part in section.split("."):
                node = getattr(node, part)
            assert getattr(node, leaf) == value
        assert spec.sweep is None and spec.name == f"tiny.{member.name}"
    combos = {tuple(sorted(m.overrides.items())) for m in sweep.members}
    assert len(combos) == len({tuple(sorted(p.items())) for p in points}) * expected // len(points)


def test_member_names_are_stable_and_safe():
    assert member_name({"costs.time.weight": 0.05, "training.seed": 2}) == "time.weight=0.05_seed=2"
    long = member_name({f"data.k{i}": "x" * 30 for i in range(6)})
    assert len(long) <= 120 and "/" not in long


@pytest.mark.parametrize(
    "block, where",
    [
        ("sweep: {grids: {}}", "sweep.grids: unknown key"),
        ("sweep:\n  grid: {data.classes: 3}", "sweep.grid.data.classes: must be a non-empty list"),
        ("sweep:\n  grid: {data.classes: [2, 12]}", "sweep.grid.data.classes: member"),
        ("sweep:\n  points: [{data.nosie: 0.1}]", "sweep.points[0].data.nosie"),
        ("sweep: {seeds: [-1]}", "sweep.seeds: must be a non-empty list of integers"),
    ],
)
def test_bad_sweep_blocks_name_file_line_and_key(block, where):
    text = TINY_SPEC + block + "\n"
    with pytest.raises(SpecError) as caught:
        parse_sweep(text, source="s.yaml")
    message = str(caught.value)
    assert where in message and message.startswith("s.yaml:")
    line = int(message.split(":")[1])
    assert text.splitlines()[line - 1].strip().startswith(("sweep", "grid", "points", "seeds"))


def png_size(path):
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def test_two_member_sweep_through_the_cli_then_report(tmp_path, capsys):
    spec = tmp_path / "sweep.yaml"
    spec.write_text(TINY_SWEEP)
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "2", "--no-progress"]) == 0
    combined = xr.open_zarr(out / "tinysweep" / "sweep.zarr")
    assert combined.sizes["run"] == 2 and combined.sizes["checkpoint"] == 3
    assert combined["costs.breadth.weight"].values.tolist() == [0.0, 0.02]
    assert combined.iteration.values.tolist() == [[0, 30, 60], [0, 30, 60]]
    # one chunk per member and variable (a chunk per checkpoint made thousands of files)
    assert combined.channel_norm.encoding["chunks"] == (1,) + combined.channel_norm.shape[1:]
    # the combined store holds exactly what each member wrote
    for index, name in enumerate(combined.run.values):
        member = xr.open_zarr(out / "tinysweep" / str(name) / "trajectory.zarr")
        np.testing.assert_array_equal(
            combined.channel_norm.isel(run=index).values, member.channel_norm.values
        )
    status = json.loads((out / "tinysweep" / "sweep.json").read_text())
    assert [m["status"] for m in status["members"]] == ["finished", "finished"]

    capsys.readouterr()
    written = os.readlink(out / "tinysweep" / "sweep.zarr")
    assert main(["sweep", str(spec), "--out", str(out), "--no-progress"]) == 0
    assert capsys.readouterr().out.count("skipped") == 2  # a rerun skips finished members
    assert os.readlink(out / "tinysweep" / "sweep.zarr") == written  # and leaves the store
    # a store that lacks a finished member (a combine cut short) is written again
    first = str(combined.run.values[0])
    combine_trajectories(out / "tinysweep", [(first, out / "tinysweep" / first, {})],
                         ["costs.breadth.weight"], dict(combined.attrs))  # fmt: skip
    assert xr.open_zarr(out / "tinysweep" / "sweep.zarr").sizes["run"] == 1
    assert main(["sweep", str(spec), "--out", str(out), "--no-progress"]) == 0
    assert (
        xr.open_zarr(out / "tinysweep" / "sweep.zarr").run.values.tolist()
        == combined.run.values.tolist()
    )

    assert main(["report", str(out / "tinysweep")]) == 0
    report = out / "tinysweep" / "report"
    for figure in ("tradeoff.png", "complexity.png"):
        width, height = png_size(report / figure)
        assert width > 500 and height > 200
    text = (report / "report.md").read_text()
    assert "| costs.breadth.weight |" in text.replace("run | costs", "| costs")
    assert "![trade-offs](tradeoff.png)" in text

    member = out / "tinysweep" / str(combined.run.values[0])
    per_image = xr.open_zarr(member / "per_image.zarr")
    ids = per_image.image_id.values
    times = tmp_path / "rts.csv"
    times.write_text("image_id,rt\n" + "".join(f"{i},{400 + 7 * (i % 13)}\n" for i in ids[::2]))
    assert main(["report", str(member), "--reaction-times", str(times)]) == 0
    for figure in ("growth.png", "occlusion.png", "difficulty.png"):
        png_size(member / "report" / figure)
    text = (member / "report" / "report.md").read_text()
    assert "## Occlusion" in text and "| human reaction time |" in text
    spread = text.split("## Time use over images")[1]
    assert "| 0% | " in spread and "| 30% | " in spread
    assert f"({len(ids[::2])} of {len(ids)})" in text


def test_a_failing_member_does_not_stop_the_others(tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1"):
        (broken / f"{name}-ubyte.gz").write_bytes(b"not gzip")
    spec = tmp_path / "sweep.yaml"
    spec.write_text(
        TINY_SWEEP.replace("[0.0, 0.02]", "[0.0]") + f"  points:\n    - {{data.dataset: shapes}}\n"
        f"    - {{data.dataset: fashion_mnist, data.image_size: 28, data.path: {broken}}}\n"
    )
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--no-progress"]) == 1
    error = capsys.readouterr().err
    assert "FAILED" in error and "not a readable gzip file" in error
    status = {
        m["name"]: m for m in json.loads((out / "tinysweep" / "sweep.json").read_text())["members"]
    }
    assert sorted(m["status"] for m in status.values()) == ["failed", "finished"]
    combined = xr.open_zarr(out / "tinysweep" / "sweep.zarr")
    assert combined.sizes["run"] == 1 and combined.attrs["failed_members"]


def test_sweep_on_a_dask_scheduler(tmp_path):
    distributed = pytest.importorskip("distributed")
    spec = tmp_path / "sweep.yaml"
    spec.write_text(TINY_SWEEP.replace("[0.0, 0.02]", "[0.0, 0.02]\n  workers: 1"))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:  # fmt: skip
        args = ["sweep", str(spec), "--out", str(tmp_path / "out"), "--no-progress",
                "--scheduler", cluster.scheduler_address]  # fmt: skip
        assert main(args) == 0
    combined = xr.open_zarr(tmp_path / "out" / "tinysweep" / "sweep.zarr")
    assert combined.sizes["run"] == 2
    # one thread per worker: each member's CPU seconds are its own, and recorded
    summaries = list((tmp_path / "out" / "tinysweep").glob("*/summary.json"))
    assert len(summaries) == 2
    assert all(json.loads(p.read_text())["cpu_seconds"] > 0 for p in summaries)


def test_a_worker_running_members_at_once_records_no_cpu_seconds(monkeypatch):
    """A Dask worker of several threads trains members side by side in one process: its CPU
    seconds are not one member's, so none are recorded (the cost counts wall seconds)."""
    distributed = pytest.importorskip("distributed")
    from types import SimpleNamespace

    from growsim.runs.experiment import _shares_its_process

    assert not _shares_its_process()  # not in a worker
    for threads, shared in ((1, False), (4, True)):
        worker = SimpleNamespace(state=SimpleNamespace(nthreads=threads))
        monkeypatch.setattr(distributed, "get_worker", lambda worker=worker: worker)
        assert _shares_its_process() is shared


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path, capsys, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setattr(runner, "DASK_CONNECT_TIMEOUT", "2s")
    spec = tmp_path / "sweep.yaml"
    spec.write_text(TINY_SWEEP)
    args = ["sweep", str(spec), "--out", str(tmp_path / "out"), "--no-progress",
            "--scheduler", "tcp://127.0.0.1:9"]  # fmt: skip
    assert main(args) == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


# ----------------------------------------------------------------------------- concurrency


def test_members_written_at_once_equal_members_run_alone(tmp_path):
    spec = tmp_path / "sweep.yaml"
    spec.write_text(TINY_SWEEP)
    together, alone = tmp_path / "together", tmp_path / "alone"
    assert (
        main(["sweep", str(spec), "--out", str(together), "--workers", "2", "--no-progress"]) == 0
    )
    started = time.perf_counter()
    assert main(["sweep", str(spec), "--out", str(alone), "--workers", "1", "--no-progress"]) == 0
    sweep_seconds = time.perf_counter() - started
    # One at a time, members' durations (each from its own start) add up to less than the
    # sweep's; counted from queueing, the second one's would include the first one's.
    status = json.loads((alone / "tinysweep" / "sweep.json").read_text())["members"]
    durations = [member["seconds"] for member in status]
    assert all(d > 0 for d in durations) and sum(durations) < sweep_seconds
    for member in (together / "tinysweep").iterdir():
        if not (member / "trajectory.zarr").exists():
            continue
        first = xr.open_zarr(member / "trajectory.zarr").load()
        second = xr.open_zarr(alone / "tinysweep" / member.name / "trajectory.zarr").load()
        for name in ("channel_norm", "test_accuracy", "time_distribution", "task_loss"):
            np.testing.assert_array_equal(first[name].values, second[name].values)


def test_a_member_another_process_is_writing_is_refused_not_corrupted(tmp_path, capsys):
    spec = tmp_path / "sweep.yaml"
    spec.write_text(TINY_SWEEP)
    out = tmp_path / "out"
    sweep_dir = out / "tinysweep"
    busy = sweep_dir / ".breadth.weight=0.lock"
    with exclusive_lock(busy, wait=True, holder="test"):
        assert main(["sweep", str(spec), "--out", str(out), "--no-progress"]) == 1
    assert "another process is writing it" in capsys.readouterr().err
    assert not (sweep_dir / "breadth.weight=0" / "trajectory.zarr").exists()
    assert xr.open_zarr(sweep_dir / "sweep.zarr").sizes["run"] == 1
    assert main(["sweep", str(spec), "--out", str(out), "--no-progress"]) == 0  # lock gone
    assert xr.open_zarr(sweep_dir / "sweep.zarr").sizes["run"] == 2


def test_lock_refuses_a_second_holder(tmp_path):
    with exclusive_lock(tmp_path / "x.lock", wait=False, holder="thing"):
        context = multiprocessing.get_context("spawn")
        with context.Pool(1) as pool:
            assert "another process" in pool.apply(_try_lock, (str(tmp_path / "x.lock"),))
    assert _try_lock(str(tmp_path / "x.lock")) == "got it"


def _try_lock(path):
    try:
        with exclusive_lock(path, wait=False, holder="thing"):
            return "got it"
    except RunError as error:
        return str(error)


def _combine_repeatedly(sweep_dir, members, times):
    for _ in range(times):
        combine_trajectories(sweep_dir, members, ["costs.breadth.weight"], {"title": "t"})


def test_concurrent_combines_never_show_readers_a_broken_store(tmp_path):
    spec = tmp_path / "sweep.yaml"
    spec.write_text(TINY_SWEEP)
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--no-progress"]) == 0
    sweep_dir = out / "tinysweep"
    members = [
        (d.name, d, {"costs.breadth.weight": i * 0.02})
        for i, d in enumerate(sorted(p for p in sweep_dir.iterdir() if (p / "spec.yaml").exists()))
    ]
    context = multiprocessing.get_context("spawn")
    writers = [
        context.Process(target=_combine_repeatedly, args=(sweep_dir, members, 3)) for _ in range(2)
    ]
    for writer in writers:
        writer.start()
    reads = 0
    while any(w.is_alive() for w in writers) or reads == 0:
        with xr.open_zarr(sweep_dir / "sweep.zarr") as store:
            assert store.sizes["run"] == 2
            assert np.isfinite(store.validation_accuracy.values).all()
        reads += 1
    for writer in writers:
        writer.join()
        assert writer.exitcode == 0
    versions = [p for p in sweep_dir.iterdir() if p.name.startswith(".sweep.zarr.v")]
    assert len(versions) <= 2  # old versions are cleaned up


def test_run_refuses_a_sweep_spec_and_validate_lists_its_members(tmp_path, capsys):
    spec = tmp_path / "sweep.yaml"
    spec.write_text(TINY_SWEEP)
    assert main(["run", str(spec), "--out", str(tmp_path), "--no-progress"]) == 2
    assert "growsim sweep" in capsys.readouterr().err
    assert main(["validate", str(spec)]) == 0
    printed = capsys.readouterr().out
    assert "sweep of 2 members" in printed and "breadth.weight=0.02" in printed


def test_members_of_a_changed_spec_are_refused_until_overwritten(tmp_path, capsys):
    spec = tmp_path / "sweep.yaml"
    spec.write_text(TINY_SWEEP.replace("[0.0, 0.02]", "[0.0]"))
    out = ["--out", str(tmp_path / "out"), "--no-progress"]
    assert main(["sweep", str(spec), *out]) == 0
    changed = ["--set", "training.lr=0.02"]
    assert main(["sweep", str(spec), *out, *changed]) == 1
    assert "holds a run of a different spec" in capsys.readouterr().err
    assert main(["sweep", str(spec), *out, *changed, "--overwrite"]) == 0
    # how often the disk is written is not part of the experiment: the member is finished
    sweep = parse_sweep(spec.read_text(), overrides=["training.lr=0.02", "record.write_seconds=5"])
    (member,) = sweep.members
    assert _member_state(tmp_path / "out" / "tinysweep" / member.name, member) == "finished"


def test_a_sweep_member_stopped_by_sigterm_writes_the_checkpoints_it_kept(tmp_path):
    """A member runs in its own worker process, without the command line's handler: SIGTERM
    (what the sweep sends its workers on Ctrl-C) still writes the checkpoints kept in memory."""
    import subprocess
    import sys

    from growsim.spec import parse_spec, spec_to_yaml

    spec = parse_spec(
        TINY_SPEC,
        overrides=["training.iterations=200", "record.every=25", "record.write_seconds=1000"],
    )
    script = ("import sys; from growsim.sweep.runner import run_member; "
              "run_member(sys.stdin.read(), sys.argv[1], 1, False)")  # fmt: skip
    stopped = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "member")], input=spec_to_yaml(spec),
        text=True, capture_output=True, env={**os.environ, "GROWSIM_KILL_AT": "checkpoint-taken:5:SIGTERM"},
    )  # fmt: skip
    assert stopped.returncode != 0 and "Terminated" in stopped.stderr
    state = read_checkpoint(tmp_path / "member" / "checkpoint.pt", "cpu")
    assert (state["iteration"], state["checkpoints_written"]) == (75, 4)


def test_sweep_overwrite_never_touches_directories_growsim_did_not_make(tmp_path, capsys):
    spec = tmp_path / "sweep.yaml"
    spec.write_text(TINY_SWEEP.replace("[0.0, 0.02]", "[0.0]"))
    out = tmp_path / "out"
    # the sweep's directory is someone else's
    (out / "tinysweep").mkdir(parents=True)
    (out / "tinysweep" / "thesis.tex").write_text("chapter 1")
    assert main(["sweep", str(spec), "--out", str(out), "--no-progress", "--overwrite"]) == 2
    error = capsys.readouterr().err
    assert "was not made by growsim" in error and "--overwrite" not in error
    assert [p.name for p in (out / "tinysweep").iterdir()] == ["thesis.tex"]
    # a member's directory is someone else's: that member fails, untouched; nothing else is lost
    other = tmp_path / "other"
    member = other / "tinysweep" / "breadth.weight=0"
    member.mkdir(parents=True)
    (other / "tinysweep" / SWEEP_MARKER).write_text("")
    (member / "data.csv").write_text("1,2,3")
    assert main(["sweep", str(spec), "--out", str(other), "--no-progress", "--overwrite"]) == 1
    assert "was not made by growsim" in capsys.readouterr().err
    assert [p.name for p in member.iterdir()] == ["data.csv"]
