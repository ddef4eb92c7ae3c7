"""What growsim's files are called, and how they reach the disk.

The names below are the one place each file name of a run, sweep or prediction directory is
written down; every module that reads or writes one imports it from here. Every file growsim
writes whole goes through ``write_atomically``: written beside its target, flushed to the
disk (fsync), renamed into place and the rename itself flushed, so a reader, a crash or a
power cut sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from growsim.errors import RunError

# A run directory (growsim.runs.directories lists which of them growsim may delete).
SPEC_NAME = "spec.yaml"  # the resolved spec, every default filled in
CHECKPOINT_NAME = "checkpoint.pt"  # the latest model, optimiser and position
SUMMARY_NAME = "summary.json"  # written last: the run has finished
TRAJECTORY_NAME = "trajectory.zarr"  # the growth trajectory
PER_IMAGE_NAME = "per_image.zarr"  # the final model on every test image
IDENTITY_NAME = "run.json"  # the run's identity (growsim.integrity)
MODELS_DIRECTORY = "models"  # record.keep_models: the model of every checkpoint
EMERGENCE_NAME = "emergence.json"  # the findings' measures at every checkpoint (analysis.emergence)
RESOURCES_NAME = "resources.json"  # the competent protocol: resources over training, per run
DIFFICULTY_NAME = (
    "difficulty.npz"  # per dataset of the competent protocol's results (analysis.difficulty)
)
FINAL_OUTPUTS_NAME = "final_outputs.npz"  # the final model's per-image outputs (analysis.emergence)
# A sweep directory.
SWEEP_SPEC_NAME = "sweep.yaml"  # the sweep's spec as given
SWEEP_STATUS_NAME = "sweep.json"  # every member's status
COMBINED_NAME = "sweep.zarr"  # every member's trajectory along a run dim
# What ``growsim predict`` and ``growsim report`` write.
PREDICTIONS_DIRECTORY = "predictions"  # <run>/predictions/<one folder per kind of call>/
PREDICTIONS_NAME = "predictions.zarr"
PREDICTIONS_CSV = "predictions.csv"
REPORT_DIRECTORY = "report"  # <run>/report/ unless --out says otherwise
REPORT_NAME = "report.md"


def make_writable_directory(path: Path, what: str) -> None:
    """Create ``path`` (with parents) and check that files can be written in it; a RunError
    naming ``what`` ("the run directory", "the report") when not."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise RunError(
            f"{path}: cannot write {what} ({error.strerror or error}). "
            "Choose a writable place with --out DIR."
        ) from None


def write_atomically(
    path: Path, write: Callable[[Path], None], temporary: Path | None = None
) -> Path:
    """Make ``path`` a file or directory whole or not at all: ``write(temporary)`` fills a
    temporary beside it (default ``.<name>.partial-<pid>-<random>``), which is flushed to
    the disk and renamed over ``path``; returns ``path``. A directory already at ``path``
    is moved to ``.<name>.old`` just before the rename and deleted after it. On failure the
    temporary is removed and the error raised."""
    path = Path(path)
    if temporary is None:
        temporary = path.with_name(f".{path.name}.partial-{os.getpid()}-{secrets.token_hex(4)}")
    retired = path.with_name(f".{path.name}.old")
    try:
        write(temporary)
        flush_to_disk(temporary)
        if path.is_dir() and not path.is_symlink():  # a directory cannot be renamed over
            _remove(retired)
            os.replace(path, retired)
        os.replace(temporary, path)
        _flush_to_disk_directory(path.parent)
    except BaseException:
        _remove(temporary)
        raise
    _remove(retired)
    return path


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see ``write_atomically``); a RunError when the
    disk refuses."""
    path = Path(path)
    try:
        write_atomically(path, lambda temporary: temporary.write_text(text))
    except OSError as error:
        raise RunError(f"{path}: could not write ({error.strerror or error})") from None


def write_zarr_atomically(dataset, target: Path) -> Path:
    """Write an xarray Dataset as a zarr (v2, consolidated) store at ``target``: built beside
    it (``.<name>.partial``), flushed and renamed into place, so readers see the old store or
    the new one, never a mix."""
    target = Path(target)
    partial = target.with_name(f".{target.name}.partial")
    _remove(partial)  # left by a process that was killed while writing

    def write(temporary: Path) -> None:
        with writing_every_chunk():  # every chunk with a CRC-32C: growsim.integrity.verify_store
            dataset.to_zarr(
                temporary,
                mode="w",
                consolidated=True,
                zarr_format=2,
                encoding=checksum_encoding(dataset),
            )

    return write_atomically(target, write, partial)


def point_link_atomically(link: Path, target_name: str) -> None:
    """Make ``link`` a symbolic link to ``target_name`` (a sibling) in one atomic rename (a
    plain directory there, from an older growsim, is replaced)."""
    write_atomically(link, lambda temporary: os.symlink(target_name, temporary))


def jsonable(value):
    """``value`` with dataclasses as dicts and tuples as lists, ready for ``json.dumps``."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return jsonable(value.__dict__)
    return value


def flush_to_disk(path: Path) -> None:
    """fsync a file, or every file and directory of a tree (a symbolic link: nothing to
    flush but its directory entry, which the rename's directory flush covers)."""
    if path.is_symlink():
        return
    if path.is_file():
        with open(path, "rb") as stream:
            os.fsync(stream.fileno())
        return
    for root, _, names in os.walk(path):
        for name in names:
            with open(Path(root) / name, "rb") as stream:
                os.fsync(stream.fileno())
        _flush_to_disk_directory(Path(root))


# --------------------------------------------------------------------------- internals


def _flush_to_disk_directory(directory: Path) -> None:
    """fsync a directory, so the names created or renamed in it are on the disk too (a file
    system that cannot open directories for this is left alone)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def checksum_encoding(dataset) -> dict:
    """zarr (v2) encoding that adds a CRC-32C filter to every variable that can take one."""
    from numcodecs import CRC32C

    return {
        name: {"filters": [CRC32C()]}
        for name, variable in dataset.variables.items()
        if variable.dtype.kind in "biufcSUM"
    }


@contextmanager
def writing_every_chunk() -> Iterator[None]:
    """Within the block, zarr writes chunks that hold only the fill value too, so a missing
    chunk always means a lost one."""
    import zarr

    with zarr.config.set({"array.write_empty_chunks": True}):
        yield
