"""``checkpoint.pt``: the model, optimiser and position a run resumes from."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from growsim.errors import RunError
from growsim.faults import crash_point
from growsim.integrity import read_checksummed, write_checksummed

CHECKPOINT_FORMAT = (
    6  # 2: channel_ids, compaction; 3: halting_gain, validation split; 4: readout grid;
)
# 5: validation metrics per level in the trajectory, test sets at record.test_every;
# 6: a checksummed file (growsim.integrity) holding the run's identity
CORRUPT_ADVICE = (
    "the run cannot continue from it. Start the run again with --overwrite (or put back this "
    "run's own checkpoint.pt)"
)


def write_checkpoint(path: Path, state: dict, saved_before: int) -> None:
    """Atomically write ``state`` (stamped with the format) to ``path``; ``saved_before``
    counts this process's earlier saves (for the crash tests' fault points)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        torch.save({"format": CHECKPOINT_FORMAT, **state}, buffer)
        write_checksummed(
            path, buffer.getvalue(), lambda: crash_point("checkpoint-rename", saved_before + 1)
        )
    except OSError as error:
        raise RunError(
            f"{path}: could not save the checkpoint at iteration {state['iteration']}: "
            f"{error.strerror or error}. The previous checkpoint is intact; free disk space or "
            "fix permissions, then continue with --resume."
        ) from None


RESUME_ADVICE = ". Start it again with --overwrite, or resume it with that version."


def read_checkpoint(
    path: Path, device: torch.device, advice: str = RESUME_ADVICE, remedy: str = CORRUPT_ADVICE
) -> dict:
    """The state saved in ``path``, its checksum checked; a RunError ending in ``remedy``
    when the file is missing, corrupt, truncated or not a checkpoint, or in ``advice`` when
    another growsim version wrote it."""
    state = load_checksummed_torch(path, "the checkpoint", remedy, device)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise RunError(
            f"{path}: checkpoint format {state.get('format')}, but this growsim reads format "
            f"{CHECKPOINT_FORMAT} (the run was written by another version){advice}"
        )
    return state


def load_checksummed_torch(path: Path, what: str, remedy: str, device: torch.device | str = "cpu"):
    """What ``torch.save`` wrote into a checksummed file (growsim.integrity), on ``device``."""
    payload = read_checksummed(path, what, remedy)
    try:
        return torch.load(io.BytesIO(payload), map_location=device, weights_only=True)
    except Exception as error:  # a payload that passed its checksum but is not a torch file
        raise RunError(
            f"{path}: {what} does not unpickle ({type(error).__name__}); {remedy}"
        ) from None
