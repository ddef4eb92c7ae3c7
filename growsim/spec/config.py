"""The typed config of a growsim experiment: pydantic dataclasses with defaults and limits.

Each section of a YAML spec is one dataclass below. A key's type and range are checked
whenever a section is made, and the checks that involve several keys (growsim.spec.checks)
whenever a ``Spec`` is made, however it is made: loaded from YAML (growsim.spec.loading),
built in Python, or copied with ``dataclasses.replace``. Every section is frozen and holds
tuples, not lists, so a checked spec stays as it was checked. ``growsim schema`` prints the
sections as a JSON Schema.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, Strict
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError

from growsim.spec.checks import check_consistency

SECTION = ConfigDict(extra="forbid")


def _number(value: Any) -> Any:
    """YAML 1.1 reads "1e-3" as a string: take it as the number it means; refuse NaN and inf."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    if isinstance(value, float) and not math.isfinite(value):
        raise PydanticCustomError(
            "finite_number", "must be a finite number, got {value}", {"value": value}
        )
    return value


def _on_off(value: Any) -> Any:
    """YAML 1.1 reads a bare on/off as a boolean: take it as the word."""
    return ("on" if value else "off") if isinstance(value, bool) else value


def _sequence(value: Any) -> Any:
    """A YAML list (or a tuple) as the tuple a frozen spec holds; anything else is left for
    the type check to refuse."""
    return tuple(value) if isinstance(value, list) else value


Integer = Annotated[int, Strict()]
Number = Annotated[float, BeforeValidator(_number), Strict()]
PositiveNumber = Annotated[
    float, Field(gt=0), BeforeValidator(_number), Strict()
]  # Field first: the schema keeps it
Flag = Annotated[bool, Strict()]
Text = Annotated[str, Strict()]


@dataclass(config=SECTION, frozen=True)
class Extent:
    """Initial and maximum size of the lattice box along one axis."""

    initial: Integer = Field(2, ge=1, description="size of the box when training starts")
    max: Integer = Field(4, ge=1, description="the box never grows past this size")


@dataclass(config=SECTION, frozen=True)
class LatticeConfig:
    """The box of the lattice the network occupies, and how its positions connect."""

    layers: Extent = Field(default_factory=lambda: Extent(2, 4), description="layers (depth)")
    channels: Extent = Field(
        default_factory=lambda: Extent(8, 32), description="channels per layer (breadth)"
    )
    steps: Extent = Field(default_factory=lambda: Extent(3, 6), description="recurrent time steps")
    connections: Annotated[
        tuple[Literal["bottom_up", "lateral", "top_down"], ...], BeforeValidator(_sequence), Strict()
    ] = Field(("bottom_up", "lateral", "top_down"), description=(
        "the connection types between lattice positions; bottom_up is required"))  # fmt: skip
    kernel_size: Integer = Field(3, ge=1, description="side of every convolution kernel (odd)")
    input_stride: Integer = Field(2, ge=1, description=(
        "stride of layer 0's convolution of the image: every map has image_size / input_stride "
        "positions a side"))  # fmt: skip
    halting_reads_confidence: Flag = Field(True, description=(
        "adaptive halting reads the readout's confidence at each step besides the top layer's "
        "pooled features (false: the features alone; the ablation of the occlusion finding)"))  # fmt: skip
    halting_centred: Flag = Field(False, description=(
        "adaptive halting reads the features and the confidence less their running means over "
        "training batches, per step, so the per-input terms average zero and the gradient "
        "that moves every input alike goes to the per-step bias alone"))  # fmt: skip
    readout_grid: Integer = Field(1, ge=1, description=(
        "the readout reads the top layer average-pooled to readout_grid x readout_grid "
        "positions (1: a global average; 2 keeps where in the image a feature is)"))  # fmt: skip


@dataclass(config=SECTION, frozen=True)
class Schedule:
    """How a cost weight is switched on over training iterations.

    ``constant``: full weight from ``delay`` on. ``linear``: zero until ``delay``, then a
    linear ramp to full weight over ``ramp`` iterations.
    """

    kind: Literal["constant", "linear"] = Field(
        "constant", description="constant, or a linear ramp"
    )
    delay: Integer = Field(
        0, ge=0, description="training iterations at weight 0 before the cost starts"
    )
    ramp: Integer = Field(
        0, ge=0, description="linear only: iterations from weight 0 to the full weight"
    )


