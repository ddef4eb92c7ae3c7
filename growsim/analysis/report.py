"""``growsim report``: figures (PNG) and a markdown summary of a run or a sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import xarray as xr

from growsim.analysis import figures
from growsim.analysis.findings import (
    RESOURCE_COLUMNS,
    TimeSpread,
    choice_accuracy,
    equal_accuracy_band,
    occlusion_effect,
    run_table,
    time_difficulty,
    time_spread,
)
from growsim.analysis.reaction_times import (
    ReactionTimeOptions,
    ReactionTimes,
    match_reaction_times,
    read_reaction_times,
)
from growsim.analysis.response import is_response_design, response_arms
from growsim.analysis.statistics import spearman
from growsim.errors import RunError
from growsim.files import (
    COMBINED_NAME,
    PER_IMAGE_NAME,
    PREDICTIONS_NAME,
    REPORT_DIRECTORY,
    REPORT_NAME,
    TRAJECTORY_NAME,
    make_writable_directory,
    write_text_atomically,
)
from growsim.record.trajectory import open_trajectory
from growsim.record.variables import open_per_image

# Fewer runs than this get no rank correlation: with n = 3 or 4, rho takes only a handful of
# values and any of them can arise by chance.
MIN_RANK_RUNS = 5


def write_report(
    target: str | Path,
    out_dir: str | Path | None = None,
    reaction_times: str | Path | None = None,
    options: ReactionTimeOptions | None = None,
    notify: Callable[[str], None] | None = None,
) -> Path:
    """Write figures and ``report.md`` for a run, sweep or ``growsim predict`` directory;
    returns the markdown path. ``notify`` hears how many reaction times matched."""
    target = Path(target)
    out = Path(out_dir) if out_dir else target / REPORT_DIRECTORY
    times = read_reaction_times(reaction_times, options) if reaction_times else None
    if (target / COMBINED_NAME).exists():
        make_writable_directory(out, "the report")
        lines = _sweep_report(target, out)
    elif (target / TRAJECTORY_NAME).exists():
        make_writable_directory(out, "the report")
        lines = _run_report(target, out, times, notify)
    elif (target / PREDICTIONS_NAME).exists():
        make_writable_directory(out, "the report")
        lines = _predictions_report(target, out, times, notify)
    else:
        raise RunError(
            f"{target}: neither a run directory ({TRAJECTORY_NAME}), a sweep directory "
            f"({COMBINED_NAME}) nor predictions ({PREDICTIONS_NAME}); give the directory "
            "`growsim run`, `growsim sweep` or `growsim predict` wrote"
        )
    path = out / REPORT_NAME
    write_text_atomically(path, "\n".join(lines) + "\n")
    return path


# --------------------------------------------------------------------------- a run


def _tested(value: float, form: str) -> str:
    """A test metric, or why it is missing (the test sets are evaluated at the end of a run
    and every record.test_every-th checkpoint)."""
    return form.format(value) if np.isfinite(value) else "not evaluated yet (record.test_every)"


def _run_report(run_dir: Path, out: Path, times: ReactionTimes | None, notify) -> list[str]:
    name = run_dir.name
    with open_trajectory(run_dir) as trajectory:
        trajectory = trajectory.compute()
    final = trajectory.isel(checkpoint=-1)
    figures.growth_figure(trajectory, out / "growth.png", f"{name}: growth over training")
    width = " / ".join(str(int(w)) for w in final.active_width.values[: int(final.box_layers)])
    lines = [
        f"# growsim report: run `{name}`",
        "",
        f"Iterations: {int(final.iteration)}; box {int(final.box_layers)} layers x "
        f"{int(final.box_channels)} channels x {int(final.box_steps)} steps.",
        "",
        "| final state | value |",
        "|---|---|",
        f"| test accuracy (clean) | {_tested(float(final.test_accuracy), '{:.3f}')} |",
        f"| active channels per layer | {width} |",
        f"| depth (active layers) | {int(final.depth)} |",
        f"| expected steps (clean test) | {_tested(float(final.expected_steps), '{:.2f}')} |",
        "",
        "![growth](growth.png)",
        "",
    ]
    per_image_path = run_dir / PER_IMAGE_NAME
    if not per_image_path.exists():
        lines.append(f"No `{PER_IMAGE_NAME}` (the run has not finished): no per-image analysis.")
        return lines
    with open_per_image(per_image_path) as per_image:
        per_image = per_image.compute()
    if len(per_image.occlusion) > 1:
        lines += _occlusion_section(per_image, out, name)
    lines += _time_spread_lines(time_spread(per_image))
    if "exit_accuracy" in per_image:  # written since the speed-accuracy curve was added
        lines += _speed_accuracy_section(per_image, out, name)
    lines += _difficulty_section(per_image, out, name, times, notify)
    return lines


def _occlusion_section(per_image: xr.Dataset, out: Path, name: str) -> list[str]:
    effect = occlusion_effect(per_image)
    figures.occlusion_figure(effect, out / "occlusion.png", f"{name}: time and accuracy under occlusion")
    lines = [
        "## Occlusion",
        "",
        "| occlusion | accuracy | mean expected steps | increase over clean [95% CI] | one-sided Wilcoxon p | p, Holm over levels |",
        "|---|---|---|---|---|---|",
        f"| {effect.levels[0]:.0%} | {effect.accuracy[0]:.3f} | {effect.mean_steps[0]:.3f} | | | |",
    ]
    for index, increase in enumerate(effect.increases, start=1):
        lines.append(
            f"| {effect.levels[index]:.0%} | {effect.accuracy[index]:.3f} | "
            f"{effect.mean_steps[index]:.3f} | {increase.mean_difference:+.3f} "
            f"[{increase.low:+.3f}, {increase.high:+.3f}] | {increase.p_value:.2g} | "
            f"{increase.p_holm:.2g} |"
        )
    lines += [
        "",
        f"Trend of steps with occlusion level over all (image, level) pairs: Spearman {effect.trend.text()}.",
        "",
        f"The increases compare the same {effect.increases[0].n if effect.increases else 0} "
        "images at each level and clean (intervals resample images); Holm's adjustment "
        "covers the family of occluded levels.",
        "",
        "Mean expected steps per class and level:",
        "",
        "| class | " + " | ".join(f"{level:.0%}" for level in effect.levels) + " |",
        "|---|" + "---|" * len(effect.levels),
    ]
    for index, class_name in enumerate(effect.class_names):
        values = " | ".join(f"{v:.2f}" for v in effect.steps_by_class[index])
        lines.append(f"| {class_name} | {values} |")
    lines += ["", "![occlusion](occlusion.png)", ""]
    return lines


def _speed_accuracy_section(per_image: xr.Dataset, out: Path, name: str) -> list[str]:
    figures.speed_accuracy_figure(per_image, out / "speed_accuracy.png", f"{name}: speed and accuracy")
    levels = per_image.occlusion.values
    lines = ["## Speed and accuracy", "", "Each input stops once its remaining halting mass is at "
             "most the exit threshold: test accuracy (mean steps computed) per occlusion level.", "",
             "| exit threshold | " + " | ".join(f"{level:.0%}" for level in levels) + " |",
             "|---|" + "---|" * len(levels)]  # fmt: skip
    for row, threshold in enumerate(per_image.exit_threshold.values):
        cells = [f"{per_image.exit_accuracy.values[row, column]:.3f} "
                 f"({per_image.exit_steps.values[row, column]:.2f})" for column in range(len(levels))]  # fmt: skip
        lines.append(f"| {threshold:g} | " + " | ".join(cells) + " |")
    return lines + ["", "![speed and accuracy](speed_accuracy.png)", ""]


def _time_spread_lines(spread: TimeSpread) -> list[str]:
    steps = spread.mean_step_probs.shape[1]
    lines = [
        "## Time use over images",
        "",
        "Halting that locks onto one step shows as standard deviation 0 "
        f"and one step with all the mass; 'steps used' counts steps with at least "
        f"{spread.share:.0%} of the mean mass:",
        "",
        "| occlusion | std of expected steps | steps used | "
        + " | ".join(f"mean p_{t + 1}" for t in range(steps)) + " |",
        "|---|---|---|" + "---|" * steps,
    ]
    for index, level in enumerate(spread.levels):
        probs = " | ".join(f"{p:.3f}" for p in spread.mean_step_probs[index])
        lines.append(
            f"| {level:.0%} | {spread.steps_std[index]:.3f} | {spread.steps_used[index]} | {probs} |"
        )
    return lines + [""]


def _difficulty_section(
    per_image: xr.Dataset, out: Path, name: str, times: ReactionTimes | None, notify=None
) -> list[str]:
    matched = match_reaction_times(per_image.image_id.values, times) if times else None
    if matched and notify:
        notify(f"reaction times: {matched.text()}")
    correlations = time_difficulty(per_image, matched)
    steps = per_image.expected_steps.values
    measures, panel_steps = {}, {}
    if matched:
        measures["human reaction time"] = matched.rts
        panel_steps["human reaction time"] = steps[0, matched.image_index]
    if len(per_image.occlusion) > 1:
        key = "occlusion level"  # in % of the image, as in every figure and table
        measures[key] = np.repeat(per_image.occlusion.values * 100, steps.shape[1])
        panel_steps[key] = steps.ravel()
    if "reference_true_class_probability" in per_image:
        key = "reference classifier miss probability (clean)"
        measures[key] = 1 - per_image.reference_true_class_probability.values[0]
        panel_steps[key] = steps[0]
    lines = ["## Model time vs difficulty", ""]
    if matched:
        lines += [f"Reaction times: {matched.text()}.", ""]
    else:
        lines += [
            "No human reaction-time file was given (`--reaction-times FILE`: a CSV with "
            "`image_id,rt`, or a trial table with `imagename,rt`), so time is correlated with "
            "difficulty measures that need none.",
            "",
        ]
    if not measures:
        return lines + ["Nothing to correlate model time with: give `--reaction-times`.", ""]
    figures.difficulty_figure(panel_steps, measures, correlations, out / "difficulty.png",
                              f"{name}: model time vs difficulty")  # fmt: skip
    lines += ["| measure | Spearman rho [95% bootstrap CI] | n | note |", "|---|---|---|---|"]
    for item in correlations:
        c = item.correlation
        n = c.n if c.clusters is None else f"{c.clusters} images ({c.n} pairs)"
        lines.append(f"| {item.measure} | {c.rho:.3f} [{c.low:.3f}, {c.high:.3f}] | {n} | {item.note} |")
    lines += ["", "![difficulty](difficulty.png)", ""]
    return lines


# --------------------------------------------------------------------------- predictions


def _predictions_report(
    directory: Path, out: Path, times: ReactionTimes | None, notify
) -> list[str]:
    with xr.open_zarr(directory / PREDICTIONS_NAME) as predictions:
        predictions = predictions.compute()
    name = directory.name
    attrs = predictions.attrs
    labelled = "correct" in predictions
    lines = [
        f"# growsim report: predictions `{name}`",
        "",
        f"The final model of run `{attrs.get('run')}` (iteration {attrs.get('iteration')}) on "
        f"{predictions.sizes['image']} images from `{attrs.get('images')}` (early exit at "
        f"{attrs.get('exit_threshold', 0):g}).",
        "",
        "| occlusion | mean expected steps | mean steps computed | mean confidence |"
        + (" accuracy |" if labelled else ""),
        "|---|---|---|---|" + ("---|" if labelled else ""),
    ]
    for index, level in enumerate(predictions.occlusion.values):
        at = predictions.isel(occlusion=index)
        row = (
            f"| {level:.0%} | {float(at.expected_steps.mean()):.3f} | "
            f"{float(at.steps_computed.mean()):.3f} | {float(at.confidence.mean()):.3f} |"
        )
        lines.append(row + (f" {float(at.correct.mean()):.3f} |" if labelled else ""))
    lines.append("")
    lines += _time_spread_lines(time_spread(predictions))
    return lines + _difficulty_section(predictions, out, name, times, notify)


# --------------------------------------------------------------------------- a sweep


def _sweep_report(sweep_dir: Path, out: Path) -> list[str]:
    with xr.open_zarr(sweep_dir / COMBINED_NAME) as sweep:
        sweep = sweep.compute()
    return sweep_report_lines(sweep, sweep_dir.name, out)


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
    figures.tradeoff_figure(table, maxima, out / "tradeoff.png", f"{name}: resources at equal accuracy")
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
        for x, y in (("channels", "effective_depth"), ("channels", "steps"), ("effective_depth", "steps")):
            rho = spearman(table[x][band], table[y][band])
            lines.append(f"- {x} vs {y}: Spearman rho = {_rho(rho)} (n = {in_band})")
    else:
        lines.append(_too_few(in_band, "runs of equal accuracy"))
    return lines + ["", "![trade-offs](tradeoff.png)", ""]


def _knob_section(table, knobs: list[str], out: Path, name: str) -> list[str]:
    figures.complexity_figure(table, knobs, out / "complexity.png", f"{name}: resources vs swept keys")
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
    figures.response_figure(arms, out / "response.png", f"{name}: each resource against its cost")
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
