"""Accuracy: growsim at its largest box with no pressure, against plain PyTorch nets of the
same size trained on the very same batches, and a floor from logistic regression on pixels.

    python -m benchmarks.accuracy [--spec PATH ...] [--set KEY=VALUE ...] [--seed N ...]
                                  [--quick] [--json] [--out FILE] [--threads N]

Per spec (default: specs/occlusion.yaml and specs/quick.yaml), four models:

- ``growsim``: ``Trainer.run()`` on the spec with the box fixed at its maximum (initial =
  max), every cost weight 0, growth and compaction off; everything else (optimiser, lr
  schedule, batch size, iterations, data, step supervision, time selection, seed) from
  the spec (``training.time_entropy`` too: it is part of growsim's objective, not a cost).
  Its prediction is growsim's: the readouts mixed by the time distribution.
- ``plain_recurrent``: the same recurrent conv net written plainly (one ``nn.Conv2d`` per
  connection, PyTorch's default initialisation), no costs, no halting. Its prediction is
  the last step's readout (see ``plain_loss`` for what it is trained on).
- ``plain_feedforward``: the same layers and channels, bottom-up only, one pass.
- ``logistic_regression``: ``growsim.record.reference.fit_logistic_regression`` on the clean,
  normalised training pixels.

The nets are trained by the spec's optimiser and learning-rate schedule on the batches the
growsim trainer draws (``Trainer.batch``: the same validation split, normalisation and
training occlusion), which each model's ``TrainingLog`` counts and digests. Accuracy is
measured on the trainer's fixed test sets, one per occlusion level. ``train s`` is the wall
time of the optimiser steps (batches included), not of growsim's checkpoints; this module
sets ``torch.set_num_threads(--threads)``, 1 by default.

With several ``--seed``, every model is trained once per seed (the seed sets the batches
and the initialisation) and a second table gives each model's mean over seeds and growsim
minus plain recurrent with 95% t intervals across seeds.

Not part of ``python -m benchmarks``: it trains every model, minutes per spec and seed.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.accuracy_report import Row, json_report, markdown_table
from benchmarks.plain_nets import plain_nets
from growsim.errors import GrowsimError, RunError
from growsim.record.reference import fit_logistic_regression
from growsim.spec import Extent, Spec, TrainingConfig, load_spec
from growsim.train.schedules import learning_rate_factor
from growsim.train.trainer import Trainer

ROOT = Path(__file__).parents[1]
DEFAULT_SPECS = (ROOT / "specs" / "occlusion.yaml", ROOT / "specs" / "quick.yaml")
# --quick: both default specs in about 3 minutes on one thread. Applied before --set.
QUICK_OVERRIDES = (
    "training.iterations=200",
    "training.epochs=null",
    "training.batch_size=32",
    "data.train_size=2000",
    "data.test_size=500",
)
EVAL_CHUNK = 500

Batches = Callable[[int], tuple[torch.Tensor, torch.Tensor]]


# --------------------------------------------------------------------------- training


def fixed_box_spec(spec: Spec) -> Spec:
    """``spec`` with the box fixed at its maximum, every cost weight 0, growth and
    compaction off."""
    lattice = spec.lattice
    fixed_extents = {
        axis: Extent(initial=getattr(lattice, axis).max, max=getattr(lattice, axis).max)
        for axis in ("layers", "channels", "steps")
    }
    weightless = {
        name: replace(getattr(spec.costs, name), weight=0.0)
        for name in ("breadth", "depth", "time")
    }
    return replace(
        spec,
        lattice=replace(lattice, **fixed_extents),
        costs=replace(spec.costs, **weightless),
        growth=replace(spec.growth, enabled=False),
        compaction=replace(spec.compaction, enabled=False),
    )


def plain_loss(logits: torch.Tensor, labels: torch.Tensor, step_supervision: float) -> torch.Tensor:
    """Cross-entropy of the last step's readout + ``step_supervision`` x the mean
    cross-entropy over every step's readout. logits: (batch, step, class).

    A one-step net has no earlier step to supervise: its loss is the cross-entropy alone.
    """
    last = F.cross_entropy(logits[:, -1], labels)
    steps = logits.shape[1]
    if steps == 1 or not step_supervision:
        return last
    every = F.cross_entropy(logits.flatten(0, 1), labels.repeat_interleave(steps))
    return last + step_supervision * every


@dataclass
class TrainingLog:
    """The batches a model was trained on (count and SHA-256 of their contents) and the wall
    seconds of its optimiser steps."""

    batches: int = 0
    seconds: float = 0.0
    _digest: "hashlib._Hash" = field(default_factory=hashlib.sha256, repr=False)

    @property
    def digest(self) -> str:
        """SHA-256 over every batch's images and labels, in training order."""
        return self._digest.hexdigest()

    def logged(self, batches: Batches) -> Batches:
        """``batches`` that records every batch it hands out here."""

        def batch(iteration: int):
            images, labels = batches(iteration)
            self.batches += 1
            self._digest.update(images.detach().cpu().numpy().tobytes())
            self._digest.update(labels.cpu().numpy().tobytes())
            return images, labels

        return batch

    def timed(self, step: Callable[[int], None]) -> Callable[[int], None]:
        """``step`` that adds its wall time here."""

        def timed_step(iteration: int) -> None:
            started = time.perf_counter()
            step(iteration)
            self.seconds += time.perf_counter() - started

        return timed_step


