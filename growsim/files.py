"""Small file helpers shared by runs, sweeps and reports: writable directories, atomic text
writes, JSON-ready values."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from growsim.errors import RunError


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


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (never half a file)."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        temporary.write_text(text)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise RunError(f"{path}: could not write ({error.strerror or error})") from None


def write_zarr_atomically(dataset, target: Path) -> Path:
    """Write an xarray Dataset as a zarr (v2, consolidated) store at ``target``: built beside
    it and renamed into place, so readers see the old store or the new one, never a mix."""
    target = Path(target)
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    from growsim.integrity import checksum_encoding, writing_every_chunk

    with writing_every_chunk():  # every chunk with a CRC-32C: growsim.integrity.verify_store
        dataset.to_zarr(partial, mode="w", consolidated=True, zarr_format=2, encoding=checksum_encoding(dataset))
    retired = target.with_name(f".{target.name}.old")
    if target.exists():
        os.replace(target, retired)
    os.replace(partial, target)
    shutil.rmtree(retired, ignore_errors=True)
    return target


def jsonable(value):
    """``value`` with dataclasses as dicts and tuples as lists, ready for ``json.dumps``."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return jsonable(value.__dict__)
    return value
