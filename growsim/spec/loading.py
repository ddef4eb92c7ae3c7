"""YAML spec -> typed, validated config dataclasses.

Every error names the file, the line and the key path, e.g.
``specs/x.yaml:12: costs.time.weight: must be >= 0, got -1``.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from growsim.errors import SpecError


def _bound(default: Any, **limits: Any) -> Any:
    """A dataclass field with validation limits (ge, gt, le) stored in its metadata."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=limits)
    return field(default=default, metadata=limits)


@dataclass
class Extent:
    """Initial and maximum size of the lattice box along one axis."""

    initial: int = _bound(2, ge=1)
    max: int = _bound(4, ge=1)


@dataclass
class LatticeConfig:
    """The box of the lattice the network occupies, and how its positions connect."""

    layers: Extent = field(default_factory=lambda: Extent(2, 4))
    channels: Extent = field(default_factory=lambda: Extent(8, 32))
    steps: Extent = field(default_factory=lambda: Extent(3, 6))
    connections: list[Literal["bottom_up", "lateral", "top_down"]] = _bound(
        ["bottom_up", "lateral", "top_down"]
    )
    kernel_size: int = _bound(3, ge=1)
    input_stride: int = _bound(2, ge=1)
    # The readout reads the top layer average-pooled to readout_grid x readout_grid
    # positions (1: a global average; 2 keeps where in the image a feature is).
    readout_grid: int = _bound(1, ge=1)


@dataclass
class Schedule:
    """How a cost weight is switched on over training iterations.

    ``constant``: full weight from ``delay`` on. ``linear``: zero until ``delay``, then a
    linear ramp to full weight over ``ramp`` iterations.
    """

    kind: Literal["constant", "linear"] = "constant"
    delay: int = _bound(0, ge=0)
    ramp: int = _bound(0, ge=0)


@dataclass
class CostConfig:
    """One resource cost: its weight, the exponent of its rank/layer profile, its schedule."""

    weight: float = _bound(0.0, ge=0)
    exponent: float = _bound(1.0, ge=0)
    schedule: Schedule = field(default_factory=Schedule)


@dataclass
class CostsConfig:
    """The three resource costs."""

    breadth: CostConfig = field(default_factory=CostConfig)
    depth: CostConfig = field(default_factory=CostConfig)
    time: CostConfig = field(default_factory=CostConfig)


@dataclass
class ActiveConfig:
    """Thresholds that define the active sub-lattice."""

    # A channel is active when the norm of its incoming weights exceeds this fraction of
    # the norm a freshly initialised channel has.
    channel_threshold: float = _bound(0.1, gt=0)
    # A kernel is an edge of the topology graph when its norm, scaled by sqrt(kernels into
    # the channel), exceeds this (fresh kernels sit near 1 on that scale).
    edge_threshold: float = _bound(0.1, gt=0)
    # The time box grows when the mean probability of halting at its last step exceeds this.
    time_threshold: float = _bound(0.05, gt=0, le=1)


@dataclass
class GrowthConfig:
    """How much the box grows by when the active region reaches its edge."""

    enabled: bool = True
    channels: int = _bound(4, ge=1)
    layers: int = _bound(1, ge=1)
    steps: int = _bound(1, ge=1)
    # Fraction of the old last step's probability a new time step starts with.
    new_step_mass: float = _bound(1e-3, gt=0, le=0.5)
    # Check for growth only once every cost has reached its full scheduled weight, so the
    # box does not grow to its maximum before the pressures are on.
    wait_for_costs: bool = True


@dataclass
class CompactionConfig:
    """Shrinking the tensors to the active region (see growsim.model.compaction)."""

    enabled: bool = True
    # Inactive channels kept beside the active ones, so the box edge stays inactive.
    margin: int = _bound(4, ge=0)
    # Channels are compacted only when at least this fraction of them would go.
    min_fraction: float = _bound(0.25, ge=0, le=1)
    # Trailing steps are dropped while the step_quantile of their total probability over
    # validation inputs (every occlusion level) is below step_mass. Dropping steps is
    # pruning: an input's prediction moves by at most the probability it had there.
    step_mass: float = _bound(0.005, ge=0, le=0.5)
    step_quantile: float = _bound(0.99, ge=0, le=1)


@dataclass
class OcclusionConfig:
    """Opaque square patches covering a set fraction of the image."""

    levels: list[float] = _bound([0.0])
    train: bool = True
    patch_size: int = _bound(4, ge=1)
    value: float = 0.5