@dataclass(config=SECTION, frozen=True)
class CostConfig:
    """One resource cost: its weight, the exponent of its rank/layer profile, its schedule."""

    weight: Number = Field(0.0, ge=0, description="weight of the cost in the objective (0: off)")
    exponent: Number = Field(1.0, ge=0, description=(
        "exponent of the profile: breadth weighs channel rank r by ((r + 1) / max channels)^exponent, "
        "depth weighs layer l by (l / (max layers - 1))^exponent; time ignores it"))  # fmt: skip
    schedule: Schedule = Field(
        default_factory=Schedule, description="how the weight is switched on over training"
    )


@dataclass(config=SECTION, frozen=True)
class CostsConfig:
    """The three resource costs."""

    breadth: CostConfig = Field(
        default_factory=CostConfig, description="rank-weighted sum of channel magnitudes"
    )
    depth: CostConfig = Field(
        default_factory=CostConfig, description="layer-weighted sum of layer norms"
    )
    time: CostConfig = Field(
        default_factory=CostConfig, description="expected number of time steps"
    )


@dataclass(config=SECTION, frozen=True)
class ActiveConfig:
    """Thresholds that define the active sub-lattice."""

    channel_threshold: Number = Field(0.1, gt=0, description=(
        "a channel is active when the norm of its incoming weights exceeds this fraction of "
        "the norm a freshly initialised channel has"))  # fmt: skip
    edge_threshold: Number = Field(0.1, gt=0, description=(
        "a kernel is an edge of the topology graph when its norm, scaled by sqrt(kernels into "
        "the channel), exceeds this (fresh kernels sit near 1 on that scale)"))  # fmt: skip
    time_threshold: Number = Field(0.05, gt=0, le=1, description=(
        "the time box grows when the mean probability of halting at its last step exceeds this"))  # fmt: skip


@dataclass(config=SECTION, frozen=True)
class GrowthConfig:
    """How much the box grows by when the active region reaches its edge."""

    enabled: Flag = Field(True, description="grow the box when the active region reaches its edge")
    channels: Integer = Field(4, ge=1, description="channels added per layer at a growth event")
    layers: Integer = Field(1, ge=1, description="layers added on top at a growth event")
    steps: Integer = Field(1, ge=1, description="time steps added at a growth event")
    new_step_mass: Number = Field(1e-3, gt=0, le=0.5, description=(
        "fraction of the old last step's probability a new time step starts with"))  # fmt: skip
    wait_for_costs: Flag = Field(True, description=(
        "check for growth only once every cost has reached its full scheduled weight, so the "
        "box does not grow to its maximum before the pressures are on"))  # fmt: skip


@dataclass(config=SECTION, frozen=True)
class CompactionConfig:
    """Shrinking the tensors to the active region (see growsim.model.compaction)."""

    enabled: Flag = Field(
        True, description="shrink the tensors to the active region at checkpoints"
    )
    margin: Integer = Field(4, ge=0, description=(
        "inactive channels kept beside the active ones, so the box edge stays inactive"))  # fmt: skip
    min_fraction: Number = Field(0.25, ge=0, le=1, description=(
        "channels are compacted only when at least this fraction of them would go"))  # fmt: skip
    step_mass: Number = Field(0.005, ge=0, le=0.5, description=(
        "trailing steps are dropped while the step_quantile of their total probability over "
        "validation inputs (every occlusion level) is below step_mass"))  # fmt: skip
    step_quantile: Number = Field(0.99, ge=0, le=1, description=(
        "quantile over validation inputs of a trailing step's probability that step_mass bounds"))  # fmt: skip


@dataclass(config=SECTION, frozen=True)
class OcclusionConfig:
    """Opaque square patches covering a set fraction of the image."""

    levels: Annotated[tuple[Number, ...], BeforeValidator(_sequence), Strict()] = Field((0.0,), description=(
        "fractions of the image covered, each in [0, 1)"))  # fmt: skip
    train: Flag = Field(
        True, description="also occlude training images (each at a level drawn from levels)"
    )
    patch_size: Integer = Field(4, ge=1, description="side of each square occluder in pixels")
    value: Number = Field(0.5, description="pixel value of the occluders (images lie in [0, 1])")


