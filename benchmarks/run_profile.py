"""Where a competent run's time goes: the wall seconds of each part of training and of the
checkpoints, measured on one run of the competent protocol's main setting.

    python -m benchmarks.run_profile [--spec specs/occlusion.yaml] [--iterations 1200]
                                     [--set KEY=VALUE ...] [--out FILE.json]
    python -m benchmarks.run_profile --render FILE.json

The run is the spec as the competent protocol trains it (bf16, one thread, a model kept per
checkpoint) for ``--iterations`` (its learning-rate schedule, cost ramps and checkpoint cadence
are the spec's). Each part is timed by wrapping the function that does it:

- training step: ``batch`` (the data pipeline: sampling, occluding, normalising a batch),
  ``forward + loss`` (the network unrolled and the objective), ``backward``, ``proximal
  pressure`` (breadth and depth), and ``optimiser and the rest`` (what remains of the step);
- checkpoint: ``validation`` (the exact predictions growth and the trajectory read),
  ``growth and compaction``, ``test sets`` (predictions on the test images: at the final
  checkpoint and every ``record.test_every``-th), ``recording`` (trajectory, per-image results),
  ``kept model`` (``record.keep_models``), ``saving`` (checkpoint.pt), and ``the rest``.

Not part of ``python -m benchmarks``: it trains (minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

import growsim.train.trainer as trainer_module
from growsim.record.recorder import TrajectoryRecorder
from growsim.runs.experiment import run_experiment
from growsim.spec import load_spec
from growsim.train.saving import CheckpointSaver
from growsim.train.trainer import Trainer

PROTOCOL = ["training.precision=bf16", "training.threads=1", "record.keep_models=true"]
STEP_PARTS = ("batch", "forward + loss", "backward", "proximal pressure")
CHECKPOINT_PARTS = ("validation", "growth and compaction", "test sets", "recording",
                    "kept model", "saving")  # fmt: skip


class _Clock:
    """Seconds spent inside each wrapped function, by part (nested calls count once)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._depth = 0

    def wrap(self, part: str, function):
        def timed(*args, **kwargs):
            self._depth += 1
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.seconds[part] += time.perf_counter() - started

        return timed


@contextlib.contextmanager
def _patched(target, name: str, replacement):
    original = getattr(target, name)
    setattr(target, name, replacement)
    try:
        yield
    finally:
        setattr(target, name, original)


def profile_run(spec) -> dict:
    """Run ``spec`` (``run_experiment``, in a temporary directory) with each part timed."""
    clock = _Clock()
    parts = {
        (Trainer, "batch"): "batch",
        (torch.Tensor, "backward"): "backward",
        (trainer_module, "apply_pressure"): "proximal pressure",
        (Trainer, "_measure"): "validation",
        (Trainer, "_grow"): "growth and compaction",
        (Trainer, "_compact"): "growth and compaction",
        (Trainer, "test_predictions"): "test sets",
        (TrajectoryRecorder, "record"): "recording",
        (trainer_module, "write_model_snapshot"): "kept model",
        (CheckpointSaver, "taken"): "saving",
    }
    make_loss = Trainer._make_loss_function
    with tempfile.TemporaryDirectory() as directory, contextlib.ExitStack() as stack:
        for (target, name), part in parts.items():
            stack.enter_context(_patched(target, name, clock.wrap(part, getattr(target, name))))
        stack.enter_context(_patched(
            Trainer, "_make_loss_function", lambda self: clock.wrap("forward + loss", make_loss(self))
        ))  # fmt: skip
        started = time.perf_counter()
        summary = run_experiment(spec, Path(directory) / "run", progress=False)
        wall = time.perf_counter() - started
    spent = summary["time_spent"]
    rows = [("training step", p, clock.seconds[p]) for p in STEP_PARTS]
    rows.append(("training step", "optimiser and the rest",
                 spent["training"] - sum(clock.seconds[p] for p in STEP_PARTS)))  # fmt: skip
    rows += [("checkpoint", p, clock.seconds[p]) for p in CHECKPOINT_PARTS]
    rows.append(("checkpoint", "the rest",
                 spent["checkpoints"] - sum(clock.seconds[p] for p in CHECKPOINT_PARTS)))  # fmt: skip
    rows.append(("after training", "per-image results, summary, loading the data",
                 wall - spent["training"] - spent["checkpoints"]))  # fmt: skip
    return {
        "wall_s": wall,
        "iterations": spec.training.iterations,
        "final_box": str(summary.get("box")),
        "validation_accuracy": summary.get("validation_accuracy"),
        "rows": [{"stage": s, "part": p, "seconds": round(v, 3)} for s, p, v in rows],
    }


def render(result: dict) -> str:
    """The Markdown table of a saved profile."""
    wall = result["wall_s"]
    lines = [
        f"{result['spec']} ({', '.join(result['overrides'])}): {wall:.0f} s wall, final "
        f"validation accuracy {result['validation_accuracy']:.3f} ({result['date']}; "
        f"{result['load']}).",
        "",
        "| stage | part | seconds | share of the run |",
        "|---|---|---|---|",
    ]
    for row in result["rows"]:
        share = row["seconds"] / wall
        lines.append(f"| {row['stage']} | {row['part']} | {row['seconds']:.1f} | {share:.1%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Profile one run; print the table (and write the JSON to ``--out``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", default="specs/occlusion.yaml")
    parser.add_argument("--iterations", type=int, default=1200)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--load", default="quiet machine", help="what else ran (for the page)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--render", type=Path, help="print the table of a saved profile instead")
    args = parser.parse_args(argv)
    if args.render:
        print(render(json.loads(args.render.read_text())))
        return 0
    overrides = [*PROTOCOL, f"training.iterations={args.iterations}", *args.overrides]
    result = profile_run(load_spec(args.spec, overrides))
    result.update(spec=args.spec, overrides=overrides, load=args.load,
                  date=time.strftime("%Y-%m-%d %H:%M"))  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
