"""Start, refuse, replace or resume a run in its directory, and write its summary."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from growsim.errors import RunError
from growsim.files import (
    CHECKPOINT_NAME,
    IDENTITY_NAME,
    SPEC_NAME,
    SUMMARY_NAME,
    jsonable,
    make_writable_directory,
    write_text_atomically,
)
from growsim.integrity import (
    RunIdentity,
    new_identity,
    read_identity,
    read_json,
    spec_sha256,
    verify_store,
    write_identity,
)
from growsim.locks import exclusive_lock
from growsim.model import memory
from growsim.record.per_image import write_per_image
from growsim.record.recorder import FanOutRecorder, TrajectoryRecorder
from growsim.record.trajectory import committed_checkpoints, truncate
from growsim.runs.directories import claim_run_directory, clear_run_directory, holds_own_files
from growsim.spec import Spec, parse_stored_spec, spec_to_yaml
from growsim.threads import checked_threads
from growsim.train.checkpoint_state import Recorder
from growsim.train.run_data import resolve_device
from growsim.train.timing import timed
from growsim.train.trainer import Trainer

logger = logging.getLogger(__name__)


def run_experiment(
    spec: Spec,
    run_dir: Path,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    recorders: Sequence[Recorder] = (),
) -> dict:
    """Train ``spec`` in ``run_dir``; returns the final summary (also saved as summary.json).

    A run that wrote a checkpoint is refused unless ``resume`` (continue from its last
    checkpoint, with the same spec; a finished run is left as it is) or ``overwrite``
    (replace it) is given; one that never wrote a checkpoint is started again. Only a
    directory growsim made is written into, and only growsim's own files are deleted (see
    growsim.runs.directories). A lock beside the directory refuses a second process that tries
    to write the same run. ``recorders`` also receive every checkpoint besides the trajectory
    (e.g. growsim.record.tensorboard). Notes for the user go to the ``growsim`` logger.
    """
    run_dir = Path(run_dir)
    make_writable_directory(run_dir.parent, "the run directory")
    lock = run_dir.parent / f".{run_dir.name}.lock"
    with exclusive_lock(lock, wait=False, holder=f"run {run_dir}"):
        return _run_locked(spec, run_dir, resume, overwrite, progress, recorders)


def _run_locked(
    spec, run_dir: Path, resume: bool, overwrite: bool, progress: bool, recorders
) -> dict:
    # Limits the machine sets, before the directory is touched or any data loaded
    checked_threads(spec.training.threads)
    memory.check_data_fits(spec, memory.available_bytes(resolve_device(spec.training.device)))
    claim_run_directory(run_dir)
    spec_text = spec_to_yaml(spec)
    started = (run_dir / CHECKPOINT_NAME).exists()
    if started and not (resume or overwrite):
        raise RunError(
            f"{run_dir}: a run already exists here. Continue it with --resume, replace it "
            "with --overwrite, or pick another name with --name."
        )
    resuming = resume and started
    if resuming:
        stored = (run_dir / SPEC_NAME).read_text() if (run_dir / SPEC_NAME).exists() else None
        if stored is not None and not same_experiment(stored, spec, str(run_dir / SPEC_NAME)):
            raise RunError(
                f"{run_dir}: --resume with a spec that differs from the run's spec.yaml. "
                "Resume with the same spec and overrides (training.threads and "
                "record.write_seconds may differ), or start a new run with --name."
            )
        identity = _stored_identity(run_dir, spec)
        if (run_dir / SUMMARY_NAME).exists():  # written last: the run is complete
            logger.info("%s: the run has finished; nothing to resume", run_dir)
            return read_json(
                run_dir / SUMMARY_NAME, "the run's summary", "start the run again with --overwrite"
            )
    else:
        if not started and holds_own_files(run_dir) and not overwrite:
            logger.info("%s: holds no checkpoint (an earlier attempt stopped before its first); "
                        "starting it again", run_dir)  # fmt: skip
        clear_run_directory(run_dir)
        identity = new_identity(experiment_text(spec), spec.training.seed)
        write_identity(run_dir, identity)
        write_text_atomically(run_dir / SPEC_NAME, spec_text)

    recorder = TrajectoryRecorder.in_run_directory(run_dir, identity.attrs())
    every = FanOutRecorder(recorder, *recorders) if recorders else recorder
    trainer = Trainer(spec, run_dir, progress=progress, recorder=every, identity=identity)
    if resuming:
        trainer.load_checkpoint()
        _check_trajectory(recorder.path, identity)
        if committed_checkpoints(recorder.path) < trainer.checkpoints_written:
            raise RunError(
                f"{recorder.path}: holds fewer checkpoints than checkpoint.pt says were "
                "written; the run directory was altered by hand. Start again with --overwrite."
            )
        truncate(recorder.path, trainer.checkpoints_written)
        logger.info(
            "%s: resuming from iteration %d of %d",
            run_dir,
            trainer.iteration,
            trainer.total_iterations,
        )
    summary = trainer.run()
    spent = summary["time_spent"] = {**summary["time_spent"], "per_image": 0.0}
    timed(spent, "per_image", write_per_image, trainer, run_dir)
    # both clocks over the same span, the per-image pass's too; CPU seconds only where the
    # process trained this run alone (a Dask worker of several threads runs members at once)
    summary["seconds"], summary["cpu_seconds"] = trainer.clock.wall(), trainer.clock.cpu()
    if summary["cpu_seconds"] is None or _shares_its_process():
        del summary["cpu_seconds"]
    # What the run spent besides training steps, as a fraction of them (docs/benchmarks.md)
    summary["overhead"] = (spent["checkpoints"] + spent["per_image"]) / max(spent["training"], 1e-9)
    summary["run_dir"] = str(run_dir)
    summary.update(identity.attrs())
    write_text_atomically(run_dir / SUMMARY_NAME, json.dumps(jsonable(summary), indent=2))
    return summary


def experiment_text(spec: Spec) -> str:
    """The spec's YAML without the keys that are not part of the experiment (the machine's
    threads, how often the disk is written): what the run identity hashes."""
    return spec_to_yaml(replace(
        spec, training=replace(spec.training, threads=None), record=replace(spec.record, write_seconds=30.0),
    ))  # fmt: skip


def _stored_identity(run_dir: Path, spec: Spec) -> RunIdentity:
    """The identity of the run being resumed, checked against the spec it resumes with."""
    identity = read_identity(run_dir)
    if identity is None:
        raise RunError(
            f"{run_dir}: has no {IDENTITY_NAME}, so its files cannot be told from another run's "
            "(it was written by an older growsim, or the file was deleted). Start it again "
            "with --overwrite."
        )
    if identity.spec_sha256 != spec_sha256(experiment_text(spec)):
        raise RunError(
            f"{run_dir / IDENTITY_NAME}: records another spec than the run's spec.yaml (its "
            "hash differs); the directory was altered. Start it again with --overwrite."
        )
    return identity


def _check_trajectory(path: Path, identity: RunIdentity) -> None:
    """A trajectory store to append to: intact, and this run's."""
    if not (path / ".zmetadata").exists():
        return  # nothing committed yet: the checkpoint count check below decides
    remedy = "the run cannot continue; start it again with --overwrite"
    verify_store(path, "the trajectory", remedy)
    import zarr

    stored = zarr.open_group(str(path), mode="r", zarr_format=2, use_consolidated=True).attrs.get(
        "run_id"
    )
    identity.check_owns(path, "trajectory", stored)


def same_experiment(stored_text: str, spec: Spec, source: str = SPEC_NAME) -> bool:
    """True when ``spec`` asks for the run ``stored_text`` describes: every key equal except
    ``training.threads`` and ``record.write_seconds`` (how many cores a machine lends and how
    often the disk is written are not part of the experiment)."""
    stored = parse_stored_spec(stored_text, source)
    same_machine = replace(
        spec, training=replace(spec.training, threads=stored.training.threads),
        record=replace(spec.record, write_seconds=stored.record.write_seconds),
    )  # fmt: skip
    return spec_to_yaml(same_machine) == spec_to_yaml(stored)


def _shares_its_process() -> bool:
    """Whether this runs in a Dask worker of several threads (members at once in one process,
    whose CPU seconds are not one member's)."""
    try:
        from distributed import get_worker

        return get_worker().state.nthreads > 1
    except (ImportError, ValueError):  # no distributed, or not in a worker
        return False
