"""Starting a run from another run's final network (``training.init_from``).

A fresh run with ``training.init_from`` set starts from the final network of the finished
run in that directory, its backbone: the backbone's box, and every parameter and buffer
but those of time selection, which start as this spec's new network's at that box
(uniform halting, per-input terms off, centring means not yet taken). The network is built
with this spec's lattice options, so halting terms the backbone has and this spec's
network lacks (a confidence weight, centring means) are left behind. A run that resumes
restores its own checkpoint and never reads the backbone.
"""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from growsim.errors import RunError, SpecError
from growsim.files import CHECKPOINT_NAME
from growsim.model.growth import initial_network
from growsim.model.lattice import TIME_SELECTION_STATE, Box, LatticeNetwork
from growsim.spec import Spec
from growsim.train.checkpoint_file import read_checkpoint

KEY = "training.init_from"
ANOTHER_RUN = f"train that run again, or set {KEY} to another run"
OTHER_VERSION = f". Train it again with this version, or set {KEY} to another run."
AXES = ("layers", "channels", "steps")


def backbone_directory(init_from: str) -> Path:
    """The run directory ``init_from`` names (a relative path: in the working directory)."""
    return Path(init_from).expanduser().absolute()


SEED = "{seed}"  # in training.init_from: this run's training.seed (a backbone per seed)


def backbone_path(spec: Spec) -> str:
    """``training.init_from`` with SEED replaced by ``training.seed``."""
    return spec.training.init_from.replace(SEED, str(spec.training.seed))


def read_backbone(init_from: str) -> dict:
    """The checkpoint of the finished run in ``init_from`` (on the CPU); a SpecError naming
    ``training.init_from`` when the directory or its checkpoint is missing, unreadable,
    corrupt, of another growsim version, or of a run that has not finished."""
    directory = backbone_directory(init_from)
    if not directory.is_dir():
        named = init_from if Path(init_from).is_absolute() else f"{init_from} (as {directory})"
        raise SpecError(f"{KEY}: {named} is not a directory; it must name a finished growsim "
                        "run's directory (a relative path: in the working directory)")  # fmt: skip
    path = directory / CHECKPOINT_NAME
    if not path.is_file():
        raise SpecError(f"{KEY}: {directory} holds no {CHECKPOINT_NAME}: not a growsim run's "
                        "directory, or a run that stopped before its first checkpoint")  # fmt: skip
    try:
        state = read_checkpoint(path, torch.device("cpu"), OTHER_VERSION, ANOTHER_RUN)
    except RunError as error:
        raise SpecError(f"{KEY}: {error}") from None
    if not state.get("finished"):
        raise SpecError(f"{KEY}: {path}: the run has not finished (its checkpoint is at iteration "
                        f"{state['iteration']}); finish it with --resume, or start from another "
                        "run")  # fmt: skip
    return state


def backbone_network(spec: Spec, new: LatticeNetwork) -> tuple[LatticeNetwork, str]:
    """This spec's new network at the box of the run ``training.init_from`` names, holding
    that run's final parameters and buffers but those of time selection (on the CPU;
    ``new``, a new network of this spec, gives the data's image channels and classes), and
    that run's id (its checkpoint's ``run_id``; empty for a run made before growsim recorded
    one); a SpecError when that run cannot be read or its network does not fit this spec's."""
    backbone = read_backbone(backbone_path(spec))
    in_channels, classes = new.in_channels, new.classes
    box = Box(**backbone["box"])
    _check_box(spec, box)
    _check_data_shapes(backbone["model"], in_channels, classes)
    _check_input_stride(spec, backbone["spec"])
    model = initial_network(spec, in_channels, classes, box)
    state = model.state_dict()
    model.load_state_dict({**state, **_loaded_state(backbone["model"], state)})
    return model, backbone.get("run_id", "")


def _loaded_state(stored: dict, new: dict) -> dict:
    """The entries of ``stored`` (the backbone's state dict) that a network with state dict
    ``new`` takes: every one but time selection's, each of the same shape in both."""
    wanted = {name: value for name, value in new.items() if name not in TIME_SELECTION_STATE}
    offered = {name: value for name, value in stored.items() if name not in TIME_SELECTION_STATE}
    differ = "lattice.connections, kernel_size or readout_grid differ"
    for name in sorted(set(wanted) ^ set(offered)):
        where = "this spec's" if name in wanted else "the backbone's"
        raise SpecError(f"{KEY}: the backbone's network does not fit this spec's: only "
                        f"{where} network has {name} ({differ})")  # fmt: skip
    for name, value in wanted.items():
        if offered[name].shape != value.shape:
            raise SpecError(f"{KEY}: the backbone's network does not fit this spec's: {name} is "
                            f"{tuple(offered[name].shape)} there, {tuple(value.shape)} here "
                            f"({differ})")  # fmt: skip
    return offered


def _check_box(spec: Spec, box: Box) -> None:
    for axis in AXES:
        size, largest = getattr(box, axis), getattr(spec.lattice, axis).max
        if size > largest:
            raise SpecError(f"{KEY}: the backbone's box has {size} {axis}, more than "
                            f"lattice.{axis}.max ({largest}) allows; raise it to {size}")  # fmt: skip


def _check_data_shapes(stored: dict, in_channels: int, classes: int) -> None:
    """The backbone reads images of as many channels, and tells as many classes apart."""
    stored_classes = stored["readout_bias"].shape[0]
    if stored_classes != classes:
        raise SpecError(f"{KEY}: the backbone tells {stored_classes} classes apart, this spec's "
                        f"data {classes} (data.dataset or data.classes differ)")  # fmt: skip
    stored_channels = stored["bottom_up.0"].shape[1]
    if stored_channels != in_channels:
        raise SpecError(f"{KEY}: the backbone reads images of {stored_channels} channels, this "
                        f"spec's data has {in_channels} (data.channels differs)")  # fmt: skip


def _check_input_stride(spec: Spec, stored_spec: str) -> None:
    """The backbone's layer 0 read the image at this spec's stride (no shape shows it)."""
    stride = (yaml.safe_load(stored_spec).get("lattice") or {}).get("input_stride")
    if stride != spec.lattice.input_stride:
        raise SpecError(f"{KEY}: the backbone read its images at lattice.input_stride {stride}, "
                        f"this spec at {spec.lattice.input_stride}; set it to {stride}")  # fmt: skip
