"""How growsim's CPU threads share a machine.

OpenMP's default lets idle threads spin while they wait for work. On a machine whose cores
are taken by other jobs, spinning threads steal the cores their own team is waiting for: a
run beside other busy processes slowed down up to 5x (benchmarks/shared_machine.py). With
``OMP_WAIT_POLICY=PASSIVE`` waiting threads sleep instead. OpenMP reads the variable when it
is loaded (with torch), so ``import growsim`` sets it first, unless the user set it.
"""

from __future__ import annotations

import os

WAIT_POLICY = "PASSIVE"


def prefer_passive_waiting() -> None:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless it is set (no effect once torch is loaded)."""
    os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def checked_threads(threads: int | None) -> int | None:
    """``training.threads`` checked against the cores this process may use (None: torch's
    default); a RunError when it asks for more."""
    from growsim.errors import RunError

    cores = available_cores()
    if threads is not None and threads > cores:
        raise RunError(
            f"training.threads is {threads}, but this process may use {cores} cores; more "
            f"threads than cores only make each step wait. Set training.threads to at most "
            f"{cores}, or leave it unset."
        )
    return threads
