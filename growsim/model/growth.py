"""The active sub-lattice, and when the box grows.

A channel is active when its magnitude m(l, c) exceeds ``channel_threshold`` (a freshly
initialised channel has magnitude about 1, see ``LatticeNetwork``). A layer is active when
any of its channels is; depth is the number of active layers. The box grows in a dimension
when the active region reaches its edge there: a layer with every channel active (its
lowest-ranked channel is on), an active top layer, or a last time step that still carries
more than ``time_threshold`` of the probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from growsim.model.lattice import Box, LatticeNetwork
from growsim.spec import GrowthConfig, Spec


@dataclass
class ActiveRegion:
    """Which part of the box is in use."""

    channel_active: np.ndarray  # (layer, channel) bool
    last_step_mass: float  # mean p at the box's last step

    @property
    def width(self) -> np.ndarray:
        """Active channels per layer, (layer,)."""
        return self.channel_active.sum(axis=1)

    @property
    def layer_active(self) -> np.ndarray:
        """(layer,) bool."""
        return self.channel_active.any(axis=1)

    @property
    def depth(self) -> int:
        """Number of active layers (inactive layers are the identity)."""
        return int(self.layer_active.sum())


def active_region(
    magnitudes: np.ndarray, mean_step_probs: np.ndarray, channel_threshold: float
) -> ActiveRegion:
    """The active region from channel magnitudes (layer, channel) and mean p_t (step,)."""
    return ActiveRegion(
        channel_active=np.asarray(magnitudes) > channel_threshold,
        last_step_mass=float(mean_step_probs[-1]),
    )


def grown_box(
    box: Box, region: ActiveRegion, growth: GrowthConfig, max_box: Box, time_threshold: float
) -> Box:
    """The box after one growth check: larger where the active region touches its edge."""
    if not growth.enabled:
        return box
    channels, layers, steps = box.channels, box.layers, box.steps
    if (region.width >= box.channels).any():
        channels = min(max_box.channels, box.channels + growth.channels)
    if region.layer_active[-1]:
        layers = min(max_box.layers, box.layers + growth.layers)
    if region.last_step_mass > time_threshold:
        steps = min(max_box.steps, box.steps + growth.steps)
    return Box(layers=layers, channels=channels, steps=steps)


def initial_network(
    spec: Spec, in_channels: int, classes: int, box: Box | None = None
) -> LatticeNetwork:
    """A new network of the spec, seeded by ``training.seed``: at the spec's initial box
    (the network a run starts from), or at ``box``."""
    lattice = spec.lattice
    return LatticeNetwork(
        box or Box(lattice.layers.initial, lattice.channels.initial, lattice.steps.initial),
        in_channels=in_channels,
        classes=classes,
        kernel_size=lattice.kernel_size,
        input_stride=lattice.input_stride,
        connections=tuple(lattice.connections),
        time_mode=spec.time_selection,
        generator=torch.Generator().manual_seed(spec.training.seed),
        readout_grid=lattice.readout_grid,
        halting_reads_confidence=lattice.halting_reads_confidence,
        halting_centred=lattice.halting_centred,
        precision=spec.training.precision,
    )
