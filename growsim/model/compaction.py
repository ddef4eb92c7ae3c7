"""Compaction: shrink the network's tensors to the part of the box in use.

A plan keeps some channel positions, the bottom ``layers`` layers and the first ``steps``
steps. Applying it is two operations:

1. **prune** (changes the output, slightly): zero the incoming weights of every channel
   that is dropped (inactive in every layer: its weights are already near zero) and of
   every dropped top layer. A zeroed channel is exactly zero everywhere (tanh(0) = 0 and
   the residual sums zeros), and a zeroed layer is exactly the identity.
2. **pack** (exact): remove those positions. The top-down input a dropped layer gave the
   layer below it reads that layer's own previous activation (an identity layer copies
   it), so it is folded into the lateral weights below. A dropped step's probability goes
   to the new last step, as the stick-breaking rule gives the last step what remains.
   Dropping steps is therefore pruning too: an input's prediction moves by at most the
   probability it had on the dropped steps (the plan keeps that below ``step_mass`` for
   all but a ``1 - step_quantile`` fraction of validation inputs).

Channel positions keep their lattice identity in ``model.channel_ids``; the trajectory is
written at those identities, so its coordinates do not change. Layers and steps are only
dropped from the top and the end, so their indices never change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from growsim.model.lattice import Box, LatticeNetwork


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


@torch.no_grad()
def prune(model: LatticeNetwork, plan: CompactionPlan) -> None:
    """Zero the incoming weights of the channels and layers the plan drops."""
    box = model.box
    dropped = [c for c in range(box.channels) if c not in set(plan.channels)]
    for layer, weights in enumerate(model.incoming_weights()):
        for tensor in weights.values():
            if layer >= plan.layers:
                tensor.zero_()
            elif dropped:
                tensor[dropped] = 0.0


def compact_tensor(name: str, tensor: torch.Tensor, plan: CompactionPlan):
    """The part of parameter ``name`` (or of optimiser state shaped like it) the plan keeps.

    Returns None for a tensor that the plan removes entirely.
    """
    keep = torch.as_tensor(plan.channels, device=tensor.device)
    kind, _, index_text = name.partition(".")
    if kind in ("bottom_up", "lateral", "top_down"):
        index = int(index_text)
        last = plan.layers - 1 if kind == "top_down" else plan.layers
        if index >= last:
            return None
        tensor = tensor.index_select(0, keep)
        if not (kind == "bottom_up" and index == 0):
            tensor = tensor.index_select(1, keep)
        return tensor
    if name in ("readout_weight",):
        return tensor.index_select(1, keep)
    if name in ("halting_weight", "channel_ids"):
        return tensor.index_select(0, keep)
    if name in ("halting_bias", "halting_gain"):
        return tensor[: plan.steps]
    return tensor


@torch.no_grad()
def compact(model: LatticeNetwork, plan: CompactionPlan) -> None:
    """Prune, then pack the model's tensors to the plan (in place)."""
    old = model.box
    prune(model, plan)
    if plan.layers < old.layers and "top_down" in model.connections:
        if "lateral" not in model.connections:
            raise ValueError("dropping layers folds top-down into lateral weights: needs lateral")
        below = plan.layers - 1
        model.lateral[below].add_(model.top_down[below])
    for kind in ("bottom_up", "lateral", "top_down"):
        params = getattr(model, kind)
        kept = []
        for index, parameter in enumerate(params):
            tensor = compact_tensor(f"{kind}.{index}", parameter.data, plan)
            if tensor is not None:
                kept.append(nn.Parameter(tensor.clone()))
        setattr(model, kind, nn.ParameterList(kept))
    for name in ("readout_weight", "halting_weight", "halting_bias", "halting_gain"):
        if hasattr(model, name):
            setattr(model, name, nn.Parameter(compact_tensor(name, getattr(model, name).data, plan).clone()))
    model.channel_ids = compact_tensor("channel_ids", model.channel_ids, plan).clone()


def shrink_to(model: LatticeNetwork, box: Box) -> None:
    """Compact to the leading ``box`` positions where the model is larger (for loading)."""
    old = model.box
    target = CompactionPlan(
        tuple(range(min(old.channels, box.channels))),
        min(old.layers, box.layers),
        min(old.steps, box.steps),
    )
    if target.box() != old:
        compact(model, target)
