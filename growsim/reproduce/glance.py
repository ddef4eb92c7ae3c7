"""The competent page's first table: each finding's verdict per dataset, and the setting and
budget it rests on (the sections below the table hold the evidence)."""

from __future__ import annotations

from dataclasses import dataclass

# What each verdict says, in the paper's order: findings 3 and 4 by the names
# growsim.analysis.competent_findings' VERDICT_MEASURES gives them, findings 1 and 2 by the
# resource page's (growsim.reproduce.resource_page).
FINDING_LABELS = {
    "finding 1": "1: the resources trade off at equal accuracy (pairs of settings that trade)",
    "finding 2 width": "2: growth with the number of classes, width (slope per doubling)",
    "finding 2 depth": "2: growth with the number of classes, depth (slope per doubling)",
    "finding 2 steps": "2: growth with the number of classes, steps (slope per doubling)",
    "finding 3": "3: more steps on occluded inputs (steps added at the top level)",
    "finding 4": "4: time tracks difficulty (rho of steps with the ensemble's difficulty)",
    "beyond own confidence": "4, beyond the network's own confidence (partial rho)",
}


@dataclass(frozen=True)
class GlanceRow:
    """One verdict on one dataset: the setting it rests on, its seeds, its effect (mean over
    seeds with a 95% t interval across them) and the verdict."""

    finding: str  # a key of FINDING_LABELS
    dataset: str
    setting: str
    seeds: int
    effect: str
    verdict: str
    decided: bool  # it could be decided: the budget rule held (findings 1, 2: and the box is free)

    def line(self) -> str:
        """The row of the table."""
        return (
            f"| {FINDING_LABELS[self.finding]} | {self.dataset} | {self.setting} | {self.seeds} | {self.effect} "
            f"| {self.verdict} |"
        )


def main_setting_rows(candidates: list[GlanceRow]) -> list[GlanceRow]:
    """Of the main setting's rows at each budget (``candidates``, by rising budget), per
    finding the first whose verdict is decided, else the last (its longest budget)."""
    chosen: dict[str, GlanceRow] = {}
    for row in candidates:
        if row.finding not in chosen or not chosen[row.finding].decided:
            chosen[row.finding] = row
    return list(chosen.values())


def glance_lines(rows: list[GlanceRow]) -> list[str]:
    """The table, findings in the paper's order (none: no lines)."""
    if not rows:
        return []
    order = list(FINDING_LABELS)
    ordered = sorted(rows, key=lambda row: (order.index(row.finding), row.dataset))
    return [
        "",
        "## At a glance",
        "",
        "Each finding's verdict on each dataset and the setting it rests on: for findings 3 and 4 "
        "the main setting (bf16) at the first budget where the budget rule decided it, else at "
        "the longest it ran; for findings 1 and 2 the resource arms at their budget. Unit: the "
        "seed. The evidence, the other arms (the ablation, the time-weight range, centring) "
        "and the budget tables are in each dataset's section below.",
        "",
        "| finding | dataset | setting | seeds | effect (mean over seeds, 95% t) | verdict |",
        "|---|---|---|---|---|---|",
        *(row.line() for row in ordered),
    ]