def make_optimizer(model: nn.Module, training: TrainingConfig) -> torch.optim.Optimizer:
    """The trainer's optimiser for a net without time parameters: Adam, or SGD with
    momentum 0.9, at ``training.lr``."""
    if training.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=training.lr, momentum=0.9)
    return torch.optim.Adam(model.parameters(), lr=training.lr)


def train_plain(
    model: nn.Module, batches: Batches, iterations: int, training: TrainingConfig
) -> TrainingLog:
    """Train ``model`` on ``batches(0) ... batches(iterations - 1)`` with the spec's
    optimiser, lr schedule and step supervision."""
    log = TrainingLog()
    batches = log.logged(batches)
    optimizer = make_optimizer(model, training)
    model.train()

    def step(iteration: int) -> None:
        factor = learning_rate_factor(training.lr_schedule, iteration, iterations)
        for group in optimizer.param_groups:
            group["lr"] = training.lr * factor
        images, labels = batches(iteration)
        loss = plain_loss(model(images), labels, training.step_supervision)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if not math.isfinite(loss.item()):
            raise RunError(f"{type(model).__name__}: the loss became non-finite at "
                               f"iteration {iteration + 1}; lower training.lr")  # fmt: skip

    step = log.timed(step)
    for iteration in range(iterations):
        step(iteration)
    return log


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def accuracy_by_level(
    predict: Callable[[torch.Tensor], torch.Tensor], trainer: Trainer
) -> list[float]:
    """Accuracy of ``predict`` (normalised images -> class scores) on the trainer's fixed
    test set of every occlusion level, in ``trainer.eval_levels`` order."""
    accuracies = []
    for images in trainer.data.test_sets:
        predicted = torch.cat([
            predict(trainer.data.normalise(images[start : start + EVAL_CHUNK])).argmax(dim=1)
            for start in range(0, len(images), EVAL_CHUNK)
        ])  # fmt: skip
        accuracies.append(float((predicted == trainer.data.test_labels).float().mean()))
    return accuracies


