"""A checkpoint's values laid out on the trajectory's fixed (maximum-box) coordinates: the
network's shape, norms and topology, its costs, and its training and evaluation metrics.

Positions are written at their lattice identities (``model.channel_ids`` for channels), so
a channel keeps its coordinate through growth and compaction.
"""

from __future__ import annotations

import numpy as np
import torch

from growsim.model import costs
from growsim.model.growth import ActiveRegion
from growsim.model.lattice import CONNECTIONS, Box, LatticeNetwork
from growsim.model.topology import analyse, edge_masks
from growsim.record.trajectory import TrajectoryLayout
from growsim.spec import Spec
from growsim.train.checkpoint_state import CheckpointState


def checkpoint_values(layout: TrajectoryLayout, state: CheckpointState, spec: Spec) -> dict:
    """Every trajectory variable of one checkpoint (test metrics NaN where not evaluated)."""
    validation, evaluation, running = state.validation, state.evaluation, state.running
    values = structure_values(
        layout,
        state.model,
        state.old_box,
        state.magnitudes,
        state.region,
        evaluation.time_distribution,
    )
    values.update(topology_values(layout, state.model, state.region, spec.active.edge_threshold))
    magnitudes = torch.from_numpy(state.magnitudes)
    max_box, breadth, depth = state.max_box, spec.costs.breadth, spec.costs.depth
    values.update(
        epoch=state.epoch,
        expected_steps=evaluation.expected_steps_by_level[0],
        breadth_cost=float(costs.breadth_cost(magnitudes, max_box.channels, breadth.exponent)),
        depth_cost=float(costs.depth_cost(magnitudes, max_box.layers, depth.exponent)),
        time_cost=running.mean("time_cost"),
        breadth_weight=state.cost_weights["breadth"],
        depth_weight=state.cost_weights["depth"],
        time_weight=state.cost_weights["time"],
        task_loss=running.mean("task_loss"),
        total_loss=running.mean("total_loss"),
        train_accuracy=running.accuracy(),
        test_accuracy=evaluation.accuracy_by_level[0],
        accuracy_by_occlusion=evaluation.accuracy_by_level,
        expected_steps_by_occlusion=evaluation.expected_steps_by_level,
        validation_accuracy=validation.accuracy_by_level[0],
        validation_expected_steps=validation.expected_steps_by_level[0],
        validation_accuracy_by_occlusion=validation.accuracy_by_level,
        validation_expected_steps_by_occlusion=validation.expected_steps_by_level,
        validation_time_distribution=_padded(validation.time_distribution, max_box.steps),
    )
    return values


def structure_values(
    layout: TrajectoryLayout,
    model: LatticeNetwork,
    old_box: Box,
    magnitudes: np.ndarray,
    region: ActiveRegion,
    time_distribution: np.ndarray,
) -> dict[str, np.ndarray]:
    """Box, growth, channel norms and masks, and the clean-test time distribution."""
    box = model.box
    L, C, T = box.layers, box.channels, box.steps
    values = {name: layout.empty(name) for name in ("channel_norm", "connection_norm",
              "channel_active", "active_width", "layer_active", "time_distribution")}  # fmt: skip
    ids = model.channel_ids.cpu().numpy()  # lattice identity of each position
    values["channel_norm"][:L, ids] = magnitudes
    values["channel_active"][:L, ids] = region.channel_active
    values["active_width"][:L] = region.width
    values["layer_active"][:L] = region.layer_active
    values["time_distribution"][:T] = time_distribution
    for layer, weights_in in enumerate(model.incoming_weights()):
        for kind, tensor in weights_in.items():
            norm = tensor.detach().reshape(C, -1).norm(dim=1).cpu().numpy()
            values["connection_norm"][CONNECTIONS.index(kind), layer, ids] = norm
    values.update(
        box_layers=L,
        box_channels=C,
        box_steps=T,
        growth=np.asarray([C - old_box.channels, L - old_box.layers, T - old_box.steps]),
        depth=region.depth,
    )
    return values


def topology_values(
    layout: TrajectoryLayout, model: LatticeNetwork, region: ActiveRegion, edge_threshold: float
) -> dict[str, np.ndarray]:
    """Topology of the active graph unrolled over the box's steps (see growsim.model.topology)."""
    box = model.box
    kernel_norms = [
        {kind: w.detach().reshape(w.shape[0], w.shape[1], -1).norm(dim=2).cpu().numpy()
         for kind, w in layer.items()}
        for layer in model.incoming_weights()
    ]  # fmt: skip
    masks = edge_masks(kernel_norms, region.channel_active, edge_threshold)
    result = analyse(region.channel_active, *masks, steps=box.steps)
    values = {
        name: layout.empty(name)
        for name in (
            "active_edges",
            "paths_on_route",
            "longest_path",
            "shortest_path",
            "log_path_count",
        )
    }
    values["active_edges"][:, : box.layers] = result.edge_counts
    values["paths_on_route"][: box.steps] = result.on_path
    values["longest_path"][: box.steps] = result.longest_path
    values["shortest_path"][: box.steps] = result.shortest_path
    values["log_path_count"][: box.steps] = result.log_path_count
    values["dead_units"] = result.dead_units
    values["components"] = result.components
    return values


def _padded(values: np.ndarray, size: int) -> np.ndarray:
    """``values`` followed by NaN up to ``size`` entries (positions outside the box)."""
    padded = np.full(size, np.nan, dtype="float64")
    padded[: len(values)] = values
    return padded
