"""Peak resident memory of a training step as a function of box size, against the estimate
``growsim.model.memory.step_bytes`` that refuses a run too large for the machine before it starts.

Each box runs three training steps (growsim's full step: loss, Adam, pressure) in a fresh
process; the peak is the rise of VmHWM over the resident set before the steps.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from growsim.model.lattice import Box
from growsim.model.memory import evaluation_bytes, step_bytes

BOXES = [(Box(3, 16, 6), 64), (Box(3, 32, 6), 64), (Box(3, 64, 6), 64), (Box(4, 32, 8), 128)]
QUICK_BOXES = BOXES[:2]


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def box_step(box: Box, batch_size: int):
    """growsim's training step at ``box`` on a fixed batch (``benchmarks.step_floor``)."""
    from benchmarks.step_floor import batch, growsim_step

    images, labels = batch(batch_size)
    return growsim_step(box, images, labels)


def box_evaluation(box: Box):
    """An evaluation of 500 images at ``box`` (``LatticeNetwork.predict``, every step)."""
    import torch

    from growsim.model.lattice import LatticeNetwork

    model = LatticeNetwork(box, 1, 10, generator=torch.Generator().manual_seed(0), readout_grid=2)
    images = torch.randn(500, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    return lambda: model.predict(images, 0.0)


def _child(make_step, arguments, queue) -> None:
    import torch

    torch.set_num_threads(1)
    step = make_step(*arguments)
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    before = _status_kib("VmRSS")
    for _ in range(3):
        step()
    queue.put((_status_kib("VmHWM") - before) * 1024)


def peak_step_bytes(make_step, *arguments) -> int:
    """Peak resident bytes of three calls of ``make_step(*arguments)``'s step, in a fresh
    process, above the process's footprint before them (``make_step`` must be a module-level
    function, so that the fresh process can import it)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(make_step, arguments, queue))
    process.start()
    value = queue.get(timeout=600)
    process.join()
    return max(int(value), 1)


def rows(quick: bool = False) -> list[dict]:
    """Measured peak, estimate and their ratio per box."""
    result = []
    for box, batch_size in QUICK_BOXES if quick else BOXES:
        measured = peak_step_bytes(box_step, box, batch_size)
        estimated = step_bytes(box.layers, box.channels, box.steps, batch_size, 14, 10)
        result.append({
            "measure": f"peak memory of a training step, {box.layers} x {box.channels} x "
                       f"{box.steps}, batch {batch_size}: measured / estimated",
            "value": measured / estimated, "unit": "x", "target": "<= 1 (the estimate bounds it)",
            "detail": f"measured {measured / 2**20:.0f} MiB, estimated {estimated / 2**20:.0f} MiB",
        })  # fmt: skip
    for box, _ in QUICK_BOXES if quick else BOXES[:3]:
        measured = peak_step_bytes(box_evaluation, box)
        estimated = evaluation_bytes(box.layers, box.channels, 14)
        result.append({
            "measure": f"peak memory of evaluating 500 images, {box.layers} x {box.channels} x "
                       f"{box.steps}: measured / estimated",
            "value": measured / estimated, "unit": "x", "target": "<= 1 (the estimate bounds it)",
            "detail": f"measured {measured / 2**20:.0f} MiB, estimated {estimated / 2**20:.0f} MiB",
        })  # fmt: skip
    return result
