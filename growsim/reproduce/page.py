"""The results page of ``growsim reproduce``: every finding on every dataset, with its
intervals, the number of runs or images behind it, and a plain verdict."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from growsim._version import __version__
from growsim.analysis.reproduction import EQUAL_ACCURACY, SettingSummary
from growsim.analysis.surface import PAIRS, RESOURCES
from growsim.files import write_text_atomically
from growsim.reproduce.findings import DatasetFindings, Reproduction, learned

WEIGHT_NAMES = ("breadth", "depth", "time")
UNDERTRAINED = (
    "> **Budget.** These runs stop at 350-400 iterations, before halting has learned: in the "
    "competent protocol (`growsim reproduce --competent`, [results/competent.md](results/competent.md)) "
    "the same measures keep moving for thousands of iterations. No verdict below says a finding "
    "does not hold; where a finding is not shown, it is *not decided at this budget*."
)


def write_page(reproduction: Reproduction, results: Path) -> Path:
    """Write the results page to ``results`` and its figures beside it."""
    from growsim.reproduce.figures import write_figures

    figures = results.parent / f"{results.stem}-figures"
    figures.mkdir(parents=True, exist_ok=True)
    shown = write_figures(reproduction, figures)
    lines = _header(reproduction)
    for part in (_finding1, _finding2, _finding3, _finding4):
        lines += part(reproduction, figures.relative_to(results.parent), shown)
    write_text_atomically(results, "\n".join(lines) + "\n")
    return results


def _header(r: Reproduction) -> list[str]:
    variant = "`--quick`: one seed, fewer runs" if r.quick else "the full variant"
    lines = [
        "# Reproducing the paper: results of `growsim reproduce`",
        "",
        UNDERTRAINED,
        "",
        f"Written by `growsim reproduce` ({variant}), growsim {__version__}, on "
        f"{time.strftime('%Y-%m-%d')}, from the runs in `{r.out}` (specs/reproduce/base.yaml "
        "and growsim/reproduce/experiments.py). Do not edit: run the command again.",
        "",
        f"- Runs: {r.runs - len(r.failed)} finished of {r.runs}. Wall time to train them: "
        f"{r.wall_seconds:.0f} s ({r.wall_seconds / 60:.1f} min; the invocations of the command "
        f"that trained runs, of {r.invocations} in all), two runs at a time with one thread each.",
        "- Seeds set the initialisation and the order of the batches; the data (images, "
        "occluders, the validation split) are the same for every seed.",
        "- Choices (which runs count as equal in accuracy, the fitted surface) use validation "
        "accuracy, from held-out training images; test accuracy is reported only.",
        "- Intervals: 95%. Across seeds, a Student-t interval over the per-seed figures "
        "(n = seeds). Within a run, a bootstrap over test images (each drawn image brings all "
        "its occlusion levels; n = images). Occlusion levels are tested one-sided "
        "(Wilcoxon) with Holm's correction across the levels of a run.",
        "- Difficulty is a proxy: the miss probability (1 - p(true class)) of logistic "
        "regression on pixels. No human reaction times are part of this data.",
    ]
    if r.failed:
        lines += ["", "**Failed runs** (left out of everything below):", ""]
        lines += [f"- {failure}" for failure in r.failed]
    return lines


def _finding1(r: Reproduction, figures: Path, shown: dict) -> list[str]:
    lines = ["", "## Finding 1: the three resources trade off at equal accuracy", ""]
    design = ("a Latin square of 9 settings from the 3 x 3 x 3 grid" if r.quick else
              "a 3 x 3 x 3 grid")  # fmt: skip
    lines += [
        f"Runs over {design} of the breadth, depth and time weights; width is active channels "
        "per active layer, depth active layers, time expected steps on the clean validation "
        "images (the same split every decision reads). "
        "Validation accuracy is fitted as a quadratic in (width, depth, steps) with every "
        "pairwise interaction (10 coefficients, least squares). The marginal rate of "
        "substitution MRS(a -> b) = -(df/da)/(df/db) is the change in b that holds accuracy "
        "when a grows by one unit, from each seed's own fit, at the mean resources of all runs.",
    ]
    for d in r.datasets:
        t = d.tradeoff
        ranges = ", ".join(f"{name} {low:.2f}-{high:.2f}" for name, (low, high) in t.ranges.items())
        at = ", ".join(f"{name} {value:.2f}" for name, value in zip(RESOURCES, t.at))
        lines += ["", f"### {d.dataset}", "",
                  f"- Runs: {t.runs} ({len(t.settings)} settings x {t.seeds} seeds). Spread: {ranges}.",
                  _fit_line(t), f"- Substitution rates at ({at}), across seeds:"]  # fmt: skip
        if not t.per_seed_r_squared:
            lines.append("  - none: no seed has enough runs for a fit of its own")
        else:
            for i, j in PAIRS:
                rate = t.substitution_rates.get((i, j))
                rate_text = (rate.text(digits=2, sign=True) if rate else
                             "undefined in every seed (a resource did not vary over the seed's "
                             "runs, or its fit was rank-deficient)")  # fmt: skip
                lines.append(f"  - MRS({RESOURCES[i]} -> {RESOURCES[j]}): {rate_text}")
        lines.append(f"- Settings that trade one resource for another at agreeing validation "
                     f"accuracy (means within {EQUAL_ACCURACY:g} and intervals across seeds that "
                     f"overlap; the two resources' intervals do not): {len(t.pairs)} pairs.")  # fmt: skip
        if t.pairs:
            lines += ["", "| setting A (breadth, depth, time weight) | setting B | A uses more | B uses more | validation A | validation B |",
                      "|---|---|---|---|---|---|"]  # fmt: skip
            for pair in t.pairs[:5]:
                lines.append(
                    f"| {_weights(pair.first)} | {_weights(pair.second)} | "
                    f"{_resources(pair.first, pair.second, pair.first_more)} | "
                    f"{_resources(pair.second, pair.first, pair.second_more)} | "
                    f"{pair.first.validation.text(digits=3)} | {pair.second.validation.text(digits=3)} |"
                )  # fmt: skip
        lines += ["", tradeoff_verdict(t, d.dataset), "", _table_of_settings(t.settings)]
        if d.dataset in shown.get("tradeoff", {}):
            lines += [
                "",
                f"![iso-accuracy contours, {d.dataset}]({figures / shown['tradeoff'][d.dataset]})",
            ]
    return lines


def tradeoff_verdict(t, dataset: str) -> str:
    """Finding 1's verdict on ``dataset``: pairs of settings that trade at agreeing accuracy,
    and substitution rates whose interval across seeds lies below 0 (more of one resource,
    less of the other at equal accuracy)."""
    if t.seeds < 2:
        return (
            f"**Not decided on {dataset}**: one seed gives no interval to tell a trade from chance."
        )
    substitutes = [f"{RESOURCES[i]} and {RESOURCES[j]}" for (i, j), rate in t.substitution_rates.items()
                   if rate.n >= 2 and rate.high < 0]  # fmt: skip
    rates = (f"the fitted surface has {', '.join(substitutes)} substitute (rate interval below 0)"
             if substitutes else "no substitution rate of the fitted surface is clearly below 0")  # fmt: skip
    if t.pairs:
        return (f"**Holds on {dataset}**: {len(t.pairs)} pairs of settings reach agreeing accuracy "
                f"with clearly different mixes, and {rates}.")  # fmt: skip
    return (f"**Not decided on {dataset} at this budget** (the runs are not trained to competence): no two settings agree in accuracy while using clearly "
            f"different mixes ({rates}).")  # fmt: skip


def _fit_line(t) -> str:
    if t.surface is None:
        return f"- Fit: none, {t.runs} runs are fewer than the quadratic's 10 coefficients."
    per_seed = ", ".join(f"{v:.2f}" for v in t.per_seed_r_squared) or "none (too few runs a seed)"
    constant = [name for name, varies in zip(RESOURCES, t.surface.varies) if not varies]
    notes = (f" {', '.join(constant)} did not vary and was left out." if constant else "") + (
        "" if t.surface.full_rank else " The pooled fit's terms are not independent over these "
        "runs; the rates below come from each seed's own fit, where that one's are.")  # fmt: skip
    return f"- Fit: R^2 {t.surface.r_squared:.2f} over all runs; per seed {per_seed}.{notes}"


def _weights(s: SettingSummary) -> str:
    return ", ".join(f"{w:g}" for w in s.setting)


def _resources(a: SettingSummary, b: SettingSummary, indices: tuple[int, ...]) -> str:
    return ", ".join(
        f"{RESOURCES[k]} {a.resources[k].mean:.2f} vs {b.resources[k].mean:.2f}" for k in indices
    )


def _table_of_settings(settings: list[SettingSummary]) -> str:
    rows = [
        "| weights (breadth, depth, time) | validation | test | width | depth | steps |",
        "|---|---|---|---|---|---|",
    ]
    for s in settings:
        cells = [s.validation.text(digits=3), f"{s.test.mean:.3f}"] + [
            m.text(digits=2) for m in s.resources
        ]
        rows.append(f"| {_weights(s)} | " + " | ".join(cells) + " |")
    return (
        "<details><summary>every setting (mean [interval] across seeds)</summary>\n\n"
        + "\n".join(rows)
        + "\n\n</details>"
    )


def _finding2(r: Reproduction, figures: Path, shown: dict) -> list[str]:
    lines = ["", "## Finding 2: networks grow with task complexity", "",
             "Two difficulty knobs: the number of classes and Gaussian pixel noise (the values "
             "in the table below), at the middle weights of the grid. Spearman's rho of each resource "
             "with each knob over a seed's settings, then the mean and t interval across seeds "
             "(per seed); and over every run pooled, with a bootstrap interval over runs (all "
             "runs). A resource grows with a knob when both intervals lie above 0: a rank "
             "correlation over six settings takes few values, and seeds that agree on one "
             "leave the t interval a single point."]  # fmt: skip
    for d in r.datasets:
        c = d.complexity
        lines += [
            "",
            f"### {d.dataset}",
            "",
            f"Runs: {c.runs} ({len(c.settings)} settings x {c.seeds} seeds).",
            "",
        ]
        lines += _correlation_table(c, d.dataset)
        failed = [s for s in c.settings if not learned(s)]
        if failed:
            lines += ["", "Settings that did not learn (mean validation accuracy less than 0.05 above chance), so "
                      "their size says nothing about difficulty: " + "; ".join(
                          f"{s.setting[0]:g} classes, noise {s.setting[1]:g}: {s.validation.mean:.3f} (chance {1.0 / s.setting[0]:.3f})"
                          for s in failed) + ". Without them:", ""]  # fmt: skip
            lines += (
                _correlation_table(d.complexity_learned, d.dataset)
                if d.complexity_learned
                else ["(none left)"]
            )
        rows = ["| classes, noise | validation | width | depth | steps |", "|---|---|---|---|---|"]
        rows += [f"| {', '.join(f'{v:g}' for v in s.setting)} | {s.validation.text(digits=3)} | "
                 + " | ".join(m.text(digits=2) for m in s.resources) + " |" for s in c.settings]  # fmt: skip
        lines += ["", "<details><summary>every setting</summary>", "", *rows, "", "</details>"]
        if d.dataset in shown.get("complexity", {}):
            lines += [
                "",
                f"![resources against classes, {d.dataset}]({figures / shown['complexity'][d.dataset]})",
            ]
    return lines


def _correlation_table(c, dataset: str) -> list[str]:
    lines = ["| knob | " + " | ".join(f"{r}: per seed | {r}: all runs" for r in RESOURCES) + " |",
             "|---|" + "---|---|" * len(RESOURCES)]  # fmt: skip
    verdicts = []
    for knob in c.knobs:
        cells = []
        for resource in RESOURCES:
            rho, pooled = c.correlations.get((knob, resource)), c.pooled.get((knob, resource))
            undefined = c.undefined[(knob, resource)]
            cell = rho.text(digits=2, sign=True) if rho else "undefined"
            cells.append(cell + (f"; constant in {undefined} seed(s)" if undefined else ""))
            cells.append(f"{pooled.rho:+.2f} [{pooled.low:+.2f}, {pooled.high:+.2f}] (n = {pooled.n})"
                         if pooled else "constant")  # fmt: skip
            verdicts.append(f"{resource} {growth_verdict(rho, pooled)} {_knob(knob)}")
        lines.append(f"| {_knob(knob)} | " + " | ".join(cells) + " |")
    return lines + ["", f"**On {dataset}** ({c.runs} runs): " + "; ".join(verdicts) + "."]


def growth_verdict(rho, pooled=None) -> str:
    """How a resource follows a knob: it grows (or falls) when both Spearman's rho across
    seeds and the rho of every run pooled have intervals on the same side of 0 (None:
    undefined, the resource did not vary)."""
    if rho is None:
        return "did not vary with"
    if rho.n < 2:
        return "is not decided (one seed) with"
    if rho.low > 0 and (pooled is None or pooled.low > 0):
        return "grows with"
    if rho.high < 0 and (pooled is None or pooled.high < 0):
        return "falls (the opposite) with"
    return "does not clearly grow with"


def _knob(key: str) -> str:
    return {"data.classes": "classes", "data.noise": "noise"}.get(key, key)


def _finding3(r: Reproduction, figures: Path, shown: dict) -> list[str]:
    lines = ["", "## Finding 3: more steps on occluded inputs", "",
             "Expected steps on the same test images, occluded against clean. Over the time "
             "weights: per seed, the mean over that seed's runs at the weight of the steps "
             "added at the highest level, then the mean and interval across seeds; a run holds "
             "when its Holm-adjusted p < 0.05 and its image-bootstrap interval lies above 0."]  # fmt: skip
    for d in r.datasets:
        lines += [
            "",
            f"### {d.dataset}",
            "",
            "| time weight | steps added at the highest level (across seeds) | runs where it holds |",
            "|---|---|---|",
        ]
        for effect in d.by_weight:
            lines.append(
                f"| {effect.weight:g} | {effect.increase.text(digits=3, sign=True)} at {effect.top_level:.0%} | {effect.holding} of {effect.runs} |"
            )
        lines += ["", occlusion_verdict(d.by_weight, d.dataset)]
        lines += [
            "",
            f"Middle weights ({_weights_text(d.base_setting)}) with halting that reads the readout's "
            "confidence, and the ablation without it, per seed (steps added, image bootstrap; Holm p):",
            "",
        ]
        lines += _increase_table(d)
        if d.dataset in shown.get("occlusion", {}):
            lines += [
                "",
                f"![occlusion effect over time weights, {d.dataset}]({figures / shown['occlusion'][d.dataset]})",
            ]
    return lines


def occlusion_verdict(by_weight, dataset: str) -> str:
    """Finding 3's verdict on ``dataset`` over the time weights (intervals across seeds)."""
    if not by_weight:
        return f"**Not measured on {dataset}**: its test sets have no occluded level."
    weights = ", ".join(f"{e.weight:g}" for e in by_weight)
    if not any(e.increase.n >= 2 for e in by_weight):
        return f"**Not decided on {dataset}**: one seed gives no interval across seeds ({weights})."
    holding = [f"{e.weight:g}" for e in by_weight if e.increase.n >= 2 and e.increase.low > 0]
    opposite = [f"{e.weight:g}" for e in by_weight if e.increase.n >= 2 and e.increase.high < 0]
    verdict = (f"**On {dataset}** the effect holds across seeds at time weights {', '.join(holding)} of {weights}."
               if holding else f"**On {dataset}** the effect is not decided at this budget: it is not shown across seeds at any time weight ({weights}), and the runs are not trained to competence.")  # fmt: skip
    if opposite:
        verdict += f" At {', '.join(opposite)} occluded images get clearly fewer steps than clean ones: the opposite."
    return verdict


