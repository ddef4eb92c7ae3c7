"""The recorder a run's trainer is given: each checkpoint becomes a row of the trajectory,
kept in memory until the trainer flushes (when it also saves ``checkpoint.pt``)."""

from __future__ import annotations

from pathlib import Path

from growsim.data.datasets import Dataset
from growsim.files import TRAJECTORY_NAME
from growsim.model.lattice import Box
from growsim.record.checkpoint_values import checkpoint_values
from growsim.record.trajectory import TrajectoryLayout, TrajectoryWriter, trajectory_attrs
from growsim.spec import Spec
from growsim.train.checkpoint_state import CheckpointState


class TrajectoryRecorder:
    """Writes every checkpoint a Trainer hands it to ``path`` (``trajectory.zarr``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.spec: Spec | None = None
        self.writer: TrajectoryWriter | None = None
        self.pending: list[tuple[int, dict]] = []  # recorded, not yet written

    @classmethod
    def in_run_directory(cls, run_dir: str | Path) -> "TrajectoryRecorder":
        """The recorder of the run in ``run_dir``."""
        return cls(Path(run_dir) / TRAJECTORY_NAME)

    def start(self, spec: Spec, dataset: Dataset, max_box: Box, eval_levels: tuple[float, ...]) -> None:
        """Fix the store's coordinates and attrs (the store is made at the first record)."""
        self.spec = spec
        self.layout = TrajectoryLayout(max_box, eval_levels)
        self.writer = TrajectoryWriter(self.path, self.layout, trajectory_attrs(spec, dataset))

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
