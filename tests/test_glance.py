"""The competent page's first table: which row stands for each finding."""

from growsim.reproduce.glance import FINDING_LABELS, GlanceRow, glance_lines, main_setting_rows


def _row(finding, budget, decided, dataset="d"):
    return GlanceRow(finding, dataset, f"main, {budget} it.", 3, "+0.10", "verdict", decided)


def test_each_finding_rests_on_the_first_budget_that_decided_it_else_the_longest():
    rows = [
        _row("finding 3", 1500, False), _row("finding 4", 1500, False),
        _row("finding 3", 3000, True), _row("finding 4", 3000, False),
        _row("finding 3", 6000, True), _row("finding 4", 6000, False),
    ]  # fmt: skip
    chosen = {row.finding: row.setting for row in main_setting_rows(rows)}
    assert chosen == {"finding 3": "main, 3000 it.", "finding 4": "main, 6000 it."}


def test_the_table_lists_the_findings_in_the_papers_order():
    rows = [_row(f, 100, True, dataset) for f in reversed(FINDING_LABELS) for dataset in "ba"]
    body = glance_lines(rows)[-len(rows) :]
    labels = [line.split(" | ")[0][2:] for line in body]
    assert labels == [label for label in FINDING_LABELS.values() for _ in "ab"]
    assert [line.split(" | ")[1] for line in body[:2]] == ["a", "b"]
    assert glance_lines([]) == []
