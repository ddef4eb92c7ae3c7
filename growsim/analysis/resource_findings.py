"""Findings 1 and 2 on competent networks, from the resource arms of the competent protocol
(growsim.reproduce.competent: ``tradeoff`` and ``complexity``): the seed is the unit.

- Binding: a resource is at its maximum when the run's final box reached the spec's maximum
  in it and the final active region still presses that edge (the growth rule would grow
  there: every channel of a layer on, the top layer on, or more than the time threshold of
  halting mass on the last step); the box does not bind when no resource is at its maximum
  in more than 20% of runs.
- Finding 1 (the resources trade off at equal accuracy): a pair of cost-weight settings
  *trades* when their clean test accuracies are equivalent by TOST (Welch, 90% interval of
  the difference within +-EQUIVALENCE_MARGIN) while one resource is higher and another lower
  (95% Welch intervals of the differences exclude 0). The accuracy surface over the resources
  (linear) is scored out of sample (each seed predicted from the others' runs), and a rate of
  substitution is given only where the surface predicts out of sample and the trade it
  implies across the observed range of one resource stays inside the observed range of the
  other.
- Finding 2 (networks grow with task complexity): per seed, the least-squares slope of each
  resource against log2(classes), within each noise level, and the change with noise within
  each class count; across seeds, their means with 95% t intervals.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from growsim.analysis.budget import BudgetCheck, doubling_check
from growsim.analysis.statistics import (
    EQUIVALENCE_MARGIN,
    Difference,
    MeanInterval,
    equivalent,
    mean_interval,
    welch_difference,
)
from growsim.analysis.surface import RESOURCES
from growsim.files import RESOURCES_NAME, SPEC_NAME, SUMMARY_NAME
from growsim.spec import parse_stored_spec

# The resource arms' budget rule (growsim.analysis.budget): the spec's weights at half, one
# and twice the budget (these arms, growsim.reproduce.competent), each budget against twice it.
RESOURCE_CHAIN = ("tradeoff-half", "tradeoff", "tradeoff-long", "tradeoff-longer")
VERDICT_ARMS = ("tradeoff", "complexity")  # the arms findings 1 and 2 are judged on
# Margins: accuracy as finding 1's, width half a growth step of 8 channels, depth half a
# layer, steps a tenth of a step.
RESOURCE_MARGINS = {
    "validation_accuracy": EQUIVALENCE_MARGIN,
    "width": 4.0,
    "depth": 0.5,
    "steps": 0.1,
}
BINDING_SHARE = 0.2  # a box binds when a resource is at its maximum in more runs than this
FAILED_SHARE = 1.5  # a run failed to learn when validation accuracy < FAILED_SHARE / classes


@dataclass(frozen=True)
class ResourceRun:
    """One finished run of a resource arm, as its small files hold it."""

    dataset: str
    arm: str
    seed: int
    weights: tuple[float, float, float]  # breadth, depth, time
    classes: int
    noise: float
    resources: np.ndarray  # (3,) final width, depth, expected steps (RESOURCES order)
    at_maximum: np.ndarray  # (3,) bool: the final box at the spec's maximum, pressing its edge
    box_at_maximum: np.ndarray  # (3,) bool: the final box at the spec's maximum
    test_accuracy: float  # clean
    validation_accuracy: float  # clean, final
    iterations: int
    over_training: dict  # the resources file: per checkpoint iteration, width, depth, ...

    @property
    def failed(self) -> bool:
        """Did not learn the task (validation accuracy below FAILED_SHARE x chance)."""
        return self.validation_accuracy < FAILED_SHARE / self.classes


def load_resource_runs(results: Path) -> list[ResourceRun]:
    """Every run under ``results/<dataset>/<arm>/<member>/`` that has a resources file."""
    runs = []
    for path in sorted(Path(results).glob(f"*/*/*/{RESOURCES_NAME}")):
        run_dir = path.parent
        spec = parse_stored_spec((run_dir / SPEC_NAME).read_text(), str(run_dir / SPEC_NAME))
        summary = json.loads((run_dir / SUMMARY_NAME).read_text())
        over = json.loads(path.read_text())
        resources = np.array([over["width"][-1], over["depth"][-1], over["expected_steps"][-1]])
        box = summary["box"]
        lattice = spec.lattice
        # at the maximum, and (where recorded) still pressing the box's edge there
        box_at_maximum = np.array([
            box["channels"] >= lattice.channels.max, box["layers"] >= lattice.layers.max,
            box["steps"] >= lattice.steps.max,
        ])  # fmt: skip
        at_maximum = box_at_maximum & np.array(over.get("pressing_edge", [True, True, True]))
        costs = spec.costs
        runs.append(ResourceRun(
            run_dir.parent.parent.name, run_dir.parent.name, spec.training.seed,
            (costs.breadth.weight, costs.depth.weight, costs.time.weight),
            spec.data.classes, spec.data.noise, resources, at_maximum, box_at_maximum,
            float(summary["accuracy_by_occlusion"]["0.0"]), float(summary["validation_accuracy"]),
            spec.training.iterations, over,
        ))  # fmt: skip
    return runs


def binding_shares(runs: list[ResourceRun]) -> np.ndarray:
    """(3,) the share of runs whose final box reached the maximum in each resource."""
    return np.mean([r.at_maximum for r in runs], axis=0)


@dataclass(frozen=True)
class Trade:
    """Two settings with equivalent accuracy whose resources move in opposite directions."""

    a: tuple[float, float, float]
    b: tuple[float, float, float]
    accuracy: Difference  # b - a, 90% interval (the TOST one)
    resources: list[Difference]  # b - a per resource, 95% intervals


def by_weights(runs: list[ResourceRun]) -> dict[tuple, list[ResourceRun]]:
    """The tradeoff arm's runs grouped by cost weights, each group in seed order."""
    groups: dict[tuple, list[ResourceRun]] = {}
    for run in sorted(runs, key=lambda r: r.seed):
        groups.setdefault(run.weights, []).append(run)
    return groups


