"""The budget rule's check of one budget as Markdown, for the competent page's sections."""

from __future__ import annotations

from growsim.analysis.budget import BudgetCheck


def budget_lines(check: BudgetCheck, what: str) -> list[str]:
    """``check`` as a verdict line and a table; ``what``: which runs at which budgets."""
    strict = "passes" if check.within_seed_spread() else "fails"
    verdict = (
        "every measure's change is equivalent to 0 within its margin: **the budget suffices**."
        if check.stable()
        else "a measure's change is not shown to be within its margin: **not shown to suffice**."
    )
    lines = [
        "",
        f"**Budget rule** ({what}): {verdict} (The stricter rule, every change within one "
        f"pooled seed sd, {strict}.)",
        "",
        "| measure | at the budget (seed mean) | at twice the budget (seed mean) | "
        "change, 90% interval (paired: over the shared seeds) | test | margin | "
        "stopped | pooled seed sd |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.measure} | {r.at_budget:.3f} | {r.at_double:.3f} | {r.change.mean:+.3f} "
        f"[{r.change.low:+.3f}, {r.change.high:+.3f}] | {r.test} | +-{r.margin:g} | "
        f"{'yes' if r.stopped() else 'no'} | {r.seed_sd:.3f} |"
        for r in check.rows
    ]
    return lines
