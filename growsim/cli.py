"""Command line: ``growsim run|validate ...``. User errors print one paragraph, no traceback."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from growsim.errors import GrowsimError, SpecError


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``growsim`` console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except GrowsimError as error:
        if args.debug:
            raise
        print(f"growsim: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("growsim: interrupted; continue the run with --resume", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="growsim", description="Simulate network growth in breadth, depth and time."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    commands = parser.add_subparsers(dest="command")

    run = commands.add_parser("run", parents=[common], help="train a spec and record its growth")
    run.add_argument("spec", type=Path, help="YAML spec file")
    _add_overrides(run, "override one spec key, e.g. --set training.seed=3 (repeatable)")
    run.add_argument("--out", type=Path, default=Path("outputs"), help="root of run directories")
    run.add_argument("--name", help="run directory name (default: the spec's name)")
    run.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    run.add_argument("--overwrite", action="store_true", help="delete an existing run first")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.set_defaults(handler=_run)

    sweep = commands.add_parser(
        "sweep", parents=[common], help="run every member of a spec's sweep: block, then combine"
    )
    sweep.add_argument("spec", type=Path, help="YAML spec file with a sweep: block")
    _add_overrides(sweep, "override a base-spec key for every member (repeatable)")
    sweep.add_argument("--out", type=Path, default=Path("outputs"), help="root of sweep directories")
    sweep.add_argument("--workers", type=int, help="members run at once on this machine")
    sweep.add_argument(
        "--scheduler", metavar="ADDRESS", help="run members on a Dask distributed scheduler"
    )
    sweep.add_argument("--overwrite", action="store_true", help="rerun finished members too")
    sweep.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    sweep.set_defaults(handler=_sweep)

    report = commands.add_parser(
        "report", parents=[common], help="figures and a markdown summary of a run or sweep"
    )
    report.add_argument("target", type=Path, help="run directory or sweep directory")
    report.add_argument("--out", type=Path, help="where to write (default: TARGET/report)")
    report.add_argument(
        "--reaction-times", type=Path, metavar="CSV",
        help="human reaction times to correlate with model time: image_id,rt per image, or a "
        "trial table (subj,...,rt,object_response,category,imagename) aggregated per image",
    )  # fmt: skip
    _add_reaction_time_options(report)
    report.set_defaults(handler=_report)

    validate = commands.add_parser(
        "validate", parents=[common], help="check a spec without running it"
    )
    validate.add_argument("spec", type=Path)
    _add_overrides(validate, "override one spec key (repeatable)")
    validate.set_defaults(handler=_validate)

    topology = commands.add_parser(
        "topology", parents=[common], help="print the active graph's topology of a run"
    )
    topology.add_argument("run", type=Path, help="run directory or trajectory.zarr")
    topology.add_argument("--at", type=int, help="checkpoint index (default: the last)")
    topology.set_defaults(handler=_topology)
    _add_predict_command(commands, common)
    return parser


def _add_overrides(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help_text
    )


def _topology(args: argparse.Namespace) -> int:
    from growsim.topology_table import topology_table

    print(topology_table(args.run, args.at))
    return 0


def _run(args: argparse.Namespace) -> int:
    from growsim.runs import run_directory, run_experiment
    from growsim.spec import load_spec
    from growsim.summary import format_summary

    spec = load_spec(args.spec, args.overrides)
    if spec.sweep is not None:
        raise SpecError(
            f"{args.spec}: has a sweep: block; run it with `growsim sweep {args.spec}`, or run "
            "its base spec alone with --set sweep=null"
        )
    run_dir = run_directory(spec, args.out, args.name)
    summary = run_experiment(
        spec, run_dir, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress
    )
    print(format_summary(summary))
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from growsim.sweep import run_sweep, sweep_directory
    from growsim.sweep_spec import load_sweep

    sweep = load_sweep(args.spec, args.overrides)
    if args.workers is not None and args.workers < 1:
        raise SpecError(f"--workers must be >= 1, got {args.workers}")
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
    store = sweep_directory(sweep, args.out) / "sweep.zarr"
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} members done; combined store {store}")
    if failed:
        print(f"growsim: {len(failed)} member(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _report(args: argparse.Namespace) -> int:
    from growsim.report import write_report

    path = write_report(
        args.target, args.out, args.reaction_times, _reaction_time_options(args), notify=print
    )
    print(f"report: {path} (figures beside it)")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from growsim.spec import load_spec

    spec = load_spec(args.spec, args.overrides)
    lattice = spec.lattice
    print(
        f"{args.spec}: valid. {spec.data.dataset}, {spec.data.classes or 'all'} classes; box "
        f"{lattice.layers.initial}-{lattice.layers.max} layers x "
        f"{lattice.channels.initial}-{lattice.channels.max} channels x "
        f"{lattice.steps.initial}-{lattice.steps.max} steps; time selection {spec.time_selection}"
    )
    if spec.sweep is not None:
        from growsim.sweep_spec import load_sweep

        sweep = load_sweep(args.spec, args.overrides)
        print(f"sweep of {len(sweep.members)} members over {', '.join(sweep.swept_keys) or 'nothing'}:")
        for member in sweep.members:
            print(f"  {member.name}")
    return 0


def _add_predict_command(commands, common: argparse.ArgumentParser) -> None:
    """``growsim predict RUN IMAGES``: a finished run's final model on new images."""
    predict = commands.add_parser(
        "predict", parents=[common],
        help="a finished run's model on new images: class, confidence and time per image",
    )  # fmt: skip
    predict.add_argument("run", type=Path, help="a finished run directory")
    predict.add_argument("images", type=Path, help="a folder of image files or an .npz file")
    predict.add_argument(
        "--out", type=Path, help="where to write (default: RUN/predictions/<IMAGES name>)"
    )
    predict.add_argument(
        "--occlusion", type=float, nargs="+", default=[], metavar="LEVEL",
        help="occlusion levels besides 0 (fractions covered), e.g. --occlusion 0.2 0.4",
    )  # fmt: skip
    predict.add_argument(
        "--exit-threshold", type=float, metavar="MASS",
        help="stop an image's steps once its remaining halting mass is at most this "
        "(default: the run's record.exit_threshold)",
    )  # fmt: skip
    predict.add_argument("--seed", type=int, default=0, help="seed of the occluders")

    def handle(args: argparse.Namespace) -> int:
        from growsim.predict import prediction_summary, run_prediction

        if args.exit_threshold is not None and not 0 <= args.exit_threshold <= 0.5:
            raise SpecError(f"--exit-threshold must lie in [0, 0.5], got {args.exit_threshold:g}")
        dataset, out_dir = run_prediction(
            args.run, args.images, args.out, tuple(args.occlusion), args.exit_threshold, args.seed
        )
        print(prediction_summary(dataset, out_dir))
        return 0

    predict.set_defaults(handler=handle)


def _add_reaction_time_options(parser: argparse.ArgumentParser) -> None:
    """How ``--reaction-times`` files are aggregated and matched (see growsim.reaction_times)."""
    parser.add_argument(
        "--rt-trials", choices=("correct", "all"), default="correct",
        help="trial tables: aggregate the correct trials only (default) or all",
    )  # fmt: skip
    parser.add_argument(
        "--rt-statistic", choices=("median", "mean"), default="median",
        help="trial tables: one RT per image as the median (default) or mean of its trials",
    )  # fmt: skip
    parser.add_argument(
        "--rt-key", metavar="REGEX",
        help="match images by what this regular expression captures in both the file's "
        "names and the image ids (its first group, or the whole match)",
    )  # fmt: skip


def _reaction_time_options(args: argparse.Namespace):
    from growsim.reaction_times import ReactionTimeOptions

    return ReactionTimeOptions(args.rt_trials, args.rt_statistic, args.rt_key)


if __name__ == "__main__":
    sys.exit(main())