def trades(runs: list[ResourceRun]) -> tuple[list[Trade], int]:
    """The pairs of settings that trade (finding 1), and how many pairs were tested."""
    groups = {w: g for w, g in by_weights(runs).items() if len(g) > 1}
    found, tested = [], 0
    for (wa, a), (wb, b) in itertools.combinations(sorted(groups.items()), 2):
        tested += 1
        accuracy_a, accuracy_b = [r.test_accuracy for r in a], [r.test_accuracy for r in b]
        if not equivalent(accuracy_a, accuracy_b):
            continue
        moves = [
            welch_difference([r.resources[i] for r in a], [r.resources[i] for r in b], 0.95)
            for i in range(len(RESOURCES))
        ]
        up = any(m.excludes_zero() and m.mean > 0 for m in moves)
        down = any(m.excludes_zero() and m.mean < 0 for m in moves)
        if up and down:
            found.append(Trade(wa, wb, welch_difference(accuracy_a, accuracy_b, 0.90), moves))
    return found, tested


@dataclass(frozen=True)
class SurfaceScore:
    """Accuracy as a linear surface over the resources (few runs: the quadratic of
    growsim.analysis.surface needs ten), in and out of sample, and the rates of
    substitution it supports (NaN where it does not)."""

    in_sample_r2: float
    out_of_sample_r2: float  # each seed's runs predicted from the other seeds' fit
    ranges: np.ndarray  # (3,) observed range of each resource
    substitution: dict[tuple[int, int], float]  # (i, j) -> MRS(i -> j) = -b_i / b_j, or NaN


