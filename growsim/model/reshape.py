"""Changing a network's box: the one module that knows how each parameter is laid out.

Every parameter of ``LatticeNetwork`` has axes indexed by channel position (rows and
columns of the connection kernels, the readout's columns, the halting weights), by layer
(the index in ``bottom_up``/``lateral``/``top_down``) or by step (the halting bias and
gain). Growing, compacting, shrinking for loading, and carrying an optimiser's state
through each of them are written here once.

**Growth** enlarges the box without changing what the network computes: new channels and
layers start silent (zero incoming weights); weights that read from new channels are
random so gradient reaches them. A new time step starts with ``new_step_mass`` of the old
last step's probability (the only growth that changes the output, by at most that).

**Compaction** applies a ``CompactionPlan`` (see growsim.model.compaction) in two parts:

1. **prune** (changes the output, slightly): zero the incoming weights of every channel
   that is dropped (inactive in every layer: its weights are already near zero) and of
   every dropped top layer. A zeroed channel is exactly zero everywhere (tanh(0) = 0 and
   the residual sums zeros), and a zeroed layer is exactly the identity.
2. **pack** (exact): remove those positions. The top-down input a dropped layer gave the
   layer below it reads that layer's own previous activation (an identity layer copies
   it), so it is folded into the lateral weights below. A dropped step's probability goes
   to the new last step, as the stick-breaking rule gives the last step what remains.

Channel positions keep their lattice identity in ``model.channel_ids``: growth fills the
smallest free identities, compaction removes positions.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from growsim.model.compaction import CompactionPlan
from growsim.model.lattice import Box, LatticeNetwork, normal_parameter

# carry(parameter name, optimiser-state key, old state value, new parameter) -> new value
StateCarry = Callable[[str, str, object, nn.Parameter], object]


# --------------------------------------------------------------------------- growth


@torch.no_grad()
def grow(model: LatticeNetwork, box: Box, new_step_mass: float = 1e-3, generator=None) -> None:
    """Enlarge ``model``'s box to ``box`` in place (see the module docstring)."""
    old = model.box
    if box.layers < old.layers or box.channels < old.channels or box.steps < old.steps:
        raise ValueError(f"grow cannot shrink the box: {old} -> {box}")
    if box.channels > old.channels:
        _grow_channels(model, box.channels, generator)
    if box.layers > old.layers:
        _grow_layers(model, box.layers)
    if box.steps > old.steps:
        _grow_steps(model, box.steps, new_step_mass)


def _grow_channels(model: LatticeNetwork, channels: int, generator) -> None:
    old = model.box
    for name in ("bottom_up", "lateral", "top_down"):
        params = getattr(model, name)
        for index in range(len(params)):
            weight = params[index]
            rows = channels
            cols = weight.shape[1] if (name == "bottom_up" and index == 0) else channels
            grown = weight.new_zeros((rows, cols) + tuple(weight.shape[2:]))
            grown[: weight.shape[0], : weight.shape[1]] = weight
            if cols > weight.shape[1]:  # old channels reading new ones: random
                std = 1.0 / math.sqrt(model.fan_in(index, channels, old.layers))
                block = grown[: weight.shape[0], weight.shape[1] :]
                block.copy_(normal_parameter(block.shape, std, generator).data.to(block))
            params[index] = nn.Parameter(grown)
    taken = set(model.channel_ids.tolist())
    free = [i for i in range(len(taken) + channels) if i not in taken]
    new_ids = torch.tensor(free[: channels - old.channels], dtype=model.channel_ids.dtype)
    model.channel_ids = torch.cat([model.channel_ids, new_ids.to(model.channel_ids.device)])
    readout = model.readout_init(channels, channels - old.channels, generator)
    readout = torch.cat([model.readout_weight.data, readout.data.to(model.readout_weight)], dim=1)
    model.readout_weight = nn.Parameter(readout)
    if model.time_mode == "adaptive":
        halting = model.halting_weight.new_zeros(channels)
        halting[: old.channels] = model.halting_weight
        model.halting_weight = nn.Parameter(halting)
    if model.centred:  # a new channel is silent (zero incoming weights): its mean is 0
        means = model.halting_feature_mean.new_zeros((old.steps, channels))
        means[:, : old.channels] = model.halting_feature_mean
        model.halting_feature_mean = means


def _grow_layers(model: LatticeNetwork, layers: int) -> None:
    old = model.box
    C, k = old.channels, model.kernel_size
    reference = model.bottom_up[-1]
    for _ in range(old.layers, layers):
        model.bottom_up.append(nn.Parameter(reference.new_zeros((C, C, k, k))))
        if "lateral" in model.connections:
            model.lateral.append(nn.Parameter(reference.new_zeros((C, C, k, k))))
    if "top_down" in model.connections:
        while len(model.top_down) < layers - 1:
            model.top_down.append(nn.Parameter(reference.new_zeros((C, C, k, k))))


