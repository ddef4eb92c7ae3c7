"""Breadth and depth pressure as a proximal step: group soft-thresholding of the weights.

The breadth and depth costs are sums of group norms (see ``growsim.model.costs``): a channel's
incoming weights form a group, and a layer's channels together form a larger group that
contains them. Such a cost is not applied as a gradient: Adam rescales a gradient of a
norm like any other, so a channel at zero is pushed out again by a full step whatever its
cost, and a silent channel never stays silent. Instead, after every optimiser step each
group is shrunk towards zero by its own threshold (the proximal operator of the cost),
which sets it exactly to zero when its norm is below the threshold:

    channel (l, c):  w <- w * max(0, 1 - tau / ||w_{l,c}||),  tau = s_{l,c} * lambda_B * w(rank)
    layer l:         w <- w * max(0, 1 - tau / ||w_l||),      tau = s_l * lambda_D * g(l)

applied channels first, then layers (for nested groups this order gives the exact proximal
operator of the sum). s is the step size the optimiser took on the group: ``lr`` for SGD,
and for Adam lr / (sqrt(mean over the group of Adam's second moment) + eps), the same
normalisation Adam applies to the task gradient. With it, a weight lambda keeps the meaning
it has in the loss: at the fixed point a group stays exactly zero while the norm of the
task gradient on it is at most its threshold lambda * w(rank) (or lambda * g(l)), the
optimality condition of the penalised loss. A silent channel is switched on only by a task
gradient stronger than its cost, and stays off while the pressure on it stays.
"""

from __future__ import annotations

import torch

from growsim.model import costs

ADAM_EPSILON = 1e-8


@torch.no_grad()
def apply_pressure(
    layers: list[dict[str, torch.Tensor]],
    second_moments: list[dict[str, torch.Tensor]] | None,
    breadth_weight: float,
    depth_weight: float,
    learning_rate: float,
    max_channels: int,
    max_layers: int,
    breadth_exponent: float = 1.0,
    depth_exponent: float = 1.0,
) -> None:
    """Shrink each channel's and each layer's incoming weights in place (one proximal step).

    ``layers`` is ``LatticeNetwork.incoming_weights()``: per layer, tensors whose first
    dimension is the output channel. ``second_moments`` holds Adam's bias-corrected second
    moment of each of those tensors (same layout), or None for plain gradient steps.
    """
    if breadth_weight <= 0 and depth_weight <= 0:
        return
    layer_factors = costs.layer_weights(len(layers), max_layers, depth_exponent, torch.ones(()))
    for layer, weights in enumerate(layers):
        tensors = list(weights.values())
        squares = sum(_row_sums(t.square()) for t in tensors)  # (channel,)
        norms = squares.sqrt()
        if second_moments is None:
            channel_step = torch.full_like(norms, learning_rate)
            layer_step = torch.as_tensor(learning_rate, dtype=norms.dtype)
        else:
            moments = list(second_moments[layer].values())
            count = sum(t[0].numel() for t in tensors)
            channel_moment = sum(_row_sums(m) for m in moments) / count
            channel_step = learning_rate / (channel_moment.sqrt() + ADAM_EPSILON)
            layer_step = learning_rate / (channel_moment.mean().sqrt() + ADAM_EPSILON)
        scale = torch.ones_like(norms)
        if breadth_weight > 0:
            ranks = costs.rank_weights(norms[None], max_channels, breadth_exponent)[0]
            scale = _shrink_factor(norms, channel_step * breadth_weight * ranks)
        depth_factor = float(layer_factors[layer])
        if depth_weight > 0 and depth_factor > 0:
            layer_norm = (scale * norms).square().sum().sqrt()
            threshold = layer_step * depth_weight * depth_factor
            scale = scale * _shrink_factor(layer_norm, threshold)
        for tensor in tensors:
            tensor.mul_(scale.to(tensor.dtype).view(-1, *([1] * (tensor.dim() - 1))))


def pressure_learning_rate(optimizer: torch.optim.Optimizer) -> float:
    """The step size of the proximal pressure: ``lr``, and for SGD with momentum the step a
    steady gradient settles at, lr / (1 - momentum)."""
    group = optimizer.param_groups[0]
    if isinstance(optimizer, torch.optim.SGD):
        return group["lr"] / (1.0 - group["momentum"])
    return group["lr"]


def adam_second_moments(
    optimizer: torch.optim.Optimizer, layers: list[dict[str, torch.Tensor]]
) -> list[dict[str, torch.Tensor]] | None:
    """Adam's bias-corrected second moment of every tensor in ``layers`` (the layout of
    ``LatticeNetwork.incoming_weights()``), for ``apply_pressure``; None for other
    optimisers. A tensor that never had a gradient (e.g. lateral weights at one step) gets
    zeros."""
    if not isinstance(optimizer, torch.optim.Adam):
        return None
    beta2 = optimizer.param_groups[0]["betas"][1]
    moments = []
    for weights in layers:
        row = {}
        for kind, param in weights.items():
            state = optimizer.state.get(param, {})
            if "exp_avg_sq" not in state:
                row[kind] = torch.zeros_like(param)
                continue
            row[kind] = state["exp_avg_sq"] / (1.0 - beta2 ** float(state["step"]))
        moments.append(row)
    return moments


def _row_sums(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over everything but the first (output-channel) dimension."""
    return tensor.reshape(tensor.shape[0], -1).sum(dim=1)


def _shrink_factor(norm: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """max(0, 1 - threshold / norm), and 0 where the norm is already 0."""
    safe = torch.where(norm > 0, norm, torch.ones_like(norm))
    return torch.where(norm > threshold, 1.0 - threshold / safe, torch.zeros_like(norm))
