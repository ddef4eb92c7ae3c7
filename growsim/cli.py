"""Command line: ``growsim run|sweep|report|validate|topology|predict``.

Errors a user can cause print one paragraph and exit 2 (``--debug``: the traceback). Each
subcommand's parser is built by its own small function; the heavy modules (torch) are
imported only after the spec has been validated, so a typo is rejected at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from growsim import __version__
from growsim.errors import GrowsimError, SpecError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130, as a shell reports it
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # 141: the reader of our output went away

EXAMPLES = """examples:
  growsim validate specs/quick.yaml --show        # the resolved spec, every default filled in
  growsim run specs/quick.yaml                    # train; writes outputs/quick/
  growsim run specs/quick.yaml --resume           # continue an interrupted run
  growsim report outputs/quick                    # figures and report.md
  growsim sweep specs/tradeoff.yaml               # every member of a sweep: block
  growsim topology outputs/quick                  # the grown graph's topology
  growsim predict outputs/quick stimuli/          # the model's time on new images

'growsim COMMAND --help' shows each command's options."""


class Terminated(BaseException):
    """SIGTERM arrived. Unwinds like KeyboardInterrupt, so locks and files are released."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``growsim`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USER_ERROR
    with _sigterm_raises():
        try:
            code = args.handler(args)
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
            return code
        except GrowsimError as error:
            if args.debug:
                raise
            print(f"growsim: error: {error}", file=sys.stderr)
            return EXIT_USER_ERROR
        except KeyboardInterrupt:
            print(f"growsim: interrupted{args.after_interrupt}", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Terminated:
            print(f"growsim: terminated (SIGTERM){args.after_interrupt}", file=sys.stderr)
            return EXIT_TERMINATED
        except BrokenPipeError:  # e.g. `growsim topology RUN | head`
            _discard_stdout()
            return EXIT_BROKEN_PIPE


def build_parser() -> argparse.ArgumentParser:
    """The ``growsim`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="growsim",
        description="Simulate neural-network growth in breadth, depth and time.",
        epilog=EXAMPLES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"growsim {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.set_defaults(after_interrupt="")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add_command in (_add_run, _add_sweep, _add_report, _add_validate, _add_topology,
                        _add_predict):  # fmt: skip
        add_command(commands)
    return parser


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each option's default where it has one, and keeps the examples' line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        default = action.default
        if default is None or default is False or default == []:
            return action.help or ""
        return super()._get_help_string(action)


def _command(commands, name: str, summary: str, examples: str) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        name, help=summary, description=summary, epilog=f"examples:\n{examples}",
        formatter_class=HelpFormatter,
    )  # fmt: skip
    # Accepted after the subcommand too; SUPPRESS keeps a --debug given before it.
    parser.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors"
    )
    return parser


def _add_overrides(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help=help_text
    )


# --------------------------------------------------------------------------- run


def _add_run(commands) -> None:
    run = _command(commands, "run", "train a spec and record its growth", (
        "  growsim run specs/quick.yaml\n"
        "  growsim run specs/quick.yaml --set training.seed=3 --name quick-s3\n"
        "  growsim run specs/quick.yaml --resume\n"
        "  growsim run specs/quick.yaml --out /scratch/runs --overwrite"
    ))  # fmt: skip
    run.add_argument("spec", type=Path, help="YAML spec file")
    _add_overrides(run, "override one spec key, e.g. --set training.seed=3 (repeatable)")
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
    run.set_defaults(
        handler=_run, after_interrupt="; continue the run with the same command and --resume"
    )


def _run(args: argparse.Namespace) -> int:
    from growsim.spec.loading import load_spec

    spec = load_spec(args.spec, args.overrides, check_files=True)  # before torch is imported
    if spec.sweep is not None:
        raise SpecError(
            f"{args.spec}: has a sweep: block; run it with `growsim sweep {args.spec}`, or run "
            "its base spec alone with --set sweep=null"
        )
    from growsim.runs.directories import run_directory

    run_dir = run_directory(spec, args.out, args.name)

    from growsim.analysis.summary import format_summary
    from growsim.runs.experiment import run_experiment

    summary = run_experiment(
        spec, run_dir, resume=args.resume, overwrite=args.overwrite,
        progress=not args.no_progress, say=print,
    )  # fmt: skip
    print(format_summary(summary))
    return 0


# --------------------------------------------------------------------------- sweep


def _add_sweep(commands) -> None:
    sweep = _command(
        commands, "sweep", "run every member of a spec's sweep: block, then combine them",
        "  growsim sweep specs/tradeoff.yaml\n"
        "  growsim sweep specs/tradeoff.yaml --workers 1 --set training.steps=100\n"
        "  growsim sweep specs/tradeoff.yaml --scheduler tcp://host:8786",
    )  # fmt: skip
    sweep.add_argument("spec", type=Path, help="YAML spec file with a sweep: block")
    _add_overrides(sweep, "override a base-spec key for every member (repeatable)")
    sweep.add_argument("--out", type=Path, default=Path("outputs"), help="root of sweep directories")
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
    store = sweep_directory(sweep, args.out) / "sweep.zarr"
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} members done; combined store {store}")
    if failed:
        print(f"growsim: {len(failed)} member(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------- report


def _add_report(commands) -> None:
    report = _command(
        commands, "report", "figures and a markdown summary of a run, a sweep or predictions",
        "  growsim report outputs/occlusion\n"
        "  growsim report outputs/tradeoff --out /tmp/tradeoff-report\n"
        "  growsim report outputs/occlusion --reaction-times rts.csv",
    )  # fmt: skip
    report.add_argument(
        "target", type=Path, help="run, sweep or `growsim predict` output directory"
    )
    report.add_argument("--out", type=Path, help="where to write (default: TARGET/report)")
    report.add_argument(
        "--reaction-times", type=Path, metavar="CSV",
        help="human reaction times to correlate with model time: image_id,rt per image, or a "
        "trial table (subj,...,rt,object_response,category,imagename) aggregated per image",
    )  # fmt: skip
    _add_reaction_time_options(report)
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    from growsim.analysis.report import write_report

    path = write_report(
        args.target, args.out, args.reaction_times, _reaction_time_options(args), notify=print
    )
    print(f"report: {path} (figures beside it)")
    return 0


# --------------------------------------------------------------------------- validate


def _add_validate(commands) -> None:
    validate = _command(
        commands, "validate", "check a spec (and that its data is there) without running it",
        "  growsim validate specs/occlusion.yaml\n"
        "  growsim validate specs/quick.yaml --set costs.time.weight=0.1 --show",
    )  # fmt: skip
    validate.add_argument("spec", type=Path, help="YAML spec file")
    _add_overrides(validate, "override one spec key (repeatable)")
    validate.add_argument(
        "--show", action="store_true",
        help="print the resolved spec as YAML, every default filled in (what a run records)",
    )  # fmt: skip
    validate.set_defaults(handler=_validate)


def _validate(args: argparse.Namespace) -> int:
    from growsim.spec.loading import load_spec, spec_to_yaml

    spec = load_spec(args.spec, args.overrides, check_files=True)  # a sweep's: its members'
    sweep = None
    if spec.sweep is not None:
        from growsim.sweep.spec import load_sweep

        sweep = load_sweep(args.spec, args.overrides, check_files=True)
    if args.show:
        print(spec_to_yaml(spec), end="")
        return 0
    lattice = spec.lattice
    print(
        f"{args.spec}: valid. {spec.data.dataset}, {spec.data.classes or 'all'} classes; box "
        f"{lattice.layers.initial}-{lattice.layers.max} layers x "
        f"{lattice.channels.initial}-{lattice.channels.max} channels x "
        f"{lattice.steps.initial}-{lattice.steps.max} steps; time selection {spec.time_selection}"
    )
    if sweep is not None:
        print(f"sweep of {len(sweep.members)} members over {', '.join(sweep.swept_keys) or 'nothing'}:")
        for member in sweep.members:
            print(f"  {member.name}")
    return 0


# --------------------------------------------------------------------------- topology


def _add_topology(commands) -> None:
    topology = _command(
        commands, "topology", "print the topology of a run's active graph",
        "  growsim topology outputs/quick\n"
        "  growsim topology outputs/quick --at 3",
    )  # fmt: skip
    topology.add_argument("run", type=Path, help="run directory or trajectory.zarr")
    topology.add_argument(
        "--at", type=int, help="checkpoint index, 0 the first, -1 the last (default: the last)"
    )
    topology.set_defaults(handler=_topology)


def _topology(args: argparse.Namespace) -> int:
    from growsim.analysis.topology_table import topology_table

    print(topology_table(args.run, args.at))
    return 0


# --------------------------------------------------------------------------- predict


def _add_predict(commands) -> None:
    """``growsim predict RUN IMAGES``: a finished run's final model on new images."""
    predict = _command(
        commands, "predict",
        "a finished run's model on new images: class, confidence and time per image",
        "  growsim predict outputs/quick stimuli/\n"
        "  growsim predict outputs/occlusion stimuli.npz --occlusion 0.2 0.4",
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
        from growsim.runs.predict import prediction_summary, run_prediction

        if args.exit_threshold is not None and not 0 <= args.exit_threshold <= 0.5:
            raise SpecError(f"--exit-threshold must lie in [0, 0.5], got {args.exit_threshold:g}")
        dataset, out_dir = run_prediction(
            args.run, args.images, args.out, tuple(args.occlusion), args.exit_threshold, args.seed
        )
        print(prediction_summary(dataset, out_dir))
        return 0

    predict.set_defaults(handler=handle)


def _add_reaction_time_options(parser: argparse.ArgumentParser) -> None:
    """How ``--reaction-times`` files are aggregated and matched (see growsim.analysis.reaction_times)."""
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
    from growsim.analysis.reaction_times import ReactionTimeOptions

    return ReactionTimeOptions(args.rt_trials, args.rt_statistic, args.rt_key)



# --------------------------------------------------------------------------- signals, pipes


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises Terminated in the main thread (restored after)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # stdout is not a file (e.g. captured in a test)


if __name__ == "__main__":
    sys.exit(main())
