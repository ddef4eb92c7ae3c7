"""The commands that train: ``growsim run`` and ``growsim sweep``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from growsim.cli.parsing import add_overrides, command
from growsim.errors import SpecError
from growsim.files import COMBINED_NAME

# --------------------------------------------------------------------------- run


def add_run(commands) -> None:
    run = command(commands, "run", "train a spec and record its growth", (
        "  growsim run specs/quick.yaml\n"
        "  growsim run specs/quick.yaml --set training.seed=3 --name quick-s3\n"
        "  growsim run specs/quick.yaml --resume\n"
        "  growsim run specs/quick.yaml --out /scratch/runs --overwrite"
    ))  # fmt: skip
    run.add_argument("spec", type=Path, help="YAML spec file")
    add_overrides(run, "override one spec key, e.g. --set training.seed=3 (repeatable)")
    run.add_argument("--out", type=Path, default=Path("outputs"), help="root of run directories")
    run.add_argument(
        "--name", help="run directory name, a single path component (default: the spec's name)"
    )
    existing = run.add_mutually_exclusive_group()
    existing.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    existing.add_argument(
        "--overwrite", action="store_true",
        help="replace a run growsim wrote here before (deletes only growsim's own files)",
    )  # fmt: skip
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.add_argument(
        "--tensorboard", type=Path, metavar="DIR",
        help="also write TensorBoard scalars of every checkpoint to DIR (pip install "
        "'growsim[tensorboard]')",
    )  # fmt: skip
    run.set_defaults(
        handler=_run, after_interrupt="; continue the run with the same command and --resume"
    )


def _run(args: argparse.Namespace) -> int:
    from growsim.spec import load_spec

    spec = load_spec(args.spec, args.overrides, check_files=True)  # before torch is imported
    if spec.sweep is not None:
        raise SpecError(
            f"{args.spec}: has a sweep: block; run it with `growsim sweep {args.spec}`, or run "
            "its base spec alone with --set sweep=null"
        )
    from growsim.analysis.summary import format_summary
    from growsim.api import run

    finished = run(
        spec, args.out, name=args.name, resume=args.resume, overwrite=args.overwrite,
        progress=not args.no_progress, tensorboard=args.tensorboard,
    )  # fmt: skip
    print(format_summary(finished.summary))
    return 0


# --------------------------------------------------------------------------- sweep


def add_sweep(commands) -> None:
    sweep = command(
        commands, "sweep", "run every member of a spec's sweep: block, then combine them",
        "  growsim sweep specs/tradeoff.yaml\n"
        "  growsim sweep specs/tradeoff.yaml --workers 1 --set training.iterations=100\n"
        "  growsim sweep specs/tradeoff.yaml --scheduler tcp://host:8786",
    )  # fmt: skip
    sweep.add_argument("spec", type=Path, help="YAML spec file with a sweep: block")
    add_overrides(sweep, "override a base-spec key for every member (repeatable)")
    sweep.add_argument(
        "--out", type=Path, default=Path("outputs"), help="root of sweep directories"
    )
    sweep.add_argument(
        "--workers", type=int,
        help="members run at once on this machine (default: the spec's sweep.workers, else "
        "the number of cores)",
    )  # fmt: skip
    sweep.add_argument(
        "--scheduler", metavar="ADDRESS", help="run members on a Dask distributed scheduler"
    )
    sweep.add_argument(
        "--overwrite", action="store_true",
        help="rerun finished members too (deletes only growsim's own files in them)",
    )  # fmt: skip
    sweep.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sweep.set_defaults(
        handler=_sweep,
        after_interrupt="; run the same command again: finished members are skipped and "
        "interrupted ones resume",
    )  # fmt: skip


def _sweep(args: argparse.Namespace) -> int:
    from growsim.sweep.spec import load_sweep

    sweep = load_sweep(args.spec, args.overrides, check_files=True)  # before torch is imported
    if args.workers is not None and args.workers < 1:
        raise SpecError(f"--workers must be >= 1, got {args.workers}")

    from growsim.sweep.runner import run_sweep, sweep_directory

    print(f"sweep {sweep.name}: {len(sweep.members)} members -> {sweep_directory(sweep, args.out)}")

    def report(outcome) -> None:
        if outcome.status == "failed":
            print(f"  FAILED   {outcome.name}: {outcome.error}", file=sys.stderr)
        elif outcome.status == "skipped":
            print(f"  skipped  {outcome.name} (finished before)")
        else:
            summary = outcome.summary
            print(
                f"  finished {outcome.name}: accuracy {summary['test_accuracy']:.3f}, "
                f"depth {summary['depth']}, steps {summary['expected_steps']:.2f} "
                f"({outcome.seconds:.0f} s)"
            )

    outcomes = run_sweep(
        sweep, args.out, workers=args.workers, scheduler=args.scheduler,
        overwrite=args.overwrite, progress=not args.no_progress, report=report,
    )  # fmt: skip
    failed = [o.name for o in outcomes if o.status == "failed"]
    store = sweep_directory(sweep, args.out) / COMBINED_NAME
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} members done; combined store {store}")
    if failed:
        print(f"growsim: {len(failed)} member(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
