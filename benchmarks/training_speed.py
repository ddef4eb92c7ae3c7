"""Training throughput and peak memory: growsim (uncompacted, compacted, compiled) against
a plain PyTorch recurrent conv net of the same active size; adaptive early exit; the
recording overhead. Every figure is a ratio of times measured in this one run.

The network: 3 layers, 4 steps, 28 x 28 inputs at input stride 2, batch 128. "25% active":
the box has 32 channels per layer and 8 carry weights (the other 24 pruned to zero, as the
breadth cost leaves them); compaction packs it to 8 channels.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import torch
import torch.nn.functional as F
from torch import nn

from growsim.compaction import CompactionPlan, compact, prune
from growsim.lattice import Box, LatticeNetwork
from growsim.objective import loss_terms
from growsim.proximal import apply_pressure

LAYERS, STEPS, FULL, ACTIVE, BATCH, CLASSES = 3, 4, 32, 8, 128, 10


class PlainRecurrentConvNet(nn.Module):
    """The same recurrent conv net written plainly: one Conv2d per connection, no masks,
    no costs, no halting; a readout at every step and the mean cross-entropy over steps."""

    def __init__(self, layers: int, channels: int, steps: int, classes: int) -> None:
        super().__init__()
        self.steps = steps
        self.bottom_up = nn.ModuleList(
            [nn.Conv2d(1 if l == 0 else channels, channels, 3, stride=2 if l == 0 else 1,
                       padding=1, bias=False) for l in range(layers)]  # fmt: skip
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


def _data():
    generator = torch.Generator().manual_seed(0)
    return torch.randn(BATCH, 1, 28, 28, generator=generator), torch.randint(0, CLASSES, (BATCH,), generator=generator)


def _plain_step(model, optimizer):
    images, labels = _data()

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
    images, labels = _data()
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
    net = LatticeNetwork(Box(LAYERS, FULL, STEPS), 1, CLASSES, generator=torch.Generator().manual_seed(0))
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


def seconds_per_step(step, repeats: int = 20, warmup: int = 3) -> float:
    """Median seconds per call after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _peak_memory_child(kind: str, queue) -> None:
    torch.set_num_threads(1)
    step = make_step(kind)
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    before = _status_kib("VmRSS")
    for _ in range(3):
        step()
    queue.put(_status_kib("VmHWM") - before)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def peak_memory_kib(kind: str) -> int:
    """Peak resident memory over three training steps above the footprint before them
    (KiB), in a fresh process: activations, gradients and optimiser state."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_peak_memory_child, args=(kind, queue))
    process.start()
    value = queue.get(timeout=300)
    process.join()
    return max(int(value), 1)


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
        net.grow(box)
        step = _growsim_step(net, torch.optim.Adam(net.parameters()), compiled=True)
        for _ in range(3):  # same box, same shapes: no recompilation after the first
            step()
    return len(boxes), int(counters["stats"]["unique_graphs"]), time.perf_counter() - started


def early_exit_table() -> list[tuple[str, float, float, float]]:
    """(threshold, images/s ratio vs all steps, accuracy, mean steps run) on a trained model."""
    from growsim.runs import run_experiment
    from growsim.spec import parse_spec

    spec = parse_spec(EARLY_EXIT_SPEC)
    with TemporaryDirectory() as directory:
        from growsim.train import Trainer

        run_experiment(spec, Path(directory) / "run", progress=False)
        trainer = Trainer(spec, Path(directory) / "run", progress=False)
        trainer.load_checkpoint()
    model = trainer.model.eval()
    images = trainer._normalise(trainer.test_sets[0])
    labels = trainer.test_labels
    rows = []
    baseline = None
    for threshold in (0.0, 0.01, 0.05):
        seconds = seconds_per_step(lambda t=threshold: model.predict(images, t), repeats=5, warmup=1)
        prediction = model.predict(images, threshold)
        accuracy = float((prediction.class_probs.argmax(1) == labels).float().mean())
        baseline = baseline or seconds
        rows.append((threshold, baseline / seconds, accuracy, float(prediction.steps_computed.float().mean())))
    return rows


def recording_overhead() -> dict[str, float]:
    """Seconds spent per part of a quick-spec run (200 iterations, checkpoint every 50)."""
    from growsim.spec import load_spec
    from growsim.train import Trainer

    spec = load_spec(Path(__file__).parents[1] / "specs" / "quick.yaml",
                     ["training.steps=200", "record.every=50"])  # fmt: skip
    spent = {"train": 0.0, "write": 0.0, "topology": 0.0, "evaluate": 0.0, "save": 0.0}
    with TemporaryDirectory() as directory:
        trainer = Trainer(spec, Path(directory), progress=False)

        def timed(name, function):
            def wrapper(*args, **kwargs):
                start = time.perf_counter()
                try:
                    return function(*args, **kwargs)
                finally:
                    spent[name] += time.perf_counter() - start
            return wrapper

        trainer.train_step = timed("train", trainer.train_step)
        trainer.writer.append = timed("write", trainer.writer.append)
        import growsim.train

        original = growsim.train.topology_values
        growsim.train.topology_values = timed("topology", original)
        trainer.evaluate = timed("evaluate", trainer.evaluate)
        trainer.save_checkpoint = timed("save", trainer.save_checkpoint)
        try:
            trainer.run()
        finally:
            growsim.train.topology_values = original
    return spent


EARLY_EXIT_SPEC = """
name: early-exit
lattice: {layers: {initial: 2, max: 2}, channels: {initial: 16, max: 16}, steps: {initial: 6, max: 6}}
costs: {time: {weight: 0.1}}
growth: {enabled: false}
compaction: {enabled: false}
data: {dataset: shapes, classes: 6, image_size: 28, train_size: 3000, test_size: 2000}
training: {steps: 400, batch_size: 64, lr: 0.005, time_lr: 0.01, step_supervision: 0.5, seed: 0}
record: {every: 400}
"""


def main() -> None:
    """Print the training-speed, memory, compilation and early-exit tables."""
    print(f"\ntraining step: {LAYERS} layers x {STEPS} steps, batch {BATCH}, 28x28 input; "
          f"{ACTIVE} of {FULL} channels active (25%); {torch.get_num_threads()} threads")  # fmt: skip
    seconds = {kind: seconds_per_step(make_step(kind)) for kind in ("plain", "full", "compact")}
    speedup = seconds["full"] / seconds["compact"]
    overhead = seconds["compact"] / seconds["plain"]
    print(f"{'measure':<52}{'ratio':>10}")
    print(f"{'uncompacted / compacted step time':<52}{speedup:>9.2f}x  (target >= 2.5x)")
    print(f"{'compacted growsim / plain PyTorch step time':<52}{overhead:>9.2f}x  (target <= 1.3x)")
    print(f"{'plain PyTorch images/s (reference)':<52}{BATCH / seconds['plain']:>10.0f}")
    memory = {kind: peak_memory_kib(kind) for kind in ("plain", "full", "compact")}
    print(f"{'peak memory uncompacted / compacted':<52}{memory['full'] / memory['compact']:>9.2f}x")
    print(f"{'peak memory compacted / plain PyTorch':<52}{memory['compact'] / memory['plain']:>9.2f}x")

    compiled = seconds_per_step(make_step("compiled"), warmup=2)
    print(f"{'compiled / eager step time (compacted, CPU)':<52}{compiled / seconds['compact']:>9.2f}x")
    boxes, graphs, compile_seconds = recompiles_over_growth()
    print(f"{'graphs compiled over ' + str(boxes) + ' box sizes (3 steps each)':<52}{graphs:>10d}"
          f"  ({compile_seconds:.0f} s compiling)")  # fmt: skip

    spent = recording_overhead()
    print("\nper-checkpoint work as a fraction of training time (quick spec, checkpoint every 50)")
    for name in ("write", "topology", "save", "evaluate"):
        label = {"write": "trajectory write", "topology": "topology analysis",
                 "save": "checkpoint.pt save", "evaluate": "test-set evaluation"}[name]  # fmt: skip
        print(f"{label:<52}{spent[name] / spent['train']:>10.2%}")

    print("\nadaptive early exit at inference (shapes, 6 steps, trained 400 iterations)")
    print(f"{'exit threshold':<16}{'images/s vs all steps':>24}{'accuracy':>10}{'steps run':>11}")
    for threshold, ratio, accuracy, steps in early_exit_table():
        print(f"{threshold:<16g}{ratio:>23.2f}x{accuracy:>10.3f}{steps:>11.2f}")


if __name__ == "__main__":
    main()