@dataclass(config=SECTION, frozen=True)
class DataConfig:
    """Which images, how many, and how they are corrupted.

    ``shapes`` draws images; ``fashion_mnist`` and ``idx`` read MNIST-format (IDX) files;
    ``digits`` is scikit-learn's 8 x 8 handwritten digits (1400 train, 397 test) enlarged;
    ``folder`` reads ``path/train/<class>/*`` and ``path/test/<class>/*`` image files;
    ``arrays`` reads an ``.npz`` file. ``classes``, ``train_size`` and ``test_size`` left
    unset mean all of a dataset's classes and images (shapes and fashion_mnist: 10 classes,
    4000 and 1000 images); when set, the first ``classes`` classes and a random subset of
    at most that many images are used.
    """

    dataset: Literal["shapes", "fashion_mnist", "digits", "idx", "folder", "arrays"] = Field("shapes", description=(
        "shapes (drawn, nothing to download), fashion_mnist, digits (scikit-learn's 8 x 8 "
        "handwritten digits, enlarged to image_size), idx (MNIST-format files), folder "
        "(image files by class) or arrays (an .npz)"))  # fmt: skip
    path: Text | None = Field(None, description=(
        "where the data is: a folder (idx, folder, fashion_mnist) or an .npz file (arrays)"))  # fmt: skip
    seed: Integer = Field(
        0, ge=0, description="draws and subsamples the data; fixed across training seeds"
    )
    classes: Integer | None = Field(
        None, ge=2, description="use the first this many classes (unset: all)"
    )
    image_size: Integer = Field(28, ge=8, description="side of the square images in pixels")
    channels: Integer = Field(
        1, ge=1, le=3, description="1 (grey) or 3 (RGB); images are converted to it"
    )
    resize: Literal["square", "crop", "stretch"] = Field("square", description=(
        "image files that are not square: refused (square), centre-cropped (crop) or stretched"))  # fmt: skip
    class_names: Annotated[tuple[Text, ...], BeforeValidator(_sequence), Strict()] | None = Field(
        None, description="idx only: names of labels 0, 1, ..."
    )
    train_size: Integer | None = Field(
        None, ge=1, description="training images, a random subset (unset: all)"
    )
    test_size: Integer | None = Field(
        None, ge=1, description="test images, a random subset (unset: all)"
    )
    validation_fraction: Number = Field(0.1, gt=0, lt=1, description=(
        "fraction of the training images held out as the validation split (growth and "
        "compaction decide on it; the test set is only reported)"))  # fmt: skip
    noise: Number = Field(
        0.0,
        ge=0,
        description="std of Gaussian pixel noise added to every image (clipped to [0, 1])",
    )
    clutter: Integer = Field(
        0, ge=0, description="shapes only: distractor strokes drawn into every image"
    )
    occlusion: OcclusionConfig = Field(
        default_factory=OcclusionConfig, description="occluders, in training and at evaluation"
    )

    def __post_init__(self) -> None:
        # The built-in datasets keep their fixed defaults; a user's own data defaults to all.
        if self.dataset in ("shapes", "fashion_mnist"):
            for name, default in (("classes", 10), ("train_size", 4000), ("test_size", 1000)):
                if getattr(self, name) is None:
                    object.__setattr__(self, name, default)  # frozen: only here, while it is made


@dataclass(config=SECTION, frozen=True)
class LearningRateSchedule:
    """How the learning rates change over training iterations.

    ``constant``: ``lr`` throughout. ``cosine``: a cosine decay from ``lr`` to
    ``final * lr`` at the last iteration. Both start with a linear warm-up over ``warmup``
    iterations.
    """

    kind: Literal["constant", "cosine"] = Field(
        "constant", description="constant, or a cosine decay"
    )
    warmup: Integer = Field(
        0, ge=0, description="iterations of linear warm-up from 0 to the full rate"
    )
    final: Number = Field(
        0.0, ge=0, le=1, description="cosine only: the last iteration's rate as a fraction of lr"
    )


@dataclass(config=SECTION, frozen=True)
class TrainingConfig:
    """Optimiser, duration, seed and hardware."""

    optimizer: Literal["adam", "sgd"] = Field("adam", description="adam, or sgd with momentum 0.9")
    lr: Number = Field(1e-2, gt=0, description="learning rate of the weights")
    time_lr: Number = Field(
        3e-2, gt=0, description="learning rate of the halting (time selection) parameters"
    )
    lr_schedule: LearningRateSchedule = Field(default_factory=LearningRateSchedule, description=(
        "applies to lr and time_lr alike (and so to the breadth and depth pressure)"))  # fmt: skip
    step_supervision: Number = Field(0.0, ge=0, description=(
        "weight of the mean cross-entropy of every step's readout, added to the task loss "
        "(0: the expected cross-entropy alone)"))  # fmt: skip
    time_entropy: Number = Field(0.0, ge=0, description=(
        "weight of an entropy bonus on each input's time distribution: it keeps halting from "
        "locking every input onto one step"))  # fmt: skip
    batch_size: Integer = Field(64, ge=1, description="training images per iteration")
    iterations: Integer | None = Field(None, ge=1, description=(
        "optimiser iterations (set this or epochs)"))  # fmt: skip
    epochs: PositiveNumber | None = Field(None, description=(
        "passes over the training split of full batches (set this or iterations)"))  # fmt: skip
    seed: Integer = Field(
        0, ge=0, description="initial weights, batches and occluders (data.seed draws the data)"
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where to train (auto: cuda when there is one)"
    )
    compile: Annotated[Literal["auto", "on", "off"], BeforeValidator(_on_off)] = Field(
        "auto", description="torch.compile the training step (auto: on CUDA only)"
    )
    threads: Integer | None = Field(
        None, ge=1, description="CPU threads torch uses (unset: torch's default)"
    )
    precision: Literal["fp32", "bf16"] = Field("fp32", description=(
        "arithmetic of the convolutions: fp32, or bf16 under autocast (CPU and CUDA) with "
        "float32 parameters, optimiser, readout, halting, costs and proximal step"))  # fmt: skip
    init_from: Text | None = Field(None, description=(
        "a finished run's directory (relative: to the working directory; {seed}: training.seed): "
        "a fresh run starts from its final network (box, weights, buffers) with this spec's "
        "new time selection (uniform halting); unset: a new network"))  # fmt: skip
    trainable: Literal["all", "time"] = Field("all", description=(
        "what the optimiser trains: all parameters, or time: the time-selection (halting) "
        "parameters alone, the others frozen (needs init_from, growth and compaction off, "
        "breadth and depth weights 0)"))  # fmt: skip


