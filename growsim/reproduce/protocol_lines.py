"""The competent page's lines about the protocol itself, beside its findings: what its runs
cost, the unpressured reference of each dataset's box against a plain net, and the arms not
run yet."""

from __future__ import annotations

import json
from pathlib import Path

from growsim.files import SUMMARY_NAME
from growsim.train.timing import core_seconds


def expected_runs() -> dict[tuple[str, str], list[str]]:
    """The protocol's members (growsim.reproduce.competent), by (dataset, arm): the
    default protocol's and the diagnostic arms'."""
    from growsim.reproduce.competent import ARMS, competent_arms

    return {
        (a.dataset, a.arm): [m.name for m in a.sweep.members] for a in competent_arms(arms=ARMS)
    }


def pending_lines(dataset: str, results: Path, expected: dict) -> list[str]:
    """The protocol's arms of ``dataset`` with runs not in ``results`` yet, and how many
    (``expected``: the protocol's members, ``expected_runs()``)."""
    from growsim.reproduce.competent import DIAGNOSTIC_ARMS

    missing = []
    for (name, arm), members in expected.items():
        absent = [
            m for m in members if not (Path(results) / name / arm / m / SUMMARY_NAME).exists()
        ]
        if name == dataset and absent:
            diagnostic = " (diagnostic: `--arms` names it)" if arm in DIAGNOSTIC_ARMS else ""
            missing.append(f"`{arm}` {len(absent)} of {len(members)} runs{diagnostic}")
    if not missing:
        return []
    return ["", f"**Not run yet** on {dataset}: " + ", ".join(missing)
            + " (`growsim reproduce --competent` trains what is missing of the default arms)."]  # fmt: skip


REFERENCE_GAP = 1.5  # points: the unpressured box against a plain net of its size


def reference_lines(dataset: str, accuracy: Path | None) -> list[str]:
    """growsim's box without costs against a plain recurrent net of its size (clean test
    accuracy, points, across seeds), from ``accuracy/<dataset>.json`` where it was measured."""
    path = None if accuracy is None else Path(accuracy) / f"{dataset.replace('-', '_')}.json"
    if path is None or not path.exists():
        return [
            "",
            f"**Unpressured reference**: not measured for {dataset} (`python -m benchmarks.accuracy`).",
        ]
    measured = json.loads(path.read_text())
    over = measured["over_seeds"][0]
    gap, low, high = over["gap_points"][0]
    within = "within" if abs(gap) <= REFERENCE_GAP else "outside"
    return ["", f"**Unpressured reference** (`python -m benchmarks.accuracy`, `{path}`: the box "
            "fixed, no costs, against a plain recurrent net of the same layers, channels, steps "
            f"and readout on the same batches, {len(over['seeds'])} seeds; "
            + " ".join(f"`{name}`" for name in measured["settings"]["specs"])
            + "".join(f" {o}" for o in measured["settings"]["overrides"][1:])
            + ", which may differ from the protocol's box and budget): clean test accuracy "
            f"{gap:+.1f} [{low:+.1f}, {high:+.1f}] points (mean over seeds, 95% t), the mean "
            f"{within} {REFERENCE_GAP:g} points."]  # fmt: skip


BOUND_HOURS, BOUND_CORES = 3.0, 2  # what the whole default protocol should fit: hours on cores


def cost_lines(results: Path, expected: dict) -> list[str]:
    """The protocol's cost: core-hours of the runs whose files are in ``results``, per
    dataset, and of the default protocol's (the members of ``expected``, ``expected_runs()``,
    but those of DIAGNOSTIC_ARMS) against the bound: a lower bound until all of its runs are
    there."""
    from growsim.reproduce.competent import DIAGNOSTIC_ARMS

    expected = {
        (dataset, arm, member)
        for (dataset, arm), members in expected.items() if arm not in DIAGNOSTIC_ARMS
        for member in members
    }  # fmt: skip
    runs: dict[object, tuple[str, set, float]] = {}  # a run reused by two arms counts once
    on_cpu = set()  # the runs whose CPU seconds are recorded
    for path in sorted(Path(results).glob(f"*/*/*/{SUMMARY_NAME}")):
        summary = json.loads(path.read_text())
        key = summary.get("run_id") or str(path)  # (older runs have no run_id)
        place = (path.parts[-4], path.parts[-3], path.parts[-2])
        seconds = core_seconds(summary)
        if summary.get("cpu_seconds"):
            on_cpu.add(key)
        runs.setdefault(key, (place[0], set(), seconds))[1].add(place)
    hours: dict[str, list[float]] = {}
    default: list[float] = []
    for dataset, places, seconds in runs.values():
        hours.setdefault(dataset, []).append(seconds / 3600)
        if places & expected:
            default.append(seconds / 3600)
    present = {place for _, places, _ in runs.values() for place in places} & expected
    total, needed = sum(sum(h) for h in hours.values()), sum(default)
    wall, complete = needed / BOUND_CORES, present == expected
    return [
        f"- **Cost**: the {len(runs)} runs on this page took {total:.1f} core-hours ("
        + ", ".join(f"{d} {sum(h):.1f} in {len(h)} runs" for d, h in hours.items())
        + f"): one thread per run, counted in CPU seconds (the core-seconds a run used, "
        f"whatever shared the cores) for the {len(on_cpu)} that recorded them, else in wall "
        "seconds of training, checkpoints and per-image outputs, measured while other runs "
        "shared the cores (so at most this on a quiet machine). "
        "Re-measuring the kept models (emergence) and the reference ensembles come on top. "
        "The default protocol (every arm but the diagnostic ones, "
        + ", ".join(f"`{a}`" for a in DIAGNOSTIC_ARMS)
        + f"): {len(present)} of its {len(expected)} runs are here, {needed:.1f} core-hours"
        + (f": about {wall:.1f} hours on {BOUND_CORES} cores, two runs at a time, "
           + (f"within the {BOUND_HOURS:g}-hour bound." if wall <= BOUND_HOURS
              else f"**over the {BOUND_HOURS:g}-hour bound** it should fit.")
           if complete else
           f" so far (the rest not yet run): at least {wall:.1f} hours on {BOUND_CORES} cores"
           + (f", **over the {BOUND_HOURS:g}-hour bound** it should fit." if wall > BOUND_HOURS
              else "."))
    ]  # fmt: skip
