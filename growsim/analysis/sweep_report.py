"""The sweep half of ``growsim report``: the members' table, resources at equal accuracy,
resources against each swept key, and each resource against its own cost."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from growsim.analysis import figures
from growsim.analysis.figures import save_figure
from growsim.analysis.findings import (
    RESOURCE_COLUMNS,
    choice_accuracy,
    equal_accuracy_band,
    run_table,
)
from growsim.analysis.response import is_response_design, response_arms
from growsim.analysis.statistics import spearman

# Fewer runs than this get no rank correlation: with n = 3 or 4, rho takes only a handful of
# values and any of them can arise by chance.
MIN_RANK_RUNS = 5


def sweep_report_lines(sweep: xr.Dataset, name: str, out: Path) -> list[str]:
    """The report of a combined sweep store (figures written into ``out``).

    Which analyses it shows follows the sweep's design: runs of equal accuracy are compared
    (a trade-off) only when the sweep varies cost weights, and a rank correlation is given
    only over at least MIN_RANK_RUNS runs.
    """
    table = run_table(sweep)
    keys = [k for k in sweep.attrs.get("swept_keys", []) if k in table]
    knobs = [k for k in keys if k != "training.seed" and len(np.unique(table[k])) > 1]
    cost_knobs = [k for k in knobs if k.startswith("costs.")]
    maxima = {column: max(float(np.nanmax(table[column])), 1e-9) for column in RESOURCE_COLUMNS}
    count = len(table["run"])
    lines = [f"# growsim report: sweep `{name}`", "", f"{count} runs.", ""]
    failed = sweep.attrs.get("failed_members", [])
    if failed:
        lines += [f"Failed members (not in the figures): {', '.join(failed)}.", ""]
    header = ["#", "run", *keys, "validation accuracy", "test accuracy", "active channels",
              "width", "depth", "effective depth", "steps"]  # fmt: skip
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index in range(count):
        cells = [str(index + 1), table["run"][index], *(_cell(table[k][index]) for k in keys)]
        cells += [f"{table['validation_accuracy'][index]:.3f}", f"{table['accuracy'][index]:.3f}",
                  f"{table['channels'][index]:.0f}", f"{table['width'][index]:.1f}",
                  f"{table['depth'][index]:.0f}", f"{table['effective_depth'][index]:.2f}",
                  f"{table['steps'][index]:.2f}"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if is_response_design(table):
        return lines + _response_section(table, out, name)
    if cost_knobs and count >= 2:
        lines += _tradeoff_section(table, maxima, cost_knobs, out, name)
    if knobs:
        lines += _knob_section(table, knobs, out, name)
    if not knobs:
        lines += [
            "The sweep varies no spec key but the seed: the table shows the spread over seeds.",
            "",
        ]
    return lines


def _tradeoff_section(table, maxima, cost_knobs: list[str], out: Path, name: str) -> list[str]:
    save_figure(
        figures.tradeoff_figure(table, maxima, f"{name}: resources at equal accuracy"),
        out / "tradeoff.png",
    )
    chosen_on, chosen_name = choice_accuracy(table)
    band, centre = equal_accuracy_band(chosen_on)
    in_band = int(band.sum())
    test = table["accuracy"][band]
    lines = [
        "## Trade-offs",
        "",
        f"The sweep varies cost weights ({', '.join(cost_knobs)}), so runs that reach the same "
        f"accuracy with different resources show how one resource substitutes for another. "
        f"{in_band} runs reach {chosen_name} {centre:.3f} ± 0.02 (stars in the figure; numbers "
        f"are the table's rows; the band is chosen on {chosen_name}; their test accuracy "
        f"{test.min():.3f}-{test.max():.3f}).",
        "",
    ]
    if in_band >= MIN_RANK_RUNS:
        lines += ["Within them, a negative rank correlation between two resources means one "
                  "substitutes for the other:", ""]  # fmt: skip
        for x, y in (
            ("channels", "effective_depth"),
            ("channels", "steps"),
            ("effective_depth", "steps"),
        ):
            rho = spearman(table[x][band], table[y][band])
            lines.append(f"- {x} vs {y}: Spearman rho = {_rho(rho)} (n = {in_band})")
    else:
        lines.append(_too_few(in_band, "runs of equal accuracy"))
    return lines + ["", "![trade-offs](tradeoff.png)", ""]


def _knob_section(table, knobs: list[str], out: Path, name: str) -> list[str]:
    save_figure(
        figures.complexity_figure(table, knobs, f"{name}: resources vs swept keys"),
        out / "complexity.png",
    )
    count = len(table["run"])
    lines = ["## Resources against the swept keys", ""]
    numeric = [k for k in knobs if np.issubdtype(np.asarray(table[k]).dtype, np.number)]
    if count < MIN_RANK_RUNS:
        lines.append(_too_few(count, "runs"))
    else:
        for knob in numeric:  # text-valued keys get the figure, not a rank correlation
            for column in ("channels", "width", "depth", "effective_depth", "steps", "accuracy"):
                rho = spearman(table[knob], table[column])
                lines.append(f"- {column} vs {knob}: Spearman rho = {_rho(rho)} (n = {count})")
    return lines + ["", "![complexity](complexity.png)", ""]


def _too_few(count: int, what: str) -> str:
    return (
        f"No rank correlation: {count} {what} are too few (it takes at least {MIN_RANK_RUNS} "
        "for Spearman's rho to mean anything); compare the runs in the figure and the table."
    )


def _response_section(table: dict[str, np.ndarray], out: Path, name: str) -> list[str]:
    """Dose-response of a one-cost-at-a-time sweep (see growsim.analysis.response)."""
    arms = response_arms(table)
    save_figure(
        figures.response_figure(arms, f"{name}: each resource against its cost"),
        out / "response.png",
    )
    lines = [
        "## Each resource against its own cost",
        "",
        "One cost weight varies at a time (the others at their base values). Resource: active "
        "channels for breadth, active layers for depth, expected steps for time, at the end "
        "of training. rho: Spearman between weight and resource over the arm's runs.",
        "",
        "| cost | seed | weights | resource | accuracy | rho |",
        "|---|---|---|---|---|---|",
    ]
    for arm in arms:
        lines.append(
            f"| {arm.cost} | {arm.seed} | {' '.join(f'{w:g}' for w in arm.weights)} | "
            f"{' '.join(f'{r:.3g}' for r in arm.resource)} | "
            f"{' '.join(f'{a:.2f}' for a in arm.accuracy)} | {_rho(arm.rho)} |"
        )
    return lines + ["", "![dose-response](response.png)", ""]


def _rho(rho: float) -> str:
    return "n/a (one of them does not vary)" if np.isnan(rho) else f"{rho:.2f}"


def _cell(value) -> str:
    return f"{value:g}" if isinstance(value, (float, np.floating)) else str(value)
