"""``growsim reproduce``: the paper's experiments, three seeds on two datasets, and the
results page written from them.

Where it writes: by default into the repository's own places, relative to the current
directory (runs in ``outputs/reproduce``, the page ``docs/results.md``; with ``--competent``
runs in ``outputs/competent``, per-run files in ``docs/results/competent/``, the page
``docs/results/competent.md``). With ``--out OUT`` (or ``--quick``) everything goes under
OUT instead: the runs, the page ``OUT/results.md`` and, with ``--competent``, the per-run
files in ``OUT/results/``. ``--results`` names the page, wherever the rest goes.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NamedTuple

from growsim.cli.parsing import command
from growsim.errors import SpecError

RESULTS = Path("docs/results.md")
COMPETENT_OUT = Path("outputs/competent")
COMPETENT_QUICK_OUT = Path("outputs/competent-quick")
COMPETENT_RESULTS = Path("docs/results/competent")
COMPETENT_PAGE = Path("docs/results/competent.md")
# benchmarks.accuracy's results: each dataset's box against a plain net of its size
ACCURACY_RESULTS = Path("docs/results/accuracy")


def add_reproduce(commands) -> None:
    reproduce = command(
        commands, "reproduce",
        "run the paper's experiments (resumable) and write docs/results.md from them",
        "  growsim reproduce                 # 204 runs, under 2 hours on 2 cores\n"
        "  growsim reproduce --quick         # 28 runs, one seed, a first look\n"
        "  growsim reproduce --out /scratch/reproduce    # runs and results.md under /scratch/reproduce\n"
        "  growsim reproduce --competent     # findings 3 and 4 on competent networks\n"
        "  growsim reproduce --competent --quick   # a first look, under 15 minutes\n"
        "  growsim reproduce --competent --arms quarter,half   # only these arms\n"
        "  growsim reproduce --competent --page-only   # the page from docs/results/competent/\n"
        "  growsim reproduce --competent --scheduler tcp://host:8786   # on a Dask cluster",
    )  # fmt: skip
    reproduce.add_argument("--competent", action="store_true", help=(
        "the competent protocol of findings 3 and 4 (growsim/reproduce/competent.py): runs in "
        f"OUT, per-run files in OUT/results/, page OUT/results.md (without --out: {COMPETENT_OUT}, "
        f"{COMPETENT_RESULTS}/, {COMPETENT_PAGE})"))  # fmt: skip
    reproduce.add_argument("--arms", metavar="ARM,ARM", help=(
        "with --competent: run and measure only these arms (default: every arm but the "
        "diagnostic ones, which only these names run; growsim/reproduce/competent.py lists "
        "them, DIAGNOSTIC_ARMS)"))  # fmt: skip
    reproduce.add_argument("--datasets", metavar="NAME,NAME", help=(
        "with --competent: run and measure only these datasets (default: every one)"))  # fmt: skip
    reproduce.add_argument("--page-only", action="store_true", help=(
        "with --competent: train and measure nothing, write the page from the per-run files"))  # fmt: skip
    reproduce.add_argument("--scheduler", metavar="ADDRESS", help=(
        "run the members on this Dask distributed scheduler (its workers must see OUT)"))  # fmt: skip
    reproduce.add_argument("--quick", action="store_true",
                           help="one seed, fewer runs (written to OUT/results.md)")  # fmt: skip
    reproduce.add_argument("--out", type=Path, help=(
        "where everything goes: the experiments' sweep directories, the page OUT/results.md "
        "and (--competent) the per-run files OUT/results/ (default: the repository's places, "
        f"outputs/reproduce and {RESULTS}; outputs/reproduce-quick with --quick; "
        f"{COMPETENT_OUT}, {COMPETENT_RESULTS}/ and {COMPETENT_PAGE} with --competent)"))  # fmt: skip
    reproduce.add_argument("--results", type=Path, help=(
        "the results page to write, its figures beside it in <name>-figures/ (default: "
        f"OUT/results.md with --out or --quick, else {RESULTS})"))  # fmt: skip
    reproduce.add_argument(
        "--workers", type=int, help="runs at once (default: the number of cores)"
    )
    reproduce.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    reproduce.set_defaults(
        handler=_reproduce,
        after_interrupt="; run the same command again: finished runs are kept, interrupted ones resume",
    )  # fmt: skip


class Places(NamedTuple):
    """Where ``growsim reproduce`` writes."""

    out: Path  # the runs (sweep directories)
    page: Path  # the results page (its figures beside it)
    run_results: Path | None  # --competent: the per-run files the page is written from


def places(args: argparse.Namespace) -> Places:
    """The repository's own places by default; everything under ``--out`` when it is given
    (and with ``--quick``); the page at ``--results`` when that is given."""
    if args.competent:
        elsewhere = args.out or args.quick  # not the repository's own results
        out = args.out or (COMPETENT_QUICK_OUT if args.quick else COMPETENT_OUT)
        page = out / "results.md" if elsewhere else COMPETENT_PAGE
        return Places(
            out, args.results or page, out / "results" if elsewhere else COMPETENT_RESULTS
        )
    out = args.out or Path("outputs/reproduce-quick" if args.quick else "outputs/reproduce")
    page = out / "results.md" if args.out or args.quick else RESULTS
    return Places(out, args.results or page, None)


def _reproduce(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 1:
        raise SpecError(f"--workers must be >= 1, got {args.workers}")
    if args.competent:
        return _competent(args)
    if args.page_only or args.arms or args.datasets:
        flag = "--page-only" if args.page_only else "--arms" if args.arms else "--datasets"
        raise SpecError(f"{flag} goes with --competent")
    from growsim.reproduce.experiments import experiments

    for experiment in experiments(args.quick):  # the data are there before anything trains
        from growsim.spec import check_data_source

        check_data_source(experiment.sweep.members[0].spec, experiment.name, {})
    out, results, _ = places(args)

    from growsim.reproduce.runner import reproduce

    reproduction = reproduce(
        out, results, args.quick, args.workers, not args.no_progress, scheduler=args.scheduler
    )
    print(
        f"{reproduction.runs - len(reproduction.failed)} of {reproduction.runs} runs finished; wrote {results}"
    )
    return 1 if reproduction.failed else 0


def _competent(args: argparse.Namespace) -> int:
    """``--competent``: run (or resume) the protocol's arms, measure them, write the page."""
    from growsim.reproduce.competent import (
        DATASETS,
        QUICK_DATASETS,
        competent_arms,
        measure,
        run_arms,
    )
    from growsim.reproduce.competent_page import write_competent_page

    out, results, run_results = places(args)
    failed = []
    if args.page_only and (args.arms or args.datasets):
        raise SpecError(
            "--arms and --datasets go with training, not with --page-only (the page shows all)"
        )
    if not args.page_only:
        table = QUICK_DATASETS if args.quick else DATASETS
        datasets = _chosen("--datasets", args.datasets, list(table), args.quick)
        offered = sorted({arm for d in datasets or table for arm in table[d][2]})
        chosen = _chosen("--arms", args.arms, offered, args.quick)
        arms = competent_arms(datasets=datasets, arms=chosen, table=table, out=out)
        from growsim.spec import check_data_source

        for arm in arms:  # the data are there before anything trains
            check_data_source(arm.sweep.members[0].spec, arm.name, {})
        failed = run_arms(
            arms, out, workers=args.workers or 2, scheduler=args.scheduler, results=run_results
        )
        measure(arms, out, run_results)
    for failure in failed:
        print(f"failed: {failure}")
    if not Path(run_results).is_dir():
        raise SpecError(
            f"{run_results}: no per-run files to write the page from; run the protocol first "
            "(growsim reproduce --competent, without --page-only)"
        )
    page = write_competent_page(run_results, Path(results), ACCURACY_RESULTS)
    print(f"wrote {page}")
    return 1 if failed else 0


def _chosen(flag: str, text: str | None, offered: list[str], quick: bool) -> tuple[str, ...] | None:
    """The comma-separated names of ``flag`` (None: not given), each one of ``offered``."""
    if not text:
        return None
    chosen = tuple(name.strip() for name in text.split(","))
    absent = sorted(set(chosen) - set(offered))
    if absent:
        kind = flag.lstrip("-")[:-1] if flag.endswith("s") else flag.lstrip("-")
        raise SpecError(
            f"{flag}: no {kind} {', '.join(absent)} in this protocol{' (--quick)' if quick else ''}; "
            f"its {flag.lstrip('-')} are {', '.join(offered)}"
        )
    return chosen
