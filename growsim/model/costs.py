"""Differentiable resource costs: breadth, depth and time. Pure functions of tensors.

m(l, c) is the magnitude of channel c of layer l: the L2 norm of every weight that writes
into it (all connection types). With layers (layer, channel) magnitudes m,

    breadth B = sum_{l,c} w(rank(l,c)) * m(l,c),  w(r) = ((r + 1) / max_channels)^exponent
    depth   D = sum_l g(l) * M(l),  M(l) = sqrt(sum_c m(l,c)^2),  g(l) = (l / (max_layers - 1))^exponent
    time    T = mean over inputs of sum_t (t + 1) * p_t

rank 0 is the largest channel of its layer. The rank is computed without gradient, so B is
differentiable wherever no two magnitudes in a layer tie, and it presses hardest on the
weakest channels: channels switch off from the bottom of the ranking up. D is a group norm
over each whole layer, so it switches a layer off as one unit; g(0) = 0 because layer 0
reads the image and is not residual (it cannot become the identity). B and D are group
norms, which training applies as proximal steps (``growsim.model.proximal``) rather than as
gradients; T is a smooth function of the halting probabilities and is backpropagated.
"""

from __future__ import annotations

import torch

# Smooths the norm at zero so a silent channel has zero cost and zero gradient.
NORM_EPSILON = 1e-8


def channel_magnitudes(layers: list[dict[str, torch.Tensor]]) -> torch.Tensor:
    """m(l, c), (layer, channel): L2 norm of all weights writing into each channel.

    ``layers`` holds, per layer, tensors whose first dimension is the output channel
    (see ``LatticeNetwork.incoming_weights``).
    """
    rows = []
    for weights in layers:
        squares = sum(w.reshape(w.shape[0], -1).square().sum(dim=1) for w in weights.values())
        rows.append(smooth_norm_from_squares(squares))
    return torch.stack(rows)


def smooth_norm_from_squares(squares: torch.Tensor) -> torch.Tensor:
    """sqrt(s + eps^2) - eps: the norm, smooth at zero, exactly zero there."""
    return torch.sqrt(squares + NORM_EPSILON**2) - NORM_EPSILON


def rank_weights(magnitudes: torch.Tensor, max_channels: int, exponent: float) -> torch.Tensor:
    """w(rank) per channel, (layer, channel); rank 0 is the layer's largest channel."""
    order = torch.argsort(magnitudes.detach(), dim=1, descending=True, stable=True)
    ranks = torch.argsort(order, dim=1).to(magnitudes.dtype)
    return ((ranks + 1.0) / max_channels) ** exponent


def breadth_cost(
    magnitudes: torch.Tensor, max_channels: int, exponent: float = 1.0
) -> torch.Tensor:
    """Rank-weighted sum of channel magnitudes (a scalar)."""
    return (rank_weights(magnitudes, max_channels, exponent) * magnitudes).sum()


def layer_weights(
    layers: int, max_layers: int, exponent: float, like: torch.Tensor
) -> torch.Tensor:
    """g(l) per layer, (layer,): 0 for layer 0, rising to 1 at the box's top layer."""
    index = torch.arange(layers, dtype=like.dtype, device=like.device)
    return (index / max(max_layers - 1, 1)) ** exponent if exponent > 0 else (index > 0).to(like)


def layer_magnitudes(magnitudes: torch.Tensor) -> torch.Tensor:
    """M(l), (layer,): the norm of every weight writing into layer l, from m(l, c)."""
    return smooth_norm_from_squares(magnitudes.square().sum(dim=1))


def depth_cost(magnitudes: torch.Tensor, max_layers: int, exponent: float = 1.0) -> torch.Tensor:
    """Layer-index-weighted sum of each layer's magnitude M(l) (a scalar)."""
    weights = layer_weights(magnitudes.shape[0], max_layers, exponent, magnitudes)
    return (weights * layer_magnitudes(magnitudes)).sum()


def expected_steps(step_probs: torch.Tensor) -> torch.Tensor:
    """E[number of steps] per input, (batch,), from p_t of shape (batch, step)."""
    steps = torch.arange(
        1, step_probs.shape[1] + 1, dtype=step_probs.dtype, device=step_probs.device
    )
    return step_probs @ steps


def time_entropy(log_step_probs: torch.Tensor) -> torch.Tensor:
    """Entropy of each input's time distribution, averaged over the batch (a scalar, nats)."""
    return -(log_step_probs.exp() * log_step_probs).sum(dim=1).mean()


def time_cost(step_probs: torch.Tensor) -> torch.Tensor:
    """Expected number of steps, averaged over the batch (a scalar)."""
    return expected_steps(step_probs).mean()


def expected_task_loss(
    logits: torch.Tensor,
    log_step_probs: torch.Tensor,
    labels: torch.Tensor,
    step_supervision: float = 0.0,
) -> torch.Tensor:
    """sum_t p_t * CE(y_t) + step_supervision * mean_t CE(y_t), averaged over the batch.

    logits: (batch, step, class); log_step_probs: (batch, step); labels: (batch,).
    Each step's readout is trained to be right, and time selection learns to put mass on
    steps whose readout is right (the PonderNet objective). Under the first term alone a
    step with no mass gets no training, so time selection can collapse onto the last
    step for every input; the second term trains every step's readout, so halting early
    stays a real option for inputs that an early step already gets right.
    """
    batch, steps, classes = logits.shape
    per_step = torch.nn.functional.cross_entropy(
        logits.reshape(batch * steps, classes), labels.repeat_interleave(steps), reduction="none"
    ).view(batch, steps)
    expected = (log_step_probs.exp() * per_step).sum(dim=1).mean()
    if step_supervision:
        return expected + step_supervision * per_step.mean()
    return expected
