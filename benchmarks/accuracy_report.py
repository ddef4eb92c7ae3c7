"""The accuracy benchmark's results: one row per model and spec, as a markdown table or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

MODELS = {
    "growsim": "growsim, fixed box, no costs",
    "plain_recurrent": "plain recurrent",
    "plain_feedforward": "plain feedforward",
    "logistic_regression": "logistic regression (pixels)",
}


@dataclass
class Row:
    """One model's result on one spec."""

    spec: str
    dataset: str
    model: str  # a key of MODELS
    parameters: int
    levels: list[float]  # occlusion levels of the test sets (0.0: clean)
    accuracy: list[float]  # (occlusion,)
    train_seconds: float
    batches: int | None  # optimiser steps' batches (None: full-batch fit)
    batch_digest: str | None


def differences(rows: list[Row]) -> list[dict]:
    """Per spec: growsim's minus the plain recurrent net's accuracy at every level, in points."""
    result = []
    for spec in dict.fromkeys(row.spec for row in rows):
        by_model = {row.model: row for row in rows if row.spec == spec}
        if "growsim" in by_model and "plain_recurrent" in by_model:
            growsim, plain = by_model["growsim"], by_model["plain_recurrent"]
            points = [100 * (g - p) for g, p in zip(growsim.accuracy, plain.accuracy)]
            result.append({"spec": spec, "levels": growsim.levels, "points": points})
    return result


def _level_name(level: float) -> str:
    return "clean" if level == 0 else f"occl. {level:g}"


def markdown_table(rows: list[Row]) -> str:
    """One table: each model's accuracy (%) per occlusion level and training seconds, and
    per spec growsim minus plain recurrent in accuracy points."""
    levels = sorted({level for row in rows for level in row.levels})
    header = ["spec", "data", "model", "parameters", *map(_level_name, levels), "train s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 3 + "---:|" * (len(header) - 3)]

    def cells(values: dict[float, str]) -> list[str]:
        return [values.get(level, "-") for level in levels]

    gaps = {entry["spec"]: entry for entry in differences(rows)}
    for spec in dict.fromkeys(row.spec for row in rows):
        spec_rows = [row for row in rows if row.spec == spec]
        for row in spec_rows:
            accuracy = {lv: f"{100 * a:.1f}" for lv, a in zip(row.levels, row.accuracy)}
            lines.append("| " + " | ".join([
                row.spec, row.dataset, MODELS[row.model], f"{row.parameters:,}",
                *cells(accuracy), f"{row.train_seconds:.1f}",
            ]) + " |")  # fmt: skip
        if spec in gaps:
            gap = {lv: f"{p:+.1f}" for lv, p in zip(gaps[spec]["levels"], gaps[spec]["points"])}
            lines.append("| " + " | ".join([
                spec, spec_rows[0].dataset, "growsim - plain recurrent (points)", "",
                *cells(gap), "",
            ]) + " |")  # fmt: skip
    return "\n".join(lines)


def json_report(rows: list[Row], settings: dict) -> str:
    """Rows, differences and the settings they were made with, as JSON text."""
    return json.dumps(
        {"settings": settings, "rows": [asdict(row) for row in rows],
         "differences": differences(rows)},
        indent=2,
    )  # fmt: skip
