"""Compaction planning: when the network's tensors should shrink to the part of the box
in use, and to what.

A plan keeps some channel positions, the bottom ``layers`` layers and the first ``steps``
steps; growsim.model.reshape applies it (prune, then pack). Dropping steps is pruning: an
input's prediction moves by at most the probability it had on the dropped steps, and the
plan keeps that below ``step_mass`` for all but a ``1 - step_quantile`` fraction of
validation inputs. Layers and steps are only dropped from the top and the end, so their
indices never change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from growsim.model.lattice import Box


@dataclass(frozen=True)
class CompactionPlan:
    """What to keep: channel positions (sorted), bottom layers, first steps."""

    channels: tuple[int, ...]
    layers: int
    steps: int

    def box(self) -> Box:
        """The box after compaction."""
        return Box(self.layers, len(self.channels), self.steps)


def plan_compaction(
    channel_active: np.ndarray,
    step_probs: np.ndarray,
    box: Box,
    margin: int,
    min_fraction: float,
    step_mass: float,
    fold_possible: bool,
    step_quantile: float = 0.99,
) -> CompactionPlan | None:
    """A plan when it shrinks the box enough to pay, else None.

    Keeps every channel active in some layer plus ``margin`` inactive ones (the strongest
    are not known here, so the first by position), so the box edge stays inactive and
    growth is not triggered at once. Drops top layers with no active channel (keeping
    one, and only when ``fold_possible``), and trailing steps while the ``step_quantile``
    over inputs of the probability on the new last step and after it stays below ``step_mass``
    (``step_probs``: (input, step), e.g. validation images of every occlusion level).
    Channels are compacted only when at least ``min_fraction`` of them go.
    """
    active_anywhere = np.asarray(channel_active).any(axis=0)
    keep = list(np.flatnonzero(active_anywhere))
    spare = [c for c in range(box.channels) if not active_anywhere[c]][:margin]
    channels = tuple(sorted(keep + spare)) or (0,)
    if box.channels - len(channels) < min_fraction * box.channels:
        channels = tuple(range(box.channels))
    layers = box.layers
    if fold_possible:
        layer_active = np.asarray(channel_active).any(axis=1)
        while layers > 1 and not layer_active[layers - 1] and not layer_active[layers - 2]:
            layers -= 1  # keeps one inactive layer on top as the margin for depth
    steps = box.steps
    probs = np.atleast_2d(np.asarray(step_probs))
    tail = np.cumsum(probs[:, ::-1], axis=1)[:, ::-1]  # (input, step): mass from step t on
    tail = np.quantile(tail, step_quantile, axis=0)
    while steps > 1 and tail[steps - 2] < step_mass:
        # Nearly every input keeps less than step_mass on the new last step and after it:
        # the dropped steps move its prediction by less than that, and time does not regrow.
        steps -= 1
    plan = CompactionPlan(channels, layers, steps)
    return None if plan.box() == box else plan