def _weights_text(setting: tuple) -> str:
    return ", ".join(f"{name} {w:g}" for name, w in zip(WEIGHT_NAMES, setting))


def _increase_table(d: DatasetFindings) -> list[str]:
    runs = [("with confidence", t) for t in d.base] + [("ablation", t) for t in d.ablation]
    if not runs:
        return ["(no runs)"]
    levels = [f"{inc.level:.0%}" for inc in runs[0][1].increases]
    rows = [
        "| halting | seed | " + " | ".join(levels) + " | clean std of steps | images |",
        "|---|---|" + "---|" * (len(levels) + 2),
    ]
    for label, t in runs:
        cells = [
            f"{i.mean_difference:+.3f} [{i.low:+.3f}, {i.high:+.3f}] p={_p(i.p_holm)}"
            for i in t.increases
        ]
        rows.append(
            f"| {label} | {t.record.seed} | "
            + " | ".join(cells)
            + f" | {t.clean_std:.3f} | {t.images} |"
        )
    return rows


def _p(value: float) -> str:
    return f"{value:.2g}" if value >= 1e-4 else "<1e-4"


def _finding4(r: Reproduction, figures: Path, shown: dict) -> list[str]:
    lines = ["", "## Finding 4: model time follows difficulty", "",
             "Spearman's rho of each image's expected steps (clean) with the pixel reference's "
             "miss probability. Over every trade-off run: per seed, the mean rho of its runs, "
             "then across seeds. For the middle weights: per seed, with an image-bootstrap "
             "interval (clean images), and over every (image, level) pair resampled by image."]  # fmt: skip
    for d in r.datasets:
        s = d.difficulty
        rho = s.rho.text(digits=3, sign=True) if s.rho else "undefined"
        undefined = (
            f"; undefined in {s.undefined} (steps the same for every image), left out"
            if s.undefined
            else ""
        )
        lines += [
            "",
            f"### {d.dataset}",
            "",
            f"- Every trade-off run: rho {rho}; positive in {s.positive} of {s.runs} runs{undefined}.",
        ]
        for seed, clean, pooled in d.base_correlations:
            lines.append(
                f"- Middle weights, seed {seed}: clean {clean.text()}; all levels {pooled.text()}."
            )
        lines += ["", f"**On {d.dataset}** model time {difficulty_direction(s.rho)}."]
        lines += ["", "Speed-accuracy: test accuracy and mean steps computed when an input stops once its halting "
                  f"mass left is at most the threshold; the figure draws the curve of every trade-off model ({len(d.curves)}), "
                  "the table the middle weights' (mean over seeds). Every run's `per_image.zarr` holds its own.", ""]  # fmt: skip
        lines += _curve_table(d)
        if d.dataset in shown.get("speed", {}):
            lines += ["", f"![speed-accuracy, {d.dataset}]({figures / shown['speed'][d.dataset]})"]
    return lines


