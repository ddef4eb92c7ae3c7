"""Run every speed and memory benchmark and print one table: ``python -m benchmarks``.

``--quick`` runs a smaller set (under 3 minutes on 2 cores); ``--json`` prints the rows as
JSON instead of a table; ``--only NAME`` runs one group; ``--render FILE`` prints the table
of a saved ``--json`` output (docs/benchmarks.md renders that of docs/results/benchmarks/). Every
figure is a ratio (or a rate) measured within one run.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

GROUPS = ("topology", "training", "floor", "overhead", "memory", "sweep")


def group_rows(name: str, quick: bool) -> list[dict]:
    """The rows of benchmark group ``name``."""
    if name == "topology":
        from benchmarks.topology_speed import rows
    elif name == "training":
        from benchmarks.training_speed import rows
    elif name == "floor":
        from benchmarks.step_floor import rows
    elif name == "overhead":
        from benchmarks.run_overhead import rows
    elif name == "memory":
        from benchmarks.memory_use import rows
    else:
        from benchmarks.sweep_throughput import rows
    return rows(quick)


def format_value(row: dict) -> str:
    """A row's value as the table shows it."""
    value, unit = row["value"], row["unit"]
    if value is None:
        return "-"
    if unit == "fraction":
        return f"{value:.1%}"
    if unit == "x":
        return f"{value:.2f}x"
    if isinstance(value, int):
        return f"{value} {unit}"
    return f"{value:.0f} {unit}"


def table(rows: list[dict]) -> str:
    """Rows as a Markdown table (measure, value, target, detail)."""
    lines = ["| measure | value | target | detail |", "|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['measure']} | {format_value(row)} | {row.get('target', '')} | "
                     f"{row.get('detail', '')} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the groups, print the table or JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the smaller set (< 3 minutes)")
    parser.add_argument("--json", action="store_true", help="print JSON rows, not a table")
    parser.add_argument("--only", choices=GROUPS, action="append", help="run this group only")
    parser.add_argument("--render", metavar="FILE", help="print the table of a saved --json output")
    args = parser.parse_args(argv)
    if args.render:
        print(table(json.loads(Path(args.render).read_text())["rows"]))
        return 0
    started = time.perf_counter()
    rows = []
    for name in args.only or GROUPS:
        if not args.json:
            print(f"running {name} ...", file=sys.stderr, flush=True)
        rows += [{"group": name, **row} for row in group_rows(name, args.quick)]
    machine = {
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(), "quick": args.quick,
        "seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    if args.json:
        print(json.dumps({"machine": machine, "rows": rows}, indent=2))
    else:
        print(table(rows))
        print(f"\n{machine}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