def _linear_fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares b0, b (intercept first) of y on the columns of x that vary."""
    design = np.column_stack([np.ones(len(y)), x])
    coefficients, *_ = np.linalg.lstsq(design, y, rcond=None)
    return coefficients


def _r2(y: np.ndarray, predicted: np.ndarray) -> float:
    total = ((y - y.mean()) ** 2).sum()
    return float(1 - ((y - predicted) ** 2).sum() / total) if total > 0 else float("nan")


def surface_score(runs: list[ResourceRun]) -> SurfaceScore:
    """Fit clean test accuracy linearly on (width, depth, steps); score it leaving one seed
    out; give MRS(i -> j) only where it predicts out of sample and the trade it implies
    across the observed range of i stays inside the observed range of j."""
    x = np.array([r.resources for r in runs])
    y = np.array([r.test_accuracy for r in runs])
    seeds = np.array([r.seed for r in runs])
    ranges = np.ptp(x, axis=0)
    varies = ranges > 0
    fitted = _linear_fit(x[:, varies], y)
    predicted = np.full(len(y), np.nan)
    for seed in np.unique(seeds):
        held = seeds == seed
        if (~held).sum() <= varies.sum() + 1:
            return SurfaceScore(_r2(y, np.column_stack([np.ones(len(y)), x[:, varies]]) @ fitted),
                                float("nan"), ranges, {})  # fmt: skip
        b = _linear_fit(x[~held][:, varies], y[~held])
        predicted[held] = np.column_stack([np.ones(held.sum()), x[held][:, varies]]) @ b
    in_sample = _r2(y, np.column_stack([np.ones(len(y)), x[:, varies]]) @ fitted)
    out = _r2(y, predicted)
    slopes = np.full(len(RESOURCES), np.nan)
    slopes[varies] = fitted[1:]
    substitution = {}
    for i, j in itertools.permutations(range(len(RESOURCES)), 2):
        rate = -slopes[i] / slopes[j] if np.isfinite(slopes[[i, j]]).all() and slopes[j] else np.nan
        spanned = np.isfinite(rate) and abs(rate) * ranges[i] <= ranges[j]
        substitution[(i, j)] = float(rate) if out > 0 and spanned else float("nan")
    return SurfaceScore(in_sample, out, ranges, substitution)


@dataclass(frozen=True)
class ComplexityEffect:
    """Finding 2 for one resource: slopes against log2(classes) and the change with noise."""

    resource: str
    slope_by_noise: dict[float, MeanInterval]  # across seeds, per noise level
    noise_change: MeanInterval  # across seeds: mean over class counts of (high - low noise)


def complexity_effects(runs: list[ResourceRun]) -> list[ComplexityEffect]:
    """Per resource, the across-seed slopes with classes and the change with noise (runs
    that failed to learn are left out)."""
    learned = [r for r in runs if not r.failed]
    seeds = sorted({r.seed for r in learned})
    noises = sorted({r.noise for r in learned})
    effects = []
    for index, name in enumerate(RESOURCES):
        slopes = {}
        for noise in noises:
            per_seed = []
            for seed in seeds:
                chosen = [r for r in learned if r.seed == seed and r.noise == noise]
                if len({r.classes for r in chosen}) > 1:
                    x = np.log2([r.classes for r in chosen])
                    y = np.array([r.resources[index] for r in chosen])
                    per_seed.append(float(np.polyfit(x, y, 1)[0]))
            slopes[noise] = mean_interval(per_seed) if per_seed else None
        changes = []
        for seed in seeds:
            by_key = {(r.classes, r.noise): r.resources[index] for r in learned if r.seed == seed}
            pairs = [
                by_key[(c, noises[-1])] - by_key[(c, noises[0])]
                for c in {k[0] for k in by_key}
                if (c, noises[0]) in by_key and (c, noises[-1]) in by_key
            ]
            if pairs and len(noises) > 1:
                changes.append(float(np.mean(pairs)))
        effects.append(ComplexityEffect(name, slopes, mean_interval(changes) if changes else None))
    return effects


def resource_budget_checks(runs: list[ResourceRun]) -> dict[int, BudgetCheck]:
    """The budget rule for the resource arms: the base weights' runs (the arms of
    RESOURCE_CHAIN, at the weights of its arms that are not VERDICT_ARMS: those run the base
    weights alone), each budget B that ran twice as long too (two seeds or more at both)
    checked against 2B: ``{B: check}`` of final validation accuracy and each resource
    (RESOURCE_MARGINS)."""
    base = {r.weights for r in runs if r.arm in RESOURCE_CHAIN and r.arm not in VERDICT_ARMS}
    chain = [r for r in runs if r.arm in RESOURCE_CHAIN and r.weights in base and not r.failed]
    by_budget: dict[int, list[ResourceRun]] = {}
    for run in chain:
        by_budget.setdefault(run.iterations, []).append(run)
    checks = {}
    for budget in sorted(by_budget):
        short, long = by_budget[budget], by_budget.get(2 * budget, [])
        if min(len(short), len(long)) < 2:
            continue
        finals = {"validation_accuracy": ({r.seed: r.validation_accuracy for r in short},
                                          {r.seed: r.validation_accuracy for r in long})}  # fmt: skip
        for index, name in enumerate(RESOURCES):
            finals[name] = ({r.seed: r.resources[index] for r in short},
                            {r.seed: r.resources[index] for r in long})  # fmt: skip
        checks[budget] = doubling_check(finals, RESOURCE_MARGINS)
    return checks