def last_step_scores(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """A plain net's prediction: its last step's readout, (batch, class)."""
    model.eval()
    return lambda images: model(images)[:, -1]


# --------------------------------------------------------------------------- one spec


def _row(spec: Spec, trainer: Trainer, model: str, parameters: int, accuracy, log) -> Row:
    return Row(
        spec=spec.name, dataset=spec.data.dataset, seed=spec.training.seed, model=model,
        parameters=parameters,
        levels=list(trainer.eval_levels), accuracy=list(accuracy), train_seconds=log.seconds,
        batches=log.batches if log.batches else None,
        batch_digest=log.digest if log.batches else None,
    )  # fmt: skip


def _parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def train_growsim(spec: Spec, run_dir: Path) -> tuple[Trainer, Row]:
    """Train growsim on ``fixed_box_spec(spec)`` with ``Trainer.run()``; the trainer (its
    model and data) and growsim's row."""
    fixed = fixed_box_spec(spec)
    trainer = Trainer(fixed, run_dir, progress=False)
    # Checkpoints only at the start and the end: with growth and compaction off they
    # decide nothing, and evaluating every `record.every` iterations only costs time.
    trainer.spec = replace(fixed, record=replace(fixed.record, every=trainer.total_iterations))
    log = TrainingLog()
    # Instance attributes over the methods, for this run only (del restores the methods).
    trainer.batch = log.logged(trainer.batch)
    trainer.train_step = log.timed(trainer.train_step)
    try:
        summary = trainer.run()
    finally:
        del trainer.batch, trainer.train_step
    accuracy = [summary["accuracy_by_occlusion"][level] for level in trainer.eval_levels]
    return trainer, _row(spec, trainer, "growsim", _parameters(trainer.model), accuracy, log)


def train_baselines(spec: Spec, trainer: Trainer) -> tuple[dict[str, nn.Module], list[Row]]:
    """Train the plain nets on ``trainer``'s batches and fit logistic regression on its
    training images; the plain nets and their rows."""
    classes = len(trainer.dataset.class_names)
    nets = plain_nets(spec, trainer.data.train_images.shape[1], classes)
    rows = []
    for name, net in nets.items():
        net.to(trainer.device)
        log = train_plain(net, trainer.batch, trainer.total_iterations, spec.training)
        accuracy = accuracy_by_level(last_step_scores(net), trainer)
        rows.append(_row(spec, trainer, name, _parameters(net), accuracy, log))
    log = TrainingLog()
    started = time.perf_counter()
    weight, bias = fit_logistic_regression(
        trainer.data.normalise(trainer.data.train_images).cpu(),
        trainer.data.train_labels.cpu(),
        classes,
    )
    log.seconds = time.perf_counter() - started
    weight, bias = weight.to(trainer.device), bias.to(trainer.device)
    accuracy = accuracy_by_level(lambda images: images.flatten(1) @ weight.T + bias, trainer)
    rows.append(
        _row(spec, trainer, "logistic_regression", weight.numel() + bias.numel(), accuracy, log)
    )
    return nets, rows


def benchmark_spec(spec: Spec) -> list[Row]:
    """Every model's row on ``spec``."""
    with TemporaryDirectory(prefix="growsim-accuracy-") as directory:
        trainer, growsim_row = train_growsim(spec, Path(directory) / spec.name)
        _, rows = train_baselines(spec, trainer)
    return [growsim_row, *rows]


# --------------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.accuracy",
        description="growsim (fixed box, no costs) against plain nets of equal size trained "
        "on the same batches, and logistic regression on pixels.",
    )
    parser.add_argument(
        "--spec",
        action="append",
        type=Path,
        metavar="PATH",
        help="a spec file (repeatable; default: specs/occlusion.yaml and specs/quick.yaml)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        dest="overrides",
        metavar="KEY=VALUE",
        help="override applied to every spec, e.g. training.iterations=500 (repeatable)",
    )
    parser.add_argument(
        "--seed", type=int, action="append", dest="seeds", metavar="N",
        help="training.seed for every model (repeatable: every model once per seed)",
    )  # fmt: skip
    parser.add_argument(
        "--quick",
        action="store_true",
        help="200 iterations of batch 32, 2000 training and 500 test images (before --set)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument(
        "--out", type=Path, metavar="FILE", help="also write the markdown table here"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    return parser.parse_args(argv)


def overrides(args: argparse.Namespace, seed: int | None = None) -> list[str]:
    """The --set list every spec is loaded with: threads, --quick, the seed, then --set."""
    result = [f"training.threads={args.threads}"]
    if args.quick:
        result += QUICK_OVERRIDES
    if seed is not None:
        result.append(f"training.seed={seed}")
    return result + args.overrides


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; 0 on success, 2 on an error the user can fix."""
    args = parse_args(argv)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    paths = args.spec or list(DEFAULT_SPECS)
    started = time.perf_counter()
    try:
        seeds = args.seeds or [None]
        if len(set(seeds)) < len(seeds):
            raise GrowsimError(f"--seed: each seed once (got {' '.join(map(str, seeds))})")
        specs = [load_spec(path, overrides(args, seed), check_files=True)
                 for path in paths for seed in seeds]  # fmt: skip
        rows = [row for spec in specs for row in benchmark_spec(spec)]
        table = markdown_table(rows)
        if args.out:
            args.out.write_text(table + "\n", encoding="utf-8")
    except (GrowsimError, OSError) as error:
        print(f"benchmarks.accuracy: error: {error}", file=sys.stderr)
        return 2
    finally:  # main() may run inside another process (the tests)
        torch.set_num_threads(threads_before)
    wall = time.perf_counter() - started
    if args.json:
        settings = {"specs": [str(p) for p in paths], "overrides": overrides(args),
                    "seeds": sorted({spec.training.seed for spec in specs}),
                    "threads": args.threads, "wall_seconds": wall}  # fmt: skip
        print(json_report(rows, settings))
    else:
        print(table)
        print(f"\n{len(rows)} models on {len(specs)} spec(s) x seed(s) in {wall:.0f} s, "
              f"{args.threads} thread(s); overrides: {' '.join(overrides(args))}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
