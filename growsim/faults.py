"""Fault injection for the crash tests: die (or be stopped) at a named point of a run.

Set ``GROWSIM_KILL_AT=<point>:<n>`` to SIGKILL the process the n-th time (1-based) it
reaches ``point``, or ``<point>:<n>:<SIGNAL>`` to send it another signal (``SIGTERM``).
Points: ``trajectory-commit`` (checkpoint data written, metadata not yet consolidated),
``checkpoint-rename`` (model checkpoint written to its temporary file, not yet renamed) and
``checkpoint-taken`` (a checkpoint recorded, maybe kept in memory, before it is written).
Unset, it does nothing.
"""

from __future__ import annotations

import os
import signal

ENVIRONMENT_VARIABLE = "GROWSIM_KILL_AT"


def crash_point(point: str, count: int) -> None:
    """Signal this process if the environment asks for it at ``point`` on its ``count``-th visit."""
    target = os.environ.get(ENVIRONMENT_VARIABLE)
    if not target:
        return
    name, _, rest = target.partition(":")
    visit, _, signal_name = rest.partition(":")
    if name == point and visit == str(count):
        os.kill(os.getpid(), getattr(signal, signal_name or "SIGKILL"))