@dataclass(config=SECTION, frozen=True)
class RecordConfig:
    """How often the trajectory gets a checkpoint, and on how many test images."""

    every: Integer = Field(50, ge=1, description="training iterations between checkpoints")
    occluded_every: Integer = Field(1, ge=1, description=(
        "the clean validation set is evaluated at every checkpoint (growth decides on it); "
        "the occluded ones at every occluded_every-th checkpoint (counting from the first) "
        "and at the last, NaN in between. Compaction reads every level, so it is tried at "
        "those checkpoints only (not at the last, where nothing changes the model): a value "
        "above 1 can change when a run compacts, and so its later growth"))  # fmt: skip
    validation_size: Integer | None = Field(None, ge=1, description=(
        "images per level a checkpoint validates on (the first of the validation split, the "
        "same at every checkpoint); the last checkpoint validates on all (None: all always)"))  # fmt: skip
    eval_size: Integer | None = Field(
        None,
        ge=1,
        description="test images evaluated and recorded per level, the first of the test set (unset: all)",
    )
    test_every: Integer = Field(0, ge=0, description=(
        "the validation sets are evaluated at every checkpoint (growth decides on them); the "
        "test sets only at every test_every-th checkpoint (counting from the first, at "
        "iteration 0) and at the last (0: the last only). Test metrics are NaN in between"))  # fmt: skip
    exit_threshold: Number = Field(0.0, ge=0, le=0.5, description=(
        "evaluation stops computing an input's steps once its remaining halting mass is at "
        "most this (0: every step)"))  # fmt: skip
    keep_models: Flag = Field(False, description=(
        "also save the model of every checkpoint in the run directory's models/ (so analyses "
        "can re-measure it on validation images as it was then: emergence curves)"))  # fmt: skip
    write_seconds: Number = Field(30.0, ge=0, description=(
        "checkpoints are kept in memory and written (trajectory rows and checkpoint.pt "
        "together) once this many seconds have passed since the last write, and at the "
        "end; Ctrl-C, SIGTERM and errors write them too, a hard kill loses at most this "
        "much training (0: write at every checkpoint)"))  # fmt: skip


@dataclass(config=SECTION, frozen=True)
class Spec:
    """A whole growsim experiment."""

    name: Text = Field(
        "run", description="the run's directory name under --out (one path component)"
    )
    lattice: LatticeConfig = Field(
        default_factory=LatticeConfig, description="the network's box and connections"
    )
    costs: CostsConfig = Field(default_factory=CostsConfig, description="the resource costs")
    time_selection: Literal["fixed", "adaptive"] = Field("adaptive", description=(
        "fixed: one halting probability per step for every input; adaptive: halting also "
        "reads each input's features (and the readout's confidence)"))  # fmt: skip
    active: ActiveConfig = Field(default_factory=ActiveConfig, description="what counts as active")
    growth: GrowthConfig = Field(default_factory=GrowthConfig, description="growing the box")
    compaction: CompactionConfig = Field(
        default_factory=CompactionConfig, description="shrinking the box"
    )
    data: DataConfig = Field(default_factory=DataConfig, description="the images")
    training: TrainingConfig = Field(
        default_factory=TrainingConfig, description="the optimiser and how long"
    )
    record: RecordConfig = Field(
        default_factory=RecordConfig, description="what is recorded, and when"
    )
    sweep: dict[str, Any] | None = Field(
        None, description="a sweep over key values (growsim sweep)"
    )

    def __post_init__(self) -> None:
        check_consistency(self)
