"""The commands that check and read: ``growsim validate``, ``schema``, ``report``,
``topology`` and ``predict``."""

from __future__ import annotations

import argparse
from pathlib import Path

from growsim.cli.parsing import add_overrides, command
from growsim.errors import SpecError

# --------------------------------------------------------------------------- report


def add_report(commands) -> None:
    report = command(
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

    path = write_report(args.target, args.out, args.reaction_times, _reaction_time_options(args))
    print(f"report: {path} (figures beside it)")
    return 0


# --------------------------------------------------------------------------- validate


def add_validate(commands) -> None:
    validate = command(
        commands, "validate", "check a spec (and that its data is there) without running it",
        "  growsim validate specs/occlusion.yaml\n"
        "  growsim validate specs/quick.yaml --set costs.time.weight=0.1 --show",
    )  # fmt: skip
    validate.add_argument("spec", type=Path, help="YAML spec file")
    add_overrides(validate, "override one spec key (repeatable)")
    validate.add_argument(
        "--show", action="store_true",
        help="print the resolved spec as YAML, every default filled in (what a run records)",
    )  # fmt: skip
    validate.set_defaults(handler=_validate)


def _validate(args: argparse.Namespace) -> int:
    from growsim.spec import load_spec, spec_to_yaml

    spec = load_spec(args.spec, args.overrides, check_files=True)  # a sweep's: its members'
    sweep = None
    if spec.sweep is not None:
        from growsim.sweep.spec import load_sweep

        sweep = load_sweep(args.spec, args.overrides, check_files=True)
    from growsim.data.datasets import check_source_files

    check_source_files(spec.data)  # the files are what the dataset's kind reads
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
        print(
            f"sweep of {len(sweep.members)} members over {', '.join(sweep.swept_keys) or 'nothing'}:"
        )
        for member in sweep.members:
            print(f"  {member.name}")
    return 0


def add_schema(commands) -> None:
    schema = command(
        commands, "schema", "print the JSON Schema of a spec file (for editors' completion and checks)",
        "  growsim schema > specs/spec.schema.json",
    )  # fmt: skip
    schema.set_defaults(handler=_schema)


def _schema(args: argparse.Namespace) -> int:
    from growsim.spec import spec_schema_text

    print(spec_schema_text(), end="")
    return 0


# --------------------------------------------------------------------------- topology


def add_topology(commands) -> None:
    topology = command(
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


def add_predict(commands) -> None:
    """``growsim predict RUN IMAGES``: a finished run's final model on new images."""
    predict = command(
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
