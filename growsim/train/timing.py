"""Where a run's time goes: seconds per part (training steps, checkpoints), summed over the
segments of a resumed run; ``summary.json`` reports them as ``time_spent``, and the run's wall
and CPU seconds (RunClock) as ``seconds`` and ``cpu_seconds``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable


@dataclass
class RunClock:
    """A run's wall seconds and its process's CPU seconds (``time.process_time``: the
    core-seconds it used, whatever else shared the cores), summed over the segments of a
    resumed run."""

    earlier_wall: float = 0.0
    earlier_cpu: float | None = 0.0  # None: an earlier segment did not count it
    _started: tuple[float, float] | None = None  # (wall, CPU) at this segment's start

    def start(self) -> None:
        """Start this segment's count."""
        self._started = (time.perf_counter(), time.process_time())

    def wall(self) -> float:
        """Wall seconds so far."""
        return self.earlier_wall + (
            time.perf_counter() - self._started[0] if self._started else 0.0
        )

    def cpu(self) -> float | None:
        """CPU seconds so far (None: a segment before this version's did not count them)."""
        if self.earlier_cpu is None:
            return None
        return self.earlier_cpu + (time.process_time() - self._started[1] if self._started else 0.0)

    def state(self) -> dict[str, float | None]:
        """The counts to store in a checkpoint."""
        return {"wall_seconds": self.wall(), "cpu_seconds": self.cpu()}

    def restore(self, state: dict) -> None:
        """The counts of the earlier segments, from their checkpoint (one written before CPU
        seconds were counted has wall seconds only: the CPU count is unknown from then on)."""
        self.earlier_wall = state.get("wall_seconds", 0.0)
        self.earlier_cpu = state.get("cpu_seconds") if "wall_seconds" in state else 0.0


def core_seconds(summary: dict) -> float:
    """The core-seconds a run used, from its ``summary.json``: its CPU seconds where it counted
    them, else the wall seconds of its parts (``time_spent``: at most this on a quiet machine)."""
    cpu = summary.get("cpu_seconds")
    return cpu if cpu else sum(summary["time_spent"].values())


def no_time_spent() -> dict[str, float]:
    """The parts a trainer times, at zero seconds."""
    return {"training": 0.0, "checkpoints": 0.0}


def timed(spent: dict[str, float], part: str, function: Callable, *args, **kwargs):
    """``function(*args, **kwargs)``, its seconds added to ``spent[part]``."""
    started = time.perf_counter()
    try:
        return function(*args, **kwargs)
    finally:
        spent[part] += time.perf_counter() - started
