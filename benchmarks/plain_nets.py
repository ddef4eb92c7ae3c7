"""Plain PyTorch versions of growsim's network, for the accuracy benchmark: the same
recurrent conv net with one ``nn.Conv2d`` per connection and no halting, and a feedforward
net of the same depth; ``copy_lattice_weights`` proves they compute growsim's function."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from growsim.model.lattice import CONNECTIONS, LatticeNetwork
from growsim.spec import Spec


def _readout(channels: int, grid: int, classes: int) -> nn.Sequential:
    """The top layer average-pooled to grid x grid positions, then linear."""
    return nn.Sequential(
        nn.AdaptiveAvgPool2d(grid), nn.Flatten(), nn.Linear(channels * grid * grid, classes)
    )


def _bottom_up(
    in_channels: int, channels: int, layers: int, kernel_size: int, input_stride: int
) -> nn.ModuleList:
    """The bottom-up convolutions of every layer; layer 0 reads the image with a stride."""
    return nn.ModuleList(
        [_conv(in_channels, channels, kernel_size, input_stride)]
        + [_conv(channels, channels, kernel_size) for _ in range(layers - 1)]
    )


def _conv(source: int, channels: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(source, channels, kernel_size, stride, kernel_size // 2, bias=False)


class PlainRecurrentConvNet(nn.Module):
    """growsim's recurrent conv net written plainly, with a readout at every step:

        h_0^t = tanh(BU_0 * image + LAT_0 * a_0^{t-1} + TD_0 * a_1^{t-1})
        h_l^t = h_{l-1}^t + tanh(BU_l * a_{l-1}^t + LAT_l * a_l^{t-1} + TD_l * a_{l+1}^{t-1})

    a = silu(h); at t = 0 there is no a^{t-1}. No halting: it runs every step.
    """

    def __init__(
        self,
        in_channels: int,
        classes: int,
        layers: int,
        channels: int,
        steps: int,
        kernel_size: int = 3,
        input_stride: int = 2,
        readout_grid: int = 1,
        connections: tuple[str, ...] = CONNECTIONS,
    ) -> None:
        super().__init__()
        self.steps = steps
        self.bottom_up = _bottom_up(in_channels, channels, layers, kernel_size, input_stride)
        lateral = layers if "lateral" in connections else 0
        top_down = layers - 1 if "top_down" in connections else 0
        self.lateral = nn.ModuleList(
            [_conv(channels, channels, kernel_size) for _ in range(lateral)]
        )
        self.top_down = nn.ModuleList(
            [_conv(channels, channels, kernel_size) for _ in range(top_down)]
        )
        self.readout = _readout(channels, readout_grid, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Every step's readout logits, (batch, step, class)."""
        input_drive = self.bottom_up[0](images)  # the image does not change over time
        previous: list[torch.Tensor] | None = None  # a_l^{t-1} per layer
        logits = []
        for _ in range(self.steps):
            activations: list[torch.Tensor] = []
            state = None
            for layer in range(len(self.bottom_up)):
                if layer == 0:
                    drive = input_drive
                else:
                    drive = self.bottom_up[layer](activations[-1])
                if previous is not None:
                    if self.lateral:
                        drive = drive + self.lateral[layer](previous[layer])
                    if layer < len(self.top_down):
                        drive = drive + self.top_down[layer](previous[layer + 1])
                update = torch.tanh(drive)
                state = update if state is None else state + update
                activations.append(F.silu(state))
            previous = activations
            logits.append(self.readout(activations[-1]))
        return torch.stack(logits, dim=1)


class FeedforwardConvNet(nn.Module):
    """The same layers and update, bottom-up only, one pass:
    h_0 = tanh(BU_0 * image), h_l = h_{l-1} + tanh(BU_l * a_{l-1}), a = silu(h)"""

    def __init__(
        self,
        in_channels: int,
        classes: int,
        layers: int,
        channels: int,
        kernel_size: int = 3,
        input_stride: int = 2,
        readout_grid: int = 1,
    ) -> None:
        super().__init__()
        self.bottom_up = _bottom_up(in_channels, channels, layers, kernel_size, input_stride)
        self.readout = _readout(channels, readout_grid, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The readout logits as one step, (batch, 1, class)."""
        activation, state = images, None
        for conv in self.bottom_up:
            update = torch.tanh(conv(activation))
            state = update if state is None else state + update
            activation = F.silu(state)
        return self.readout(activation)[:, None]


def plain_nets(spec: Spec, in_channels: int, classes: int) -> dict[str, nn.Module]:
    """The plain recurrent and feedforward nets of the spec's maximum box, initialised from
    ``training.seed``."""
    lattice = spec.lattice
    shared = dict(
        in_channels=in_channels, classes=classes, layers=lattice.layers.max,
        channels=lattice.channels.max, kernel_size=lattice.kernel_size,
        input_stride=lattice.input_stride, readout_grid=lattice.readout_grid,
    )  # fmt: skip
    torch.manual_seed(spec.training.seed)
    recurrent = PlainRecurrentConvNet(
        steps=lattice.steps.max, connections=tuple(lattice.connections), **shared
    )
    return {"plain_recurrent": recurrent, "plain_feedforward": FeedforwardConvNet(**shared)}


@torch.no_grad()
def copy_lattice_weights(source: LatticeNetwork, target: PlainRecurrentConvNet) -> None:
    """Set ``target``'s weights to ``source``'s, so both compute the same readouts."""
    box = source.box
    shape = (len(target.bottom_up), target.bottom_up[0].out_channels, target.steps)
    if (box.layers, box.channels, box.steps) != shape:
        raise ValueError(
            f"box {box} does not match the plain net's (layers, channels, steps) {shape}"
        )
    if len(source.lateral) != len(target.lateral) or len(source.top_down) != len(target.top_down):
        raise ValueError(f"the plain net lacks some of the connections {source.connections}")
    for kind in ("bottom_up", "lateral", "top_down"):
        for weight, conv in zip(getattr(source, kind), getattr(target, kind)):
            conv.weight.copy_(weight)
    linear = target.readout[-1]
    linear.weight.copy_(source.readout_weight.flatten(1))  # (class, channel * y * x)
    linear.bias.copy_(source.readout_bias)
