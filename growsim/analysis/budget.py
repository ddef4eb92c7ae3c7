"""The budget rule: has a setting stopped moving when its training budget doubles?

"Stopped moving" is an equivalence, like "equal accuracy": doubling the budget moves a
measure by less than its margin, by TOST at 5% (the 90% interval of the change of the final
values lies inside +-margin). The unit is the seed. A seed trained at both budgets shares its
initialisation and batches, so the change is tested paired over the seeds the two budgets have
in common when there are two or more; otherwise by Welch across the two groups of seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from growsim.analysis.statistics import Difference, mean_interval, welch_difference


@dataclass(frozen=True)
class BudgetRow:
    """One measure of a budget check: final seed means at the budget and at twice it (over
    the seeds both ran where two or more did, as the change)."""

    measure: str
    at_budget: float
    at_double: float
    seed_sd: float  # pooled seed-to-seed sd of the final values
    change: Difference  # at 2x - at the budget, 90% interval
    margin: float
    test: str  # "paired, n = 3" or "Welch, 3 and 2 seeds"

    def stopped(self) -> bool:
        """TOST: the 90% interval of the change lies inside +-margin (NaN: not stopped)."""
        return self.change.within(self.margin)


@dataclass(frozen=True)
class BudgetCheck:
    """Does training twice as long move a setting's measures?"""

    rows: list[BudgetRow]

    def stable(self, measures: tuple[str, ...] | None = None) -> bool:
        """The budget rule: every measure's change under doubling (or only ``measures``'s)
        is equivalent to 0 within its margin."""
        return all(
            row.stopped() for row in self.rows if measures is None or row.measure in measures
        )

    def within_seed_spread(self) -> bool:
        """A stricter rule: every measure moved by no more than its pooled seed sd."""
        return all(abs(r.at_double - r.at_budget) <= r.seed_sd for r in self.rows)


def doubling_check(finals: dict[str, tuple[dict, dict]], margins: dict[str, float]) -> BudgetCheck:
    """``finals``: per measure, ({seed: final value at the budget}, {seed: the same at twice
    the budget}); ``margins``: per measure, how far a change may go and still count as none."""
    rows = []
    for measure, (short, long) in finals.items():
        if min(len(short), len(long)) < 2:
            raise ValueError(f"{measure}: the budget rule needs two seeds or more at each budget")
        common = sorted(set(short) & set(long))
        if len(common) >= 2:  # the means and their spread over the same seeds as the change
            short, long = {s: short[s] for s in common}, {s: long[s] for s in common}
        a = np.asarray(list(short.values()), dtype="float64")
        b = np.asarray(list(long.values()), dtype="float64")
        sd = float(np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2))
        if len(common) >= 2:
            paired = mean_interval([long[s] - short[s] for s in common], confidence=0.90)
            change, test = (
                Difference(paired.mean, paired.low, paired.high),
                f"paired, n = {len(common)}",
            )
        else:
            change, test = welch_difference(a, b, 0.90), f"Welch, {len(a)} and {len(b)} seeds"
        rows.append(
            BudgetRow(measure, float(a.mean()), float(b.mean()), sd, change, margins[measure], test)
        )
    return BudgetCheck(rows)
