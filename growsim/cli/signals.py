"""Signals and pipes for the command line: SIGTERM unwinds like Ctrl-C (growsim.stopping),
and a closed output pipe ends quietly."""

from __future__ import annotations

import os
import sys


def discard_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a file (e.g. captured in a test)
