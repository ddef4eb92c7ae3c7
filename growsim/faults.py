"""Fault injection for the crash tests: die at a named point of a run.

Set ``GROWSIM_KILL_AT=<point>:<n>`` to SIGKILL the process the n-th time (1-based) it
reaches ``point``. Points: ``trajectory-commit`` (checkpoint data written, metadata not
yet consolidated) and ``checkpoint-rename`` (model checkpoint written to its temporary file,
not yet renamed). Unset, it does nothing.
"""

from __future__ import annotations

import os
import signal

ENVIRONMENT_VARIABLE = "GROWSIM_KILL_AT"


def crash_point(point: str, count: int) -> None:
    """SIGKILL this process if the environment asks to die at ``point`` on its ``count``-th visit."""
    target = os.environ.get(ENVIRONMENT_VARIABLE)
    if target and target == f"{point}:{count}":
        os.kill(os.getpid(), signal.SIGKILL)
