"""When a run's checkpoints reach the disk.

The recorder's trajectory rows and ``checkpoint.pt`` are written together, so the two
always agree on disk: at most once every ``record.write_seconds`` and at the end of the
run. In between, the last checkpoint's state is kept in memory, and a run that stops early
(Ctrl-C, SIGTERM, an error) writes it on its way out; a hard kill loses the training since
the last write, and ``--resume`` goes on from there.
"""

from __future__ import annotations

import copy
import io
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch

from growsim.files import MODELS_DIRECTORY
from growsim.integrity import write_checksummed
from growsim.train.checkpoint_file import write_checkpoint
from growsim.train.checkpoint_state import Recorder


def model_snapshot_path(run_dir: Path, iteration: int) -> Path:
    """Where ``record.keep_models`` keeps the model of the checkpoint at ``iteration``."""
    return Path(run_dir) / MODELS_DIRECTORY / f"iteration-{iteration:07d}.pt"


def write_model_snapshot(run_dir: Path, iteration: int, box: dict, model_state: dict) -> None:
    """Atomically save the model of the checkpoint at ``iteration`` (a resumed run that
    passes the iteration again writes the same values)."""
    path = model_snapshot_path(run_dir, iteration)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"iteration": iteration, "box": box, "model": model_state}, buffer)
    write_checksummed(path, buffer.getvalue())


class CheckpointSaver:
    """Writes the recorder's pending rows and ``checkpoint.pt`` when due."""

    def __init__(self, path: Path, recorder: Recorder | None, write_seconds: float) -> None:
        self.path = Path(path)
        self.recorder = recorder
        self.write_seconds = write_seconds
        self.saved = 0  # writes of checkpoint.pt by this process (the crash tests count them)
        self._unsaved: dict | None = None
        self._last_write = time.perf_counter()
        self._writing = False  # a write is under way (an exception may have cut it short)

    def taken(self, state: dict, write: bool = False) -> bool:
        """A checkpoint was taken (the recorder holds its row) with ``checkpoint.pt``
        contents ``state``: write everything pending when ``write`` or when due, else keep a
        copy of ``state``. True when written."""
        if write or time.perf_counter() - self._last_write >= self.write_seconds:
            self._write(state)
            return True
        self._unsaved = copy.deepcopy(state)  # training goes on changing the tensors
        return False

    def write_unsaved(self) -> None:
        """Write the checkpoints taken but not yet written (for a run that stops early)."""
        if self._unsaved is not None:
            self._write(self._unsaved)

    @contextmanager
    def writing_unsaved_on_exit(self) -> Iterator[None]:
        """Within the block, an exception (Ctrl-C and SIGTERM too) first writes the
        checkpoints kept in memory, then goes on."""
        try:
            yield
        except BaseException:
            if not self._writing:  # a write cut short is not retried: --resume cuts it
                try:
                    self.write_unsaved()
                except Exception:  # the first error is the one to report
                    pass
            raise

    def _write(self, state: dict) -> None:
        self._writing = True
        if self.recorder is not None:
            self.recorder.flush()
        write_checkpoint(self.path, state, self.saved)
        self.saved += 1
        self._unsaved = None
        self._last_write = time.perf_counter()
        self._writing = False
