"""Run every experiment of ``growsim reproduce`` (resumable sweeps), measure the four
findings on each dataset, and write the results page with its figures."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from growsim.analysis.reproduction import (
    ComplexityFinding,
    RunRecord,
    SettingSummary,
    TradeoffFinding,
    complexity_finding,
    load_runs,
    tradeoff_finding,
)
from growsim.analysis.reproduction_time import (
    DifficultySummary,
    RunTime,
    SpeedAccuracy,
    WeightEffect,
    difficulty_correlations,
    difficulty_summary,
    effect_by_weight,
    run_time,
)
from growsim.files import write_text_atomically
from growsim.reproduce.experiments import Experiment, experiments
from growsim.sweep.runner import run_sweep, sweep_directory

INVOCATIONS = "invocations.json"  # wall time of every invocation, summed on the page
TIME_WEIGHT = "costs.time.weight"


@dataclass
class DatasetFindings:
    """The four findings on one dataset."""

    dataset: str
    tradeoff: TradeoffFinding
    complexity: ComplexityFinding
    by_weight: list[WeightEffect]  # finding 3 over the time weights
    base: list[RunTime]  # the grid's middle setting, one per seed
    ablation: list[RunTime]  # the same without the confidence term in halting
    difficulty: DifficultySummary  # finding 4 over every trade-off run
    base_correlations: list[tuple]  # per base run: (seed, clean Correlation, pooled Correlation)
    base_curves: list[tuple[int, SpeedAccuracy]]  # per base run: (seed, curve)
    base_setting: tuple = ()
    curves: list[SpeedAccuracy] = field(default_factory=list)  # every trade-off run's
    complexity_learned: ComplexityFinding | None = None  # without settings that stayed at chance


@dataclass
class Reproduction:
    """Everything the results page reports."""

    datasets: list[DatasetFindings]
    quick: bool
    runs: int
    failed: list[str]
    wall_seconds: float  # of the invocations that trained runs
    invocations: int
    out: Path
    notes: list[str] = field(default_factory=list)


def reproduce(
    out: Path,
    results: Path,
    quick: bool = False,
    workers: int | None = None,
    progress: bool = True,
    say: Callable[[str], None] = print,
    scheduler: str | None = None,
) -> Reproduction:
    """Run (or resume) every experiment in ``out`` (on the Dask ``scheduler`` if given), then
    write ``results`` and its figures."""
    from growsim.reproduce.page import write_page

    started = time.perf_counter()
    out = Path(out)
    found = experiments(quick)
    failed, ran = [], 0
    for experiment in found:
        say(f"{experiment.name}: {len(experiment.sweep.members)} runs in {sweep_directory(experiment.sweep, out)}")
        outcomes = run_sweep(experiment.sweep, out, workers=workers, scheduler=scheduler, progress=progress)
        ran += sum(o.status == "finished" for o in outcomes)
        failed += [f"{experiment.name}/{o.name}: {o.error}" for o in outcomes if o.status == "failed"]
    wall, invocations = _log_invocation(out, time.perf_counter() - started, ran)
    reproduction = Reproduction(
        [dataset_findings(found, dataset, out) for dataset in dict.fromkeys(e.dataset for e in found)],
        quick, sum(len(e.sweep.members) for e in found), failed, wall, invocations, out,
    )  # fmt: skip
    write_page(reproduction, Path(results))
    return reproduction


def dataset_findings(found: list[Experiment], dataset: str, out: Path) -> DatasetFindings:
    """Measure the four findings on ``dataset`` from its experiments' runs in ``out``."""
    sweeps = {e.experiment: e for e in found if e.dataset == dataset}
    tradeoff_runs = _runs(sweeps["tradeoff"], out)
    keys = _keys(sweeps["tradeoff"])
    costs = sweeps["tradeoff"].sweep.base.costs
    base_setting = (costs.breadth.weight, costs.depth.weight, costs.time.weight)
    times = [run_time(record) for record in tradeoff_runs]
    base = sorted((t for t in times if t.record.setting == base_setting), key=lambda t: t.record.seed)
    ablation = sorted((run_time(r) for r in _runs(sweeps["ablation"], out)), key=lambda t: t.record.seed)
    correlations = [(t.record.seed, *difficulty_correlations(t.record)) for t in base]
    complexity_runs, complexity_keys = _runs(sweeps["complexity"], out), _keys(sweeps["complexity"])
    complexity = complexity_finding(complexity_runs, complexity_keys)
    failed = {s.setting for s in complexity.settings if not learned(s)}
    kept = [r for r in complexity_runs if r.setting not in failed]
    return DatasetFindings(
        dataset, tradeoff_finding(tradeoff_runs), complexity,
        effect_by_weight(times, keys.index(TIME_WEIGHT)), base, ablation,
        difficulty_summary(times), correlations,
        [(t.record.seed, t.curve) for t in base], base_setting,
        [t.curve for t in times],
        complexity_finding(kept, complexity_keys) if failed and kept else None,
    )  # fmt: skip


def learned(setting: SettingSummary, margin: float = 0.05) -> bool:
    """Whether a complexity setting (classes first) learned: mean validation accuracy more
    than ``margin`` above chance."""
    return setting.validation.mean >= 1.0 / setting.setting[0] + margin


def _keys(experiment: Experiment) -> list[str]:
    """The keys a sweep varies besides the seed, in order."""
    return [k for k in experiment.sweep.swept_keys if k != "training.seed"]


def _runs(experiment: Experiment, out: Path) -> list[RunRecord]:
    return load_runs(sweep_directory(experiment.sweep, out), _keys(experiment))


def _log_invocation(out: Path, seconds: float, ran: int) -> tuple[float, int]:
    """Add this invocation's wall time to ``out/invocations.json``; (seconds of the
    invocations that trained runs, invocations in all)."""
    path = out / INVOCATIONS
    log = json.loads(path.read_text()) if path.exists() else []
    log.append({"seconds": seconds, "runs_trained": ran, "finished_at": time.strftime("%Y-%m-%d %H:%M:%S")})
    write_text_atomically(path, json.dumps(log, indent=2))
    return sum(entry["seconds"] for entry in log if entry["runs_trained"]), len(log)
