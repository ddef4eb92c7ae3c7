"""Files that can be checked: a run's identity, self-checksummed binary files, zarr stores
whose chunks carry a CRC-32C, and readers that turn a corrupt file into a clean error.

- **Run identity** (``run.json``): a random id made when a run starts, the sha256 of its
  resolved spec and its seed. The checkpoint, the trajectory's attributes and summary.json
  carry the same id, so a file of another run is recognised.
- **Checksummed files** (checkpoint.pt, kept models): a header line, the sha256 of the
  payload, then the payload. One file, written by rename: a reader sees the old file or the
  new one, and a truncated, flipped or foreign file fails the check.
- **zarr stores** (trajectory, per-image results): every chunk is written with a CRC-32C
  (growsim.files.checksum_encoding)
  filter (numcodecs), and empty chunks are written too, so ``verify_store`` finds a flipped
  byte (the CRC), a deleted chunk (a chunk key missing) and garbled metadata.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from growsim.errors import RunError
from growsim.files import IDENTITY_NAME

CHECKSUM_HEADER = b"growsim checksummed file 1\n"  # then 64 hex digits, a newline, the payload


@dataclass(frozen=True)
class RunIdentity:
    """What makes a run this run: a random id, its spec's hash and its seed."""

    run_id: str
    spec_sha256: str
    seed: int

    def attrs(self) -> dict:
        """As attributes of a store or keys of a summary."""
        return asdict(self)

    def check_owns(self, path: Path, what: str, found_run_id) -> None:
        """A RunError unless the ``what`` at ``path``, which names run ``found_run_id``, is
        this run's."""
        if found_run_id != self.run_id:
            raise RunError(
                f"{path}: is the {what} of run {found_run_id!r}, not of this directory's run "
                f"{self.run_id!r} ({IDENTITY_NAME}): it was copied from another run. Put back "
                f"this run's own file, or start the run again with --overwrite."
            )


def spec_sha256(spec_text: str) -> str:
    """The hash of a resolved spec's YAML text."""
    return hashlib.sha256(spec_text.encode()).hexdigest()


def new_identity(spec_text: str, seed: int) -> RunIdentity:
    """A fresh identity for a run that starts now."""
    return RunIdentity(secrets.token_hex(8), spec_sha256(spec_text), seed)


def write_identity(run_dir: Path, identity: RunIdentity) -> None:
    """Write ``run_dir/run.json`` atomically."""
    from growsim.files import write_text_atomically

    write_text_atomically(Path(run_dir) / IDENTITY_NAME, json.dumps(
        {**identity.attrs(), "created": time.strftime("%Y-%m-%d %H:%M:%S")}, indent=2))  # fmt: skip


def read_identity(run_dir: Path) -> RunIdentity | None:
    """The identity in ``run_dir/run.json`` (None when the run has none: an older growsim)."""
    path = Path(run_dir) / IDENTITY_NAME
    if not path.exists():
        return None
    stored = read_json(path, "the run's identity", "start the run again with --overwrite")
    try:
        return RunIdentity(str(stored["run_id"]), str(stored["spec_sha256"]), int(stored["seed"]))
    except (KeyError, TypeError, ValueError):
        raise RunError(f"{path}: is not a growsim run identity (keys run_id, spec_sha256, seed); "
                       "start the run again with --overwrite") from None  # fmt: skip


def read_json(path: Path, what: str, remedy: str):
    """The JSON in ``path``; a RunError naming ``what`` and the ``remedy`` when it is
    missing, unreadable or not JSON."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RunError(f"{path}: missing ({what}); {remedy}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunError(
            f"{path}: {what} is unreadable or corrupt ({_reason(error)}); {remedy}"
        ) from None


# ------------------------------------------------------------------ checksummed files


def write_checksummed(path: Path, payload: bytes, before_rename=None) -> None:
    """Write ``payload`` with its sha256 to ``path`` through a temporary file, fsync and a
    rename; ``before_rename`` (if given) runs between the two (the crash tests' fault point)."""
    path = Path(path)
    temporary = path.with_name(f"{path.name}.partial")
    digest = hashlib.sha256(payload).hexdigest().encode()
    try:
        with open(temporary, "wb") as stream:
            stream.write(CHECKSUM_HEADER + digest + b"\n")
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        if before_rename is not None:
            before_rename()
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def read_checksummed(path: Path, what: str, remedy: str) -> bytes:
    """The payload of a file written by ``write_checksummed``, after checking its sha256; a
    RunError naming ``what`` and the ``remedy`` when it is missing, truncated, altered or
    not such a file."""
    path = Path(path)
    try:
        content = path.read_bytes()
    except OSError as error:
        raise RunError(f"{path}: cannot read {what} ({_reason(error)}); {remedy}") from None
    header_end = len(CHECKSUM_HEADER) + 65
    if not content.startswith(CHECKSUM_HEADER) or len(content) < header_end:
        kind = (
            "empty"
            if not content
            else "not a checksummed growsim file (corrupt, or written by another version)"
        )
        raise RunError(f"{path}: {what} is {kind}; {remedy}")
    digest, payload = content[len(CHECKSUM_HEADER) : header_end - 1], content[header_end:]
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        raise RunError(
            f"{path}: {what} fails its checksum (truncated or altered on disk); {remedy}"
        )
    return payload


# ------------------------------------------------------------------ zarr stores


def verify_store(path: Path, what: str, remedy: str) -> None:
    """Check a zarr (v2) store: its metadata parse, every chunk is present and passes its
    CRC-32C where it has one. A RunError naming ``what`` and the ``remedy`` otherwise."""
    import zarr

    path = Path(path)
    if (path / "zarr.json").exists():
        return  # a zarr v3 store: not written by growsim (its stores are v2), nothing to check
    if not (path / ".zmetadata").exists():
        raise RunError(f"{path}: {what} is missing or incomplete (no .zmetadata); {remedy}")
    try:
        group = zarr.open_group(str(path), mode="r", zarr_format=2, use_consolidated=True)
        for name, array in group.arrays():
            for key in _chunk_keys(array.shape, array.chunks):
                if not (path / name / key).exists():
                    raise RunError(f"{path}: {what} has lost chunk {name}/{key}; {remedy}")
            np.asarray(array[...])  # decodes every chunk: the CRC is checked here
    except RunError:
        raise
    except Exception as error:  # zarr, numcodecs and json raise many kinds for a bad store
        raise RunError(f"{path}: {what} is corrupt ({_reason(error)}); {remedy}") from None


def open_checked_store(path: Path, what: str, remedy: str):
    """``verify_store``, then the store as an xarray Dataset loaded into memory."""
    import xarray as xr

    verify_store(path, what, remedy)
    try:
        with xr.open_zarr(path, consolidated=True, chunks=None) as dataset:
            return dataset.load()
    except Exception as error:
        raise RunError(f"{path}: {what} is corrupt ({_reason(error)}); {remedy}") from None


def _chunk_keys(shape: tuple[int, ...], chunks: tuple[int, ...]) -> list[str]:
    if not shape:
        return ["0"]
    counts = [-(-size // chunk) for size, chunk in zip(shape, chunks)]
    return [".".join(map(str, index)) for index in np.ndindex(*counts)]


def _reason(error: BaseException) -> str:
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return text.splitlines()[0][:200]
