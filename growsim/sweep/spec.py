"""A spec's ``sweep:`` block -> the list of member specs it stands for.

    sweep:
      grid:                       # every combination of these values
        costs.breadth.weight: [0.0, 0.01]
        costs.time.weight: [0.0, 0.05]
      points:                     # and/or explicit members, each a set of overrides
        - {data.classes: 4, data.noise: 0.1}
      seeds: [0, 1]               # training.seed of every member (default: the spec's)
      workers: 2                  # members run at once on this machine (default: cores)

Members are points x grid x seeds (points default to one empty point, the grid to one
empty combination). A member is named by its overrides, so rerunning a sweep finds the
members it already ran whatever their order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from growsim.errors import SpecError
from growsim.spec import (
    Spec,
    apply_overrides,
    check_data_source,
    override_item,
    read_raw_spec,
    read_spec_text,
    spec_error,
    spec_from_dict,
)

SWEEP_KEYS = ("grid", "points", "seeds", "workers")
SEED_KEY = "training.seed"


@dataclass(frozen=True)
class SweepMember:
    """One run of a sweep: its directory name, its overrides and its validated spec."""

    name: str
    overrides: dict[str, Any]
    spec: Spec


@dataclass
class Sweep:
    """A validated sweep: the base spec, its members and how many run at once."""

    name: str
    base: Spec
    members: list[SweepMember]
    swept_keys: list[str]
    workers: int | None = None
    source: str = "<spec>"
    text: str = field(default="", repr=False)


def load_sweep(
    path: str | Path, overrides: list[str] | None = None, check_files: bool = False
) -> Sweep:
    """Read a spec file with a ``sweep:`` block and expand it into validated members.

    ``check_files`` also checks that the data every member reads from disk is there.
    """
    return parse_sweep(read_spec_text(path), str(path), overrides, check_files)


def parse_sweep(
    text: str,
    source: str = "<spec>",
    overrides: list[str] | None = None,
    check_files: bool = False,
) -> Sweep:
    """Expand spec text with a ``sweep:`` block; errors name file, line and key path."""
    raw, lines = read_raw_spec(text, source, overrides)
    block = raw.pop("sweep", None)
    if block is None:
        raise SpecError(f"{source}: has no sweep: block; run a single spec with `growsim run`")
    base = spec_from_dict(raw, source, lines)

    def error(path: str, message: str) -> SpecError:
        return spec_error(source, lines, path, message)

    if not isinstance(block, dict):
        raise error("sweep", f"must be a mapping with keys {', '.join(SWEEP_KEYS)}")
    unknown = sorted(set(block) - set(SWEEP_KEYS))
    if unknown:
        raise error(f"sweep.{unknown[0]}", f"unknown key; expected one of {', '.join(SWEEP_KEYS)}")
    grid = block.get("grid") or {}
    if not isinstance(grid, dict):
        raise error("sweep.grid", "must map key paths to lists of values")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise error(f"sweep.grid.{key}", "must be a non-empty list of values")
    points = block.get("points") or [{}]
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise error("sweep.points", "must be a list of mappings from key paths to values")
    seeds = block.get("seeds")
    if seeds is not None and (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    ):
        raise error("sweep.seeds", f"must be a non-empty list of integers >= 0, got {seeds!r}")
    workers = block.get("workers")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise error("sweep.workers", f"must be an integer >= 1, got {workers!r}")

    combinations = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    seed_overrides = [{SEED_KEY: seed} for seed in seeds] if seeds else [{}]
    members: list[SweepMember] = []
    names: set[str] = set()
    for point_index, point in enumerate(points):
        for combination in combinations:
            for seed in seed_overrides:
                member_overrides = {**point, **combination, **seed}
                spec = _member_spec(raw, member_overrides, source, lines, point_index, block)
                name = _unique(member_name(member_overrides), names)
                names.add(name)
                member_spec = dataclasses.replace(spec, name=f"{base.name}.{name}")
                if check_files:
                    _check_member_data(
                        member_spec, member_overrides, source, lines, point_index, block
                    )
                members.append(SweepMember(name, member_overrides, member_spec))
    swept = list(dict.fromkeys(k for m in members for k in m.overrides))
    return Sweep(base.name, base, members, swept, workers, source, text)


def member_name(overrides: dict[str, Any]) -> str:
    """A readable, filesystem-safe directory name for a member's overrides."""
    if not overrides:
        return "base"
    parts = []
    for key, value in overrides.items():
        short = "seed" if key == SEED_KEY else ".".join(key.split(".")[-2:])
        parts.append(f"{short}={_value_text(value)}")
    name = re.sub(r"[^A-Za-z0-9._=+-]", "-", "_".join(parts))
    if len(name) > 120:
        digest = hashlib.sha256(repr(sorted(overrides.items())).encode()).hexdigest()[:12]
        name = f"{name[:100]}-{digest}"
    return name


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "+".join(_value_text(v) for v in value)
    return str(value)


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    index = 2
    while f"{name}-{index}" in taken:
        index += 1
    return f"{name}-{index}"


def _where(key: str | None, point_index: int, block: dict) -> str:
    """The key path in the sweep block that set ``key`` (the override at fault)."""
    if key is None:
        return "sweep"
    if key == SEED_KEY and block.get("seeds"):
        return "sweep.seeds"
    if key in (block.get("grid") or {}):
        return f"sweep.grid.{key}"
    return f"sweep.points[{point_index}].{key}"


def _member_spec(
    raw: dict, overrides: dict, source: str, lines: dict, point_index: int, block: dict
) -> Spec:
    shown = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
    try:
        items = [override_item(key, value) for key, value in overrides.items()]
        return spec_from_dict(apply_overrides(raw, items, source), source, {})
    except SpecError as error:
        detail = str(error).removeprefix(f"{source}: ").removeprefix("--set ")
        culprit = next((k for k in overrides if detail.lstrip("'").startswith(k)), None)
        where = _where(culprit, point_index, block)
        raise spec_error(source, lines, where, f"member {{{shown}}}: {detail}") from None


def _check_member_data(
    spec: Spec, overrides: dict, source: str, lines: dict, point_index: int, block: dict
) -> None:
    try:
        check_data_source(spec, source, lines)
    except SpecError as error:
        culprit = next((k for k in ("data.path", "data.dataset") if k in overrides), None)
        if culprit is None:
            raise
        detail = str(error).split(": ", 2)[-1]
        where = _where(culprit, point_index, block)
        raise spec_error(
            source, lines, where, f"member {member_name(overrides)}: {detail}"
        ) from None
