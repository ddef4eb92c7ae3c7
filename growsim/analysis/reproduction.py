"""Findings 1 and 2 across seeds, from the runs of ``growsim reproduce``: the resources and
accuracies each run ended with (its ``summary.json``), grouped by setting.

Resources are measured as the paper counts them: width is the mean number of active
channels over the active layers, depth the number of active layers (not a proxy), time the
expected number of steps on the clean validation images (all of them, at the final
checkpoint). Choices (the runs compared as being of equal accuracy, the fitted surface) read
the validation split only; test accuracy is reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from itertools import combinations
from pathlib import Path

import numpy as np

from growsim.analysis.statistics import (
    Correlation,
    MeanInterval,
    bootstrap_spearman,
    mean_interval,
    spearman,
)
from growsim.analysis.surface import PAIRS, RESOURCES, QuadraticSurface, fit_surface
from growsim.files import SUMMARY_NAME, SWEEP_STATUS_NAME

SEED_KEY = "training.seed"
COEFFICIENTS = 10  # of the quadratic surface: a fit needs at least as many runs
EQUAL_ACCURACY = 0.02  # validation accuracies this close (and with overlapping intervals) agree
POOLED_RESAMPLES = 2000  # bootstrap resamples of the runs for finding 2's pooled correlation


@dataclass(frozen=True)
class RunRecord:
    """One finished run of a sweep: its setting, seed, accuracies and resources."""

    name: str
    run_dir: Path
    setting: tuple  # the swept values other than the seed, in the sweep's key order
    seed: int
    validation_accuracy: float
    test_accuracy: float
    width: float
    depth: float
    steps: float

    def resources(self) -> np.ndarray:
        """(width, depth, steps)."""
        return np.array([self.width, self.depth, self.steps])


def load_runs(sweep_dir: Path, keys: list[str]) -> list[RunRecord]:
    """The finished members of the sweep in ``sweep_dir`` (its ``sweep.json``), their
    setting given as the values of ``keys``."""
    status = json.loads((Path(sweep_dir) / SWEEP_STATUS_NAME).read_text())
    records = []
    for member in status["members"]:
        run_dir = Path(sweep_dir) / member["name"]
        summary_path = run_dir / SUMMARY_NAME
        if member["status"] not in ("finished", "skipped") or not summary_path.exists():
            continue
        summary = json.loads(summary_path.read_text())
        active = [w for w in summary["width"] if w > 0]
        records.append(RunRecord(
            member["name"], run_dir, tuple(member["overrides"].get(k) for k in keys),
            int(member["overrides"].get(SEED_KEY, 0)), summary["validation_accuracy"],
            summary["test_accuracy"], float(np.mean(active)) if active else 0.0,
            float(summary["depth"]), summary["validation_expected_steps"],
        ))  # fmt: skip
    return records


def by_setting(records: list[RunRecord]) -> dict[tuple, list[RunRecord]]:
    """Runs grouped by setting (each group: one run per seed)."""
    groups: dict[tuple, list[RunRecord]] = {}
    for record in records:
        groups.setdefault(record.setting, []).append(record)
    return groups


# ----------------------------------------------------------------------------- finding 1


@dataclass(frozen=True)
class SettingSummary:
    """One setting over its seeds: mean and t interval of accuracies and resources."""

    setting: tuple
    validation: MeanInterval
    test: MeanInterval
    resources: tuple[MeanInterval, MeanInterval, MeanInterval]  # width, depth, steps


@dataclass(frozen=True)
class Substitution:
    """Two settings at agreeing accuracy that use clearly different mixes of resources: each
    uses clearly more of some resource than the other (indices into RESOURCES)."""

    first: SettingSummary
    second: SettingSummary
    first_more: tuple[int, ...]  # resources ``first`` uses clearly more of
    second_more: tuple[int, ...]


@dataclass
class TradeoffFinding:
    """Finding 1 on one dataset."""

    settings: list[SettingSummary]
    surface: QuadraticSurface | None  # every run pooled (None: fewer runs than coefficients)
    per_seed_r_squared: list[float]
    substitution_rates: dict[tuple[int, int], MeanInterval]  # (i, j) -> MRS(i -> j) across seeds
    at: np.ndarray  # the resource point the rates are evaluated at (mean of all runs)
    pairs: list[Substitution]
    runs: int
    seeds: int
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # per resource, over runs


def summarise_settings(records: list[RunRecord]) -> list[SettingSummary]:
    """Per setting, the mean and t interval across seeds of accuracies and resources."""
    result = []
    for setting, runs in by_setting(records).items():
        resources = np.array([r.resources() for r in runs])
        result.append(SettingSummary(
            setting, mean_interval([r.validation_accuracy for r in runs]),
            mean_interval([r.test_accuracy for r in runs]),
            tuple(mean_interval(resources[:, k]) for k in range(3)),
        ))  # fmt: skip
    return result


def tradeoff_finding(records: list[RunRecord]) -> TradeoffFinding:
    """Fit validation accuracy over (width, depth, steps), the substitution rates between
    each pair of resources per seed (interval across seeds, at the mean resource point),
    and the pairs of settings that trade one resource for another at agreeing accuracy."""
    x = np.array([r.resources() for r in records])
    accuracy = np.array([r.validation_accuracy for r in records])
    at = x.mean(axis=0)
    seeds = sorted({r.seed for r in records})
    rates: dict[tuple[int, int], list[float]] = {pair: [] for pair in PAIRS}
    r_squared = []
    for seed in seeds:
        own = [r for r in records if r.seed == seed]
        if len(own) < COEFFICIENTS:
            continue
        surface = fit_surface(
            np.array([r.resources() for r in own]), [r.validation_accuracy for r in own]
        )
        r_squared.append(surface.r_squared)
        for i, j in PAIRS:
            rate = surface.substitution(at, i, j)
            if np.isfinite(rate):  # undefined where a resource did not vary in this seed's runs
                rates[(i, j)].append(rate)
    settings = summarise_settings(records)
    return TradeoffFinding(
        settings, fit_surface(x, accuracy) if len(records) >= COEFFICIENTS else None, r_squared,
        {pair: mean_interval(values) for pair, values in rates.items() if values},
        at, substitution_pairs(settings), len(records), len(seeds),
        {name: (float(x[:, k].min()), float(x[:, k].max())) for k, name in enumerate(RESOURCES)},
    )  # fmt: skip


def substitution_pairs(
    settings: list[SettingSummary], tolerance: float = EQUAL_ACCURACY
) -> list[Substitution]:
    """Pairs of settings of agreeing validation accuracy (means within ``tolerance`` and
    intervals across seeds that overlap) where each uses clearly more of some resource than
    the other (intervals across seeds that do not overlap), largest trades first. Only
    settings with two seeds or more take part: one run has no interval to be clear of."""
    found = []
    for a, b in combinations([s for s in settings if s.validation.n >= 2], 2):
        if abs(a.validation.mean - b.validation.mean) > tolerance or not _overlap(
            a.validation, b.validation
        ):
            continue
        a_more = tuple(k for k in range(3) if a.resources[k].low > b.resources[k].high)
        b_more = tuple(k for k in range(3) if b.resources[k].low > a.resources[k].high)
        if a_more and b_more:
            found.append(Substitution(a, b, a_more, b_more))
    return sorted(found, key=_trade_size, reverse=True)


def _overlap(a: MeanInterval, b: MeanInterval) -> bool:
    return a.low <= b.high and b.low <= a.high


def _trade_size(pair: Substitution) -> float:
    """The smaller of the two sides' largest relative differences (a trade's weaker side)."""

    def side(more: SettingSummary, less: SettingSummary, resources: tuple[int, ...]) -> float:
        return max((more.resources[k].mean - less.resources[k].mean) / max(less.resources[k].mean, 1e-9)
                   for k in resources)  # fmt: skip

    return min(
        side(pair.first, pair.second, pair.first_more),
        side(pair.second, pair.first, pair.second_more),
    )


# ----------------------------------------------------------------------------- finding 2


@dataclass
class ComplexityFinding:
    """Finding 2 on one dataset: Spearman of each resource against each difficulty knob,
    per seed over the settings, with the mean and t interval across seeds; and over every
    run pooled, with a bootstrap interval over runs (three seeds can agree by chance on one
    of the few values a rank correlation of six settings takes, which leaves the t interval
    a point)."""

    knobs: list[str]
    correlations: dict[tuple[str, str], MeanInterval]  # (knob, resource) -> rho across seeds
    undefined: dict[tuple[str, str], int]  # seeds where the resource did not vary (rho undefined)
    settings: list[SettingSummary]
    runs: int
    seeds: int
    pooled: dict[tuple[str, str], Correlation] = field(default_factory=dict)  # every run, bootstrap


def complexity_finding(records: list[RunRecord], knobs: list[str]) -> ComplexityFinding:
    """How width, depth and steps follow each knob (a record's setting, in ``knobs``
    order), seed by seed."""
    seeds = sorted({r.seed for r in records})
    correlations, undefined, pooled = {}, {}, {}
    for k, knob in enumerate(knobs):
        for index, resource in enumerate(RESOURCES):
            values = []
            for seed in seeds:
                own = [r for r in records if r.seed == seed]
                rho = spearman(np.array([float(r.setting[k]) for r in own]),
                               np.array([r.resources()[index] for r in own]))  # fmt: skip
                values.append(rho)
            finite = [v for v in values if np.isfinite(v)]
            undefined[(knob, resource)] = len(values) - len(finite)
            if finite:  # a correlation's interval ends at +-1
                found = mean_interval(finite)
                correlations[(knob, resource)] = replace(
                    found, low=max(found.low, -1.0), high=min(found.high, 1.0)
                )
            knob_values = np.array([float(r.setting[k]) for r in records])
            used = np.array([r.resources()[index] for r in records])
            if np.ptp(used) > 0 and np.ptp(knob_values) > 0:
                pooled[(knob, resource)] = bootstrap_spearman(
                    knob_values, used, resamples=POOLED_RESAMPLES
                )
    return ComplexityFinding(knobs, correlations, undefined, summarise_settings(records),
                             len(records), len(seeds), pooled)  # fmt: skip
