"""What a run spends besides training, per shipped spec at its default ``record`` settings.

For each spec in ``specs/`` (a sweep spec: its first member) whose data is on this machine,
at the spec's initial box and at its largest (a run spends its time in between): the seconds of one
training iteration, of one checkpoint (validation, trajectory values, topology; kept in
memory), of one write (the trajectory rows and ``checkpoint.pt``, at most every
``record.write_seconds``) and of the end-of-run work (test-set evaluation,
``per_image.zarr`` with its pixel-regression reference). The run's overhead is

    per checkpoint:  (checkpoints x (checkpoint seconds + seconds a row)
                      + writes x (seconds of a one-row write - seconds a row))
                     / (iterations x iteration seconds)
    end of run:      end-of-run seconds / (iterations x iteration seconds)

with writes = 1 + (training + checkpoint seconds) / write_seconds (at most one per
checkpoint); a write's cost per row is timed from a write of 8 copies of one row. A
checkpoint's cost weighs one that validates every occlusion level against
``record.occluded_every - 1`` that validate the clean one.

These bracket a run, which starts at the initial box and spends most of its time near the
largest; the 15% target is on whole runs: ``measured_run`` times one of the quick spec, and
``recorded_runs`` reads what the runs stored in ``docs/results`` timed of themselves.
Growth checkpoints validate twice (before and after the box changes); the few of them are
left out of the estimates.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from growsim.errors import GrowsimError
from growsim.record.per_image import write_per_image
from growsim.record.recorder import TrajectoryRecorder
from growsim.spec import Spec, load_spec, read_raw_spec, read_spec_text
from growsim.sweep.spec import load_sweep

SPECS = Path(__file__).parents[1] / "specs"


def shipped_specs(quick: bool) -> list[tuple[str, Spec | str]]:
    """(file name, spec) of every shipped spec, or (file name, why it is skipped)."""
    found = []
    for path in sorted(SPECS.glob("*.yaml")):
        if quick and path.name != "quick.yaml":
            continue
        try:
            if "sweep" in read_raw_spec(read_spec_text(path), str(path))[0]:
                spec = load_sweep(path, check_files=True).members[0].spec
            else:
                spec = load_spec(path, check_files=True)
        except GrowsimError as error:
            found.append((path.name, f"skipped: {str(error).splitlines()[0][:90]}"))
            continue
        found.append((path.name, spec))
    return found


def spec_overhead(spec: Spec, largest: bool, steps: int = 10) -> dict[str, float]:
    """Seconds per iteration, per checkpoint and at the end of a run, at the spec's largest
    box (or its initial one), and the overhead fractions they imply for the whole run."""
    from growsim.train.trainer import Trainer

    with TemporaryDirectory() as directory:
        recorder = TrajectoryRecorder.in_run_directory(directory)
        trainer = Trainer(spec, Path(directory), progress=False, recorder=recorder)
        if largest:
            trainer._grow(trainer.max_box)
        later = trainer.total_iterations // 2  # costs at full weight: the pressure step runs
        for iteration in range(later, later + 3):
            trainer.train_step(iteration)
        trainer.losses.wait_for_device()  # on CUDA a step only queues its work
        started = time.perf_counter()
        for iteration in range(later, later + steps):
            trainer.train_step(iteration)
        trainer.losses.wait_for_device()
        step = (time.perf_counter() - started) / steps
        trainer.saver.write_seconds = math.inf  # write only when told: timed apart
        trainer.checkpoint(grow=False)
        trainer.saver.write_unsaved()  # creates the store: a one-off, not timed
        # One in record.occluded_every checkpoints validates every occlusion level, the
        # others the clean one: a checkpoint's mean cost weighs the two kinds so.
        every = spec.record.occluded_every
        trainer.checkpoints_written = every  # the next one validates every level
        every_level = _timed_checkpoint(trainer)
        clean = _timed_checkpoint(trainer) if every > 1 else every_level
        checkpoint = (every_level + (every - 1) * clean) / every
        row = recorder.pending[-1]
        one_row = _timed_write(trainer, row, copies=1)  # trajectory rows and checkpoint.pt
        more_rows = _timed_write(trainer, row, copies=1 + EXTRA_ROWS)
        per_row = max(more_rows - one_row, 0.0) / EXTRA_ROWS
        started = time.perf_counter()
        trainer.checkpoint(grow=False, final=True)
        write_per_image(trainer, Path(directory))
        final = time.perf_counter() - started - checkpoint - one_row
    iterations = trainer.total_iterations
    checkpoints = -(-iterations // spec.record.every) + 1  # and the last, if off the grid
    training = iterations * step
    every = spec.record.write_seconds
    before_end = training + checkpoints * checkpoint
    writes = checkpoints if every == 0 else min(checkpoints, 1 + int(before_end // every))
    # Each write costs a fixed part (checkpoint.pt, the store's metadata) and a part per row.
    spent = checkpoints * (checkpoint + per_row) + writes * (one_row - per_row)
    return {
        "iteration_seconds": step,
        "checkpoint_seconds": checkpoint,
        "write_seconds": one_row,
        "row_seconds": per_row,
        "writes": writes,
        "end_seconds": final,
        "per_checkpoint": spent / training,
        "end_of_run": final / training,
        "whole": (spent + final) / training,
    }


EXTRA_ROWS = 7


def _timed_checkpoint(trainer) -> float:
    """Seconds of one checkpoint (no growth; kept in memory)."""
    started = time.perf_counter()
    trainer.checkpoint(grow=False)
    return time.perf_counter() - started


def _timed_write(trainer, row: tuple, copies: int) -> float:
    """Seconds of one write of the trajectory ``row`` repeated ``copies`` times (a write of
    that many rows; the store is thrown away) and of ``checkpoint.pt``."""
    trainer.recorder.pending = [row] * copies
    contents = trainer._checkpoint_contents()
    started = time.perf_counter()
    trainer.saver.taken(contents, write=True)
    return time.perf_counter() - started


def measured_run(spec_name: str = "quick.yaml") -> dict[str, float]:
    """A whole run of a spec, timed by part as every run times itself (summary.json's
    ``time_spent``): training steps, checkpoints (growth checks, evaluation, recording,
    topology, writes), per_image; and the whole."""
    from growsim.runs.experiment import run_experiment

    spec = load_spec(SPECS / spec_name)
    with TemporaryDirectory() as directory:
        started = time.perf_counter()
        summary = run_experiment(spec, Path(directory) / "run", progress=False)
        whole = time.perf_counter() - started
    return {**summary["time_spent"], "whole": whole}


RECORDED = {  # spec -> the stored runs of it (a run directory or a sweep's sweep.json)
    "complexity.yaml": "docs/results/complexity/sweep.json",
    "occlusion.yaml": "docs/results/occlusion/seed-*/summary.json",
    "quick.yaml": "docs/results/quick/summary.json",
    "response.yaml": "docs/results/response/sweep.json",
    "tradeoff.yaml": "docs/results/tradeoff/sweep.json",
}


def recorded_runs() -> list[dict]:
    """Per shipped spec, the whole-run overhead its stored runs timed of themselves
    (summary.json's ``overhead``: (checkpoints + per_image) / training): the largest over
    its runs or sweep members, and how many recorded it."""
    root = SPECS.parent
    result = []
    for name, pattern in RECORDED.items():
        summaries = []
        for path in sorted(root.glob(pattern)):
            data = json.loads(path.read_text())
            if "members" in data:
                summaries += [m["summary"] for m in data["members"] if m.get("summary")]
            else:
                summaries.append(data)
        overheads = [s["overhead"] for s in summaries if "overhead" in s]
        detail = (f"{len(overheads)} of {len(summaries)} stored runs timed themselves"
                  f" ({pattern})")  # fmt: skip
        result.append({"measure": f"whole-run overhead recorded by the stored runs of {name}: largest",
                       "value": max(overheads) if overheads else None, "unit": "fraction",
                       "target": "<= 0.15", "detail": detail})  # fmt: skip
    return result


def rows(quick: bool = False) -> list[dict]:
    """Overhead rows for every shipped spec (``quick``: the quick spec only)."""
    result = []
    for name, spec in shipped_specs(quick):
        if isinstance(spec, str):
            result.append({"measure": f"run overhead, {name}", "value": None, "unit": "",
                           "target": "", "detail": spec})  # fmt: skip
            continue
        lattice = spec.lattice
        for largest in (False, True):
            figures = spec_overhead(spec, largest, steps=5 if quick else 10)
            box = (
                f"{lattice.layers.max} x {lattice.channels.max} x {lattice.steps.max}"
                if largest
                else f"{lattice.layers.initial} x {lattice.channels.initial} x {lattice.steps.initial}"
            )
            detail = (f"{figures['iteration_seconds'] * 1e3:.0f} ms per iteration, "
                      f"{figures['checkpoint_seconds']:.2f} s per checkpoint (every "
                      f"{spec.record.every}), {figures['write_seconds']:.2f} s per write of one row "
                      f"+ {figures['row_seconds'] * 1e3:.0f} ms a row "
                      f"({figures['writes']} in a run), {figures['end_seconds']:.1f} s at the end")  # fmt: skip
            where = "largest" if largest else "initial"
            result.append({"measure": f"run overhead (checkpoints + end of run) / training time, {name}, "
                           f"whole run at its {where} box {box}",
                           "value": figures["whole"], "unit": "fraction", "target": "",
                           "detail": detail})  # fmt: skip
            result.append({"measure": f"run overhead per checkpoint / training time, {name}, {where} box",
                           "value": figures["per_checkpoint"], "unit": "fraction", "target": ""})  # fmt: skip
            result.append({"measure": f"run overhead at the end (test sets, per_image) / training time, {name}, {where} box",
                           "value": figures["end_of_run"], "unit": "fraction", "target": ""})  # fmt: skip
    result += recorded_runs()
    if not quick:
        whole = measured_run()
        other = whole["whole"] - whole["training"] - whole["checkpoints"] - whole["per_image"]
        result.append({"measure": "whole quick run measured: (checkpoints + per_image) / training iterations",
                       "value": (whole["checkpoints"] + whole["per_image"]) / whole["training"],
                       "unit": "fraction", "target": "<= 0.15",
                       "detail": f"training {whole['training']:.1f} s, checkpoints "
                       f"{whole['checkpoints']:.1f} s, per_image {whole['per_image']:.1f} s, "
                       f"set-up {other:.1f} s"})  # fmt: skip
    return result
