"""growsim's training step written plainly, as the floor a compacted growsim step is held to.

The same network (a recurrent conv net with bottom-up, lateral and top-down connections, a
residual path along depth, a 2 x 2 spatial readout and adaptive halting that reads the
top layer and the readout's confidence), the same objective (expected cross-entropy under
the halting distribution, every step's readout supervised, the time cost and the time
entropy) and the same breadth and depth pressure (group soft-thresholding of each
channel's and each layer's incoming weights after the Adam step). Written the way one
would by hand for speed: one kernel tensor per layer holding all its connections, the
image's drive into layer 0 computed once, no lattice bookkeeping (no channel identities,
masks or per-connection parameters), and on CPU the convolutions in the channels-last
layout, as growsim runs them (growsim.model.lattice.conv_memory_format), with the kernels
stored that way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from growsim.model.lattice import conv_memory_format


class FusedRecurrentNet(nn.Module):
    """The recurrent conv net with each layer's connections in one kernel tensor.

    Layer l's kernel reads, along its input channels: the layer below at this step (l > 0),
    itself at the previous step, and the layer above at the previous step (l < top).
    """

    def __init__(self, layers: int, channels: int, steps: int, classes: int,
                 in_channels: int = 1, grid: int = 2, stride: int = 2) -> None:  # fmt: skip
        super().__init__()
        self.channels, self.steps, self.grid, self.stride = channels, steps, grid, stride
        generator = torch.Generator().manual_seed(0)

        def kernel(inputs: int) -> nn.Parameter:
            scale = (2.0 / (inputs * 9)) ** 0.5
            return nn.Parameter(torch.randn(channels, inputs, 3, 3, generator=generator) * scale)

        self.input_kernel = kernel(in_channels)
        self.kernels = nn.ParameterList(
            [kernel(channels * ((layer > 0) + 1 + (layer < layers - 1))) for layer in range(layers)]
        )
        self.readout = nn.Linear(channels * grid * grid, classes)
        self.halting_bias = nn.Parameter(torch.zeros(steps))
        self.halting_gain = nn.Parameter(torch.ones(steps))
        self.halting_weight = nn.Parameter(torch.zeros(channels))
        self.halting_confidence = nn.Parameter(torch.zeros(()))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (batch, step, class), log p_t (batch, step))."""
        channels, top = self.channels, len(self.kernels) - 1
        input_drive = F.conv2d(images, self.input_kernel, stride=self.stride, padding=1)
        input_drive = input_drive.contiguous(memory_format=conv_memory_format(images))
        previous, logits, halting = None, [], []
        for step in range(self.steps):
            activations, state = [], None
            for layer, kernel in enumerate(self.kernels):
                if previous is None:
                    drive = (input_drive if layer == 0 else
                             F.conv2d(activations[-1], kernel[:, :channels], padding=1))  # fmt: skip
                else:
                    inputs = ([activations[-1]] if layer > 0 else []) + [previous[layer]]
                    inputs += [previous[layer + 1]] if layer < top else []
                    drive = F.conv2d(torch.cat(inputs, dim=1), kernel, padding=1)
                    drive = drive + input_drive if layer == 0 else drive
                update = torch.tanh(drive)
                state = update if state is None else state + update
                activations.append(F.silu(state))
            previous = activations
            features = activations[-1].mean(dim=(2, 3))
            step_logits = self.readout(F.adaptive_avg_pool2d(activations[-1], self.grid).flatten(1))
            confidence = step_logits.detach().softmax(dim=-1).amax(dim=-1)
            per_input = features @ self.halting_weight + self.halting_confidence * confidence
            halting.append(self.halting_bias[step] + self.halting_gain[step] * per_input)
            logits.append(step_logits)
        halting_logits = torch.stack(halting, dim=1)
        continue_ = F.logsigmoid(-halting_logits)
        survived = torch.cumsum(continue_, dim=1) - continue_
        log_probs = F.logsigmoid(halting_logits) + survived
        log_probs = torch.cat([log_probs[:, :-1], survived[:, -1:]], dim=1)
        return torch.stack(logits, dim=1), log_probs


def fused_loss(model: FusedRecurrentNet, images, labels, time_weight: float,
               step_supervision: float, entropy_weight: float) -> torch.Tensor:  # fmt: skip
    """Expected cross-entropy + step supervision + time cost - time entropy, one batch."""
    logits, log_probs = model(images)
    batch, steps, classes = logits.shape
    per_step = F.cross_entropy(logits.reshape(-1, classes), labels.repeat_interleave(steps),
                               reduction="none").view(batch, steps)  # fmt: skip
    probs = log_probs.exp()
    expected_steps = probs @ torch.arange(1, steps + 1, dtype=probs.dtype)
    entropy = -(probs * log_probs).sum(dim=1).mean()
    task = (probs * per_step).sum(dim=1).mean() + step_supervision * per_step.mean()
    return task + time_weight * expected_steps.mean() - entropy_weight * entropy


@torch.no_grad()
def fused_pressure(model: FusedRecurrentNet, optimizer: torch.optim.Adam, breadth: float,
                   depth: float, lr: float) -> None:  # fmt: skip
    """Soft-threshold each channel's incoming weights, then each layer's (steps scaled by
    Adam's second moment, as growsim's proximal step does)."""
    count = len(model.kernels)
    for layer, kernel in enumerate(model.kernels):
        rows = kernel.reshape(kernel.shape[0], -1)
        norms = rows.norm(dim=1)
        state = optimizer.state.get(kernel, {})
        if "exp_avg_sq" in state:
            moment = state["exp_avg_sq"].reshape(kernel.shape[0], -1).mean(dim=1)
            moment = moment / (1.0 - 0.999 ** float(state["step"]))
        else:
            moment = torch.ones_like(norms)
        channel_step = lr / (moment.sqrt() + 1e-8)
        ranks = torch.argsort(torch.argsort(norms, descending=True)).to(norms.dtype)
        threshold = channel_step * breadth * (ranks + 1) / kernel.shape[0]
        scale = torch.clamp(1 - threshold / norms.clamp_min(1e-12), min=0)
        layer_norm = (scale * norms).square().sum().sqrt()
        layer_threshold = lr / (moment.mean().sqrt() + 1e-8) * depth * layer / max(count - 1, 1)
        scale = scale * torch.clamp(1 - layer_threshold / layer_norm.clamp_min(1e-12), min=0)
        kernel.mul_(scale.view(-1, 1, 1, 1))


def fused_step(layers: int, channels: int, steps: int, classes: int, images, labels):
    """A training-step closure of the fused baseline on a fixed batch."""
    model = FusedRecurrentNet(layers, channels, steps, classes, images.shape[1])
    model = model.to(memory_format=conv_memory_format(images))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    count = [0]

    def step() -> None:
        count[0] += 1
        time_weight = min(1.0, count[0] / 10) * 0.05  # a ramp, as growsim's step gets
        loss = fused_loss(model, images, labels, time_weight, 0.5, 0.1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        fused_pressure(model, optimizer, 0.01, 0.005, 1e-3)

    return step
