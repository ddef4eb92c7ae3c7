"""Time to a competent network: wall and core-seconds until clean validation accuracy first
reaches a target, growsim (fp32 and bf16) against a plain recurrent conv net of growsim's
final box trained with a standard recipe, in one run; and the step's FLOP rate against the
machine's matmul rates.

    python -m benchmarks.time_to_competence [--spec specs/occlusion.yaml] [--target 0.84]
                                            [--seed 0] [--threads 1] [--out FILE.json]

- growsim: ``Trainer`` on the spec (with ``training.precision`` set), checked at its own
  checkpoints (``record.every``), stopped at the first whose validation accuracy reaches the
  target. Its time includes growth, compaction and evaluation: everything a user waits for.
- plain: ``PlainRecurrentConvNet`` (benchmarks/plain_nets.py) at growsim's final box (its
  layers, widest active layer, box steps), fp32, Adam at lr 1e-3 with the spec's schedule,
  cross-entropy of its last step, on the same occluded training batches, validated on the
  same images at the same cadence, at most the spec's iterations.
- Core-seconds are the process's CPU time (every thread); wall seconds are elapsed time.
- FLOP rate: the FLOPs of one growsim training step at the final box (torch's FLOP counter,
  forward and backward) over its measured time, against a large matmul's rate in bf16 and
  fp32 with the same threads: the physical limit of this machine.
Not part of ``python -m benchmarks``: it trains (minutes per model).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.plain_nets import PlainRecurrentConvNet
from growsim.spec import load_spec
from growsim.train.schedules import learning_rate_factor
from growsim.train.trainer import Trainer


class _Reached(Exception):
    """Stops a growsim run at the checkpoint that reached the target."""


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def growsim_to_target(spec, target: float) -> dict:
    """Train growsim until validation accuracy reaches ``target``: seconds, iterations, box."""
    started = _clock()
    trace = []

    def on_checkpoint(trainer: Trainer, summary: dict) -> None:
        wall, cpu = (now - then for now, then in zip(_clock(), started))
        trace.append(
            (summary["iteration"], summary["validation_accuracy"], wall, cpu, max(summary["width"]))
        )
        if summary["validation_accuracy"] >= target:
            raise _Reached

    with tempfile.TemporaryDirectory() as run_dir:
        trainer = Trainer(spec, Path(run_dir), progress=False, on_checkpoint=on_checkpoint)
        try:
            trainer.run()
            reached = False
        except _Reached:
            reached = True
    iteration, accuracy, wall, cpu, width = trace[-1]
    box = trainer.model.box
    return {
        "model": f"growsim {spec.training.precision}", "reached": reached, "iteration": iteration,
        "validation_accuracy": accuracy, "wall_s": wall, "core_s": cpu,
        "box": [box.layers, box.channels, box.steps], "width": width, "trainer": trainer,
    }  # fmt: skip


@torch.no_grad()
def _validation_accuracy(model, trainer: Trainer) -> float:
    model.eval()
    images, labels = trainer.data.validation_sets[0], trainer.data.validation_labels
    predicted = torch.cat([
        model(trainer.data.normalise(images[start : start + 500]))[:, -1].argmax(dim=1)
        for start in range(0, len(images), 500)
    ])  # fmt: skip
    model.train()
    return float((predicted == labels).float().mean())


def plain_to_target(
    spec, trainer: Trainer, box: list[int], target: float, lr: float = 1e-3
) -> dict:
    """Train the plain net of ``box`` on ``trainer``'s batches until it reaches ``target``."""
    torch.manual_seed(spec.training.seed)
    layers, channels, steps = box
    model = PlainRecurrentConvNet(
        trainer.data.train_images.shape[1], len(trainer.dataset.class_names), layers, channels, steps,
        spec.lattice.kernel_size, spec.lattice.input_stride, spec.lattice.readout_grid,
    )  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    iterations, every = trainer.total_iterations, spec.record.every
    started = _clock()
    accuracy, iteration = 0.0, 0
    for iteration in range(1, iterations + 1):
        for group in optimizer.param_groups:
            group["lr"] = lr * learning_rate_factor(
                spec.training.lr_schedule, iteration - 1, iterations
            )
        images, labels = trainer.batch(iteration - 1)
        loss = F.cross_entropy(model(images)[:, -1], labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if iteration % every == 0 or iteration == iterations:
            accuracy = _validation_accuracy(model, trainer)
            if accuracy >= target:
                break
    wall, cpu = (now - then for now, then in zip(_clock(), started))
    return {
        "model": "plain recurrent fp32", "reached": accuracy >= target, "iteration": iteration,
        "validation_accuracy": accuracy, "wall_s": wall, "core_s": cpu, "box": box, "width": channels,
    }  # fmt: skip


def matmul_rate(dtype: torch.dtype, size: int = 2048, repeats: int = 10) -> float:
    """FLOP/s of a square matmul in ``dtype`` (the machine's practical peak)."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - started)


def step_flop_rate(trainer: Trainer, repeats: int = 20) -> tuple[float, float]:
    """(FLOPs of one training step, FLOP/s) at the trainer's current box."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        trainer.train_step(0)
    flops = counter.get_total_flops()
    started = time.perf_counter()
    for iteration in range(repeats):
        trainer.train_step(iteration)
    return float(flops), flops * repeats / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print its rows as JSON (and write them to ``--out``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", default="specs/occlusion.yaml")
    parser.add_argument("--target", type=float, default=0.84)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--precisions", nargs="+", default=["bf16", "fp32"])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--render", type=Path, nargs="+", help="print the tables of saved results instead"
    )
    args = parser.parse_args(argv)
    if args.render:
        print("\n\n".join(render(json.loads(path.read_text())) for path in args.render))
        return 0
    torch.set_num_threads(args.threads)
    rows, trainer, box = [], None, None
    for precision in args.precisions:
        spec = load_spec(args.spec, [*args.overrides, f"training.precision={precision}",
                                     f"training.seed={args.seed}", f"training.threads={args.threads}"])  # fmt: skip
        row = growsim_to_target(spec, args.target)
        trainer = row.pop("trainer")
        flops, rate = step_flop_rate(trainer)
        row.update(step_flops=flops, step_flop_rate=rate)
        rows.append(row)
        print(json.dumps(row), flush=True)
        box = box or [row["box"][0], row["width"], row["box"][2]]
    plain_spec = dataclasses.replace(
        spec, training=dataclasses.replace(spec.training, precision="fp32")
    )
    rows.append(plain_to_target(plain_spec, trainer, box, args.target))
    print(json.dumps(rows[-1]), flush=True)
    limits = {"matmul_bf16": matmul_rate(torch.bfloat16), "matmul_fp32": matmul_rate(torch.float32)}
    result = {"spec": args.spec, "target": args.target, "seed": args.seed, "threads": args.threads,
              "rows": rows, "limits": limits, "date": time.strftime("%Y-%m-%d %H:%M")}  # fmt: skip
    plain = rows[-1]
    for row in rows[:-1]:
        row["core_s_over_plain"] = row["core_s"] / plain["core_s"] if plain["reached"] else math.nan
        row["wall_s_over_plain"] = row["wall_s"] / plain["wall_s"] if plain["reached"] else math.nan
        row["of_matmul_limit"] = (
            row["step_flop_rate"]
            / limits["matmul_bf16" if "bf16" in row["model"] else "matmul_fp32"]
        )
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


def render(result: dict) -> str:
    """The Markdown table of a saved result (``--render``)."""
    lines = [
        f"Spec `{result['spec']}`, target: clean validation accuracy {result['target']:g}, seed "
        f"{result['seed']}, {result['threads']} thread(s); {result['date']}.",
        "",
        "| model | reached | iteration | val. acc. | wall s | core s | core s / plain | step GFLOP/s | of matmul limit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        ratio = row.get("core_s_over_plain")
        rate = row.get("step_flop_rate")
        lines.append(
            f"| {row['model']} | {'yes' if row['reached'] else 'no'} | {row['iteration']} | "
            f"{row['validation_accuracy']:.3f} | {row['wall_s']:.0f} | {row['core_s']:.0f} | "
            f"{'-' if ratio is None or ratio != ratio else f'{ratio:.2f}x'} | "
            f"{'-' if rate is None else f'{rate / 1e9:.1f}'} | "
            f"{'-' if rate is None else format(row['of_matmul_limit'], '.1%')} |"
        )
    limits = result["limits"]
    lines += ["", f"Matmul limit with these threads: bf16 {limits['matmul_bf16'] / 1e9:.0f} GFLOP/s, "
              f"fp32 {limits['matmul_fp32'] / 1e9:.0f} GFLOP/s."]  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
