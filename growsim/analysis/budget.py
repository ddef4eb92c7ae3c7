"""The budget rule: has a setting stopped moving when its training budget doubles?

"Stopped moving" is an equivalence, like "equal accuracy": doubling the budget moves a
measure by less than its margin, by TOST at 5% (the 90% Welch interval of the change of the
final values across seeds lies inside +-margin). The unit is the seed, so each budget needs
two seeds or more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from growsim.analysis.statistics import Difference, welch_difference


@dataclass(frozen=True)
class BudgetRow:
    """One measure of a budget check: final seed means at the budget and at twice it."""

    measure: str
    at_budget: float
    at_double: float
    seed_sd: float  # pooled seed-to-seed sd of the final values
    change: Difference  # at 2x - at the budget, 90% Welch interval across seeds
    margin: float

    def stopped(self) -> bool:
        """TOST: the 90% interval of the change lies inside +-margin."""
        return -self.margin < self.change.low and self.change.high < self.margin


@dataclass(frozen=True)
class BudgetCheck:
    """Does training twice as long move a setting's measures?"""

    rows: list[BudgetRow]

    def stable(self) -> bool:
        """The budget rule: every measure's change under doubling is equivalent to 0 within
        its margin."""
        return all(row.stopped() for row in self.rows)

    def within_seed_spread(self) -> bool:
        """A stricter rule: every measure moved by no more than its pooled seed sd."""
        return all(abs(r.at_double - r.at_budget) <= r.seed_sd for r in self.rows)


def doubling_check(finals: dict[str, tuple], margins: dict[str, float]) -> BudgetCheck:
    """``finals``: per measure, (final values per seed at the budget, the same at twice the
    budget); ``margins``: per measure, how far a change may go and still count as none."""
    rows = []
    for measure, (short, long) in finals.items():
        a, b = np.asarray(short, dtype="float64"), np.asarray(long, dtype="float64")
        if min(len(a), len(b)) < 2:
            raise ValueError(f"{measure}: the budget rule needs two seeds or more at each budget")
        sd = float(np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2))
        change = welch_difference(a, b, 0.90)
        rows.append(
            BudgetRow(measure, float(a.mean()), float(b.mean()), sd, change, margins[measure])
        )
    return BudgetCheck(rows)
