"""Sweep throughput: members per hour of a sweep of small networks, run as one process per
member with one thread each (``workers`` = cores, the default) or one member at a time with
every core (``workers: 1``).

The members: the trade-off spec's network (box up to 3 x 16 x 6, all three costs) on the
procedural shapes (nothing to install), shortened. Both ways run the same members from
scratch in one run of the benchmark. Stacking several members into one model is not
implemented (see the README's benchmark notes).
"""

from __future__ import annotations

import os
import time
from tempfile import TemporaryDirectory

from growsim.sweep.runner import run_sweep
from growsim.sweep.spec import parse_sweep

SWEEP = """
name: throughput
lattice:
  layers: {{initial: 1, max: 3}}
  channels: {{initial: 8, max: 16}}
  steps: {{initial: 2, max: 6}}
  readout_grid: 2
costs:
  breadth: {{weight: 0.01, schedule: {{kind: linear, delay: 20, ramp: 40}}}}
  depth: {{weight: 0.03, schedule: {{kind: linear, delay: 20, ramp: 40}}}}
  time: {{weight: 0.1, schedule: {{kind: linear, delay: 20, ramp: 40}}}}
time_selection: adaptive
growth: {{channels: 4, layers: 1, steps: 1, new_step_mass: 0.01}}
data: {{dataset: shapes, classes: 6, train_size: 2000, test_size: 300}}
training:
  lr: 0.01
  lr_schedule: {{kind: cosine, warmup: 10}}
  time_entropy: 0.1
  step_supervision: 0.5
  batch_size: 64
  iterations: {iterations}
record: {{every: {every}}}
sweep:
  seeds: {seeds}
"""


def members_per_hour(workers: int, members: int, iterations: int) -> float:
    """Members per hour of a fresh sweep of ``members`` seeds run ``workers`` at a time."""
    text = SWEEP.format(iterations=iterations, every=iterations // 3, seeds=list(range(members)))
    sweep = parse_sweep(text, "<throughput benchmark>")
    with TemporaryDirectory() as directory:
        started = time.perf_counter()
        outcomes = run_sweep(sweep, directory, workers=workers, progress=False)
        seconds = time.perf_counter() - started
    failed = [o.name for o in outcomes if o.status != "finished"]
    if failed:
        raise RuntimeError(f"sweep members failed: {failed}")
    return members / seconds * 3600


def rows(quick: bool = False) -> list[dict]:
    """Members per hour for each way of running a sweep, and their ratio."""
    cores = os.cpu_count() or 1
    members, iterations = (2, 90) if quick else (4, 300)
    parallel = members_per_hour(cores, members, iterations)
    sequential = members_per_hour(1, members, iterations)
    detail = f"{members} members of {iterations} iterations, box up to 3 x 16 x 6, {cores} cores"
    return [
        {"measure": f"sweep: members/hour, {cores} processes x 1 thread (default)",
         "value": parallel, "unit": "members/h", "target": "", "detail": detail},
        {"measure": f"sweep: members/hour, 1 process x {cores} threads at a time",
         "value": sequential, "unit": "members/h", "target": ""},
        {"measure": "sweep throughput: processes x 1 thread / 1 process x all threads",
         "value": parallel / sequential, "unit": "x", "target": "> 1 keeps the default"},
    ]  # fmt: skip
