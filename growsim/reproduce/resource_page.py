"""The competent page's sections on findings 1 and 2: the resource arms (``tradeoff``,
``complexity``) of one dataset, from their small per-run files (growsim.analysis.resource_findings)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from growsim.analysis.resource_findings import (
    BINDING_SHARE,
    FAILED_SHARE,
    VERDICT_ARMS,
    ResourceRun,
    binding_shares,
    by_weights,
    complexity_effects,
    resource_budget_checks,
    surface_score,
    trades,
)
from growsim.analysis.statistics import EQUIVALENCE_MARGIN
from growsim.analysis.surface import RESOURCES
from growsim.reproduce.budget_table import budget_lines
from growsim.reproduce.glance import GlanceRow


def resource_sections(
    dataset: str, runs: list[ResourceRun], figures: Path | None = None, root: Path | None = None
) -> tuple[list[str], list[GlanceRow]]:
    """Findings 1 and 2 on ``dataset``, and their verdicts for the page's first table: a
    verdict needs a box that does not bind and the resource arms' budget rule
    (``resource_budget_checks``) to hold at their budget. With ``figures``, the resources
    over training are drawn there (linked relative to ``root``)."""
    if not runs:
        return [], []
    lines = ["", f"### Findings 1 and 2 on {dataset}", ""]
    if figures is not None:
        path = _resources_figure(dataset, runs, figures)
        lines += [
            f"![resources over training, {dataset}]({path.relative_to(root or figures.parent)})",
            "",
        ]
    # the verdicts' runs (not the budget rule's other budgets), each arm on its own
    judged = [r for r in runs if r.arm in VERDICT_ARMS and not r.failed]
    shares = {
        arm: binding_shares([r for r in judged if r.arm == arm])
        for arm in VERDICT_ARMS
        if any(r.arm == arm for r in judged)
    }
    reached_shares = {
        arm: np.mean([r.box_at_maximum for r in judged if r.arm == arm], axis=0) for arm in shares
    }
    binds = any(bool((share > BINDING_SHARE).any()) for share in shares.values())
    checks = resource_budget_checks(runs)
    budgets = sorted({r.iterations for r in judged})
    decided = bool(budgets) and all(b in checks and checks[b].stable() for b in budgets)
    lines += [
        "Box maxima that bind (share of each arm's runs, those that learned, whose final box "
        "is at the maximum with the active region still pressing that edge, so that growth "
        "would go on; in brackets, the share whose box reached the maximum at all): " + "; ".join(
            f"{arm}: " + ", ".join(
                f"{name} {v:.0%} ({reached:.0%})"
                for name, v, reached in zip(RESOURCES, share, reached_shares[arm])
            ) for arm, share in shares.items()
        ) + (f": **the box binds** (more than {BINDING_SHARE:.0%} in a resource)." if binds
             else f": the box does not bind (at most {BINDING_SHARE:.0%} in every resource)."),
        f"Budget {', '.join(map(str, budgets))} iterations: "
        + ("the budget rule holds there (the base weights at twice the budget, below; the "
           "other settings take that check, an extrapolation)." if decided
           else "the budget rule has not shown it suffices, so verdicts are *not decided at this budget*."),
    ]  # fmt: skip
    for budget, check in checks.items():
        lines += budget_lines(check, (
            f"resource arms, their base weights: {budget} against {2 * budget} iterations, final "
            "validation accuracy and resources; the verdicts need all four to have stopped"
        ))  # fmt: skip
    can_decide = decided and not binds
    glance: list[GlanceRow] = []
    row = partial(GlanceRow, dataset=dataset, setting=f"resource arms, {', '.join(map(str, budgets))} it.",
                  decided=can_decide)  # fmt: skip
    for arm, section in (("tradeoff", _tradeoff_lines), ("complexity", _complexity_lines)):
        if any(r.arm == arm for r in runs):
            found, rows = section([r for r in runs if r.arm == arm], can_decide, row)
            lines, glance = lines + found, glance + rows
    return lines, glance


def _tradeoff_lines(
    runs: list[ResourceRun], can_decide: bool, row: Callable[..., GlanceRow]
) -> tuple[list[str], list[GlanceRow]]:
    lines = ["", "**Finding 1: the resources trade off at equal accuracy** (clean test accuracy; "
             "final width = mean active channels over active layers, depth = active layers, "
             "steps = clean validation expected steps; mean over seeds):", "",
             "| breadth, depth, time weight | seeds | test acc. | width | depth | steps |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for weights, group in sorted(by_weights(runs).items()):
        resources = np.mean([r.resources for r in group], axis=0)
        accuracy = np.mean([r.test_accuracy for r in group])
        lines.append(
            f"| {', '.join(f'{w:g}' for w in weights)} | {len(group)} | {accuracy:.3f} | "
            + " | ".join(f"{v:.2f}" for v in resources)
            + " |"
        )
    found, tested = trades(runs)
    verdict = (
        "not decided at this budget" if not can_decide
        else "holds" if found else "not shown (no pair of settings trades)"
    )  # fmt: skip
    lines += ["", f"Pairs of settings that trade (TOST: the 90% Welch interval of the accuracy "
              f"difference within +-{EQUIVALENCE_MARGIN:g}; and one resource up, another down, "
              f"95% Welch intervals excluding 0; unit: the seed): {len(found)} of {tested} pairs. "
              f"Verdict: **{verdict}**."]  # fmt: skip
    for trade in found[:6]:
        moves = ", ".join(
            f"{name} {m.mean:+.2f} [{m.low:+.2f}, {m.high:+.2f}]"
            for name, m in zip(RESOURCES, trade.resources)
        )
        lines.append(
            f"- {trade.a} -> {trade.b}: accuracy {trade.accuracy.mean:+.3f} "
            f"[{trade.accuracy.low:+.3f}, {trade.accuracy.high:+.3f}]; {moves}"
        )
    verdicts = [row(finding="finding 1", seeds=len({r.seed for r in runs}),
                    effect=f"{len(found)} of {tested} pairs trade", verdict=verdict)]  # fmt: skip
    if len({r.seed for r in runs}) > 1:
        score = surface_score(runs)
        rates = [
            f"MRS({RESOURCES[i]} -> {RESOURCES[j]}) = {rate:+.2f}"
            for (i, j), rate in score.substitution.items() if np.isfinite(rate)
        ]  # fmt: skip
        lines += ["", f"Accuracy surface over (width, depth, steps), linear: R^2 "
                  f"{score.in_sample_r2:.2f} in sample, {score.out_of_sample_r2:.2f} out of sample "
                  "(each seed's runs predicted from the other seeds' fit). Observed ranges: "
                  + ", ".join(f"{n} {r:.2f}" for n, r in zip(RESOURCES, score.ranges)) + ". "
                  + ("Rates of substitution at the mean, where the surface predicts out of sample "
                     "and the data span the trade: " + "; ".join(rates) + "." if rates
                     else "No rate of substitution is given: the surface does not predict out of "
                     "sample, or the trade it implies leaves the observed range.")]  # fmt: skip
    return lines, verdicts


def _complexity_lines(
    runs: list[ResourceRun], can_decide: bool, row: Callable[..., GlanceRow]
) -> tuple[list[str], list[GlanceRow]]:
    failed = [r for r in runs if r.failed]
    lines = ["", "**Finding 2: networks grow with task complexity** (per seed, the slope of "
             "each final resource against log2(classes) within a noise level, and the change "
             "from the lowest to the highest noise averaged over class counts; across seeds, "
             f"95% t intervals). Runs that failed to learn (validation accuracy below "
             f"{FAILED_SHARE:g} / classes) are left out: {len(failed)} of {len(runs)}. The costs "
             "start after a delay and ramp up (the spec's cost schedules), so a run can "
             "learn before it is pressed.", ""]  # fmt: skip
    effects = complexity_effects(runs)
    noises = sorted({r.noise for r in runs})
    lines += ["| resource | " + " | ".join(f"slope per doubling of classes, noise {n:g}" for n in noises)
              + " | change with noise | verdict (grows with classes) |",
              "|---" * (len(noises) + 3) + "|"]  # fmt: skip
    verdicts = []
    for effect in effects:
        slopes = [effect.slope_by_noise.get(n) for n in noises]
        cells = [s.text(digits=2, sign=True) if s is not None else "-" for s in slopes]
        change = effect.noise_change.text(digits=2, sign=True) if effect.noise_change else "-"
        grows = all(s is not None and s.n > 1 and s.low > 0 for s in slopes)
        shrinks = any(s is not None and s.n > 1 and s.high < 0 for s in slopes)
        verdict = (
            "not decided at this budget" if not can_decide
            else "holds" if grows else "does not hold" if shrinks
            else "not decided (an interval includes 0)"
        )  # fmt: skip
        lines.append(f"| {effect.resource} | {' | '.join(cells)} | {change} | {verdict} |")
        seeds = max((s.n for s in slopes if s is not None), default=0)
        effect_text = ", ".join(f"noise {n:g}: {c}" for n, c in zip(noises, cells))
        verdicts.append(row(finding=f"finding 2 {effect.resource}", seeds=seeds,
                            effect=effect_text, verdict=verdict))  # fmt: skip
    return lines, verdicts


OVER_TRAINING = (
    ("width", "width (active channels per active layer)"), ("depth", "depth (active layers)"),
    ("expected_steps", "expected steps (clean validation)"),
    ("validation_accuracy", "validation accuracy (clean)"),
)  # fmt: skip


def _resources_figure(dataset: str, runs: list[ResourceRun], figures: Path) -> Path:
    """Each resource and accuracy over training, mean over seeds with a +-1 sd band, one line
    per setting of each resource arm (rows: arms)."""
    import matplotlib.figure

    from growsim.analysis.figures import seed_band

    arms = sorted({r.arm for r in runs})
    figure = matplotlib.figure.Figure(
        figsize=(4 * len(OVER_TRAINING), 3 * len(arms)), layout="constrained"
    )
    axes = np.atleast_2d(figure.subplots(len(arms), len(OVER_TRAINING)))
    for row, arm in zip(axes, arms):
        groups: dict[str, list[ResourceRun]] = {}
        for run in (r for r in runs if r.arm == arm):
            label = (f"{run.classes} classes, noise {run.noise:g}" if arm == "complexity"
                     else "weights " + ", ".join(f"{w:g}" for w in run.weights))  # fmt: skip
            groups.setdefault(label, []).append(run)
        for label, group in sorted(groups.items()):
            length = min(len(r.over_training["iteration"]) for r in group)
            iterations = np.asarray(group[0].over_training["iteration"][:length])
            for axis, (key, title) in zip(row, OVER_TRAINING):
                curves = np.array([r.over_training[key][:length] for r in group], dtype="float64")
                seed_band(axis, iterations, curves, label)
                axis.set_title(f"{arm}: {title}", fontsize=9)
                axis.set_xlabel("iteration")
        row[0].legend(fontsize=6)
    figures.mkdir(parents=True, exist_ok=True)
    path = figures / f"resources-{dataset}.png"
    figure.savefig(path, dpi=80)
    return path
