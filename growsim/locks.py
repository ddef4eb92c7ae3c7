"""Advisory file locks (``fcntl.flock``) that keep two processes off the same files.

A lock lives in a small file beside what it guards and is released when the holder exits,
however it exits, so a killed run never leaves a stale lock behind. flock works between
processes on one machine and on most local file systems; network file systems may ignore it.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from growsim.errors import RunError


@contextmanager
def exclusive_lock(path: Path, wait: bool, holder: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the ``with`` block.

    ``wait=False`` raises RunError at once when another process holds it; ``holder``
    says in that error what the lock protects.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(descriptor, flags)
        except BlockingIOError:
            raise RunError(
                f"{holder}: another process is writing it right now (lock {path}). Wait for "
                "that process to finish, or stop it, then try again."
            ) from None
        yield
    finally:
        os.close(descriptor)  # closing releases the lock
