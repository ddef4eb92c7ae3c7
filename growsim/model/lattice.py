"""The network: a finite box of the (layer, channel, step) lattice.

Each layer l keeps a hidden state h_l (batch, channel, y, x). At every time step t,

    h_0^t = tanh(BU_0 * image + LAT_0 * a_0^{t-1} + TD_0 * a_1^{t-1})
    h_l^t = h_{l-1}^t + tanh(BU_l * a_{l-1}^t + LAT_l * a_l^{t-1} + TD_l * a_{l+1}^{t-1})

with a = silu(h) and * a convolution. The path is residual along depth and channel c of
layer l sits above channel c of layer l-1, so a layer whose weights are all zero is the
identity and a channel whose incoming weights are zero stays exactly zero. silu, unlike
relu, passes gradient at zero, so a silent (zero) unit can still learn to switch on.

Every step has a readout (a_top average-pooled to a ``readout_grid`` x ``readout_grid`` grid,
then linear) and a halting probability
lambda_t; the time distribution is the stick-breaking p_t = lambda_t * prod_{s<t} (1 -
lambda_s), the last step taking what remains. ``fixed`` time selection learns one
lambda per step; ``adaptive`` adds per-input terms: a linear read of the top layer's
pooled features and a learned multiple of the step's readout confidence (its largest class
probability, detached so halting reads the readout without reshaping it). The confidence
term lets an input halt once its readout is sure, which is what makes time input-dependent
(``halting_reads_confidence=False`` drops it: halting then reads the features alone).
Each step scales those per-input terms by its own gain g_t:

    halting logit_t = bias_t + g_t * (w . pooled features + k * confidence)

A step that has just stopped being the last (time growth) gets g_t = 0, so its halting
probability is the same for every input and the new step receives exactly
``new_step_mass`` of each input's old last-step probability; g_t then learns like any weight.

``halting_centred`` subtracts from the features and the confidence their running means over
training batches, per step (buffers, updated in training mode with gradients on; the first
batches are averaged, then an exponential average of weight HALTING_MEAN_MOMENTUM). The
per-input terms then average zero, so the gradient that moves every input's halting alike
goes to bias_t alone instead of leaking into w and k through the features' positive mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from growsim.model.halting import stick_breaking_log_probs, uniform_halting_bias
from growsim.model.outputs import NetworkOutput, Prediction

CONNECTIONS = ("bottom_up", "lateral", "top_down")
PRECISIONS = ("fp32", "bf16")  # training.precision
HALTING_MEAN_MOMENTUM = 0.02  # weight of each training batch in the means halting is centred on
# Every name the state of time selection can have in ``state_dict()``: the parameters of
# ``time_parameters()`` (which of them a network has depends on its options) and the means
# halting is centred on. Fine-tuning halting (training.init_from) starts them afresh.
TIME_SELECTION_STATE = (
    "halting_bias", "halting_weight", "halting_confidence", "halting_gain",
    "halting_feature_mean", "halting_confidence_mean", "halting_mean_batches",
)  # fmt: skip


@dataclass(frozen=True)
class Box:
    """The finite part of the lattice that exists now."""

    layers: int
    channels: int
    steps: int


class LatticeNetwork(nn.Module):
    """A recurrent conv net with bottom-up, lateral and top-down connections on a lattice box."""

    def __init__(
        self,
        box: Box,
        in_channels: int,
        classes: int,
        kernel_size: int = 3,
        input_stride: int = 2,
        connections: tuple[str, ...] = CONNECTIONS,
        time_mode: str = "adaptive",
        generator: torch.Generator | None = None,
        readout_grid: int = 1,
        halting_reads_confidence: bool = True,
        precision: str = "fp32",
        halting_centred: bool = False,
    ) -> None:
        super().__init__()
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.precision = precision  # bf16: convolutions under autocast, the rest float32 (_step)
        unknown = set(connections) - set(CONNECTIONS)
        if unknown or "bottom_up" not in connections:
            raise ValueError(f"connections must include bottom_up and come from {CONNECTIONS}")
        self.in_channels = in_channels
        self.classes = classes
        self.kernel_size = kernel_size
        self.input_stride = input_stride
        self.connections = tuple(c for c in CONNECTIONS if c in connections)
        self.time_mode = time_mode
        self.readout_grid = readout_grid
        # adaptive halting reads the readout's confidence (off: the pooled features only)
        self.reads_confidence = time_mode == "adaptive" and halting_reads_confidence
        C, k = box.channels, kernel_size
        self.bottom_up = nn.ParameterList()
        self.lateral = nn.ParameterList()
        self.top_down = nn.ParameterList()
        for layer in range(box.layers):
            fan_in = self.fan_in(layer, C, box.layers)
            std = 1.0 / math.sqrt(fan_in)
            source = in_channels if layer == 0 else C
            self.bottom_up.append(normal_parameter((C, source, k, k), std, generator))
            if "lateral" in self.connections:
                self.lateral.append(normal_parameter((C, C, k, k), std, generator))
            if "top_down" in self.connections and layer < box.layers - 1:
                self.top_down.append(normal_parameter((C, C, k, k), std, generator))
        # Lattice identity of each channel position: compaction removes positions and
        # growth fills the smallest free identities again (see growsim.model.reshape).
        self.register_buffer("channel_ids", torch.arange(C))
        self.readout_weight = self.readout_init(C, C, generator)  # (class, channel, y, x)
        self.readout_bias = nn.Parameter(torch.zeros(classes))
        self.halting_bias = nn.Parameter(uniform_halting_bias(box.steps))
        if time_mode == "adaptive":
            self.halting_weight = nn.Parameter(torch.zeros(C))
            if self.reads_confidence:
                self.halting_confidence = nn.Parameter(torch.zeros(()))
            self.halting_gain = nn.Parameter(torch.ones(box.steps))
        elif time_mode != "fixed":
            raise ValueError(f"time_mode must be 'fixed' or 'adaptive', got {time_mode!r}")
        self.centred = time_mode == "adaptive" and halting_centred
        if self.centred:  # running means, per step, of what the per-input terms read
            self.register_buffer("halting_feature_mean", torch.zeros(box.steps, C))
            self.register_buffer("halting_confidence_mean", torch.zeros(box.steps))
            self.register_buffer("halting_mean_batches", torch.zeros((), dtype=torch.long))

    # ------------------------------------------------------------------ box

    @property
    def box(self) -> Box:
        """The current box, read off the parameter shapes."""
        return Box(
            layers=len(self.bottom_up),
            channels=self.bottom_up[0].shape[0],
            steps=self.halting_bias.shape[0],
        )

    def readout_init(self, channels: int, count: int, generator) -> nn.Parameter:
        """Random readout weights for ``count`` channels of a ``channels``-wide top layer."""
        grid = self.readout_grid
        std = 1.0 / math.sqrt(channels * grid * grid)
        return normal_parameter((self.classes, count, grid, grid), std, generator)

    def fan_in(self, layer: int, channels: int, layers: int) -> int:
        """Weights into one channel of ``layer`` when every connection type is present."""
        k2 = self.kernel_size**2
        source = self.in_channels if layer == 0 else channels
        fan = source * k2
        if "lateral" in self.connections:
            fan += channels * k2
        if "top_down" in self.connections:
            fan += channels * k2
        return fan

    def incoming_weights(self) -> list[dict[str, torch.Tensor]]:
        """Per layer, the weight tensor of each connection type that writes into it.

        Each tensor has the layer's output channel as its first dimension.
        """
        layers = []
        for layer in range(len(self.bottom_up)):
            weights = {"bottom_up": self.bottom_up[layer]}
            if "lateral" in self.connections:
                weights["lateral"] = self.lateral[layer]
            if "top_down" in self.connections and layer < len(self.top_down):
                weights["top_down"] = self.top_down[layer]
            layers.append(weights)
        return layers

    def time_parameters(self) -> list[nn.Parameter]:
        """Parameters of time selection (they get their own learning rate)."""
        params = [self.halting_bias]
        if self.time_mode == "adaptive":
            params += [self.halting_weight, self.halting_gain]
            if self.reads_confidence:
                params.insert(2, self.halting_confidence)
        return params

    # ------------------------------------------------------------------ forward

    def forward(self, images: torch.Tensor) -> NetworkOutput:
        """Unroll the network over its time steps. images: (batch, in_channels, H, W)."""
        input_drive = self._input_drive(images)
        kernels = self._fused_kernels(conv_memory_format(images))
        previous: list[torch.Tensor] | None = None  # a_l^{t-1} per layer
        logits, halting_logits = [], []
        for step in range(self.halting_bias.shape[0]):
            previous, step_logits, halting = self._step(input_drive, previous, step, kernels)
            logits.append(step_logits)
            halting_logits.append(halting)
        log_probs = stick_breaking_log_probs(torch.stack(halting_logits, dim=1))
        return NetworkOutput(logits=torch.stack(logits, dim=1), log_step_probs=log_probs)

    @torch.no_grad()
    def activations(self, images: torch.Tensor) -> torch.Tensor:
        """a_l^t = silu(h_l^t) of every layer at every step, (batch, layer, channel, step, y, x)
        in float32: the unrolled forward pass, every step computed. images as ``forward``'s."""
        input_drive = self._input_drive(images)
        kernels = self._fused_kernels(conv_memory_format(images))
        previous, steps = None, []
        for step in range(self.halting_bias.shape[0]):
            previous, _, _ = self._step(input_drive, previous, step, kernels)
            steps.append(torch.stack(previous, dim=1).float())  # (batch, layer, channel, y, x)
        return torch.stack(steps, dim=3)

    @torch.no_grad()
    def predict(self, images: torch.Tensor, exit_threshold: float = 0.0) -> "Prediction":
        """Class probabilities, computing steps only while an input's halting mass remains.

        An input stops once the probability of going on past the current step falls to
        ``exit_threshold`` or below; that remaining mass is given to its last computed
        readout. Each class probability then differs from ``forward``'s by at most
        ``exit_threshold``, and so does the expected number of steps divided by the box's
        steps. ``exit_threshold=0`` computes every step (the exact prediction). With
        ``fixed`` time selection every input halts alike, so inputs exit together.
        """
        return self.predict_at(images, (exit_threshold,))[0]

    @torch.no_grad()
    def predict_at(self, images: torch.Tensor, thresholds: tuple[float, ...]) -> list["Prediction"]:
        """``predict`` at each exit threshold, from one pass over the steps: an input is
        computed until it has stopped at every threshold, and each threshold's results
        stop changing where that threshold stops it (the same arithmetic as one
        ``predict`` call per threshold, which is what a pass with one threshold is)."""
        steps = self.halting_bias.shape[0]
        batch = images.shape[0]
        input_drive = self._input_drive(images)
        kernels = self._fused_kernels(conv_memory_format(images))
        limits = images.new_tensor(thresholds)[:, None]  # (threshold, 1)
        shape = (len(thresholds), batch)
        alive = torch.arange(batch, device=images.device)  # inputs still computing
        previous = None
        mixture = images.new_zeros(shape + (self.classes,))
        step_probs = images.new_zeros(shape + (steps,))
        remaining = images.new_ones(shape)  # prod_{s<t} (1 - lambda_s)
        computed = torch.zeros(shape, dtype=torch.long, device=images.device)
        running = torch.ones(shape, dtype=torch.bool, device=images.device)  # not yet stopped
        for step in range(steps):
            previous, step_logits, halting = self._step(input_drive, previous, step, kernels)
            probs = step_logits.softmax(dim=-1)
            last = step == steps - 1
            halt = torch.ones_like(halting) if last else torch.sigmoid(halting)
            going, before = running[:, alive], remaining[:, alive]
            p_now = before * halt
            left = before - p_now
            stop = torch.ones_like(going) if last else left <= limits
            # Mass left by stopping inputs goes to their current step's readout.
            weight = p_now + torch.where(stop, left, torch.zeros_like(left))
            weight = torch.where(going, weight, torch.zeros_like(weight))
            mixture[:, alive] += weight[..., None] * probs
            step_probs[:, alive, step] = weight
            remaining[:, alive] = left  # read only while the input goes on
            computed[:, alive] = torch.where(going, step + 1, computed[:, alive])
            running[:, alive] = going & ~stop
            keep = running[:, alive].any(dim=0)
            if not keep.any():
                break
            if keep.all():
                continue
            alive = alive[keep]
            input_drive = input_drive[keep]
            previous = [state[keep] for state in previous]
        return [Prediction(*parts) for parts in zip(mixture, step_probs, computed)]

    def _conv_precision(self, device: torch.device):
        """The autocast context the convolutions run in (a no-op at fp32)."""
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def _input_drive(self, images: torch.Tensor) -> torch.Tensor:
        # The image does not change over time: its drive into layer 0 is computed once.
        pad = self.kernel_size // 2
        with self._conv_precision(images.device):
            drive = F.conv2d(images, self.bottom_up[0], stride=self.input_stride, padding=pad)
        return drive.contiguous(memory_format=conv_memory_format(images))

    def _step(self, input_drive, previous, step, kernels):
        """One time step: new activations per layer, the readout logits and halting logit.
        ``kernels`` is ``_fused_kernels()``."""
        pad = self.kernel_size // 2
        states: list[torch.Tensor] = []
        activations: list[torch.Tensor] = []
        with self._conv_precision(input_drive.device):
            for layer in range(len(self.bottom_up)):
                drive = self._recurrent_drive(layer, activations, previous, pad, kernels)
                if layer == 0:
                    drive = input_drive if drive is None else input_drive + drive
                update = torch.tanh(drive)
                state = update if layer == 0 else states[-1] + update
                states.append(state)
                activations.append(F.silu(state))
        top = activations[-1].to(
            self.readout_weight.dtype
        )  # readout and halting at the parameters' precision (float32 under bf16)
        features = top.mean(dim=(2, 3))  # (batch, channel)
        grid = self.readout_grid
        pooled = features[:, :, None, None] if grid == 1 else F.adaptive_avg_pool2d(top, grid)
        step_logits = F.linear(pooled.flatten(1), self.readout_weight.flatten(1), self.readout_bias)
        return activations, step_logits, self._halting_logit(features, step_logits, step)

    def _fused_kernels(
        self, memory_format: torch.memory_format
    ) -> list[tuple[torch.Tensor | None, torch.Tensor | None]]:
        """Per layer, the kernel of its first step (bottom-up only; None for layer 0, whose
        bottom-up drive is the input drive) and of later steps (bottom-up, lateral and
        top-down concatenated along input channels; None if it reads nothing). Concatenated
        once per forward pass, not once per step, and laid out in ``memory_format``."""
        kernels = []
        for layer in range(len(self.bottom_up)):
            weights = [self.bottom_up[layer]] if layer > 0 else []
            first = weights[0] if weights else None
            if "lateral" in self.connections:
                weights.append(self.lateral[layer])
            if "top_down" in self.connections and layer < len(self.top_down):
                weights.append(self.top_down[layer])
            later = (
                None
                if not weights
                else weights[0]
                if len(weights) == 1
                else torch.cat(weights, dim=1)
            )
            kernels.append(tuple(
                None if k is None else k.contiguous(memory_format=memory_format) for k in (first, later)
            ))  # fmt: skip
        return kernels

    def _recurrent_drive(
        self,
        layer: int,
        activations: list[torch.Tensor],
        previous: list[torch.Tensor] | None,
        pad: int,
        kernels: list[tuple[torch.Tensor | None, torch.Tensor | None]],
    ) -> torch.Tensor | None:
        """One fused convolution over every input a layer reads at this step (None if none)."""
        inputs = [activations[layer - 1]] if layer > 0 else []
        if previous is not None:
            if "lateral" in self.connections:
                inputs.append(previous[layer])
            if "top_down" in self.connections and layer < len(self.top_down):
                inputs.append(previous[layer + 1])
        if not inputs:
            return None
        kernel = kernels[layer][0 if previous is None else 1]
        if len(inputs) == 1:
            return F.conv2d(inputs[0], kernel, padding=pad)
        return F.conv2d(torch.cat(inputs, dim=1), kernel, padding=pad)

    def _halting_logit(
        self, features: torch.Tensor, step_logits: torch.Tensor, step: int
    ) -> torch.Tensor:
        bias = self.halting_bias[step].expand(features.shape[0])
        if self.time_mode == "adaptive":
            if self.centred:
                features = self._centred(self.halting_feature_mean, features, step)
            per_input = features @ self.halting_weight
            if self.reads_confidence:
                confidence = step_logits.detach().softmax(dim=-1).amax(dim=-1)
                if self.centred:
                    confidence = self._centred(self.halting_confidence_mean, confidence, step)
                per_input = per_input + self.halting_confidence * confidence
            if self.centred and self._moves_means() and step == self.halting_bias.shape[0] - 1:
                self.halting_mean_batches.add_(1)
            return bias + self.halting_gain[step] * per_input
        return bias

    def _moves_means(self) -> bool:
        """Whether this forward pass moves the running means (a training pass)."""
        return self.training and torch.is_grad_enabled()

    def _centred(self, means: torch.Tensor, values: torch.Tensor, step: int) -> torch.Tensor:
        """``values`` (batch, ...) less their running mean at ``step``, which a training
        forward pass first moves towards this batch's mean."""
        if self._moves_means():
            with torch.no_grad():  # tensors only: no host sync, no graph break when compiled
                batches = self.halting_mean_batches.to(means.dtype)
                weight = (1.0 / (batches + 1.0)).clamp(min=HALTING_MEAN_MOMENTUM)
                means[step].lerp_(values.detach().mean(dim=0).to(means.dtype), weight)
        return values - means[step]


def conv_memory_format(images: torch.Tensor) -> torch.memory_format:
    """The layout the convolutions run in: channels-last on CPU (a training step runs about
    15% faster in it; docs/results/benchmarks), PyTorch's default elsewhere."""
    return torch.channels_last if images.device.type == "cpu" else torch.contiguous_format


def normal_parameter(shape, std: float, generator: torch.Generator | None) -> nn.Parameter:
    """A parameter of ``shape`` drawn from N(0, std^2) with ``generator``."""
    return nn.Parameter(torch.randn(tuple(shape), generator=generator) * std)
