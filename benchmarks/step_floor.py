"""A compacted growsim training step against its floor, and against the machine.

Three ratios, each measured within one run, on the speed benchmark's box and on the
occlusion spec's largest box:
- growsim's step / the fused baseline's (``benchmarks.fused_baseline``: the same network,
  objective and pressure written plainly, in the same memory layout);
- growsim's step in its CPU layout (channels-last) / the same step in PyTorch's default;
- achieved FLOP/s of growsim's step (FLOPs counted by ``torch.utils.flop_counter``, forward
  and backward) as a fraction of an fp32 matmul's FLOP/s in the same process.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.fused_baseline import fused_step
from growsim.model.lattice import Box, LatticeNetwork
from growsim.model.objective import loss_terms
from growsim.model.proximal import adam_second_moments, apply_pressure
from growsim.spec import load_spec


def _occlusion_box() -> Box:
    """The occlusion spec's largest box, read from the spec."""
    lattice = load_spec(Path(__file__).parents[1] / "specs" / "occlusion.yaml").lattice
    return Box(lattice.layers.max, lattice.channels.max, lattice.steps.max)


# (label, box, batch): the speed benchmark's packed box, and the occlusion spec's largest.
OCCLUSION_BOX = _occlusion_box()
BOXES = [
    ("3 x 8 x 4, batch 128", Box(3, 8, 4), 128),
    (
        f"{OCCLUSION_BOX.layers} x {OCCLUSION_BOX.channels} x {OCCLUSION_BOX.steps} (occlusion), batch 64",
        OCCLUSION_BOX,
        64,
    ),
]
CLASSES = 10


def batch(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed batch of 28 x 28 one-channel images and labels."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(size, 1, 28, 28, generator=generator)
    return images, torch.randint(0, CLASSES, (size,), generator=generator)


def growsim_step(box: Box, images: torch.Tensor, labels: torch.Tensor):
    """growsim's training step as the trainer runs it, on a box with every position active:
    loss_terms (adaptive halting, step supervision 0.5, time entropy 0.1, a ramped time
    weight), Adam, then the proximal breadth and depth pressure with Adam's moments."""
    model = LatticeNetwork(box, 1, CLASSES, generator=torch.Generator().manual_seed(0),
                           readout_grid=2)  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    count = [0]

    def step() -> None:
        count[0] += 1
        time_weight = torch.tensor(min(1.0, count[0] / 10) * 0.05)
        loss = loss_terms(model, images, labels, time_weight, 0.5, 0.1)[0]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        layers = model.incoming_weights()
        apply_pressure(layers, adam_second_moments(optimizer, layers), 0.01, 0.005, 1e-3,
                       box.channels, box.layers)  # fmt: skip

    return step


def seconds_per_call(function, repeats: int, warmup: int = 3) -> float:
    """Median seconds per call after ``warmup`` calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def interleaved_seconds(steps: dict, repeats: int) -> dict[str, float]:
    """Median seconds per call of each step, timed in alternation (so that a slow patch of
    the machine falls on every contender alike)."""
    for step in steps.values():
        for _ in range(3):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: sorted(values)[len(values) // 2] for name, values in times.items()}


def step_flops(step) -> int:
    """FLOPs of one call of ``step`` (convolutions and matmuls, forward and backward)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def matmul_flops_per_second(size: int = 1024, repeats: int = 10) -> float:
    """fp32 FLOP/s of a size x size matmul on this process's threads."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / seconds_per_call(lambda: a @ b, repeats)


def _default_layout(step):
    """``step`` with growsim's convolutions in PyTorch's default (contiguous) layout."""
    from growsim.model import lattice

    def in_default_layout() -> None:
        chosen = lattice.conv_memory_format
        lattice.conv_memory_format = lambda images: torch.contiguous_format
        try:
            step()
        finally:
            lattice.conv_memory_format = chosen

    return in_default_layout


def rows(quick: bool = False) -> list[dict]:
    """The step-floor, layout and step-efficiency rows."""
    repeats = 5 if quick else 15
    result = []
    matmul = matmul_flops_per_second()
    for label, box, size in BOXES:
        images, labels = batch(size)
        grown = growsim_step(box, images, labels)
        fused = fused_step(box.layers, box.channels, box.steps, CLASSES, images, labels)
        seconds = interleaved_seconds({"growsim": grown, "fused": fused}, repeats)
        result.append({
            "measure": f"training step, compacted growsim / fused baseline doing the same work ({label})",
            "value": seconds["growsim"] / seconds["fused"], "unit": "x", "target": "<= 1.05",
        })  # fmt: skip
        layouts = interleaved_seconds(
            {"channels-last": grown, "default": _default_layout(grown)}, repeats
        )
        result.append({
            "measure": f"training step, channels-last (growsim's CPU layout) / PyTorch's default layout ({label})",
            "value": layouts["channels-last"] / layouts["default"], "unit": "x", "target": "< 1 keeps it",
        })  # fmt: skip
        flops = step_flops(grown)
        result.append({
            "measure": f"training step FLOP/s / fp32 matmul FLOP/s ({label})",
            "value": flops / seconds["growsim"] / matmul, "unit": "fraction", "target": "goal >= 0.5",
            "detail": f"{flops / 1e9:.2f} GFLOP per step, {flops / seconds['growsim'] / 1e9:.1f} "
                      f"GFLOP/s; matmul {matmul / 1e9:.0f} GFLOP/s",
        })  # fmt: skip
    return result
