"""Checks of a spec that involve several keys, the run name, and the data on disk.

Each check raises through ``error(key path, message)``. Every ``Spec`` runs
``check_consistency`` as it is made (growsim.spec.config), raising a ``SpecCheckError`` that
names the key; the loader turns it into one that also names the file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from growsim.errors import SpecError

if TYPE_CHECKING:  # the sections import these checks, not the other way round
    from growsim.spec.config import DataConfig, Extent, Schedule, Spec

ErrorAt = Callable[[str, str], SpecError]


class SpecCheckError(SpecError):
    """A check across keys failed: ``key`` (a key path) is wrong, ``problem`` says how."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key or '<top level>'}: {problem}")
        self.key = key
        self.problem = problem


# Where a dataset reads its files when data.path is not set (None: it draws in memory).
DATA_DEFAULT_PATHS: dict[str, str | None] = {
    "shapes": None,
    "fashion_mnist": "/usr/share/datasets/fashion-mnist",
}
DATA_INSTALL_HINTS = {"fashion_mnist": "apt-get install -y dataset-fashion-mnist"}
OWN_DATA_PATHS = {
    "idx": "a folder holding the four MNIST-format files (train-images-idx3-ubyte[.gz], "
    "train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz])",
    "folder": "a folder holding train/<class>/ and test/<class>/ with image files",
    "arrays": "an .npz file with train_images, train_labels, test_images, test_labels",
}


MAX_NAME_BYTES = 200  # file names stop at 255 bytes; the lock file adds 6