def _grow_steps(model: LatticeNetwork, steps: int, new_step_mass: float) -> None:
    old = model.halting_bias.data
    last = old.shape[0] - 1
    grown = old.new_zeros(steps)  # new non-final steps halt with probability 1/2
    grown[: last + 1] = old
    # The old last step took all remaining mass; it now halts with 1 - new_step_mass,
    # for every input alike: its per-input terms start switched off (gain 0).
    grown[last] = math.log((1.0 - new_step_mass) / new_step_mass)
    model.halting_bias = nn.Parameter(grown)
    if model.time_mode == "adaptive":
        gain = model.halting_gain.data.new_zeros(steps)
        gain[:last] = model.halting_gain.data[:last]
        model.halting_gain = nn.Parameter(gain)
    if model.centred:  # new steps start from the means of the old last step
        for name in ("halting_feature_mean", "halting_confidence_mean"):
            means = getattr(model, name)
            rows = torch.cat([means, means[-1:].expand((steps - old.shape[0],) + means.shape[1:])])
            setattr(model, name, rows.clone())


# --------------------------------------------------------------------------- compaction


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


def kept_part(name: str, tensor: torch.Tensor, plan: CompactionPlan):
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
    if name in ("halting_bias", "halting_gain", "halting_confidence_mean"):
        return tensor[: plan.steps]
    if name == "halting_feature_mean":
        return tensor[: plan.steps].index_select(1, keep)
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
            tensor = kept_part(f"{kind}.{index}", parameter.data, plan)
            if tensor is not None:
                kept.append(nn.Parameter(tensor.clone()))
        setattr(model, kind, nn.ParameterList(kept))
    for name in ("readout_weight", "halting_weight", "halting_bias", "halting_gain"):
        if hasattr(model, name):
            setattr(
                model, name, nn.Parameter(kept_part(name, getattr(model, name).data, plan).clone())
            )
    model.channel_ids = kept_part("channel_ids", model.channel_ids, plan).clone()
    if model.centred:
        for name in ("halting_feature_mean", "halting_confidence_mean"):
            setattr(model, name, kept_part(name, getattr(model, name), plan).clone())


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


# --------------------------------------------------------------------------- optimiser state


def reshape_with_optimizer(
    model: LatticeNetwork,
    optimizer: torch.optim.Optimizer,
    change: Callable[[], None],
    carry: StateCarry,
    make_optimizer: Callable[[], torch.optim.Optimizer],
) -> torch.optim.Optimizer:
    """Apply ``change`` to the model's shapes and return a new optimiser (from
    ``make_optimizer``) in which each surviving parameter keeps its state, mapped by
    ``carry``."""
    names_before = {id(p): n for n, p in model.named_parameters()}
    state_by_name = {
        names_before[id(p)]: s for p, s in optimizer.state.items() if id(p) in names_before
    }
    change()
    optimizer = make_optimizer()
    for name, param in model.named_parameters():
        if name in state_by_name:
            optimizer.state[param] = {
                key: carry(name, key, value, param) for key, value in state_by_name[name].items()
            }
    return optimizer


def grow_with_optimizer(
    model: LatticeNetwork,
    optimizer: torch.optim.Optimizer,
    box: Box,
    new_step_mass: float,
    generator: torch.Generator,
    make_optimizer: Callable[[], torch.optim.Optimizer],
) -> torch.optim.Optimizer:
    """Grow ``model`` to ``box``; the optimiser state of every parameter carries over."""
    old_steps = model.box.steps

    def carry(name, key, value, param):
        grown = _grown_state(key, value, param)
        if name in ("halting_bias", "halting_gain") and param.shape[0] > old_steps:
            # The old last step's halting terms never had a gradient while it was last:
            # start their Adam state like the other steps' (not at zero).
            grown = _restarted_entry(key, grown, old_steps - 1)
        return grown

    return reshape_with_optimizer(
        model, optimizer, lambda: grow(model, box, new_step_mass, generator), carry, make_optimizer
    )


def compact_with_optimizer(
    model: LatticeNetwork,
    optimizer: torch.optim.Optimizer,
    plan: CompactionPlan,
    make_optimizer: Callable[[], torch.optim.Optimizer],
) -> torch.optim.Optimizer:
    """Compact ``model`` to ``plan``; the optimiser state keeps the entries the plan keeps."""

    def carry(name, key, value, param):
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            return kept_part(name, value, plan)
        return value

    return reshape_with_optimizer(
        model, optimizer, lambda: compact(model, plan), carry, make_optimizer
    )


def _restarted_entry(name: str, value, index: int):
    """Optimiser state with entry ``index`` restarted: zero momentum, and for Adam's second
    moment the mean of the entries before it."""
    if not isinstance(value, torch.Tensor) or value.dim() == 0:
        return value
    value = value.clone()
    if name == "exp_avg_sq":
        value[index] = value[:index].mean() if index > 0 else 0.0
    else:
        value[index] = 0.0
    return value


def _grown_state(name: str, value, param: torch.Tensor):
    """Optimiser state for a grown parameter: the old values in the leading corner; new
    entries start with zero momentum and, for Adam's second moment, the mean of the old
    entries, so a new weight's first steps are scaled like its neighbours' (a zero second
    moment would make Adam's first step on it a full ``lr`` whatever its gradient)."""
    if not isinstance(value, torch.Tensor) or value.dim() == 0 or value.shape == param.shape:
        return value
    fill = value.mean() if name == "exp_avg_sq" and value.numel() else 0.0
    grown = torch.full_like(param, float(fill))
    grown[tuple(slice(0, size) for size in value.shape)] = value
    return grown
