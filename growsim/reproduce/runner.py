"""Run every experiment of ``growsim reproduce`` (resumable sweeps), measure the four
findings on each dataset (growsim.reproduce.findings), and write the results page with its
figures (growsim.reproduce.page)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Callable

from growsim.files import write_text_atomically
from growsim.reproduce.experiments import experiments
from growsim.reproduce.findings import Reproduction, dataset_findings
from growsim.reproduce.page import write_page
from growsim.sweep.runner import run_sweep, sweep_directory

INVOCATIONS = "invocations.json"  # wall time of every invocation, summed on the page
logger = logging.getLogger(__name__)


def reproduce(
    out: Path,
    results: Path,
    quick: bool = False,
    workers: int | None = None,
    progress: bool = True,
    say: Callable[[str], None] = logger.info,
    scheduler: str | None = None,
) -> Reproduction:
    """Run (or resume) every experiment in ``out`` (on the Dask ``scheduler`` if given), then
    write ``results`` and its figures."""
    started = time.perf_counter()
    out = Path(out)
    found = experiments(quick)
    failed, ran = [], 0
    for experiment in found:
        say(
            f"{experiment.name}: {len(experiment.sweep.members)} runs in {sweep_directory(experiment.sweep, out)}"
        )
        outcomes = run_sweep(
            experiment.sweep, out, workers=workers, scheduler=scheduler, progress=progress
        )
        ran += sum(o.status == "finished" for o in outcomes)
        failed += [
            f"{experiment.name}/{o.name}: {o.error}" for o in outcomes if o.status == "failed"
        ]
    wall, invocations = _log_invocation(out, time.perf_counter() - started, ran)
    reproduction = Reproduction(
        [dataset_findings(found, dataset, out) for dataset in dict.fromkeys(e.dataset for e in found)],
        quick, sum(len(e.sweep.members) for e in found), failed, wall, invocations, out,
    )  # fmt: skip
    write_page(reproduction, Path(results))
    return reproduction


def _log_invocation(out: Path, seconds: float, ran: int) -> tuple[float, int]:
    """Add this invocation's wall time to ``out/invocations.json``; (seconds of the
    invocations that trained runs, invocations in all)."""
    path = out / INVOCATIONS
    log = json.loads(path.read_text()) if path.exists() else []
    log.append(
        {"seconds": seconds, "runs_trained": ran, "finished_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    )
    write_text_atomically(path, json.dumps(log, indent=2))
    return sum(entry["seconds"] for entry in log if entry["runs_trained"]), len(log)
