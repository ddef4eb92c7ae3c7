"""``growsim reproduce``: the paper's experiments, three seeds on two datasets, and the
results page written from them."""

from __future__ import annotations

import argparse
from pathlib import Path

from growsim.cli.parsing import command
from growsim.errors import SpecError

RESULTS = Path("docs/results.md")
COMPETENT_OUT = Path("outputs/competent")
COMPETENT_RESULTS = Path("docs/results/competent")
COMPETENT_PAGE = Path("docs/results/competent.md")


def add_reproduce(commands) -> None:
    reproduce = command(
        commands, "reproduce",
        "run the paper's experiments (resumable) and write docs/results.md from them",
        "  growsim reproduce                 # 204 runs, under 2 hours on 2 cores\n"
        "  growsim reproduce --quick         # 28 runs, one seed, a first look\n"
        "  growsim reproduce --out /scratch/reproduce --results /scratch/results.md\n"
        "  growsim reproduce --competent     # findings 3 and 4 on competent networks\n"
        "  growsim reproduce --competent --page-only   # the page from docs/results/competent/\n"
        "  growsim reproduce --competent --scheduler tcp://host:8786   # on a Dask cluster",
    )  # fmt: skip
    reproduce.add_argument("--competent", action="store_true", help=(
        "the competent protocol of findings 3 and 4 (growsim/reproduce/competent.py): runs in "
        f"OUT (default {COMPETENT_OUT}), per-run files in {COMPETENT_RESULTS}/, page {COMPETENT_PAGE}"))  # fmt: skip
    reproduce.add_argument("--page-only", action="store_true", help=(
        "with --competent: train and measure nothing, write the page from the per-run files"))  # fmt: skip
    reproduce.add_argument("--scheduler", metavar="ADDRESS", help=(
        "run the members on this Dask distributed scheduler (its workers must see OUT)"))  # fmt: skip
    reproduce.add_argument("--quick", action="store_true",
                           help="one seed, fewer runs (written to OUT/results.md)")  # fmt: skip
    reproduce.add_argument("--out", type=Path, help=(
        "root of the experiments' sweep directories (default: outputs/reproduce, "
        "outputs/reproduce-quick with --quick)"))  # fmt: skip
    reproduce.add_argument("--results", type=Path, help=(
        "the results page to write, its figures beside it in <name>-figures/ (default: "
        f"{RESULTS}, OUT/results.md with --quick)"))  # fmt: skip
    reproduce.add_argument("--workers", type=int, help="runs at once (default: the number of cores)")
    reproduce.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    reproduce.set_defaults(
        handler=_reproduce,
        after_interrupt="; run the same command again: finished runs are kept, interrupted ones resume",
    )  # fmt: skip


def _reproduce(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 1:
        raise SpecError(f"--workers must be >= 1, got {args.workers}")
    if args.competent:
        return _competent(args)
    if args.page_only:
        raise SpecError("--page-only goes with --competent")
    from growsim.reproduce.experiments import experiments

    for experiment in experiments(args.quick):  # the data are there before anything trains
        from growsim.spec import check_data_source

        check_data_source(experiment.sweep.members[0].spec, experiment.name, {})
    out = args.out or Path("outputs/reproduce-quick" if args.quick else "outputs/reproduce")
    results = args.results or (out / "results.md" if args.quick else RESULTS)

    from growsim.reproduce.runner import reproduce

    reproduction = reproduce(out, results, args.quick, args.workers, not args.no_progress, scheduler=args.scheduler)
    print(f"{reproduction.runs - len(reproduction.failed)} of {reproduction.runs} runs finished; wrote {results}")
    return 1 if reproduction.failed else 0


def _competent(args: argparse.Namespace) -> int:
    """``--competent``: run (or resume) the protocol's arms, measure them, write the page."""
    from growsim.reproduce.competent import competent_arms, measure, run_arms
    from growsim.reproduce.competent_page import write_competent_page

    results = args.results or COMPETENT_PAGE
    failed = []
    if not args.page_only:
        arms = competent_arms()
        from growsim.spec import check_data_source

        for arm in arms:  # the data are there before anything trains
            check_data_source(arm.sweep.members[0].spec, arm.name, {})
        out = args.out or COMPETENT_OUT
        failed = run_arms(arms, out, workers=args.workers or 2, scheduler=args.scheduler)
        measure(arms, out, COMPETENT_RESULTS)
    page = write_competent_page(COMPETENT_RESULTS, Path(results))
    for failure in failed:
        print(f"failed: {failure}")
    print(f"wrote {page}")
    return 1 if failed else 0
