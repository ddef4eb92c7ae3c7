"""Sweep throughput: members per hour of a sweep of small networks, run as one process per
member with one thread each (``workers`` = cores, the default) or one member at a time with
every core (``workers: 1``).

The members: the trade-off spec's network (box up to 3 x 16 x 6, all three costs) on the
procedural shapes (nothing to install), shortened. Both ways run the same members from
scratch in one run of the benchmark. Stacking several members into one model is not
implemented: ``stacked_convolution_ratio`` measures whether it would pay, as one grouped
convolution over the stacked members against their convolutions one by one (see
docs/benchmarks.md).
"""

from __future__ import annotations

import os
import time
from tempfile import TemporaryDirectory

import torch
import torch.nn.functional as F

from benchmarks.step_floor import interleaved_seconds
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


def stacked_convolution_ratio(members: int, channels: int = 16, batch: int = 64) -> float:
    """Seconds of one grouped convolution over ``members`` stacked members / seconds of
    the same convolutions one member at a time: a fused recurrent convolution (3 x
    ``channels`` inputs, ``channels`` outputs, 14 x 14 maps, forward and backward, one
    thread, channels-last), the bulk of a small member's step. Below 1: stacking pays."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    layout = torch.channels_last
    generator = torch.Generator().manual_seed(0)

    def tensor(*shape):
        return (
            torch.randn(*shape, generator=generator)
            .contiguous(memory_format=layout)
            .requires_grad_()
        )

    inputs = [tensor(batch, 3 * channels, 14, 14) for _ in range(members)]
    kernels = [tensor(channels, 3 * channels, 3, 3) for _ in range(members)]
    stacked_input = tensor(batch, members * 3 * channels, 14, 14)
    stacked_kernel = tensor(members * channels, 3 * channels, 3, 3)

    def one_by_one():
        for x, w in zip(inputs, kernels):
            F.conv2d(x, w, padding=1).sum().backward()

    def stacked():
        F.conv2d(stacked_input, stacked_kernel, padding=1, groups=members).sum().backward()

    try:
        seconds = interleaved_seconds({"stacked": stacked, "one by one": one_by_one}, repeats=15)
        return seconds["stacked"] / seconds["one by one"]
    finally:
        torch.set_num_threads(threads)


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
    ] + [
        {"measure": f"stacking {count} members: one grouped convolution / their convolutions one by one",
         "value": stacked_convolution_ratio(count), "unit": "x", "target": "< 1 would pay",
         "detail": "16-channel fused recurrent convolution, forward and backward, 1 thread"}
        for count in (2, 4, 8)
    ]  # fmt: skip
