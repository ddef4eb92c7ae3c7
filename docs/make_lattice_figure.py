"""Draw the lattice figure of the docs and the README: ``python docs/make_lattice_figure.py``
writes ``docs/figures/lattice.svg``.

Layers (rows) x time steps (columns) x channels (the cells of each node); bottom-up,
lateral and top-down connections; the box the network occupies now inside the largest box
its spec allows; its active region; the readout and halting at every step; where it grows.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

OUT = Path(__file__).parent / "figures" / "lattice.svg"
MAX_LAYERS, MAX_CHANNELS, MAX_STEPS = 4, 8, 6
BOX_LAYERS, BOX_CHANNELS, BOX_STEPS = 3, 6, 4
ACTIVE = [5, 4, 3]  # active channels per layer of the box
STEP_PROBS = [0.15, 0.45, 0.3, 0.1]  # the time distribution p_t over the box's steps
CELL, GAP_X, GAP_Y = 0.32, 1.25, 1.35
COLOURS = {"bottom_up": "#1f77b4", "lateral": "#2ca02c", "top_down": "#ff7f0e", "active": "#3b3b98"}


def node_origin(layer: int, step: int) -> tuple[float, float]:
    """Lower-left corner of the node (layer, step)."""
    return step * (MAX_CHANNELS * CELL + GAP_X), layer * (CELL + GAP_Y)


def node_width() -> float:
    return MAX_CHANNELS * CELL


def draw_nodes(axis) -> None:
    for layer in range(MAX_LAYERS):
        for step in range(MAX_STEPS):
            x0, y0 = node_origin(layer, step)
            in_box = layer < BOX_LAYERS and step < BOX_STEPS
            for channel in range(MAX_CHANNELS):
                if in_box and channel < BOX_CHANNELS:
                    active = channel < ACTIVE[layer]
                    face = COLOURS["active"] if active else "white"
                    axis.add_patch(
                        Rectangle(
                            (x0 + channel * CELL, y0),
                            CELL,
                            CELL,
                            facecolor=face,
                            edgecolor="0.2",
                            lw=0.8,
                        )
                    )
                else:
                    axis.add_patch(Rectangle((x0 + channel * CELL, y0), CELL, CELL, facecolor="none",
                                             edgecolor="0.7", lw=0.6, linestyle=":"))  # fmt: skip


def arrow(axis, start, end, colour, **style) -> None:
    axis.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=9, color=colour, lw=1.1,
                                   shrinkA=2, shrinkB=2, **style))  # fmt: skip


def draw_connections(axis) -> None:
    width = node_width() * BOX_CHANNELS / MAX_CHANNELS  # the box's channels
    for step in range(BOX_STEPS):
        for layer in range(BOX_LAYERS):
            x0, y0 = node_origin(layer, step)
            if layer > 0:  # bottom-up, within the step
                below = node_origin(layer - 1, step)
                arrow(
                    axis,
                    (below[0] + width * 0.3, below[1] + CELL),
                    (x0 + width * 0.3, y0),
                    COLOURS["bottom_up"],
                )
            if step > 0:  # lateral, from the step before
                before = node_origin(layer, step - 1)
                arrow(
                    axis,
                    (before[0] + width, before[1] + CELL / 2),
                    (x0, y0 + CELL / 2),
                    COLOURS["lateral"],
                )
                if layer < BOX_LAYERS - 1:  # top-down, from the layer above at the step before
                    above = node_origin(layer + 1, step - 1)
                    arrow(axis, (above[0] + width * 0.8, above[1]), (x0 + width * 0.05, y0 + CELL),
                          COLOURS["top_down"], connectionstyle="arc3,rad=0.15")  # fmt: skip


def draw_input_and_readout(axis) -> None:
    width = node_width() * BOX_CHANNELS / MAX_CHANNELS
    top = BOX_LAYERS - 1
    for step in range(BOX_STEPS):
        x0, y0 = node_origin(0, step)
        axis.add_patch(
            Rectangle(
                (x0 + width * 0.25, y0 - 1.1),
                width * 0.5,
                0.55,
                facecolor="0.9",
                edgecolor="0.4",
                lw=0.8,
            )
        )
        axis.text(x0 + width * 0.5, y0 - 0.83, "image", ha="center", va="center", fontsize=7)
        arrow(axis, (x0 + width * 0.5, y0 - 0.55), (x0 + width * 0.5, y0), COLOURS["bottom_up"])
        xt, yt = node_origin(top, step)
        base = node_origin(MAX_LAYERS - 1, 0)[1] + CELL + 0.75  # above the largest box
        arrow(axis, (xt + width * 0.5, yt + CELL), (xt + width * 0.5, base), "0.3")
        axis.add_patch(
            Rectangle(
                (xt + width * 0.1, base),
                width * 0.8,
                0.45,
                facecolor="#f3e6ff",
                edgecolor="0.4",
                lw=0.8,
            )
        )
        axis.text(xt + width * 0.5, base + 0.22, f"readout $y_{step + 1}$, halt $\\lambda_{step + 1}$", ha="center",
                  va="center", fontsize=6.5)  # fmt: skip
        bar_base = base + 0.95
        axis.add_patch(
            Rectangle(
                (xt + width * 0.35, bar_base), width * 0.3, STEP_PROBS[step] * 2.2, color="#9467bd"
            )
        )
        axis.text(
            xt + width * 0.5, bar_base - 0.12, f"$p_{step + 1}$", ha="center", va="top", fontsize=7
        )
    axis.text(-0.2, node_origin(MAX_LAYERS - 1, 0)[1] + CELL + 1.75, "time distribution\n(stick-breaking)",
              ha="right", va="center", fontsize=7)  # fmt: skip


def draw_boxes(axis) -> None:
    pad = 0.25
    x_box = node_origin(0, BOX_STEPS - 1)[0] + node_width() * BOX_CHANNELS / MAX_CHANNELS + pad
    y_box = node_origin(BOX_LAYERS - 1, 0)[1] + CELL + pad
    axis.add_patch(
        Rectangle((-pad, -pad), x_box + pad, y_box + pad, fill=False, edgecolor="k", lw=1.6)
    )
    x_max = node_origin(0, MAX_STEPS - 1)[0] + node_width() + pad
    y_max = node_origin(MAX_LAYERS - 1, 0)[1] + CELL + pad
    axis.add_patch(Rectangle((-pad * 2, -pad * 2), x_max + pad * 3, y_max + pad * 3, fill=False, edgecolor="0.5",
                             lw=1.0, linestyle="--"))  # fmt: skip
    axis.text(
        x_max + pad,
        y_max + pad * 1.5,
        "largest box (lattice.*.max)",
        ha="right",
        va="bottom",
        fontsize=8,
        color="0.4",
    )
    axis.text(x_box + 0.1, -pad - 0.05, "the box now", ha="left", va="top", fontsize=8)
    grow = dict(arrowstyle="-|>", mutation_scale=12, color="#d62728", lw=1.6)
    middle_y = node_origin(1, 0)[1] + CELL / 2
    axis.add_patch(FancyArrowPatch((x_box, middle_y), (x_box + 1.2, middle_y), **grow))
    axis.text(x_box + 0.25, middle_y + 0.2, "+ step", color="#d62728", fontsize=8, va="bottom")
    middle_x = node_origin(0, 1)[0] + node_width() / 2
    top_y = node_origin(BOX_LAYERS - 1, 1)[1] + CELL
    axis.add_patch(
        FancyArrowPatch((middle_x + 0.9, top_y + 0.3), (middle_x + 0.9, top_y + 1.1), **grow)
    )
    axis.text(middle_x + 1.05, top_y + 0.55, "+ layer", color="#d62728", fontsize=8)
    x0, y0 = node_origin(0, 0)
    channels_x = x0 + BOX_CHANNELS * CELL
    axis.add_patch(FancyArrowPatch((channels_x, y0 + CELL / 2), (channels_x + 0.6, y0 + CELL / 2),
                                   arrowstyle="-|>", mutation_scale=8, color="#d62728", lw=1.2))  # fmt: skip
    axis.text(
        channels_x + 0.05, y0 + CELL + 0.08, "+ channels", color="#d62728", fontsize=7, va="bottom"
    )


def draw_legend(axis) -> None:
    x, y = (
        node_origin(0, MAX_STEPS - 1)[0] + node_width() + 1.2,
        node_origin(MAX_LAYERS - 1, 0)[1] + 0.2,
    )
    items = [
        ("patch", COLOURS["active"], "active channel"),
        ("patch", "white", "inactive channel in the box"),
        ("dotted", "none", "outside the box"),
        ("arrow", COLOURS["bottom_up"], "bottom-up (same step)"),
        ("arrow", COLOURS["lateral"], "lateral (from step t-1)"),
        ("arrow", COLOURS["top_down"], "top-down (from step t-1)"),
        ("arrow", "#d62728", "growth at the box's edge"),
    ]
    for index, (kind, colour, label) in enumerate(items):
        row = y - index * 0.55
        if kind == "arrow":
            arrow(axis, (x, row), (x + 0.6, row), colour)
        else:
            style = ":" if kind == "dotted" else "-"
            edge = "0.7" if kind == "dotted" else "0.2"
            axis.add_patch(
                Rectangle(
                    (x + 0.15, row - CELL / 2),
                    CELL,
                    CELL,
                    facecolor=colour,
                    edgecolor=edge,
                    linestyle=style,
                )
            )
        axis.text(x + 0.8, row, label, va="center", fontsize=7.5)
    axis.text(
        x,
        y + 0.6,
        "layer (rows) x time step (columns)\nx channel (cells of a node)",
        fontsize=7.5,
        va="bottom",
    )


def lattice_figure() -> Figure:
    figure = Figure(figsize=(11, 5.2))
    axis = figure.add_axes((0, 0, 1, 1))
    draw_nodes(axis)
    draw_connections(axis)
    draw_input_and_readout(axis)
    draw_boxes(axis)
    draw_legend(axis)
    for layer in range(MAX_LAYERS):
        axis.text(
            -0.8,
            node_origin(layer, 0)[1] + CELL / 2,
            f"layer {layer}",
            ha="right",
            va="center",
            fontsize=8,
        )
    for step in range(MAX_STEPS):
        axis.text(
            node_origin(0, step)[0] + node_width() / 2,
            -1.55,
            f"t = {step + 1}",
            ha="center",
            fontsize=8,
        )
    right = node_origin(0, MAX_STEPS - 1)[0] + node_width() + 5.6
    axis.set_xlim(-2.2, right)
    axis.set_ylim(-1.9, node_origin(MAX_LAYERS - 1, 0)[1] + CELL + 3.1)
    axis.set_aspect("equal")
    axis.axis("off")
    return figure


if __name__ == "__main__":
    import matplotlib

    matplotlib.rcParams["svg.hashsalt"] = "growsim"  # the same file from the same drawing
    OUT.parent.mkdir(parents=True, exist_ok=True)
    lattice_figure().savefig(OUT, bbox_inches="tight", metadata={"Date": None})
    print(f"wrote {OUT}")
