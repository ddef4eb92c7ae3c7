"""The accuracy benchmark's results: one row per model, spec and seed, as markdown tables
(each run, then the mean over seeds with t intervals) or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from growsim.analysis.statistics import mean_interval

MODELS = {
    "growsim": "growsim, fixed box, no costs",
    "plain_recurrent": "plain recurrent",
    "plain_feedforward": "plain feedforward",
    "logistic_regression": "logistic regression (pixels)",
}
GAP = "growsim - plain recurrent (points)"


@dataclass
class Row:
    """One model's result on one spec with one training seed."""

    spec: str
    dataset: str
    seed: int
    model: str  # a key of MODELS
    parameters: int
    levels: list[float]  # occlusion levels of the test sets (0.0: clean)
    accuracy: list[float]  # (occlusion,)
    train_seconds: float
    batches: int | None  # optimiser steps' batches (None: full-batch fit)
    batch_digest: str | None


def _specs(rows: list[Row]) -> list[str]:
    return list(dict.fromkeys(row.spec for row in rows))


def differences(rows: list[Row]) -> list[dict]:
    """Per spec and seed: growsim's minus the plain recurrent net's accuracy at every level,
    in points."""
    result = []
    for spec in _specs(rows):
        for seed in dict.fromkeys(row.seed for row in rows if row.spec == spec):
            by_model = {row.model: row for row in rows if (row.spec, row.seed) == (spec, seed)}
            if "growsim" in by_model and "plain_recurrent" in by_model:
                growsim, plain = by_model["growsim"], by_model["plain_recurrent"]
                points = [100 * (g - p) for g, p in zip(growsim.accuracy, plain.accuracy)]
                result.append({"spec": spec, "seed": seed, "levels": growsim.levels,
                               "points": points})  # fmt: skip
    return result


def over_seeds(rows: list[Row]) -> list[dict]:
    """Per spec: every model's mean accuracy over seeds and growsim minus plain recurrent
    (points), each level's mean with a 95% t interval across seeds (``[mean, low, high]``)."""
    result = []
    gaps = differences(rows)
    for spec in _specs(rows):
        spec_rows = [row for row in rows if row.spec == spec]
        levels = spec_rows[0].levels
        models = {}
        for model in dict.fromkeys(row.model for row in spec_rows):
            runs = [row.accuracy for row in spec_rows if row.model == model]
            models[model] = [_interval([run[i] for run in runs]) for i in range(len(levels))]
        spec_gaps = [entry["points"] for entry in gaps if entry["spec"] == spec]
        gap = (
            [_interval([run[i] for run in spec_gaps]) for i in range(len(levels))]
            if spec_gaps
            else None
        )
        result.append({"spec": spec, "dataset": spec_rows[0].dataset, "levels": levels,
                       "seeds": sorted({row.seed for row in spec_rows}),
                       "accuracy": models, "gap_points": gap})  # fmt: skip
    return result


def _interval(values: list[float]) -> list[float]:
    found = mean_interval(values)
    return [found.mean, found.low, found.high]


def _level_name(level: float) -> str:
    return "clean" if level == 0 else f"occl. {level:g}"


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def markdown_table(rows: list[Row]) -> str:
    """Two tables: each run's accuracy (%) per occlusion level and training seconds, with
    growsim minus plain recurrent per spec and seed; then the mean over seeds with 95% t
    intervals across seeds."""
    levels = sorted({level for row in rows for level in row.levels})
    header = ["spec", "data", "seed", "model", "parameters", *map(_level_name, levels), "train s"]
    lines = [_line(header), "|" + "---|" * 4 + "---:|" * (len(header) - 4)]

    def cells(values: dict[float, str]) -> list[str]:
        return [values.get(level, "-") for level in levels]

    gaps = {(entry["spec"], entry["seed"]): entry for entry in differences(rows)}
    for spec in _specs(rows):
        for seed in dict.fromkeys(row.seed for row in rows if row.spec == spec):
            run_rows = [row for row in rows if (row.spec, row.seed) == (spec, seed)]
            for row in run_rows:
                accuracy = {lv: f"{100 * a:.1f}" for lv, a in zip(row.levels, row.accuracy)}
                lines.append(_line([row.spec, row.dataset, str(seed), MODELS[row.model],
                                    f"{row.parameters:,}", *cells(accuracy),
                                    f"{row.train_seconds:.1f}"]))  # fmt: skip
            if (spec, seed) in gaps:
                entry = gaps[spec, seed]
                gap = {lv: f"{p:+.1f}" for lv, p in zip(entry["levels"], entry["points"])}
                lines.append(
                    _line([spec, run_rows[0].dataset, str(seed), GAP, "", *cells(gap), ""])
                )
    lines += ["", _line(["spec", "data", "seeds", "model", *map(_level_name, levels)]),
              "|" + "---|" * 4 + "---:|" * len(levels)]  # fmt: skip
    for entry in over_seeds(rows):
        seeds = ", ".join(map(str, entry["seeds"]))
        named = [(MODELS[model], values, False) for model, values in entry["accuracy"].items()]
        if entry["gap_points"]:
            named.append((GAP, [[v / 100 for v in level] for level in entry["gap_points"]], True))
        for name, values, signed in named:
            shown = {lv: _interval_text(v, signed) for lv, v in zip(entry["levels"], values)}
            lines.append(_line([entry["spec"], entry["dataset"], seeds, name, *cells(shown)]))
    return "\n".join(lines)


def _interval_text(value: list[float], signed: bool) -> str:
    """``mean [low, high]`` in percent (points), or the mean alone for one seed."""
    form = "+.1f" if signed else ".1f"
    mean, low, high = (format(100 * v, form) for v in value)
    return mean if value[1] == value[2] else f"{mean} [{low}, {high}]"


def json_report(rows: list[Row], settings: dict) -> str:
    """Rows, differences, means over seeds and the settings they were made with, as JSON."""
    return json.dumps(
        {"settings": settings, "rows": [asdict(row) for row in rows],
         "differences": differences(rows), "over_seeds": over_seeds(rows)},
        indent=2,
    )  # fmt: skip
