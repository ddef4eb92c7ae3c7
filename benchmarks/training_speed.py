"""Training throughput and peak memory: growsim (uncompacted, compacted, compiled) against
a plain PyTorch recurrent conv net of the same active size; adaptive early exit. Every figure is a ratio of times measured in this one run.

The network: 3 layers, 4 steps, 28 x 28 inputs at input stride 2, batch 128. "25% active":
the box has 32 channels per layer and 8 carry weights (the other 24 pruned to zero, as the
breadth cost leaves them); compaction packs it to 8 channels.
"""

from __future__ import annotations

import time
from pathlib import Path
from tempfile import TemporaryDirectory

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.memory_use import peak_step_bytes
from benchmarks.step_floor import batch, interleaved_seconds, seconds_per_call
from growsim.model.compaction import CompactionPlan
from growsim.model.lattice import Box, LatticeNetwork
from growsim.model.objective import loss_terms
from growsim.model.proximal import apply_pressure
from growsim.model.reshape import compact, grow, prune

LAYERS, STEPS, FULL, ACTIVE, BATCH, CLASSES = 3, 4, 32, 8, 128, 10


class PlainRecurrentConvNet(nn.Module):
    """The same recurrent conv net written plainly: one Conv2d per connection, no masks,
    no costs, no halting; a readout at every step and the mean cross-entropy over steps."""

    def __init__(self, layers: int, channels: int, steps: int, classes: int) -> None:
        super().__init__()
        self.steps = steps
        self.bottom_up = nn.ModuleList(
            [
                nn.Conv2d(
                    1 if l == 0 else channels,
                    channels,
                    3,
                    stride=2 if l == 0 else 1,
                    padding=1,
                    bias=False,
                )
                for l in range(layers)
            ]  # fmt: skip
        )
        self.lateral = nn.ModuleList(
            [nn.Conv2d(channels, channels, 3, padding=1, bias=False) for _ in range(layers)]
        )
        self.top_down = nn.ModuleList(
            [nn.Conv2d(channels, channels, 3, padding=1, bias=False) for _ in range(layers - 1)]
        )
        self.readout = nn.Linear(channels, classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of every step, (batch, step, class)."""
        previous, outputs = None, []
        for _ in range(self.steps):
            activations, state = [], None
            for layer, conv in enumerate(self.bottom_up):
                drive = conv(images if layer == 0 else activations[-1])
                if previous is not None:
                    drive = drive + self.lateral[layer](previous[layer])
                    if layer < len(self.top_down):
                        drive = drive + self.top_down[layer](previous[layer + 1])
                state = torch.tanh(drive) if state is None else state + torch.tanh(drive)
                activations.append(F.silu(state))
            previous = activations
            outputs.append(self.readout(activations[-1].mean(dim=(2, 3))))
        return torch.stack(outputs, dim=1)


def _plain_step(model, optimizer):
    images, labels = batch(BATCH)

    def step():
        logits = model(images)
        loss = F.cross_entropy(logits.reshape(-1, CLASSES), labels.repeat_interleave(STEPS))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def _growsim_step(model, optimizer, compiled: bool = False):
    """growsim's training step: the loss with a ramped time weight (a tensor, as the trainer
    passes it), then the breadth and depth pressure as a proximal step."""
    images, labels = batch(BATCH)
    max_box = Box(LAYERS, FULL, STEPS)
    forward = torch.compile(loss_terms, dynamic=False) if compiled else loss_terms
    count = [0]

    def step():
        count[0] += 1
        time_weight = torch.tensor(min(1.0, count[0] / 10) * 0.05)  # a ramp, as in the specs
        loss = forward(model, images, labels, time_weight, 0.5)[0]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        apply_pressure(model.incoming_weights(), None, 0.01, 0.005, 1e-3, max_box.channels,
                       max_box.layers)  # fmt: skip

    return step


def growsim_network(compacted: bool) -> LatticeNetwork:
    """The 25%-active network, as a 32-channel box or packed to its 8 channels."""
    net = LatticeNetwork(
        Box(LAYERS, FULL, STEPS), 1, CLASSES, generator=torch.Generator().manual_seed(0)
    )
    plan = CompactionPlan(tuple(range(0, FULL, FULL // ACTIVE)), LAYERS, STEPS)
    if compacted:
        compact(net, plan)
    else:
        prune(net, plan)
    return net


def make_step(kind: str):
    """A training-step closure for ``kind``: plain | full | compact | compiled."""
    if kind == "plain":
        model = PlainRecurrentConvNet(LAYERS, ACTIVE, STEPS, CLASSES)
        return _plain_step(model, torch.optim.Adam(model.parameters(), lr=1e-3))
    model = growsim_network(compacted=kind != "full")
    return _growsim_step(model, torch.optim.Adam(model.parameters(), lr=1e-3), kind == "compiled")


def peak_memory_kib(kind: str) -> int:
    """Peak resident memory over three training steps above the footprint before them
    (KiB), in a fresh process: activations, gradients and optimiser state."""
    return peak_step_bytes(make_step, kind) // 1024


def recompiles_over_growth() -> tuple[int, int, float]:
    """(boxes seen, graphs compiled, seconds compiling) for a compiled net through growth,
    with a cost weight that ramps at every step."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()  # other benchmarks in this process compiled graphs too
    net = LatticeNetwork(Box(1, 4, 2), 1, CLASSES, generator=torch.Generator().manual_seed(0))
    boxes = [Box(1, 4, 2), Box(2, 4, 2), Box(2, 8, 3)]
    started = time.perf_counter()
    for box in boxes:
        grow(net, box)
        step = _growsim_step(net, torch.optim.Adam(net.parameters()), compiled=True)
        for _ in range(3):  # same box, same shapes: no recompilation after the first
            step()
    return len(boxes), int(counters["stats"]["unique_graphs"]), time.perf_counter() - started


