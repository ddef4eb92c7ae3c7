"""A cache of arrays decoded from many files, so a second load starts at once.

The key is a SHA-256 of every source file's path (relative to the folder), size and
modification time in nanoseconds, plus the decoding settings. File statistics, not
content: hashing content means reading every byte of every image on every start, which for
a large stimulus set costs a good part of what decoding does, while ``stat`` costs
microseconds per file. An edited, added, removed or renamed file changes the key. What it
misses is a file replaced by one of the same size with its modification time set back
(``cp -p``, ``rsync -t`` of different content); the run records a hash of the decoded pixels
(``data_sha256`` in the trajectory) either way.

Entries live in ``<folder>/.growsim-cache/`` when the folder is writable, else in the user
cache directory (``$XDG_CACHE_HOME/growsim`` or ``~/.cache/growsim``); ``GROWSIM_CACHE_DIR``
overrides both. An entry is written to a temporary file and renamed into place, so a crash
leaves the old entry or the new one, never half of one; an entry that cannot be read is
decoded again.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from growsim.files import write_atomically

CACHE_FORMAT = 1
CACHE_FOLDER = ".growsim-cache"


def file_key(root: Path, files: list[Path], settings: dict) -> str:
    """SHA-256 of the files' relative paths, sizes and mtimes and of the decoding settings."""
    digest = hashlib.sha256(json.dumps([CACHE_FORMAT, settings], sort_keys=True).encode())
    for path in files:
        stat = path.stat()
        relative = Path(os.path.relpath(path, root)).as_posix()
        digest.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cached_arrays(
    root: Path, files: list[Path], settings: dict, decode: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """``decode()``'s arrays, from the cache when ``files`` and ``settings`` are unchanged.

    Arrays must be plain (numeric or fixed-width unicode), not Python objects.
    """
    root = Path(os.path.abspath(root))
    key = file_key(root, files, settings)
    # One slot per folder and settings: a new entry of a slot replaces its older ones.
    slot = hashlib.sha256(json.dumps([str(root), settings], sort_keys=True).encode()).hexdigest()
    name = f"{slot[:16]}-{key[:32]}.npz"
    for directory in _cache_directories(root):
        entry = directory / name
        if entry.exists():
            arrays = _read(entry)
            if arrays is not None:
                return arrays
    arrays = decode()
    for directory in _cache_directories(root):
        if _write(directory, name, arrays):
            for old in directory.glob(f"{slot[:16]}-*.npz"):
                if old.name != name:
                    old.unlink(missing_ok=True)
            break
    else:
        warnings.warn(
            f"{root}: could not write a cache of the decoded images (no writable cache "
            "directory); the next run decodes them again. Set GROWSIM_CACHE_DIR to a "
            "writable directory.",
            stacklevel=2,
        )
    return arrays


def cached_by_key(key: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``compute()``'s arrays, from the user cache directory when an entry named by ``key`` (a
    digest of everything they depend on) is there, else computed and written there (not
    written, silently, where the directory is not writable)."""
    directory = _user_cache_directory()
    name = f"{key}.npz"
    if (directory / name).exists():
        arrays = _read(directory / name)
        if arrays is not None:
            return arrays
    arrays = compute()
    _write(directory, name, arrays)
    return arrays


def _user_cache_directory() -> Path:
    """``GROWSIM_CACHE_DIR``, else ``$XDG_CACHE_HOME/growsim`` or ``~/.cache/growsim``."""
    if os.environ.get("GROWSIM_CACHE_DIR"):
        return Path(os.environ["GROWSIM_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "growsim"


def _cache_directories(root: Path) -> list[Path]:
    """Where entries may live, in order of preference."""
    if os.environ.get("GROWSIM_CACHE_DIR"):
        return [Path(os.environ["GROWSIM_CACHE_DIR"])]
    return [root / CACHE_FOLDER, _user_cache_directory()]


def _read(entry: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(entry, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None  # unreadable (truncated by a full disk, say): decode again


def _write(directory: Path, name: str, arrays: dict[str, np.ndarray]) -> bool:
    """Write an entry atomically; False when ``directory`` is not writable."""

    def save(temporary: Path) -> None:
        with open(temporary, "wb") as stream:
            np.savez(stream, **arrays)

    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_atomically(directory / name, save)
        return True
    except OSError:
        return False
