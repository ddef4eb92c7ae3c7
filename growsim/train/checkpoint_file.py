"""``checkpoint.pt``: the model, optimiser and position a run resumes from."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from growsim.errors import RunError
from growsim.faults import crash_point

CHECKPOINT_FORMAT = 5  # 2: channel_ids, compaction; 3: halting_gain, validation split; 4: readout grid;
# 5: validation metrics per level in the trajectory, test sets at record.test_every


def write_checkpoint(path: Path, state: dict, saved_before: int) -> None:
    """Atomically write ``state`` (stamped with the format) to ``path``; ``saved_before``
    counts this process's earlier saves (for the crash tests' fault points)."""
    temporary = path.with_suffix(".pt.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"format": CHECKPOINT_FORMAT, **state}, temporary)
        with open(temporary, "rb") as stream:
            os.fsync(stream.fileno())
        crash_point("checkpoint-rename", saved_before + 1)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise RunError(
            f"{path}: could not save the checkpoint at iteration {state['iteration']}: "
            f"{error.strerror or error}. The previous checkpoint is intact; free disk space or "
            "fix permissions, then continue with --resume."
        ) from None


RESUME_ADVICE = ". Start it again with --overwrite, or resume it with that version."


def read_checkpoint(path: Path, device: torch.device, advice: str = RESUME_ADVICE) -> dict:
    """The state saved in ``path``; a RunError ending in ``advice`` when another growsim
    version wrote it."""
    state = torch.load(path, map_location=device, weights_only=True)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise RunError(
            f"{path}: checkpoint format {state.get('format')}, but this growsim reads format "
            f"{CHECKPOINT_FORMAT} (the run was written by another version){advice}"
        )
    return state
