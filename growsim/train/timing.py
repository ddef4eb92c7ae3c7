"""Where a run's time goes: seconds per part (training steps, checkpoints), summed over the
segments of a resumed run; ``summary.json`` reports them as ``time_spent``."""

from __future__ import annotations

import time
from typing import Callable


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