@dataclass
class DataConfig:
    """Which images, how many, and how they are corrupted.

    ``shapes`` draws images; ``fashion_mnist`` and ``idx`` read MNIST-format (IDX) files;
    ``folder`` reads ``path/train/<class>/*`` and ``path/test/<class>/*`` image files;
    ``arrays`` reads an ``.npz`` file. ``classes``, ``train_size`` and ``test_size`` left
    unset mean all of a dataset's classes and images (shapes and fashion_mnist: 10 classes,
    4000 and 1000 images); when set, the first ``classes`` classes and a random subset of
    at most that many images are used.
    """

    dataset: Literal["shapes", "fashion_mnist", "idx", "folder", "arrays"] = "shapes"
    path: str | None = None
    seed: int = _bound(0, ge=0)  # draws and subsamples the data; fixed across training seeds
    classes: int | None = _bound(None, ge=2)
    image_size: int = _bound(28, ge=8)
    channels: int = _bound(1, ge=1, le=3)  # 1 (grey) or 3 (RGB); images are converted to it
    # Image files that are not square: refused (square), centre-cropped (crop) or stretched.
    resize: Literal["square", "crop", "stretch"] = "square"
    class_names: list[str] | None = None  # idx only: names of labels 0, 1, ...
    train_size: int | None = _bound(None, ge=1)
    test_size: int | None = _bound(None, ge=1)
    # Fraction of the training images held out as the validation split (growth and
    # compaction decide on it; the test set is only reported).
    validation_fraction: float = _bound(0.1, gt=0, lt=1)
    noise: float = _bound(0.0, ge=0)
    clutter: int = _bound(0, ge=0)
    occlusion: OcclusionConfig = field(default_factory=OcclusionConfig)

    def __post_init__(self) -> None:
        # The built-in datasets keep their fixed defaults; a user's own data defaults to all.
        if self.dataset in ("shapes", "fashion_mnist"):
            for name, default in (("classes", 10), ("train_size", 4000), ("test_size", 1000)):
                if getattr(self, name) is None:
                    setattr(self, name, default)


@dataclass
class LearningRateSchedule:
    """How the learning rates change over training iterations.

    ``constant``: ``lr`` throughout. ``cosine``: a cosine decay from ``lr`` to
    ``final * lr`` at the last iteration. Both start with a linear warm-up over ``warmup``
    iterations.
    """

    kind: Literal["constant", "cosine"] = "constant"
    warmup: int = _bound(0, ge=0)
    final: float = _bound(0.0, ge=0, le=1)


