"""Equivalence checks of final values as Markdown, for the competent page's sections: the
budget rule's check of one budget, a fine-tuned arm against training from scratch, and bf16
against fp32."""

from __future__ import annotations

from growsim.analysis.budget import BudgetCheck
from growsim.analysis.competent_findings import TUNED_MIN_SEEDS, PrecisionComparison


def budget_lines(check: BudgetCheck, what: str) -> list[str]:
    """``check`` as a verdict line and a table; ``what``: which runs at which budgets."""
    strict = "passes" if check.within_seed_spread() else "fails"
    verdict = (
        "every measure's change is equivalent to 0 within its margin: **the budget suffices**."
        if check.stable()
        else "a measure's change is not shown to be within its margin: **not shown to suffice**."
    )
    return [
        "",
        f"**Budget rule** ({what}): {verdict} (The stricter rule, every change within one "
        f"pooled seed sd, {strict}.)",
        "",
        "| measure | at the budget (seed mean) | at twice the budget (seed mean) | "
        "change, 90% interval (paired: over the shared seeds) | test | margin | "
        "stopped | pooled seed sd |",
        "|---|---|---|---|---|---|---|---|",
        *_rows(check, with_sd=True),
    ]


def tuned_lines(
    label: str, scratch_label: str, check: BudgetCheck | None, backbones: tuple[int, int]
) -> list[str]:
    """A fine-tuned setting against its from-scratch twin (``check``:
    growsim.analysis.competent_findings.tuned_checks; None: too few shared seeds) as a
    verdict line and a table; ``backbones``: its runs that recorded the run they started
    from, and those that started from the page's main run of their seed (backbone_record)."""
    what = f"**Fine-tuned against from scratch** ({label} against {scratch_label}"
    recorded, matching = backbones
    if recorded > matching:
        return ["", f"{what}): **not tested**: {recorded - matching} of its runs started from "
                "a network that is not the main run of their seed on this page (that main run "
                "is missing here, or was trained again after them)."]  # fmt: skip
    if check is None:
        return ["", f"{what}): fewer than {TUNED_MIN_SEEDS} seeds in common, **not tested**."]
    verdict = (
        "every measure equivalent within its margin: **fine-tuning gives the effect of "
        "training from scratch**."
        if check.stable()
        else "a measure is not shown equivalent within its margin: **fine-tuning is not "
        "shown to stand in for training from scratch**."
    )
    return [
        "",
        f"{what}; final values on validation images over the seeds both ran, the budget "
        f"rule's margins; {_started_from(recorded)}): {verdict}",
        "",
        "| measure | from scratch (seed mean) | fine-tuned (seed mean) | fine-tuned - from "
        "scratch, 90% interval | test | margin | equivalent |",
        "|---|---|---|---|---|---|---|",
        *_rows(check, with_sd=False),
    ]


def _started_from(recorded: int) -> str:
    if recorded:
        return (f"backbones: {recorded} of its runs recorded theirs, each the main run of its "
                "seed here; any other run predates the record")  # fmt: skip
    return "backbones: no run recorded its own (made before growsim recorded them)"


def precision_lines(comparison: PrecisionComparison) -> list[str]:
    """bf16 against fp32 on the main arm (growsim.analysis.competent_findings
    .precision_comparison) as a verdict line and a table."""
    verdict = (
        "every measure equivalent within its margin: **bf16 gives fp32's results**."
        if comparison.agrees()
        else "a measure is not shown equivalent within its margin: **bf16 is not shown to "
        "give fp32's results**."
    )
    return [
        "",
        f"**Precision** (main arm, bf16 against fp32; final values on validation images over "
        f"the seeds both ran, the budget rule's margins; training seconds fp32 / bf16 = "
        f"{comparison.seconds_ratio:.2f}x, measured while other runs shared the cores): " + verdict,
        "",
        "| measure | fp32 (seed mean) | bf16 (seed mean) | bf16 - fp32, 90% interval | test "
        "| margin | equivalent |",
        "|---|---|---|---|---|---|---|",
        *_rows(comparison.check, with_sd=False),
    ]


def _rows(check: BudgetCheck, with_sd: bool) -> list[str]:
    return [
        f"| {r.measure} | {r.at_budget:.3f} | {r.at_double:.3f} | {r.change.mean:+.3f} "
        f"[{r.change.low:+.3f}, {r.change.high:+.3f}] | {r.test} | +-{r.margin:g} | "
        f"{'yes' if r.stopped() else 'no'} |" + (f" {r.seed_sd:.3f} |" if with_sd else "")
        for r in check.rows
    ]
