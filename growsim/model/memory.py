"""How much memory a run needs, estimated before it starts, and the check against the machine.

A training step keeps, for the backward pass, a few tensors of (batch, channels, h, w) per
layer and time step (the concatenated convolution input, the drive, tanh's output, the
state and silu's output; ``ACTIVATION_TENSORS`` of them, counted in channels of the layer),
on maps of the input size divided by the input stride. The parameters come four times
(weights, gradients and Adam's two moments). ``benchmarks.memory_use`` checks
the estimate against the peak resident memory of real steps. The trainer checks it, once
the data are loaded, against the memory still available.
"""

from __future__ import annotations

from pathlib import Path

import torch

from growsim.errors import RunError

# Tensors of (batch, channels, h, w) saved per layer and step: the measured peaks come to
# about 6.6 (benchmarks.memory_use reports measured / estimated); 8 leaves a margin.
ACTIVATION_TENSORS = 8
# Allocator slack and convolution workspaces: small boxes measure ~30 MiB above the tensors.
WORKSPACE_BYTES = 48 * 2**20
# Maps of (500 images, channels, h, w) alive per layer while evaluating: measured about 6,
# but one benchmark run measured 8.5 at 3 x 32 x 6 (352 MiB against the 256 MiB of its
# other runs): 10 keeps the bound.
EVALUATION_MAPS = 10


def step_bytes(layers: int, channels: int, steps: int, batch: int, map_size: int,
               classes: int, kernel_size: int = 3) -> int:  # fmt: skip
    """Bytes of one training step at a box: saved activations, parameters x 4, workspace."""
    activations = ACTIVATION_TENSORS * batch * channels * map_size**2 * layers * steps * 4
    kernels = layers * 3 * channels * channels * kernel_size**2
    return WORKSPACE_BYTES + activations + 4 * 4 * kernels + 4 * 4 * classes * channels * 16


def training_bytes(spec, map_size: int, classes: int) -> int:
    """Estimated peak bytes a run of ``spec`` allocates for a training step or an evaluation
    batch (whichever is larger) at its largest box, on top of its data (already loaded when
    this is checked)."""
    lattice = spec.lattice
    step = step_bytes(lattice.layers.max, lattice.channels.max, lattice.steps.max,
                      spec.training.batch_size, map_size, classes, lattice.kernel_size)  # fmt: skip
    return max(step, evaluation_bytes(lattice.layers.max, lattice.channels.max, map_size))


def evaluation_bytes(layers: int, channels: int, map_size: int) -> int:
    """Bytes of evaluating 500 images at a box (no gradients, every step's maps freed but
    the concatenated convolution input, states and the copies early exit makes)."""
    return WORKSPACE_BYTES + EVALUATION_MAPS * layers * 500 * channels * map_size**2 * 4


def available_bytes(device: torch.device) -> int | None:
    """Memory this process can still take: free GPU memory on CUDA, else the system's
    MemAvailable (None where neither can be read)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_fits(spec, needed: int, available: int | None) -> None:
    """A RunError naming the keys to lower when ``needed`` exceeds ``available`` bytes."""
    if available is None or needed <= available:
        return
    lattice = spec.lattice
    raise RunError(
        f"the spec's largest box ({lattice.layers.max} layers x {lattice.channels.max} channels "
        f"x {lattice.steps.max} steps, lattice.*.max) at training.batch_size "
        f"{spec.training.batch_size} and data.image_size {spec.data.image_size} needs about {needed / 2**30:.1f} GiB, but this machine has "
        f"{available / 2**30:.1f} GiB available. Lower lattice.channels.max, lattice.steps.max, "
        "lattice.layers.max, training.batch_size or data.image_size."
    )


def data_bytes(spec) -> int | None:
    """Estimated bytes of a run's images in memory (float32): the loaded dataset, the
    training split, and the validation and test sets at every occlusion level; None when
    the spec does not say how many images there are (a user's data without sizes)."""
    data = spec.data
    if data.train_size is None or data.test_size is None:
        return None
    image = data.channels * data.image_size**2 * 4
    levels = len({0.0, *data.occlusion.levels})
    validation = round(data.validation_fraction * data.train_size)
    held = 2 * data.train_size + data.test_size + levels * (validation + data.test_size)
    return held * image


def check_data_fits(spec, available: int | None) -> None:
    """Before any data is loaded: a RunError naming the keys to lower when the images
    (``data_bytes``) and the largest box's step at the spec's image size do not fit."""
    images = data_bytes(spec)
    if available is None or images is None:
        return
    map_size = -(-spec.data.image_size // spec.lattice.input_stride)
    box = training_bytes(spec, map_size, spec.data.classes or 10)
    check_fits(spec, box, available)  # the box alone: the message names the box's keys
    needed = images + box
    if needed > available:
        raise RunError(
            f"the spec's images (data.image_size {spec.data.image_size}, data.train_size "
            f"{spec.data.train_size}, data.test_size {spec.data.test_size}, "
            f"{len({0.0, *spec.data.occlusion.levels})} occlusion levels) and its largest box need "
            f"about {needed / 2**30:.1f} GiB, but this machine has {available / 2**30:.1f} GiB "
            "available. Lower data.image_size, data.train_size or data.test_size (or the box)."
        )
