"""``growsim report``: figures (PNG) and a markdown summary of a run or a sweep."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import xarray as xr

from growsim.analysis import figures
from growsim.analysis.figures import save_figure
from growsim.analysis.findings import (
    TimeSpread,
    occlusion_effect,
    time_difficulty,
    time_spread,
)
from growsim.analysis.reaction_times import (
    ReactionTimeOptions,
    ReactionTimes,
    match_reaction_times,
    read_reaction_times,
)
from growsim.analysis.sweep_report import sweep_report_lines
from growsim.errors import RunError
from growsim.files import (
    COMBINED_NAME,
    PER_IMAGE_NAME,
    PREDICTIONS_NAME,
    REPORT_DIRECTORY,
    REPORT_NAME,
    SUMMARY_NAME,
    TRAJECTORY_NAME,
    make_writable_directory,
    write_text_atomically,
)
from growsim.integrity import open_checked_store
from growsim.record.variables import open_per_image

logger = logging.getLogger(__name__)


def write_report(
    target: str | Path,
    out_dir: str | Path | None = None,
    reaction_times: str | Path | None = None,
    options: ReactionTimeOptions | None = None,
) -> Path:
    """Write figures and ``report.md`` for a run, sweep or ``growsim predict`` directory;
    returns the markdown path. How many reaction times matched goes to the ``growsim``
    logger."""
    target = Path(target)
    out = Path(out_dir) if out_dir else target / REPORT_DIRECTORY
    times = read_reaction_times(reaction_times, options) if reaction_times else None
    if (target / COMBINED_NAME).exists():
        make_writable_directory(out, "the report")
        lines = _sweep_report(target, out)
    elif (target / TRAJECTORY_NAME).exists():
        make_writable_directory(out, "the report")
        lines = _run_report(target, out, times)
    elif (target / PREDICTIONS_NAME).exists():
        make_writable_directory(out, "the report")
        lines = _predictions_report(target, out, times)
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


STORE_REMEDY = "the run's results cannot be read; run it again with --overwrite"


def _run_report(run_dir: Path, out: Path, times: ReactionTimes | None) -> list[str]:
    name = run_dir.name
    trajectory = open_checked_store(run_dir / TRAJECTORY_NAME, "the run's trajectory", STORE_REMEDY)
    final = trajectory.isel(checkpoint=-1)
    finished = (run_dir / SUMMARY_NAME).exists()
    if not finished:
        logger.warning("%s: the run has not finished (last checkpoint at iteration %d); this report "
                       "shows it as far as it went", run_dir, int(final.iteration))  # fmt: skip
    save_figure(
        figures.growth_figure(trajectory, f"{name}: growth over training"), out / "growth.png"
    )
    width = " / ".join(str(int(w)) for w in final.active_width.values[: int(final.box_layers)])
    lines = [
        f"# growsim report: run `{name}`",
        "",
        *(
            []
            if finished
            else [
                f"**Unfinished run**: this report shows it up to iteration {int(final.iteration)}, "
                "its last checkpoint. Continue it with `growsim run SPEC --resume`.",
                "",
            ]
        ),
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
    lines += _difficulty_section(per_image, out, name, times)
    return lines


def _occlusion_section(per_image: xr.Dataset, out: Path, name: str) -> list[str]:
    effect = occlusion_effect(per_image)
    save_figure(
        figures.occlusion_figure(effect, f"{name}: time and accuracy under occlusion"),
        out / "occlusion.png",
    )
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
    save_figure(
        figures.speed_accuracy_figure(per_image, f"{name}: speed and accuracy"),
        out / "speed_accuracy.png",
    )
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
        + " | ".join(f"mean p_{t + 1}" for t in range(steps))
        + " |",
        "|---|---|---|" + "---|" * steps,
    ]
    for index, level in enumerate(spread.levels):
        probs = " | ".join(f"{p:.3f}" for p in spread.mean_step_probs[index])
        lines.append(
            f"| {level:.0%} | {spread.steps_std[index]:.3f} | {spread.steps_used[index]} | {probs} |"
        )
    return lines + [""]


def _difficulty_section(
    per_image: xr.Dataset, out: Path, name: str, times: ReactionTimes | None
) -> list[str]:
    matched = match_reaction_times(per_image.image_id.values, times) if times else None
    if matched:
        logger.info("reaction times: %s", matched.text())
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
    figure = figures.difficulty_figure(
        panel_steps, measures, correlations, f"{name}: model time vs difficulty"
    )
    save_figure(figure, out / "difficulty.png")
    lines += ["| measure | Spearman rho [95% bootstrap CI] | n | note |", "|---|---|---|---|"]
    for item in correlations:
        c = item.correlation
        n = c.n if c.clusters is None else f"{c.clusters} images ({c.n} pairs)"
        lines.append(
            f"| {item.measure} | {c.rho:.3f} [{c.low:.3f}, {c.high:.3f}] | {n} | {item.note} |"
        )
    lines += ["", "![difficulty](difficulty.png)", ""]
    return lines


# --------------------------------------------------------------------------- predictions


def _predictions_report(directory: Path, out: Path, times: ReactionTimes | None) -> list[str]:
    predictions = open_checked_store(
        directory / PREDICTIONS_NAME,
        "the predictions",
        "run `growsim predict` again to rewrite them",
    )
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
    return lines + _difficulty_section(predictions, out, name, times)


def _sweep_report(sweep_dir: Path, out: Path) -> list[str]:
    sweep = open_checked_store(
        sweep_dir / COMBINED_NAME,
        "the combined sweep store",
        "run the sweep again to rewrite it (finished members are kept)",
    )
    return sweep_report_lines(sweep, sweep_dir.name, out)
