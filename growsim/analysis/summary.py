"""The table printed at the end of a run."""

from __future__ import annotations


def format_summary(summary: dict) -> str:
    """A compact, aligned text table of a run's final state (as returned, or read back from
    summary.json)."""
    box = summary["box"]
    box = box if isinstance(box, dict) else box.__dict__
    box_text = f"{box['layers']} layers x {box['channels']} channels x {box['steps']} steps"
    rows = [
        ("run directory", summary.get("run_dir", "")),
        ("iterations", str(summary["iteration"])),
        ("box", box_text),
        ("active width per layer", " ".join(str(w) for w in summary["width"])),
        ("depth (active layers)", str(summary["depth"])),
        ("expected steps (clean)", f"{summary['expected_steps']:.2f}"),
        ("train accuracy", f"{summary['train_accuracy']:.3f}"),
        ("test accuracy (clean)", f"{summary['test_accuracy']:.3f}"),
    ]
    if len(summary["accuracy_by_occlusion"]) > 1:
        steps_by_level = summary["steps_by_occlusion"]
        for level, accuracy in summary["accuracy_by_occlusion"].items():
            steps = steps_by_level[level]
            shown = f"occlusion {float(level):.0%}"  # summary.json keys are text
            rows.append((shown, f"accuracy {accuracy:.3f}, steps {steps:.2f}"))
    if "seconds" in summary:
        rows.append(("wall time", f"{summary['seconds']:.1f} s"))
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    rule = "-" * max(len(line) for line in lines)
    return "\n".join([rule, *lines, rule])
