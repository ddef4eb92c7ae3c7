"""Figures of the results page: iso-accuracy contours of the fitted surface, resources
against the number of classes, the occlusion effect over the time weights, and the
speed-accuracy curves of the middle-weight models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from growsim.analysis.figures import save_figure
from growsim.analysis.surface import PAIRS, RESOURCES
from growsim.reproduce.findings import Reproduction


def write_figures(reproduction: Reproduction, directory: Path) -> dict[str, dict[str, str]]:
    """Write every figure into ``directory``; {kind: {dataset: file name}}."""
    shown: dict[str, dict[str, str]] = {
        "tradeoff": {},
        "complexity": {},
        "occlusion": {},
        "speed": {},
    }
    for d in reproduction.datasets:
        for kind, draw in (("tradeoff", _contours), ("complexity", _complexity),
                           ("occlusion", _occlusion), ("speed", _speed)):  # fmt: skip
            figure = draw(d)
            if figure is None:
                continue
            name = f"{kind}-{d.dataset}.png"
            save_figure(figure, directory / name, dpi=90)
            shown[kind][d.dataset] = name
    return shown


def _contours(d) -> Figure | None:
    t = d.tradeoff
    if t.surface is None:
        return None
    x = np.array([[s.resources[k].mean for k in range(3)] for s in t.settings])
    accuracy = np.array([s.validation.mean for s in t.settings])
    figure = Figure(figsize=(14, 3.8))
    axes = figure.subplots(1, 3, gridspec_kw={"wspace": 0.3})
    for axis, (i, j) in zip(axes, PAIRS):
        other = 3 - i - j
        gi = np.linspace(x[:, i].min(), x[:, i].max(), 40)
        gj = np.linspace(x[:, j].min(), x[:, j].max(), 40)
        mi, mj = np.meshgrid(gi, gj)
        points = np.zeros((mi.size, 3))
        points[:, i], points[:, j], points[:, other] = mi.ravel(), mj.ravel(), t.at[other]
        surface = t.surface.predict(points).reshape(mi.shape)
        lines = axis.contour(mi, mj, surface, levels=8, cmap="viridis")
        axis.clabel(lines, fontsize=7, fmt="%.2f")
        dots = axis.scatter(x[:, i], x[:, j], c=accuracy, cmap="viridis", edgecolors="k", s=30)
        axis.set_xlabel(RESOURCES[i])
        axis.set_ylabel(RESOURCES[j])
        axis.set_title(f"{RESOURCES[other]} at {t.at[other]:.2f}", fontsize=9)
    figure.colorbar(dots, ax=axes, label="validation accuracy (settings: mean over seeds)")
    figure.suptitle(
        f"{d.dataset}: iso-accuracy contours of the fitted quadratic (R^2 {t.surface.r_squared:.2f})"
    )
    return figure


def _complexity(d) -> Figure | None:
    c = d.complexity
    if not c.settings:
        return None
    figure = Figure(figsize=(12, 3.4))
    axes = figure.subplots(1, 3)
    noises = sorted({s.setting[1] for s in c.settings})
    for k, axis in enumerate(axes):
        for noise, style in zip(noises, ("-o", "--s", ":^")):
            chosen = sorted(
                (s for s in c.settings if s.setting[1] == noise), key=lambda s: s.setting[0]
            )
            classes = [s.setting[0] for s in chosen]
            means = [s.resources[k].mean for s in chosen]
            errors = [[m - s.resources[k].low for m, s in zip(means, chosen)],
                      [s.resources[k].high - m for m, s in zip(means, chosen)]]  # fmt: skip
            axis.errorbar(
                classes, means, yerr=errors, fmt=style, capsize=3, label=f"noise {noise:g}"
            )
        axis.set_xlabel("classes")
        axis.set_ylabel(RESOURCES[k])
    axes[0].legend(fontsize=8)
    figure.suptitle(
        f"{d.dataset}: resources against the number of classes (mean and interval over seeds)"
    )
    return figure


def _occlusion(d) -> Figure | None:
    if not d.by_weight:
        return None
    figure = Figure(figsize=(5, 3.4))
    axis = figure.subplots()
    weights = [e.weight for e in d.by_weight]
    means = [e.increase.mean for e in d.by_weight]
    errors = [[e.increase.mean - e.increase.low for e in d.by_weight],
              [e.increase.high - e.increase.mean for e in d.by_weight]]  # fmt: skip
    axis.errorbar(
        weights, means, yerr=errors, fmt="-o", capsize=3, label="halting reads confidence"
    )
    if d.ablation:
        ablated = [t.increases[-1].mean_difference for t in d.ablation]
        axis.scatter(
            [d.base_setting[2]] * len(ablated),
            ablated,
            marker="x",
            color="C3",
            label="ablation, per seed",
        )
    axis.axhline(0, color="k", lw=0.8)
    axis.set_xscale("log")
    axis.set_xlabel("time weight")
    axis.set_ylabel(f"steps added at {d.by_weight[0].top_level:.0%}")
    axis.legend(fontsize=8)
    axis.set_title(f"{d.dataset}: occlusion effect (mean and interval over seeds)", fontsize=9)
    return figure


def _speed(d) -> Figure | None:
    if not d.base_curves:
        return None
    figure = Figure(figsize=(10, 3.4))
    axes = figure.subplots(1, 2, sharey=True)
    for curve in d.curves:  # every trade-off model, clean and at the highest level
        top = len(curve.levels) - 1
        axes[0].plot(curve.steps[:, 0], curve.accuracy[:, 0], color="0.7", lw=0.6, zorder=1)
        axes[0].plot(
            curve.steps[:, top], curve.accuracy[:, top], color="0.85", lw=0.6, ls="--", zorder=1
        )
    axes[0].set_title(f"{d.dataset}: every trade-off model (grey; dashed {d.curves[0].levels[-1]:.0%} occluded)"
                      if d.curves else d.dataset, fontsize=9)  # fmt: skip
    axis = axes[1]
    for seed, curve in d.base_curves:
        top = len(curve.levels) - 1
        axis.plot(curve.steps[:, 0], curve.accuracy[:, 0], "-o", color="C0", alpha=0.7,
                  label="clean" if seed == d.base_curves[0][0] else None)  # fmt: skip
        axis.plot(curve.steps[:, top], curve.accuracy[:, top], "--s", color="C1", alpha=0.7,
                  label=f"{curve.levels[top]:.0%} occluded" if seed == d.base_curves[0][0] else None)  # fmt: skip
    for each in axes:
        each.set_xlabel("mean steps computed (exit thresholds 0.5 ... 0)")
    axes[0].set_ylabel("test accuracy")
    axis.legend(fontsize=8)
    axis.set_title(f"{d.dataset}: speed-accuracy, middle weights, one line a seed", fontsize=9)
    return figure
