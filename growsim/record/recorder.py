"""The recorders a run's trainer is given: each checkpoint becomes a row of the trajectory,
kept in memory until the trainer flushes (when it also saves ``checkpoint.pt``); a fan-out
hands each checkpoint to several recorders (the trajectory and, say, TensorBoard's)."""

from __future__ import annotations

from pathlib import Path

from growsim.data.datasets import Dataset
from growsim.files import TRAJECTORY_NAME
from growsim.model.lattice import Box
from growsim.record.checkpoint_values import checkpoint_values
from growsim.record.trajectory import TrajectoryLayout, TrajectoryWriter, trajectory_attrs
from growsim.spec import Spec
from growsim.train.checkpoint_state import CheckpointState, Recorder


class TrajectoryRecorder:
    """Writes every checkpoint a Trainer hands it to ``path`` (``trajectory.zarr``)."""

    def __init__(self, path: str | Path, identity: dict | None = None) -> None:
        self.path = Path(path)
        self.identity = identity or {}  # the run's identity, kept in the store's attributes
        self.spec: Spec | None = None
        self.writer: TrajectoryWriter | None = None
        self.pending: list[tuple[int, dict]] = []  # recorded, not yet written

    @classmethod
    def in_run_directory(
        cls, run_dir: str | Path, identity: dict | None = None
    ) -> "TrajectoryRecorder":
        """The recorder of the run in ``run_dir`` (``identity``: growsim.integrity.RunIdentity's
        attrs, written into the store's attributes)."""
        return cls(Path(run_dir) / TRAJECTORY_NAME, identity)

    def start(
        self, spec: Spec, dataset: Dataset, max_box: Box, eval_levels: tuple[float, ...]
    ) -> None:
        """Fix the store's coordinates and attrs (the store is made at the first record)."""
        self.spec = spec
        self.layout = TrajectoryLayout(max_box, eval_levels)
        self.writer = TrajectoryWriter(
            self.path, self.layout, {**trajectory_attrs(spec, dataset), **self.identity}
        )

    def record(self, state: CheckpointState) -> None:
        """Compute one checkpoint's values and keep them for the next ``flush``."""
        if self.writer is None:
            raise RuntimeError("TrajectoryRecorder.record before start")  # programming error
        self.pending.append((state.iteration, checkpoint_values(self.layout, state, self.spec)))

    def flush(self) -> None:
        """Append every recorded checkpoint not yet written to the store, at once."""
        if self.writer is not None and self.pending:
            self.writer.append_many(self.pending)
            self.pending = []


class FanOutRecorder:
    """Hands every call to each of ``recorders`` in turn (the trajectory's first: it is the
    one the run resumes from)."""

    def __init__(self, *recorders: Recorder) -> None:
        self.recorders = recorders

    def start(
        self, spec: Spec, dataset: Dataset, max_box: Box, eval_levels: tuple[float, ...]
    ) -> None:
        """Start every recorder."""
        for recorder in self.recorders:
            recorder.start(spec, dataset, max_box, eval_levels)

    def record(self, state: CheckpointState) -> None:
        """Give the checkpoint to every recorder."""
        for recorder in self.recorders:
            recorder.record(state)

    def flush(self) -> None:
        """Flush every recorder."""
        for recorder in self.recorders:
            recorder.flush()
