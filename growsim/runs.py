"""Run directories: start, refuse, overwrite or resume a run, and write its summary."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from growsim.errors import RunError
from growsim.files import jsonable, write_text_atomically
from growsim.locks import exclusive_lock
from growsim.per_image import write_per_image
from growsim.record import committed_checkpoints, truncate
from growsim.spec import Spec, spec_to_yaml
from growsim.train import Trainer


def run_directory(spec: Spec, out_root: str | Path, name: str | None = None) -> Path:
    """``out_root/<name or spec.name>``."""
    return Path(out_root) / (name or spec.name)


def run_experiment(
    spec: Spec,
    run_dir: Path,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Train ``spec`` in ``run_dir``; returns the final summary (also saved as summary.json).

    An existing run directory is refused unless ``resume`` (continue from its last
    checkpoint, with the same spec) or ``overwrite`` (delete it first) is given. A lock
    beside the directory refuses a second process that tries to write the same run.
    """
    run_dir = Path(run_dir)
    _make_writable_directory(run_dir.parent)
    lock = run_dir.parent / f".{run_dir.name}.lock"
    with exclusive_lock(lock, wait=False, holder=f"run {run_dir}"):
        return _run_locked(spec, run_dir, resume, overwrite, progress)


def _run_locked(spec: Spec, run_dir: Path, resume: bool, overwrite: bool, progress: bool) -> dict:
    spec_text = spec_to_yaml(spec)
    existing = run_dir.exists() and any(run_dir.iterdir())
    if existing and not (resume or overwrite):
        raise RunError(
            f"{run_dir}: a run already exists here. Continue it with --resume, replace it "
            "with --overwrite, or pick another name with --name."
        )
    if existing and overwrite and not resume:
        shutil.rmtree(run_dir)
    _make_writable_directory(run_dir)
    resuming = resume and (run_dir / "checkpoint.pt").exists()
    if resuming:
        stored = (run_dir / "spec.yaml").read_text() if (run_dir / "spec.yaml").exists() else None
        if stored is not None and stored != spec_text:
            raise RunError(
                f"{run_dir}: --resume with a spec that differs from the run's spec.yaml. "
                "Resume with the same spec and overrides, or start a new run with --name."
            )
    else:
        for stale in ("trajectory.zarr", "checkpoint.pt", "summary.json", "per_image.zarr"):
            target = run_dir / stale
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        write_text_atomically(run_dir / "spec.yaml", spec_text)

    trainer = Trainer(spec, run_dir, progress=progress)
    if resuming:
        trainer.load_checkpoint()
        if committed_checkpoints(trainer.trajectory_path) < trainer.checkpoints_written:
            raise RunError(
                f"{trainer.trajectory_path}: holds fewer checkpoints than checkpoint.pt says were "
                "written; the run directory was altered by hand. Start again with --overwrite."
            )
        truncate(trainer.trajectory_path, trainer.checkpoints_written)
    summary = trainer.run()
    write_per_image(trainer, run_dir)
    summary["run_dir"] = str(run_dir)
    write_text_atomically(run_dir / "summary.json", json.dumps(jsonable(summary), indent=2))
    return summary


def _make_writable_directory(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise RunError(
            f"{run_dir}: cannot write the run directory ({error.strerror or error}). "
            "Choose a writable place with --out DIR."
        ) from None
