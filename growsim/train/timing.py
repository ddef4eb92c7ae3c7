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
    earlier_cpu: float = 0.0
    _started: tuple[float, float] | None = None  # (wall, CPU) at this segment's start

    def start(self) -> None:
        """Start this segment's count."""
        self._started = (time.perf_counter(), time.process_time())

    def wall(self) -> float:
        """Wall seconds so far."""
        return self.earlier_wall + (
            time.perf_counter() - self._started[0] if self._started else 0.0
        )

    def cpu(self) -> float:
        """CPU seconds so far."""
        return self.earlier_cpu + (time.process_time() - self._started[1] if self._started else 0.0)

    def state(self) -> dict[str, float]:
        """The counts to store in a checkpoint."""
        return {"wall_seconds": self.wall(), "cpu_seconds": self.cpu()}

    def restore(self, state: dict) -> None:
        """The counts of an earlier segment, from its checkpoint (older ones lack CPU seconds)."""
        self.earlier_wall = state.get("wall_seconds", 0.0)
        self.earlier_cpu = state.get("cpu_seconds", 0.0)


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
