"""The results page of the competent protocol: findings 3 and 4 per dataset with the seed as
the unit of inference, the emergence curves, which runs passed the competence rule, and the
precision comparison. Written from the small per-run files alone (no training)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from growsim import __version__
from growsim.analysis.competent_findings import (
    AGREEMENT_TOLERANCE,
    COMPETENCE_MEASURES,
    STOPPED_MARGINS,
    TAIL_SHARE,
    TUNED_SUFFIX,
    VERDICT_MEASURES,
    CompetentRun,
    agrees_from,
    appears_at,
    backbone_record,
    budget_chain,
    by_setting,
    centring_test,
    competence,
    difficulty_effect,
    load_runs,
    occlusion_effect,
    precision_comparison,
    tuned_checks,
    verdict,
)
from growsim.analysis.resource_findings import load_resource_runs
from growsim.files import write_text_atomically
from growsim.reproduce.budget_table import budget_lines, precision_lines, tuned_lines
from growsim.reproduce.glance import GlanceRow, glance_lines, main_setting_rows
from growsim.reproduce.protocol_lines import (
    cost_lines,
    expected_runs,
    pending_lines,
    reference_lines,
)
from growsim.reproduce.resource_page import resource_sections
from growsim.train.timing import core_seconds

CURVES = (
    ("validation_accuracy", "validation accuracy (clean)"),
    ("steps_added", "steps added at the highest occlusion"),
    ("difficulty_rho", "rho(steps, ensemble difficulty)"),
    ("difficulty_partial_rho", "partial rho, own confidence held"),
    ("agreement", "learned - objective's steps added (top level)"),
)


def write_competent_page(results: Path, page: Path, accuracy: Path | None = None) -> Path:
    """Write ``page`` (Markdown) and its figures from the runs in ``results``; ``accuracy``:
    the folder of ``benchmarks.accuracy``'s results, one ``<dataset>.json`` per dataset (the
    unpressured reference of each box against a plain net of its size)."""
    runs, difficulty = load_runs(results)
    figures = page.parent / f"{page.stem}-figures"
    figures.mkdir(parents=True, exist_ok=True)
    groups = by_setting(runs)
    tuned = tuned_checks(groups)
    lines = [
        "# The paper's findings on competent networks",
        "",
        f"Written by `growsim reproduce --competent` (growsim {__version__}) on "
        f"{time.strftime('%Y-%m-%d')} from the per-run files in `{results}` "
        "(growsim/reproduce/competent.py). Do not edit: run the command again.",
        "",
        "- **Unit of inference: the seed.** Each effect is the mean over seeds of the per-seed "
        "figure with a 95% Student-t interval across seeds (n = seeds); the image-level "
        "bootstrap interval of each run is in the list below each table. A verdict needs two "
        "seeds or more.",
        "- **Budget rule** (growsim/analysis/budget.py): the main setting (bf16; arms "
        + ", ".join(f"`{arm}`" for arm in CHAIN_ARMS)
        + ": the budgets it ran) has *stopped "
        "moving* at a budget on a measure when the change of its final value (validation "
        "images) on doubling the budget is equivalent to 0 by TOST: the 90% interval of the "
        "change, paired over the seeds both budgets ran (Welch where fewer than two are "
        "shared), lies within +-"
        + ", +-".join(f"{m:g} for `{k}`" for k, m in STOPPED_MARGINS.items())
        + ". Accuracy's margin is finding 1's. The margins were set on 2026-12-06 after "
        "the runs up to then had been seen, the partial rho's after its own change had been "
        "seen too. Each verdict rests on accuracy and its own measure ("
        + "; ".join(
            f"{name}: " + ", ".join(f"`{m}`" for m in measures)
            for name, measures in VERDICT_MEASURES.items()
        )
        + ") and is decided only when those have stopped moving at the setting's budget: the "
        "column *decidable at this budget* names those verdicts. A budget table's headline "
        "speaks of every measure, so a budget can be decidable for one verdict and not "
        "shown to suffice for all. Arms other than the main setting (fp32, the ablation, "
        "centring, other time weights) were not trained at twice their budget and take the "
        "main setting's check at theirs, marked *(main's)*: an extrapolation. A budget that "
        "passes is not re-judged when a later doubling moves a measure again; the tables "
        "show every doubling. Otherwise a verdict is *not decided at this budget*.",
        "- **Shown, not deciding.** A stricter rule (each measure's change of the seed means "
        "within one pooled seed sd): the seeds agree so closely that a doubling often moves a "
        "measure by more than their spread after its change has become small. The *tail "
        f"rule*: over the last {TAIL_SHARE:.0%} of its training a run's measure changed by less than the "
        "seed-to-seed sd of the final values in its setting; under the cosine schedule that "
        "is where the rate anneals, and it passed runs whose measures still moved when the "
        "budget doubled (compare the tail column with the budget tables).",
        "- **Emergence curves** re-measure every checkpoint's saved model on validation "
        "images; the verdicts use the final model on test images (reported only; nothing "
        "was chosen on them).",
        "- **Difficulty** is the mean miss probability (1 - P(true class)) of an ensemble of "
        "reference models of other architectures trained on the same split (listed with "
        "their accuracy per dataset; growsim/analysis/difficulty.py). Halting reads the network's own confidence, so "
        "the partial correlation that holds that confidence fixed is the test of whether "
        "time tracks difficulty beyond it.",
    ]
    expected = expected_runs()  # (builds every sweep of the protocol: once)
    lines += cost_lines(results, expected)
    resource_runs = load_resource_runs(results)
    sections, glance = [], []
    for dataset in sorted({r.dataset for r in runs} | {r.dataset for r in resource_runs}):
        chain = _main_chain(groups, dataset)
        checks = budget_chain(chain)
        found, rows = _dataset_section(
            dataset, groups, difficulty.get(dataset), figures, page.parent, chain, checks, tuned
        )
        sections += found + reference_lines(dataset, accuracy)
        sections += pending_lines(dataset, results, expected)
        found, rows_resources = resource_sections(
            dataset, [r for r in resource_runs if r.dataset == dataset], figures, page.parent
        )
        sections += found
        glance += main_setting_rows(rows) + rows_resources
    lines += glance_lines(glance) + sections
    write_text_atomically(page, "\n".join(lines) + "\n")
    return page


def _dataset_section(
    dataset, groups, difficulty, figures: Path, root: Path, chain: dict, checks: dict,
    tuned: dict,
) -> tuple[list[str], list[GlanceRow]]:  # fmt: skip
    """Findings 3 and 4 on ``dataset``, and the main setting's verdicts at each budget (for the
    page's first table); ``chain`` and ``checks``: its main setting by budget and the budget
    rule's check of each (``_main_chain``, ``budget_chain``); ``tuned``: the fine-tuned
    settings' checks against training from scratch (``tuned_checks``)."""
    chosen = {key[1:]: runs for key, runs in groups.items() if key[0] == dataset}
    lines = ["", f"## {dataset}", ""]
    if difficulty is not None:
        accuracy = difficulty.accuracy["test"][:, 0]
        lines += [
            "Reference ensemble, clean test accuracy: "
            + ", ".join(f"{a} {v:.3f}" for a, v in zip(difficulty.architectures, accuracy))
            + ".",
            "",
        ]
    lines += [
        "| setting | seeds | decidable at this budget | tail rule | val. acc. | test acc. | steps added at top (across seeds) | "
        "verdict (finding 3) | rho(steps, difficulty) | verdict (finding 4) | partial rho, own confidence held | "
        "verdict (beyond own confidence) | train s / run (shared cores) | core-h |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    details, glance = [], []
    main = next(
        (
            runs
            for setting, runs in chosen.items()
            if setting[0] in ("main", "main-bf16") and setting[1] == "bf16"
        ),
        [],
    )
    # each fine-tuned setting's runs: how many recorded their backbone, how many the main run's
    backbones = {
        setting: backbone_record(runs, main)
        for setting, runs in chosen.items() if setting[0].endswith(TUNED_SUFFIX)
    }  # fmt: skip
    for setting, runs in sorted(chosen.items(), key=lambda item: _order(item[0])):
        levels = runs[0].emergence["levels"]
        passed = _competent(runs)
        # a fine-tuned arm: the main setting's check at its from-scratch twin's budget, and
        # the fine-tuned effect equivalent to the from-scratch one (else: undecided)
        is_tuned = setting[0].endswith(TUNED_SUFFIX)
        twin = tuned.get((dataset, *setting)) if is_tuned else None
        equivalent = twin[1] if twin else None
        recorded, matching = backbones.get(setting, (0, 0))
        check = checks.get(twin[0][5] if twin else None) if is_tuned else checks.get(setting[4])
        decided = {
            name: check is not None
            and check.stable(measures)
            and (
                not is_tuned
                or (equivalent is not None and equivalent.stable(measures) and recorded == matching)
            )
            for name, measures in VERDICT_MEASURES.items()
        }
        own = setting[0] in CHAIN_ARMS and setting[1] == "bf16"  # the main setting at a budget
        if len(runs) < 2:
            decided = dict.fromkeys(decided, False)
            basis = "none (one seed)"
        else:
            stopped = [name for name, ok in decided.items() if ok]
            basis = (", ".join(stopped) or "none") + ("" if own or not stopped else " (main's)")
            basis += " (fine-tuned, equivalent to scratch)" if is_tuned and stopped else ""
        tail = f"{sum(passed)}/{len(runs)}"
        effect = occlusion_effect(runs, levels)
        effect_text = effect.across_seeds.text(digits=2, sign=True)
        finding3 = verdict(effect.across_seeds, decided["finding 3"])
        if difficulty is not None:
            time_effect = difficulty_effect(runs, difficulty)
            finding4 = verdict(time_effect.rho, decided["finding 4"])
            beyond = verdict(time_effect.partial_rho, decided["beyond own confidence"])
            rho_text, partial_text = (
                time_effect.rho.text(digits=2, sign=True),
                time_effect.partial_rho.text(digits=2, sign=True),
            )
        else:
            time_effect, finding4, beyond, rho_text, partial_text = (
                None,
                "not measured",
                "not measured",
                "-",
                "-",
            )
        if own:
            glance += [
                GlanceRow(name, dataset, _label(setting), len(runs), text, said, decided[name])
                for name, text, said in (("finding 3", effect_text, finding3),
                                         ("finding 4", rho_text, finding4), ("beyond own confidence", partial_text, beyond))
                if time_effect is not None or name == "finding 3"
            ]  # fmt: skip
        validation = np.mean([r.curve("validation_accuracy")[-1] for r in runs])
        test = np.mean([r.test_correct[0].mean() for r in runs])
        seconds = np.mean([r.summary["time_spent"]["training"] for r in runs])
        hours = sum(core_seconds(r.summary) for r in runs) / 3600
        lines.append(
            f"| {_label(setting)} | {len(runs)} | {basis} | {tail} | {validation:.3f} | {test:.3f} | "
            f"{effect_text} | {finding3} | {rho_text} | {finding4} | "
            f"{partial_text} | {beyond} | {seconds:.0f} | {hours:.2f} |"
        )
        details.append(f"- {_label(setting)}, per run (image-level 95% bootstrap): " + "; ".join(
            f"seed {seed}: {inc.mean_difference:+.2f} [{inc.low:+.2f}, {inc.high:+.2f}] steps at "
            f"{effect.level:.0%}" for seed, inc in effect.per_run
        ) + ("" if time_effect is None else "; " + "; ".join(
            f"seed {seed}: rho {c.rho:+.2f} [{c.low:+.2f}, {c.high:+.2f}], partial {p:+.2f}"
            for seed, c, p in time_effect.per_run
        )))  # fmt: skip
    lines += ["", *details]
    for key, (scratch_key, tuned_check) in tuned.items():
        if key[0] == dataset:
            lines += tuned_lines(
                _label(key[1:]), _label(scratch_key[1:]), tuned_check, backbones[key[1:]]
            )
    for budget, doubling in checks.items():
        lines += budget_lines(doubling, (
            f"main setting, bf16: {budget} against {2 * budget} iterations, {len(chain[budget])} "
            f"and {len(chain[2 * budget])} seeds, final values on validation images"
        ))  # fmt: skip
    if main:
        lines += ["", "**Where each finding appears** (main arm, bf16; first checkpoint from which the "
                  "across-seed interval stays above 0 to the end, validation images):", ""]  # fmt: skip
        for measure, label in CURVES[1:4]:
            at = appears_at(main, measure)
            lines.append(
                f"- {label}: "
                + (f"from iteration {at}" if at is not None else "never, at this budget")
            )
        lines += _halting_diagnostic(chosen)
        centred = [runs for setting, runs in chosen.items() if setting[0] == "centred"]
        if centred and len(centred[0]) > 1 and len(main) > 1:
            lines += _centring_lines(main, centred[0])
    figure = _emergence_figure(dataset, chosen, figures)
    if figure is not None:
        lines += ["", f"![emergence curves, {dataset}]({figure.relative_to(root)})"]
    fp32 = next(
        (runs for setting, runs in chosen.items() if setting[0] == "main" and setting[1] == "fp32"),
        [],
    )
    if main and fp32 and len(main) > 1 and len(fp32) > 1:
        lines += precision_lines(precision_comparison(main, fp32))
    return lines, glance


CHAIN_ARMS = (
    "quarter",
    "half",
    "main",
    "main-bf16",
    "long",
    "longer",
)  # the main setting by budget


def _main_chain(groups: dict, dataset: str) -> dict[int, list[CompetentRun]]:
    """The dataset's main setting in bf16 at each budget (CHAIN_ARMS), by iterations."""
    return {
        key[5]: runs for key, runs in groups.items()
        if key[0] == dataset and key[1] in CHAIN_ARMS and key[2] == "bf16"
    }  # fmt: skip


def _competent(runs: list[CompetentRun]) -> list[bool]:
    if len(runs) < 2:
        return [False] * len(runs)
    table = competence(runs)
    return [all(table[m][i] for m in COMPETENCE_MEASURES) for i in range(len(runs))]


ARM_ORDER = (*CHAIN_ARMS, "ablation", "ablation-tuned", "time-weight", "time-weight-tuned",
             "centred")  # fmt: skip


def _order(setting: tuple) -> tuple:
    arm = setting[0]
    return (
        ARM_ORDER.index(arm) if arm in ARM_ORDER else len(ARM_ORDER),
        setting[1] != "bf16",
        setting[2],
    )


def _label(setting: tuple) -> str:
    arm, precision, weight, reads, iterations, centred = setting
    text = f"{arm}, time weight {weight:g}, {precision}, {iterations} it."
    return (
        text + ("" if reads else ", halting without confidence")
        + (", halting centred" if centred else "")
    )  # fmt: skip


def _halting_diagnostic(chosen: dict) -> list[str]:
    """Per setting, where the learned allocation comes within AGREEMENT_TOLERANCE steps of the objective's."""
    lines = [
        "- halting diagnostic, the learned against the objective's own allocation (steps added "
        "at the highest level; the objective's: each input's softmin over steps of its "
        "per-step cross-entropy plus the time cost; validation images). Agreement: the mean "
        f"over seeds of |learned - objective| stays within {AGREEMENT_TOLERANCE:g} steps to the end:",
        "",
        "| setting | agrees from | learned - objective at the end (mean over seeds) | "
        "objective's steps added at the end (does occlusion call for more time?) |",
        "|---|---|---|---|",
    ]
    for setting, runs in sorted(chosen.items(), key=lambda item: _order(item[0])):
        agreed = agrees_from(runs)
        final = np.mean([r.curve("agreement")[-1] for r in runs])
        wanted = np.mean([r.curve("objective_steps_added")[-1] for r in runs])
        where = f"iteration {agreed}" if agreed is not None else "no checkpoint to the end"
        lines.append(f"| {_label(setting)} | {where} | {final:+.3f} | {wanted:+.3f} |")
    return lines


def _centring_lines(main: list[CompetentRun], centred: list[CompetentRun]) -> list[str]:
    """The centring hypothesis' test, against the main setting at the same budget."""
    test = centring_test(main, centred)
    plain_at, centred_at = (
        f"iteration {at}" if at is not None else "never" for at in test.agrees_from
    )
    return [
        "",
        f"**Centring test** (`lattice.halting_centred`, {test.seeds[1]} seeds, against the main "
        f"setting's {test.seeds[0]}, over the seeds both ran; rule stated before the runs: keep the change if the learned "
        f"allocation comes within {AGREEMENT_TOLERANCE:g} steps of the objective's earlier and validation "
        "accuracy falls by no more than one seed sd): agreement from "
        f"{centred_at} centred against {plain_at} uncentred; at the end learned - objective "
        f"{test.final_agreement[1]:+.3f} against {test.final_agreement[0]:+.3f} steps; "
        f"validation accuracy {test.accuracy[1]:.3f} against {test.accuracy[0]:.3f} "
        f"(seed sd {test.accuracy_sd:.3f}). **"
        + ("Keep it" if test.keep() else "Do not keep it")
        + "**: agreement "
        + ("earlier" if test.earlier() else "not earlier")
        + ", accuracy "
        + ("held." if test.accuracy_holds() else "not held."),
    ]


def _emergence_figure(dataset: str, chosen: dict, figures: Path) -> Path | None:
    """Each measure over training, mean over seeds with a band of +-1 sd, per setting."""
    import matplotlib.figure

    from growsim.analysis.figures import seed_band

    if not chosen:
        return None
    figure = matplotlib.figure.Figure(figsize=(4 * len(CURVES), 3.2), layout="constrained")
    axes = figure.subplots(1, len(CURVES))
    for setting, runs in sorted(chosen.items(), key=lambda item: _order(item[0])):
        iterations = np.asarray(runs[0].emergence["iterations"])
        for axis, (measure, label) in zip(axes, CURVES):
            seed_band(axis, iterations, np.stack([r.curve(measure) for r in runs]), _label(setting))
            axis.set_title(label, fontsize=9)
            axis.set_xlabel("iteration")
    for axis in axes[1:]:
        axis.axhline(0, color="grey", linewidth=0.5)
    axes[0].legend(fontsize=6)
    path = figures / f"emergence-{dataset}.png"
    figure.savefig(path, dpi=90)
    return path