@dataclass
class TrainingConfig:
    """Optimiser, duration, seed and hardware."""

    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = _bound(1e-2, gt=0)
    time_lr: float = _bound(3e-2, gt=0)
    # Applies to lr and time_lr alike (and so to the breadth and depth pressure).
    lr_schedule: LearningRateSchedule = field(default_factory=LearningRateSchedule)
    # Weight of the mean cross-entropy of every step's readout, added to the task loss
    # (0: the expected cross-entropy alone). See costs.expected_task_loss.
    step_supervision: float = _bound(0.0, ge=0)
    # Weight of an entropy bonus on each input's time distribution (adaptive or fixed): it
    # keeps halting from locking every input onto one step. See objective.loss_terms.
    time_entropy: float = _bound(0.0, ge=0)
    batch_size: int = _bound(64, ge=1)
    steps: int | None = _bound(None, ge=1)
    epochs: float | None = _bound(None, gt=0)
    seed: int = _bound(0, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compile: Literal["auto", "on", "off"] = "auto"
    threads: int | None = _bound(None, ge=1)


@dataclass
class RecordConfig:
    """How often the trajectory gets a checkpoint, and on how many test images."""

    every: int = _bound(50, ge=1)
    eval_size: int | None = _bound(None, ge=1)
    # The validation sets are evaluated at every checkpoint (growth decides on them); the
    # test sets only at every test_every-th checkpoint (counting from the first, at iteration
    # 0) and at the last (0: the last only).
    # Test metrics are NaN at the checkpoints in between.
    test_every: int = _bound(0, ge=0)
    # Evaluation stops computing an input's steps once its remaining halting mass is at
    # most this (0: every step; see LatticeNetwork.predict for the bound on the error).
    exit_threshold: float = _bound(0.0, ge=0, le=0.5)


@dataclass
class Spec:
    """A whole growsim experiment."""

    name: str = "run"
    lattice: LatticeConfig = field(default_factory=LatticeConfig)
    costs: CostsConfig = field(default_factory=CostsConfig)
    time_selection: Literal["fixed", "adaptive"] = "adaptive"
    active: ActiveConfig = field(default_factory=ActiveConfig)
    growth: GrowthConfig = field(default_factory=GrowthConfig)
    compaction: CompactionConfig = field(default_factory=CompactionConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    record: RecordConfig = field(default_factory=RecordConfig)
    sweep: dict[str, Any] | None = None


# --------------------------------------------------------------------------- loading


def load_spec(
    path: str | Path, overrides: list[str] | None = None, check_files: bool = False
) -> Spec:
    """Read, override (``key.path=value``) and validate a YAML spec file.

    ``check_files`` also checks that the data the spec reads from disk is there (not for a
    spec with a sweep: block, whose members may read other data; see ``load_sweep``).
    """
    return parse_spec(read_spec_text(path), str(path), overrides, check_files)


def read_spec_text(path: str | Path) -> str:
    """The text of a spec file; a SpecError naming the file when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise SpecError(f"{path}: cannot read the spec: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise SpecError(
            f"{path}: not a text file (a spec is YAML text in UTF-8); is this the spec you meant?"
        ) from None


def parse_spec(
    text: str,
    source: str = "<spec>",
    overrides: list[str] | None = None,
    check_files: bool = False,
) -> Spec:
    """Validate spec text; ``source`` names it in error messages."""
    raw, lines = read_raw_spec(text, source, overrides)
    spec = spec_from_dict(raw, source=source, lines=lines)
    if check_files and spec.sweep is None:
        check_data_source(spec, source, lines)
    return spec


def read_raw_spec(
    text: str, source: str = "<spec>", overrides: list[str] | None = None
) -> tuple[dict, dict[str, int | str]]:
    """Spec text with ``overrides`` set -> (plain mapping, where every key path was given:
    its line, or the ``--set`` that set it); not yet validated.

    Refuses an empty spec and a key given twice in one mapping (YAML would silently keep
    the second).
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        lines = _key_lines(node, source)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(error, "problem", None) or str(error)
        raise SpecError(f"{where}: not valid YAML: {problem}") from None
    if raw is None:
        raise SpecError(
            f"{source}: the spec is empty (no keys, only comments or blank lines). A spec is a "
            "YAML mapping, at least `training: {steps: 600}`; specs/quick.yaml is a full example."
        )
    if not isinstance(raw, dict):
        raise SpecError(
            f"{source}: a spec must be a YAML mapping of keys to values, got {type(raw).__name__}"
        )
    overrides = overrides or []
    return apply_overrides(raw, overrides, source), _override_lines(lines, overrides)


def _override_lines(lines: dict[str, int | str], overrides: list[str]) -> dict[str, int | str]:
    """``lines`` with each key an override sets (and every key below it) attributed to that
    ``--set``, so an error in an overridden value names the ``--set``, not a line of the file."""
    lines = dict(lines)
    for item in overrides:
        key = item.partition("=")[0].strip()
        for path in [p for p in lines if p == key or p.startswith((f"{key}.", f"{key}["))]:
            del lines[path]
        lines[key] = f"--set {item!r}"
    return lines


def spec_error(source: str, lines: dict, path: str, message: str) -> SpecError:
    """A SpecError reading ``source:line: key.path: message`` (line of the nearest known key)."""
    return _Context(source, lines).error(path, message)


def spec_from_dict(raw: dict, source: str = "<spec>", lines: dict | None = None) -> Spec:
    """Build a validated Spec from a plain nested mapping."""
    context = _Context(source, lines or {})
    spec = _build(Spec, raw, "", context)
    _check_consistency(spec, context)
    return spec


def run_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a run directory (None when it can): it must be one path
    component, so a run never lands outside its output directory."""
    if not name or not name.strip():
        return "must not be empty"
    if "/" in name or "\\" in name or "\0" in name:
        return f"must be a single directory name without '/' or '\\', got {name!r}"
    if name in (".", ".."):
        return f"must be a directory name, not {name!r}"
    return None


# Where a dataset reads its files when data.path is not set (None: it draws in memory).
DATA_DEFAULT_PATHS: dict[str, str | None] = {
    "shapes": None,
    "fashion_mnist": "/usr/share/datasets/fashion-mnist",
}
DATA_INSTALL_HINTS = {"fashion_mnist": "apt-get install -y dataset-fashion-mnist"}


def data_source(config: DataConfig) -> Path | None:
    """The file or directory ``config``'s dataset reads (None: drawn in memory, no files)."""
    if config.dataset == "shapes":
        return None
    path = config.path or DATA_DEFAULT_PATHS.get(config.dataset)
    return Path(path) if path else None


def check_data_source(spec: Spec, source: str = "<spec>", lines: dict | None = None) -> None:
    """SpecError when the data the spec reads from disk is not there."""
    path = data_source(spec.data)
    if path is None or path.exists():
        return
    key = "data.path" if spec.data.path else "data.dataset"
    fix = "set data.path to where the files are"
    hint = DATA_INSTALL_HINTS.get(spec.data.dataset)
    if hint:
        fix += f", or install them: {hint}"
    raise spec_error(
        source, lines or {}, key,
        f"{path} does not exist; dataset {spec.data.dataset!r} reads its files there ({fix})",
    )  # fmt: skip


def apply_overrides(raw: dict, overrides: list[str], source: str = "<spec>") -> dict:
    """Return a copy of ``raw`` with each ``a.b.c=value`` override set (value parsed as YAML)."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        key, sep, value_text = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"--set {item!r}: expected KEY.PATH=VALUE, e.g. training.seed=3")
        try:
            value = yaml.safe_load(value_text)
        except yaml.YAMLError:
            raise SpecError(f"--set {item!r}: the value is not valid YAML") from None
        parts = key.strip().split(".")
        _check_override_path(parts, item)
        target = raw
        for part in parts[:-1]:
            child = target.get(part)
            if not isinstance(child, dict):
                child = {}
                target[part] = child
            target = child
        target[parts[-1]] = value
    return raw


def _check_override_path(parts: list[str], item: str) -> None:
    cls: Any = Spec
    for depth, part in enumerate(parts):
        hints = typing.get_type_hints(cls)
        if part not in hints:
            where = ".".join(parts[:depth]) or "the top level"
            raise SpecError(f"--set {item!r}: {where} has no key {part!r}")
        inner = _strip_optional(hints[part])
        if depth < len(parts) - 1 and not dataclasses.is_dataclass(inner):
            if typing.get_origin(inner) is dict:
                return
            raise SpecError(f"--set {item!r}: {'.'.join(parts[: depth + 1])} is not a section")
        cls = inner


def spec_to_dict(spec: Spec) -> dict:
    """The spec as a plain nested dict (for YAML dumps and trajectory attrs)."""
    return dataclasses.asdict(spec)


def spec_to_yaml(spec: Spec) -> str:
    """The spec as YAML text that ``parse_spec`` reads back to an equal Spec."""
    return yaml.safe_dump(spec_to_dict(spec), sort_keys=False)


# --------------------------------------------------------------------------- internals


@dataclass
class _Context:
    source: str
    lines: dict

    def error(self, path: str, message: str) -> SpecError:
        line = self._line_for(path)
        if isinstance(line, str):  # the value came from a --set override
            where = line
        else:
            where = f"{self.source}:{line}" if line else self.source
        return SpecError(f"{where}: {path or '<top level>'}: {message}")

    def _line_for(self, path: str) -> int | str | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path.rpartition(".")[0]
        return None


def _key_lines(node: yaml.Node | None, source: str, prefix: str = "") -> dict[str, int]:
    """Map every key path in a composed YAML tree to its 1-based line number; a SpecError
    when a mapping holds one key twice."""
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        first_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            path = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            line = key_node.start_mark.line + 1
            if path in first_lines:
                raise SpecError(
                    f"{source}:{line}: {path}: given twice (first at line {first_lines[path]}); "
                    "YAML would keep only the second. Merge the two into one."
                )
            first_lines[path] = line
            lines[path] = line
            lines.update(_key_lines(value_node, source, path))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = f"{prefix}[{index}]"
            lines[path] = item.start_mark.line + 1
            lines.update(_key_lines(item, source, path))
    return lines


def _strip_optional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _type_name(hint: Any) -> str:
    hint = _strip_optional(hint)
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if dataclasses.is_dataclass(hint):
        return "a mapping"
    if typing.get_origin(hint) is list:
        return "a list"
    if typing.get_origin(hint) is dict:
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        hint, str(hint)
    )


def _build(hint: Any, value: Any, path: str, context: _Context) -> Any:
    """Convert ``value`` to ``hint``, raising SpecError naming ``path`` on any mismatch."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        return _build(_strip_optional(hint), value, path, context)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise context.error(path, f"must be a mapping of keys, got {_describe(value)}")
        hints = typing.get_type_hints(hint)
        known = {f.name: f for f in dataclasses.fields(hint)}
        for key in value:
            if key not in known:
                choices = ", ".join(sorted(known))
                raise context.error(
                    _join(path, str(key)), f"unknown key (known keys here: {choices})"
                )
        kwargs = {}
        for name, spec_field in known.items():
            if name not in value:
                continue
            child_path = _join(path, name)
            converted = _build(hints[name], value[name], child_path, context)
            _check_limits(converted, spec_field.metadata, child_path, context)
            kwargs[name] = converted
        return hint(**kwargs)
    if origin is Literal:
        choices = typing.get_args(hint)
        if isinstance(value, bool) and {"on", "off"} <= set(choices):
            value = "on" if value else "off"  # YAML 1.1 reads a bare on/off as a boolean
        if not isinstance(value, str) or value not in choices:
            raise context.error(path, f"must be {_type_name(hint)}, got {_describe(value)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise context.error(path, f"must be a list, got {_describe(value)}")
        (item_hint,) = typing.get_args(hint)
        return [_build(item_hint, v, f"{path}[{i}]", context) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise context.error(path, f"must be a mapping, got {_describe(value)}")
        return copy.deepcopy(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise context.error(path, f"must be true or false, got {_describe(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise context.error(path, f"must be an integer, got {_describe(value)}")
        return value
    if hint is float:
        if isinstance(value, str):
            try:  # YAML 1.1 reads "1e-3" as a string; accept it as the number it means.
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise context.error(path, f"must be a number, got {_describe(value)}")
        if value != value or value in (float("inf"), float("-inf")):
            raise context.error(path, f"must be a finite number, got {value}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise context.error(path, f"must be a string, got {_describe(value)}")
        return value
    if hint is Any:
        return value
    raise TypeError(f"spec field {path} has an unsupported type {hint}")  # programming error


def _check_limits(value: Any, limits: Any, path: str, context: _Context) -> None:
    if value is None or not limits:
        return
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, (int, float)) or isinstance(item, bool):
            continue
        shown = f"{item:g}" if isinstance(item, float) else str(item)
        if "ge" in limits and item < limits["ge"]:
            raise context.error(path, f"must be >= {limits['ge']}, got {shown}")
        if "gt" in limits and item <= limits["gt"]:
            raise context.error(path, f"must be > {limits['gt']}, got {shown}")
        if "le" in limits and item > limits["le"]:
            raise context.error(path, f"must be <= {limits['le']}, got {shown}")


def _check_consistency(spec: Spec, context: _Context) -> None:
    """Checks that involve several keys, and the run name."""
    problem = run_name_problem(spec.name)
    if problem:
        raise context.error("name", f"the run's directory name {problem}")
    for axis in ("layers", "channels", "steps"):
        extent: Extent = getattr(spec.lattice, axis)
        if extent.initial > extent.max:
            raise context.error(
                f"lattice.{axis}.initial",
                f"must be <= lattice.{axis}.max ({extent.max}), got {extent.initial}",
            )
    if "bottom_up" not in spec.lattice.connections:
        raise context.error(
            "lattice.connections", "must include 'bottom_up' (the path from input to readout)"
        )
    if len(set(spec.lattice.connections)) != len(spec.lattice.connections):
        raise context.error("lattice.connections", "lists a connection type twice")
    if spec.lattice.kernel_size % 2 == 0:
        raise context.error(
            "lattice.kernel_size",
            f"must be odd (keeps positions aligned), got {spec.lattice.kernel_size}",
        )
    for name in ("breadth", "depth", "time"):
        schedule: Schedule = getattr(spec.costs, name).schedule
        if schedule.kind == "constant" and schedule.ramp:
            raise context.error(
                f"costs.{name}.schedule.ramp", "a constant schedule has no ramp; use kind: linear"
            )
        if schedule.kind == "linear" and schedule.ramp == 0:
            raise context.error(f"costs.{name}.schedule.ramp", "a linear schedule needs ramp >= 1")
    levels = spec.data.occlusion.levels
    if not levels:
        raise context.error("data.occlusion.levels", "must list at least one level (0.0 for none)")
    for index, level in enumerate(levels):
        if not 0.0 <= level < 1.0:
            raise context.error(
                f"data.occlusion.levels[{index}]", f"must be in [0, 1), got {level:g}"
            )
    _check_data(spec.data, context)
    if spec.data.occlusion.patch_size > spec.data.image_size:
        raise context.error("data.occlusion.patch_size", "must not exceed data.image_size")
    if spec.compaction.enabled and spec.compaction.step_mass >= spec.active.time_threshold:
        raise context.error(
            "compaction.step_mass",
            f"must be below active.time_threshold ({spec.active.time_threshold:g}), or a "
            "compacted time box would grow again at the next checkpoint",
        )
    if (spec.training.steps is None) == (spec.training.epochs is None):
        raise context.error("training", "set exactly one of training.steps and training.epochs")
    if spec.lattice.input_stride > spec.data.image_size // 4:
        raise context.error("lattice.input_stride", "leaves fewer than 4 x 4 positions per map")
    _check_training_recipe(spec, context)


def _check_training_recipe(spec: Spec, context: _Context) -> None:
    """Checks of the readout, learning-rate schedule and time entropy against the rest."""
    positions = -(-spec.data.image_size // spec.lattice.input_stride)
    if spec.lattice.readout_grid > positions:
        raise context.error(
            "lattice.readout_grid",
            f"{spec.lattice.readout_grid} exceeds the {positions} x {positions} positions of a "
            "map (data.image_size / lattice.input_stride)",
        )
    schedule = spec.training.lr_schedule
    if schedule.kind == "constant" and schedule.final:
        raise context.error(
            "training.lr_schedule.final", "a constant schedule has no final rate; use kind: cosine"
        )
    if spec.training.steps is not None and schedule.warmup >= spec.training.steps:
        raise context.error(
            "training.lr_schedule.warmup",
            f"{schedule.warmup} iterations of warm-up leave none of the {spec.training.steps} "
            "training iterations at full rate",
        )
    time_can_grow = spec.growth.enabled and spec.lattice.steps.max > spec.lattice.steps.initial
    if spec.training.time_entropy > 0 and spec.costs.time.weight == 0 and time_can_grow:
        raise context.error(
            "training.time_entropy",
            "with costs.time.weight 0 the entropy bonus spreads probability onto the last step "
            "of any box, so time growth would not stop before lattice.steps.max; give time a "
            "weight, or fix the steps (lattice.steps.initial = max)",
        )


def _check_data(data: DataConfig, context: _Context) -> None:
    """Checks of the data section that involve several of its keys."""
    own_data = {
        "idx": "a folder holding the four MNIST-format files (train-images-idx3-ubyte[.gz], "
        "train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz])",
        "folder": "a folder holding train/<class>/ and test/<class>/ with image files",
        "arrays": "an .npz file with train_images, train_labels, test_images, test_labels",
    }
    if data.dataset in own_data and not data.path:
        raise context.error(
            "data.path", f"the {data.dataset} dataset needs data.path: {own_data[data.dataset]}"
        )
    if data.channels not in (1, 3):
        raise context.error("data.channels", f"must be 1 (grey) or 3 (RGB), got {data.channels}")
    if data.class_names is not None:
        if data.dataset != "idx":
            raise context.error(
                "data.class_names",
                "only the idx dataset takes class names (folder data is named by its class "
                "folders, arrays by the file's class_names)",
            )
        if len(set(data.class_names)) != len(data.class_names):
            raise context.error("data.class_names", "lists a name twice")
    if data.clutter and data.dataset != "shapes":
        raise context.error("data.clutter", "only the shapes dataset draws clutter; use data.noise")
    if data.dataset == "fashion_mnist":
        if data.classes > 10:
            raise context.error("data.classes", f"fashion_mnist has 10 classes, got {data.classes}")
        if data.image_size != 28:
            raise context.error("data.image_size", "fashion_mnist images are 28 x 28; set 28")
    if data.dataset == "shapes" and data.classes > 10:
        raise context.error("data.classes", f"shapes draws at most 10 classes, got {data.classes}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return f"a {type(value).__name__}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
