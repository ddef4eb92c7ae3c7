"""Run and sweep directories: where growsim may write, and what it may delete.

growsim writes a marker file into every directory it makes for a run (``.growsim-run``) or a
sweep (``.growsim-sweep``) before anything else. It writes only into a directory that is
new or empty, holds its marker, or was made by an older growsim (a run directory holding
nothing but growsim's own files; a sweep directory with ``sweep.yaml`` and ``sweep.json``).
Replacing a run (``--overwrite``, or restarting one that never wrote a checkpoint) deletes
only growsim's own files in it: whatever else is there stays.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from growsim.errors import RunError, SpecError
from growsim.files import (
    CHECKPOINT_NAME,
    EMERGENCE_NAME,
    FINAL_OUTPUTS_NAME,
    IDENTITY_NAME,
    MODELS_DIRECTORY,
    PER_IMAGE_NAME,
    PREDICTIONS_DIRECTORY,
    REPORT_DIRECTORY,
    REPORT_NAME,
    SPEC_NAME,
    SUMMARY_NAME,
    SWEEP_SPEC_NAME,
    SWEEP_STATUS_NAME,
    TRAJECTORY_NAME,
    make_writable_directory,
    write_text_atomically,
)
from growsim.spec import Spec, run_name_problem

RUN_MARKER = ".growsim-run"
SWEEP_MARKER = ".growsim-sweep"
MARKER_TEXT = (
    "This directory was made by growsim. growsim writes here, and deletes only the files it\n"
    "wrote itself (never anything else you put here).\n"
)

# What growsim writes into a run directory (runs, per-image results, interrupted writes).
RUN_FILES = (
    SPEC_NAME, TRAJECTORY_NAME, CHECKPOINT_NAME, f"{CHECKPOINT_NAME}.partial", SUMMARY_NAME,
    PER_IMAGE_NAME, f".{PER_IMAGE_NAME}.partial", f".{PER_IMAGE_NAME}.old", IDENTITY_NAME,
    MODELS_DIRECTORY, EMERGENCE_NAME, FINAL_OUTPUTS_NAME, PREDICTIONS_DIRECTORY,
)  # fmt: skip
RUN_FILE_PREFIXES = (
    f".{SPEC_NAME}.partial-", f".{SUMMARY_NAME}.partial-", ".write-test-", f".{IDENTITY_NAME}.partial-",
)  # fmt: skip
# What ``growsim report`` writes into ``<run>/report/`` by default.
REPORT_FILES = (
    REPORT_NAME, "growth.png", "occlusion.png", "difficulty.png", "tradeoff.png", "complexity.png",
    "response.png", "speed_accuracy.png",
)  # fmt: skip


def run_directory(spec: Spec, out_root: str | Path, name: str | None = None) -> Path:
    """``out_root/<name or spec.name>``; a name must be one path component."""
    if name is not None:
        problem = run_name_problem(name)
        if problem:
            raise SpecError(f"--name {name!r}: a run name {problem}")
    return Path(out_root) / (name if name is not None else spec.name)


def claim_run_directory(run_dir: Path) -> None:
    """Make ``run_dir`` (marker first) or check that growsim may write into it.

    RunError, saying why and what to do instead, for a file, a sweep directory, or a
    directory growsim did not make.
    """
    _claim(Path(run_dir), RUN_MARKER, _older_run, "run", "pick another name with --name")


def claim_sweep_directory(sweep_dir: Path) -> None:
    """Make ``sweep_dir`` (marker first) or check that growsim may write into it."""
    _claim(
        Path(sweep_dir), SWEEP_MARKER, _older_sweep, "sweep",
        "rename the sweep (name: in the spec) or choose another --out",
    )  # fmt: skip


def clear_run_directory(run_dir: Path) -> None:
    """Delete growsim's own files in ``run_dir``: never its marker, never anything else."""
    run_dir = Path(run_dir)
    for entry in run_dir.iterdir():
        if entry.name in RUN_FILES or entry.name.startswith(RUN_FILE_PREFIXES):
            _remove(entry)
    report = run_dir / REPORT_DIRECTORY
    if report.is_dir() and not report.is_symlink():
        for name in REPORT_FILES:
            if (report / name).is_file() or (report / name).is_symlink():
                (report / name).unlink()
        if not any(report.iterdir()):
            report.rmdir()


def holds_own_files(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds any file growsim writes for a run (besides its marker)."""
    return any(
        entry.name in RUN_FILES or entry.name.startswith(RUN_FILE_PREFIXES)
        for entry in Path(run_dir).iterdir()
    )


# --------------------------------------------------------------------------- internals


def _claim(directory: Path, marker: str, made_by_older_growsim, kind: str, fix: str) -> None:
    if directory.exists() and not directory.is_dir():
        raise RunError(f"{directory}: is a file, not a {kind} directory; {fix}.")
    entries = {entry.name for entry in directory.iterdir()} if directory.exists() else set()
    entries = {name for name in entries if not _is_lock(name)}  # growsim's own lock files
    other_marker, other_kind = (
        (SWEEP_MARKER, "sweep") if marker == RUN_MARKER else (RUN_MARKER, "run")
    )
    if other_marker in entries:
        raise RunError(
            f"{directory}: is a growsim {other_kind} directory, not a {kind} directory; {fix}."
        )
    if marker in entries:
        return
    if entries and not made_by_older_growsim(entries):
        raise RunError(
            f"{directory}: exists and was not made by growsim (it has no {marker} file), so "
            f"growsim will not write into it or delete anything in it; {fix}, or move the "
            "directory away."
        )
    make_writable_directory(directory, f"the {kind} directory")
    write_text_atomically(directory / marker, MARKER_TEXT)


def _older_run(entries: set[str]) -> bool:
    """A run directory of a growsim from before markers: growsim's own files and nothing else."""
    own = {
        name for name in entries
        if name in RUN_FILES or name.startswith(RUN_FILE_PREFIXES) or name == REPORT_DIRECTORY
    }  # fmt: skip
    return SPEC_NAME in entries and own == entries


def _older_sweep(entries: set[str]) -> bool:
    """A sweep directory of a growsim from before markers."""
    return {SWEEP_SPEC_NAME, SWEEP_STATUS_NAME} <= entries


def _is_lock(name: str) -> bool:
    """A lock file growsim keeps beside a run (``.<run>.lock``) or a combine (``.combine.lock``)."""
    return name.startswith(".") and name.endswith(".lock")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
