"""``growsim topology RUN``: a compact table of a recorded checkpoint's topology."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from growsim.errors import RunError
from growsim.record.trajectory import open_trajectory


def topology_table(run: str | Path, at: int | None = None) -> str:
    """Text table of the topology at checkpoint index ``at`` (default: the last)."""
    dataset = open_trajectory(run)
    count = dataset.sizes["checkpoint"]
    index = count - 1 if at is None else at
    if not -count <= index < count:
        raise RunError(
            f"{run}: --at {at} is out of range; the run has {count} checkpoints (0..{count - 1})"
        )
    if "longest_path" not in dataset:
        raise RunError(
            f"{run}: this trajectory has no topology variables (recorded by an older growsim)"
        )
    point = dataset.isel(checkpoint=index).load()
    layers, steps = int(point.box_layers), int(point.box_steps)
    lines = [
        f"checkpoint {index % count} of {count} (iteration {int(point.iteration)}): "
        f"box {layers} layers x {int(point.box_channels)} channels x {steps} steps",
        f"active channels {int(point.active_width.sum())}, depth {int(point.depth)}, "
        f"dead units {int(point.dead_units)}, components {int(point.components)}",
        "",
        "layer  width  edges: bottom_up  lateral  top_down",
    ]
    for layer in range(layers):
        edges = point.active_edges.isel(layer=layer).values
        lines.append(
            f"{layer:>5}  {int(point.active_width[layer]):>5}  "
            f"{edges[0]:>16}  {edges[1]:>7}  {edges[2]:>8}"
        )
    lines += [
        "",
        "time steps, 1 = the first (as in expected steps and the figures); p(step) on clean validation images:",
        "step  p(step)  on-path nodes  longest  shortest  log #paths",
    ]
    for step in range(steps):
        log_count = float(point.log_path_count[step])
        shown = f"{log_count:10.2f}" if np.isfinite(log_count) else f"{'none':>10}"
        lines.append(
            f"{step + 1:>4}  {float(point.validation_time_distribution[step]):7.3f}  "
            f"{int(point.paths_on_route[step]):>13}  {int(point.longest_path[step]):>7}  "
            f"{int(point.shortest_path[step]):>8}  {shown}"
        )
    return "\n".join(lines)
