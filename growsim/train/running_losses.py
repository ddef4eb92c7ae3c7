"""Training losses summed where they are computed, read back once per checkpoint.

Reading a loss on the host (``.tolist()``, ``int(correct)``) makes a CUDA step wait for the
GPU to finish, so nothing of the next step is queued while it works. ``RunningLosses`` keeps
the sums since the last checkpoint, and the first iteration whose losses were not finite with
its values, as tensors on the model's device; the trainer reads them at each checkpoint, and
a fault still names its iteration. On CPU, where reading costs nothing, every step is checked
at once (``check_each_step``), so a run stops at the faulty step.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch

from growsim.errors import RunError
from growsim.train.checkpoint_state import RunningMetrics
from growsim.train.numerics import check_losses


class RunningLosses:
    """Sums of (total loss, task loss, time cost, correct) since the last checkpoint."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.check_each_step = device.type == "cpu"
        self.reset()

    def reset(self) -> None:
        """Start a new checkpoint interval."""
        self._sums = torch.zeros(4, dtype=torch.float64, device=self.device)
        self._first_fault = torch.full((), -1, dtype=torch.int64, device=self.device)
        self._fault_values = torch.zeros(3, dtype=torch.float64, device=self.device)
        self.batches = 0
        self.seen = 0

    def add(self, iteration: int, checkpoints_written: int, total: torch.Tensor, task: torch.Tensor,
            time_cost: torch.Tensor, correct: torch.Tensor, seen: int) -> None:  # fmt: skip
        """Add one training step's values (no host read unless ``check_each_step``)."""
        values = torch.stack([total.detach(), task.detach(), time_cost.detach()]).to(torch.float64)
        fault = torch.isfinite(values).all().logical_not() & (self._first_fault < 0)
        self._first_fault = torch.where(fault, iteration, self._first_fault)
        self._fault_values = torch.where(fault, values, self._fault_values)
        self._sums += torch.cat([values, correct.detach().reshape(1).to(torch.float64)])
        self.batches += 1
        self.seen += seen
        if self.check_each_step:
            self.check(checkpoints_written)

    def check(self, checkpoints_written: int) -> None:
        """Raise RunError naming the first iteration since the last checkpoint whose losses
        were not finite (one read from the device)."""
        iteration = int(self._first_fault)
        if iteration >= 0:
            check_losses(self._fault_values.tolist(), iteration, checkpoints_written)

    def wait_for_device(self) -> None:
        """Wait for the work queued on a GPU (so that a step's time is counted as training,
        not as the checkpoint that reads the sums next)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def noted_on_exit(self, checkpoints_written: Callable[[], int]) -> Iterator[None]:
        """A fault not yet read when something else ends the run (Ctrl-C, SIGTERM, another
        error) is added to that exception as a note, so it is never lost."""
        try:
            yield
        except BaseException as error:
            if not isinstance(error, RunError):
                try:
                    self.check(checkpoints_written())
                except RunError as fault:
                    error.add_note(str(fault))
                except Exception:  # the device itself failed: the original error says so
                    pass
            raise

    def take(self) -> RunningMetrics:
        """The interval's metrics (one read from the device); starts the next interval."""
        total, task, time_cost, correct = self._sums.tolist()
        metrics = RunningMetrics(batches=self.batches, task_loss=task, total_loss=total,
                                 time_cost=time_cost, correct=round(correct), seen=self.seen)  # fmt: skip
        self.reset()
        return metrics