def difficulty_direction(rho) -> str:
    """How model time follows the reference's difficulty, from rho across seeds."""
    if rho is None or rho.n < 2:
        return "is not decided (fewer than two seeds with a defined correlation)"
    if rho.low > 0:
        return "rises with the reference's difficulty across seeds"
    if rho.high < 0:
        return "falls as the reference's difficulty rises, across seeds: the opposite of the paper"
    return "neither clearly rises nor falls with the reference's difficulty across seeds"


def _curve_table(d: DatasetFindings) -> list[str]:
    if not d.base_curves:
        return ["(no runs)"]
    curve = d.base_curves[0][1]
    accuracy = np.mean([c.accuracy for _, c in d.base_curves], axis=0)
    steps = np.mean([c.steps for _, c in d.base_curves], axis=0)
    top = len(curve.levels) - 1
    rows = [f"| exit threshold | accuracy clean | steps clean | accuracy {curve.levels[top]:.0%} | steps {curve.levels[top]:.0%} |",
            "|---|---|---|---|---|"]  # fmt: skip
    for k, threshold in enumerate(curve.thresholds):
        rows.append(
            f"| {threshold:g} | {accuracy[k, 0]:.3f} | {steps[k, 0]:.2f} | {accuracy[k, top]:.3f} | {steps[k, top]:.2f} |"
        )
    return rows