def run_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a run directory (None when it can): it must be one path
    component, so a run never lands outside its output directory."""
    if not name or not name.strip():
        return "must not be empty"
    if "/" in name or "\\" in name or "\0" in name:
        return f"must be a single directory name without '/' or '\\', got {name!r}"
    if name in (".", ".."):
        return f"must be a directory name, not {name!r}"
    if any(ord(character) < 32 or ord(character) == 127 for character in name):
        return f"must not hold control characters (a newline, a tab, ...), got {name!r}"
    if len(name.encode()) > MAX_NAME_BYTES:
        return (f"must be at most {MAX_NAME_BYTES} bytes long (a file system limit, with room for "
                f"growsim's lock file), got {len(name.encode())}")  # fmt: skip
    return None


def data_source(config: DataConfig) -> Path | None:
    """The file or directory ``config``'s dataset reads (None: drawn in memory or installed
    with a package, no files of its own)."""
    if config.dataset in ("shapes", "digits"):
        return None
    path = config.path or DATA_DEFAULT_PATHS.get(config.dataset)
    return Path(path) if path else None


def check_data_files(spec: Spec, error: ErrorAt) -> None:
    """Refuse a spec whose data on disk is not there."""
    path = data_source(spec.data)
    if path is None or path.exists():
        return
    key = "data.path" if spec.data.path else "data.dataset"
    fix = "set data.path to where the files are"
    hint = DATA_INSTALL_HINTS.get(spec.data.dataset)
    if hint:
        fix += f", or install them: {hint}"
    raise error(
        key, f"{path} does not exist; dataset {spec.data.dataset!r} reads its files there ({fix})"
    )


def check_consistency(spec: Spec, error: ErrorAt = SpecCheckError) -> None:
    """Checks that involve several keys, and the run name."""
    problem = run_name_problem(spec.name)
    if problem:
        raise error("name", f"the run's directory name {problem}")
    for axis in ("layers", "channels", "steps"):
        extent: Extent = getattr(spec.lattice, axis)
        if extent.initial > extent.max:
            raise error(
                f"lattice.{axis}.initial",
                f"must be <= lattice.{axis}.max ({extent.max}), got {extent.initial}",
            )
    _check_lattice(spec, error)
    for name in ("breadth", "depth", "time"):
        schedule: Schedule = getattr(spec.costs, name).schedule
        if schedule.kind == "constant" and schedule.ramp:
            raise error(
                f"costs.{name}.schedule.ramp", "a constant schedule has no ramp; use kind: linear"
            )
        if schedule.kind == "linear" and schedule.ramp == 0:
            raise error(f"costs.{name}.schedule.ramp", "a linear schedule needs ramp >= 1")
    _check_data(spec.data, error)
    if spec.compaction.enabled and spec.compaction.step_mass >= spec.active.time_threshold:
        raise error(
            "compaction.step_mass",
            f"must be below active.time_threshold ({spec.active.time_threshold:g}), or a "
            "compacted time box would grow again at the next checkpoint",
        )
    if (spec.training.iterations is None) == (spec.training.epochs is None):
        raise error("training", "set exactly one of training.iterations and training.epochs")
    _check_training_recipe(spec, error)
    _check_fine_tuning(spec, error)


def _check_lattice(spec: Spec, error: ErrorAt) -> None:
    lattice = spec.lattice
    if "bottom_up" not in lattice.connections:
        raise error(
            "lattice.connections", "must include 'bottom_up' (the path from input to readout)"
        )
    if len(set(lattice.connections)) != len(lattice.connections):
        raise error("lattice.connections", "lists a connection type twice")
    if lattice.kernel_size % 2 == 0:
        raise error(
            "lattice.kernel_size",
            f"must be odd (keeps positions aligned), got {lattice.kernel_size}",
        )
    if not lattice.halting_reads_confidence and spec.time_selection != "adaptive":
        raise error(
            "lattice.halting_reads_confidence",
            "only adaptive halting reads anything per input; set time_selection: adaptive",
        )
    if lattice.halting_centred and spec.time_selection != "adaptive":
        raise error(
            "lattice.halting_centred",
            "only adaptive halting has per-input terms to centre; set time_selection: adaptive",
        )
    if lattice.input_stride > spec.data.image_size // 4:
        raise error("lattice.input_stride", "leaves fewer than 4 x 4 positions per map")
    positions = -(-spec.data.image_size // lattice.input_stride)
    if lattice.readout_grid > positions:
        raise error(
            "lattice.readout_grid",
            f"{lattice.readout_grid} exceeds the {positions} x {positions} positions of a "
            "map (data.image_size / lattice.input_stride)",
        )


def _check_training_recipe(spec: Spec, error: ErrorAt) -> None:
    """Checks of the learning-rate schedule and time entropy against the rest."""
    schedule, iterations = spec.training.lr_schedule, spec.training.iterations
    if schedule.kind == "constant" and schedule.final:
        raise error(
            "training.lr_schedule.final", "a constant schedule has no final rate; use kind: cosine"
        )
    if iterations is not None and schedule.warmup >= iterations:
        raise error(
            "training.lr_schedule.warmup",
            f"{schedule.warmup} iterations of warm-up leave none of the {iterations} "
            "training iterations at full rate",
        )
    time_can_grow = spec.growth.enabled and spec.lattice.steps.max > spec.lattice.steps.initial
    if spec.training.time_entropy > 0 and spec.costs.time.weight == 0 and time_can_grow:
        raise error(
            "training.time_entropy",
            "with costs.time.weight 0 the entropy bonus spreads probability onto the last step "
            "of any box, so time growth would not stop before lattice.steps.max; give time a "
            "weight, or fix the steps (lattice.steps.initial = max)",
        )


def _check_fine_tuning(spec: Spec, error: ErrorAt) -> None:
    """Checks of training.init_from and training.trainable: training the time selection
    alone leaves every other weight as the run it starts from made it."""
    training = spec.training
    if training.init_from is not None and not training.init_from.strip():
        raise error("training.init_from", "must be a run directory, or unset (null)")
    if training.trainable != "time":
        return
    if training.init_from is None:
        raise error(
            "training.trainable",
            "time trains the halting parameters of another run's network: set "
            "training.init_from to that run's directory",
        )
    frozen = "with training.trainable: time, only the halting parameters change"
    for key in ("growth.enabled", "compaction.enabled"):
        section, name = key.split(".")
        if getattr(getattr(spec, section), name):
            raise error(key, f"must be false: {frozen} (the box stays the one it starts from)")
    for name in ("breadth", "depth"):
        if getattr(spec.costs, name).weight > 0:
            raise error(
                f"costs.{name}.weight",
                f"must be 0: {frozen}, and the {name} pressure would shrink the frozen weights",
            )


def _check_data(data: DataConfig, error: ErrorAt) -> None:
    """Checks of the data section that involve several of its keys."""
    if not data.occlusion.levels:
        raise error("data.occlusion.levels", "must list at least one level (0.0 for none)")
    for index, level in enumerate(data.occlusion.levels):
        if not 0.0 <= level < 1.0:
            raise error(f"data.occlusion.levels[{index}]", f"must be in [0, 1), got {level:g}")
    if data.dataset in OWN_DATA_PATHS and not data.path:
        raise error(
            "data.path",
            f"the {data.dataset} dataset needs data.path: {OWN_DATA_PATHS[data.dataset]}",
        )
    if data.channels not in (1, 3):
        raise error("data.channels", f"must be 1 (grey) or 3 (RGB), got {data.channels}")
    if data.class_names is not None:
        if data.dataset != "idx":
            raise error(
                "data.class_names",
                "only the idx dataset takes class names (folder data is named by its class "
                "folders, arrays by the file's class_names)",
            )
        if len(set(data.class_names)) != len(data.class_names):
            raise error("data.class_names", "lists a name twice")
    if data.clutter and data.dataset != "shapes":
        raise error("data.clutter", "only the shapes dataset draws clutter; use data.noise")
    if data.dataset == "fashion_mnist":
        if data.classes > 10:
            raise error("data.classes", f"fashion_mnist has 10 classes, got {data.classes}")
        if data.image_size != 28:
            raise error("data.image_size", "fashion_mnist images are 28 x 28; set 28")
    if data.dataset == "digits":
        if data.classes is not None and data.classes > 10:
            raise error("data.classes", f"digits has 10 classes, got {data.classes}")
        if data.image_size % 8:
            raise error(
                "data.image_size", "digits are 8 x 8, enlarged by a whole factor: 8, 16, 24, ..."
            )
    if data.dataset == "shapes" and data.classes > 10:
        raise error("data.classes", f"shapes draws at most 10 classes, got {data.classes}")
    if data.occlusion.patch_size > data.image_size:
        raise error("data.occlusion.patch_size", "must not exceed data.image_size")
