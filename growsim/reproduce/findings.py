"""The four findings of ``growsim reproduce`` measured from its experiments' runs, and what
the results page reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
from growsim.reproduce.experiments import Experiment
from growsim.sweep.runner import sweep_directory

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


def dataset_findings(found: list[Experiment], dataset: str, out: Path) -> DatasetFindings:
    """Measure the four findings on ``dataset`` from its experiments' runs in ``out``."""
    sweeps = {e.experiment: e for e in found if e.dataset == dataset}
    tradeoff_runs = _runs(sweeps["tradeoff"], out)
    keys = _keys(sweeps["tradeoff"])
    costs = sweeps["tradeoff"].sweep.base.costs
    base_setting = (costs.breadth.weight, costs.depth.weight, costs.time.weight)
    times = [run_time(record) for record in tradeoff_runs]
    base = sorted(
        (t for t in times if t.record.setting == base_setting), key=lambda t: t.record.seed
    )
    ablation = sorted(
        (run_time(r) for r in _runs(sweeps["ablation"], out)), key=lambda t: t.record.seed
    )
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