def early_exit_table() -> list[tuple[str, float, float, float]]:
    """(threshold, images/s ratio vs all steps, accuracy, mean steps run) on a trained model."""
    from growsim.runs.experiment import run_experiment
    from growsim.spec import parse_spec

    spec = parse_spec(EARLY_EXIT_SPEC)
    with TemporaryDirectory() as directory:
        from growsim.train.trainer import Trainer

        run_experiment(spec, Path(directory) / "run", progress=False)
        trainer = Trainer(spec, Path(directory) / "run", progress=False)
        trainer.load_checkpoint()
    model = trainer.model.eval()
    images = trainer.data.normalise(trainer.data.test_sets[0])
    labels = trainer.data.test_labels
    rows = []
    baseline = None
    for threshold in (0.0, 0.01, 0.05):
        seconds = seconds_per_call(
            lambda t=threshold: model.predict(images, t), repeats=5, warmup=1
        )
        prediction = model.predict(images, threshold)
        accuracy = float((prediction.class_probs.argmax(1) == labels).float().mean())
        baseline = baseline or seconds
        rows.append(
            (
                threshold,
                baseline / seconds,
                accuracy,
                float(prediction.steps_computed.float().mean()),
            )
        )
    return rows


EARLY_EXIT_SPEC = """
name: early-exit
lattice: {layers: {initial: 2, max: 2}, channels: {initial: 16, max: 16}, steps: {initial: 6, max: 6}}
costs: {time: {weight: 0.1}}
growth: {enabled: false}
compaction: {enabled: false}
data: {dataset: shapes, classes: 6, image_size: 28, train_size: 3000, test_size: 2000}
training: {iterations: 400, batch_size: 64, lr: 0.005, time_lr: 0.01, step_supervision: 0.5, seed: 0}
record: {every: 400}
"""


def rows(quick: bool = False) -> list[dict]:
    """Step-time, memory, compilation and early-exit rows (``quick``: step times only)."""
    repeats = 5 if quick else 20
    kinds = ("plain", "full", "compact")
    seconds = interleaved_seconds({kind: make_step(kind) for kind in kinds}, repeats)
    net = f"{LAYERS} layers x {STEPS} steps, batch {BATCH}, {ACTIVE} of {FULL} channels active"
    result = [
        {"measure": f"training step, uncompacted / compacted ({net})",
         "value": seconds["full"] / seconds["compact"], "unit": "x", "target": ">= 2.5"},
        {"measure": "training step, compacted growsim / plain unfused PyTorch net (no costs, no halting)",
         "value": seconds["compact"] / seconds["plain"], "unit": "x", "target": "<= 1.3",
         "detail": f"plain net {BATCH / seconds['plain']:.0f} images/s"},
    ]  # fmt: skip
    if quick:
        return result
    memory = {kind: peak_memory_kib(kind) for kind in ("plain", "full", "compact")}
    compiled = seconds_per_call(make_step("compiled"), repeats, warmup=2)
    boxes, graphs, compile_seconds = recompiles_over_growth()
    result += [
        {"measure": "peak memory of a step, uncompacted / compacted",
         "value": memory["full"] / memory["compact"], "unit": "x", "target": ""},
        {"measure": "peak memory of a step, compacted growsim / plain PyTorch",
         "value": memory["compact"] / memory["plain"], "unit": "x", "target": ""},
        {"measure": "training step, torch.compile / eager (compacted, CPU)",
         "value": compiled / seconds["compact"], "unit": "x", "target": ""},
        {"measure": f"graphs compiled over {boxes} box sizes, time weight ramped at every step",
         "value": graphs, "unit": "graphs", "target": f"{boxes} (one per box)",
         "detail": f"{compile_seconds:.0f} s compiling"},
    ]  # fmt: skip
    for threshold, ratio, accuracy, steps in early_exit_table():
        result.append({"measure": f"early exit at {threshold:g} / all steps, images/s (shapes, 6 steps)",
                       "value": ratio, "unit": "x", "target": "",
                       "detail": f"accuracy {accuracy:.3f}, {steps:.2f} steps run"})  # fmt: skip
    return result
