"""The growth trajectory: one xarray Dataset in a zarr store, appended at every checkpoint.

Dims are fixed by the spec's maximum box (``layer``, ``channel``, ``step``) so a checkpoint
never reshapes the store; positions outside the current box hold NaN (floats), False
(masks) or 0 (counts), and channel c keeps its lattice identity across growth.

Crash safety: each checkpoint is its own chunk along ``checkpoint`` (an append never
rewrites earlier data), zarr writes every file atomically, and readers go through the
consolidated metadata, which is rewritten only after a whole checkpoint is on disk. A run
killed mid-append therefore leaves a store that opens to the last complete checkpoint;
``truncate`` cuts away any partly written one before a resumed run appends again.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr
from zarr.core.sync import sync

from growsim.data.datasets import Dataset
from growsim.errors import RunError
from growsim.faults import crash_point
from growsim.files import TRAJECTORY_NAME, checksum_encoding, writing_every_chunk
from growsim.integrity import verify_store
from growsim.model.lattice import CONNECTIONS, Box
from growsim.record.variables import CONVENTIONS, VARIABLES
from growsim.spec import Spec, spec_to_yaml

RESOURCES = ("channel", "layer", "step")

# name: (dims after "checkpoint", dtype, units, meaning). Units in CF form: "1" for every
# dimensionless quantity (ratios, probabilities, counts: the meaning says what is counted),
# none ("") for flags. growsim.record.variables has the per-image stores' variables.
SCHEMA: dict[str, tuple[tuple[str, ...], str, str, str]] = {
    "epoch": ((), "float64", "1", "training epochs completed"),
    "box_layers": ((), "int32", "1", "layers in the box"),
    "box_channels": ((), "int32", "1", "channels per layer in the box"),
    "box_steps": ((), "int32", "1", "time steps in the box"),
    "growth": (("resource",), "int32", "1", "positions the box grew by along each axis at this checkpoint (negative: compaction shrank it)"),
    "channel_norm": (("layer", "channel"), "float32", "1", "m(l,c): L2 norm of weights into the channel"),
    "connection_norm": (
        ("connection", "layer", "channel"), "float32", "1",
        "L2 norm of the weights into the channel, by connection type",
    ),
    "channel_active": (("layer", "channel"), "bool", "", "m(l,c) above the activity threshold"),
    "active_width": (("layer",), "int32", "1", "active channels per layer"),
    "layer_active": (("layer",), "bool", "", "layer has an active channel"),
    "depth": ((), "int32", "1", "number of active layers"),
    "time_distribution": (("step",), "float32", "1", "mean p_t on clean test images (NaN where the test sets were not evaluated: record.test_every)"),
    "expected_steps": ((), "float32", "1", "mean expected time steps on clean test images (NaN where not evaluated)"),
    "breadth_cost": ((), "float32", "1", "breadth cost B (unweighted)"),
    "depth_cost": ((), "float32", "1", "depth cost D (unweighted)"),
    "time_cost": ((), "float32", "1", "time cost T (expected time steps) on the last training batches (unweighted)"),
    "breadth_weight": ((), "float32", "1", "scheduled weight on B"),
    "depth_weight": ((), "float32", "1", "scheduled weight on D"),
    "time_weight": ((), "float32", "1", "scheduled weight on T"),
    "task_loss": ((), "float32", "1", "mean expected cross-entropy (nats) since the last checkpoint"),
    "total_loss": ((), "float32", "1", "mean task loss (nats) + weighted time cost since the last checkpoint (breadth and depth act as proximal steps)"),
    "train_accuracy": ((), "float32", "1", "training accuracy since the last checkpoint"),
    "test_accuracy": ((), "float32", "1", "accuracy on clean test images (NaN where not evaluated)"),
    "validation_accuracy": ((), "float32", "1", "accuracy on clean validation images (held out from training)"),
    "validation_time_distribution": (("step",), "float32", "1", "mean p_t on clean validation images (growth decides on it)"),
    "validation_expected_steps": ((), "float32", "1", "mean expected steps on clean validation images"),
    "validation_accuracy_by_occlusion": (("occlusion",), "float32", "1", "validation accuracy per occlusion level"),
    "validation_expected_steps_by_occlusion": (("occlusion",), "float32", "1", "mean expected steps on validation images per occlusion level"),
    "accuracy_by_occlusion": (("occlusion",), "float32", "1", "test accuracy per occlusion level (NaN where not evaluated)"),
    "expected_steps_by_occlusion": (
        ("occlusion",), "float32", "1", "mean expected steps on test images per occlusion level (NaN where not evaluated)",
    ),
    "active_edges": (("connection", "layer"), "int32", "1", "active edges into each layer, by type"),
    "paths_on_route": (("step",), "int32", "1", "unrolled nodes on an input-to-readout(t) path"),
    "longest_path": (("step",), "int32", "1", "longest input-to-readout(t) path (0: none)"),
    "shortest_path": (("step",), "int32", "1", "shortest input-to-readout(t) path (0: none)"),
    "log_path_count": (("step",), "float32", "1", "log number of input-to-readout(t) paths"),
    "dead_units": ((), "int32", "1", "active channels on no input-to-readout path"),
    "components": ((), "int32", "1", "connected components of the active graph"),
}  # fmt: skip

COORD_ATTRS = {
    "iteration": ("1", "training iterations completed at the checkpoint"),
    "layer": ("", "lattice layer index (0 reads the image)"),
    "channel": ("", "lattice channel identity (kept through compaction and growth)"),
    "step": VARIABLES["step"],
    "occlusion": VARIABLES["occlusion"],
    "connection": ("", "connection type"),
    "resource": ("", "lattice axis"),
}


@dataclass
class TrajectoryLayout:
    """The fixed coordinates of a trajectory store."""

    max_box: Box
    occlusion_levels: tuple[float, ...]

    def empty(self, name: str) -> np.ndarray:
        """An array of variable ``name``'s shape for one checkpoint, filled with its blank."""
        dims, dtype, _, _ = SCHEMA[name]
        shape = tuple(self.size(d) for d in dims)
        blank = np.nan if dtype.startswith("float") else 0
        return np.full(shape, blank, dtype=dtype)

    def size(self, dim: str) -> int:
        """Length of dim ``dim`` (any but ``checkpoint``)."""
        return {
            "layer": self.max_box.layers,
            "channel": self.max_box.channels,
            "step": self.max_box.steps,
            "occlusion": len(self.occlusion_levels),
            "connection": len(CONNECTIONS),
            "resource": len(RESOURCES),
        }[dim]

    def coords(self) -> dict[str, Any]:
        """Coordinates of every dim except ``checkpoint``."""
        return {
            "layer": np.arange(self.max_box.layers),
            "channel": np.arange(self.max_box.channels),
            "step": np.arange(self.max_box.steps),
            "occlusion": np.asarray(self.occlusion_levels, dtype="float64"),
            "connection": np.asarray(CONNECTIONS),
            "resource": np.asarray(RESOURCES),
        }


def checkpoint_rows(
    layout: TrajectoryLayout, iteration: int, values: dict[str, Any]
) -> dict[str, np.ndarray]:
    """Every variable of one checkpoint (and ``iteration``) as an array with a leading
    length-1 ``checkpoint`` axis, in its schema dtype; checks names and shapes.

    ``values`` must hold every variable in SCHEMA, each with the layout's full shape.
    """
    missing = set(SCHEMA) - set(values)
    extra = set(values) - set(SCHEMA)
    if missing or extra:
        raise ValueError(f"checkpoint values: missing {sorted(missing)}, unknown {sorted(extra)}")
    rows = {}
    for name, (dims, dtype, _, _) in SCHEMA.items():
        array = np.asarray(values[name], dtype=dtype)
        expected = tuple(layout.size(d) for d in dims)
        if array.shape != expected:
            raise ValueError(f"{name}: shape {array.shape}, expected {expected}")
        rows[name] = array[None]
    rows["iteration"] = np.asarray([iteration], dtype="int64")
    return rows


def checkpoint_dataset(
    layout: TrajectoryLayout, iteration: int, values: dict[str, Any], attrs: dict | None = None
) -> xr.Dataset:
    """One checkpoint as a Dataset with a length-1 ``checkpoint`` dim (see checkpoint_rows)."""
    rows = checkpoint_rows(layout, iteration, values)
    data_vars = {
        name: xr.Variable(("checkpoint",) + dims, rows[name], attrs=_attrs(units, meaning))
        for name, (dims, _, units, meaning) in SCHEMA.items()
    }
    coords: dict[str, Any] = {"iteration": ("checkpoint", rows["iteration"])}
    coords.update(layout.coords())
    dataset = xr.Dataset(data_vars, coords=coords, attrs=attrs or {})
    for name, (units, meaning) in COORD_ATTRS.items():
        dataset[name].attrs.update(_attrs(units, meaning))
    return dataset


def _attrs(units: str, meaning: str) -> dict[str, str]:
    return {"units": units, "long_name": meaning} if units else {"long_name": meaning}


class TrajectoryWriter:
    """Appends checkpoints to ``path`` (a zarr v2 store with consolidated metadata)."""

    def __init__(self, path: Path, layout: TrajectoryLayout, attrs: dict) -> None:
        self.path = Path(path)
        self.layout = layout
        self.attrs = attrs
        self.appended = 0  # appends by this writer (counts crash points)
        self._arrays: dict[str, zarr.Array] | None = None

    def append(self, iteration: int, values: dict[str, Any]) -> None:
        """Write one checkpoint (see ``append_many``)."""
        self.append_many([(iteration, values)])

    def append_many(self, checkpoints: list[tuple[int, dict[str, Any]]]) -> None:
        """Write checkpoints given as (iteration, values), in order; creates the store on
        the first call.

        Two phases: the data and each array's metadata first, then the consolidated
        metadata that readers use. Only the second makes the checkpoints visible, all of
        them at once. The store is created through xarray (names, dims, attrs, encodings)
        from the first checkpoint; the others are appended to its zarr arrays directly,
        all arrays and checkpoints in one call, which is much faster than one by one.
        """
        if not checkpoints:
            return
        first = not (self.path / ".zmetadata").exists()  # nothing committed before this write
        try:
            rest = checkpoints
            if first:
                iteration, values = checkpoints[0]
                dataset = checkpoint_dataset(self.layout, iteration, values, self.attrs)
                # A row per chunk, uncompressed: rows are a few KiB, and compressing ~40
                # small chunks at every write cost more than the disk it saved.
                # Every chunk carries a CRC-32C (growsim.integrity.verify_store checks it).
                encoding = checksum_encoding(dataset)
                for name in SCHEMA:
                    encoding[name].update(
                        {"chunks": (1,) + dataset[name].shape[1:], "compressors": None}
                    )
                encoding["iteration"].update({"chunks": (1,), "compressors": None})
                with writing_every_chunk():
                    dataset.to_zarr(
                        self.path, mode="w", encoding=encoding, consolidated=False, zarr_format=2
                    )
                rest = checkpoints[1:]
            if rest:
                rows = [
                    checkpoint_rows(self.layout, iteration, values) for iteration, values in rest
                ]
                with writing_every_chunk():
                    _append_all(self._open_arrays(), {name: np.concatenate([row[name] for row in rows])
                                                      for name in rows[0]})  # fmt: skip
            self.appended += 1
            crash_point("trajectory-commit", self.appended)
            zarr.consolidate_metadata(str(self.path), zarr_format=2)
        except OSError as error:
            if first:  # a store that was never committed: nothing in it can be read
                shutil.rmtree(self.path, ignore_errors=True)
                before = "No checkpoint had been written yet (the partial store was removed); "
                after = "then start the run again."
            else:
                before, after = (
                    "The checkpoints written before are intact; ",
                    "then continue with --resume.",
                )
            raise RunError(
                f"{self.path}: could not write checkpoint at iteration {checkpoints[-1][0]}: "
                f"{error.strerror or error}. {before}free disk space or fix permissions, {after}"
            ) from None

    def _open_arrays(self) -> dict[str, zarr.Array]:
        if self._arrays is None:
            group = zarr.open_group(
                str(self.path), mode="r+", zarr_format=2, use_consolidated=False
            )
            self._arrays = dict(group.arrays())
        return self._arrays


def _append_all(arrays: dict[str, zarr.Array], rows: dict[str, np.ndarray]) -> None:
    """Append ``rows[name]`` to ``arrays[name]`` along the first axis, all at once: one
    round trip to zarr's event loop instead of one per array (a checkpoint has ~45) and
    per checkpoint."""

    async def append_every_array() -> list:
        return await asyncio.gather(
            *(arrays[name].async_array.append(row, axis=0) for name, row in rows.items()),
            return_exceptions=True,
        )

    # Every append has finished (or failed) before an error is raised, so none of them can
    # still be writing when a resumed run truncates the store.
    errors = [r for r in sync(append_every_array()) if isinstance(r, BaseException)]
    if errors:
        raise errors[0]


def trajectory_attrs(spec: Spec, dataset: Dataset) -> dict[str, Any]:
    """What identifies a run: its spec, seeds, data hash and software versions."""
    import sys

    import numba
    import torch

    from growsim._version import __version__

    return {
        "Conventions": CONVENTIONS,
        "title": f"growsim trajectory of run {spec.name!r}",
        "spec": spec_to_yaml(spec),
        "seed": spec.training.seed,
        "data_seed": spec.data.seed,
        "data_sha256": dataset.fingerprint(),
        "dataset": spec.data.dataset,
        "class_names": list(dataset.class_names),
        "time_selection": spec.time_selection,
        "versions": (
            f"growsim {__version__}; python {sys.version.split()[0]}; "
            f"torch {torch.__version__}; numpy {np.__version__}; numba {numba.__version__}; "
            f"xarray {xr.__version__}; zarr {zarr.__version__}"
        ),
    }


def committed_checkpoints(path: Path) -> int:
    """How many complete checkpoints the store at ``path`` holds (0 if there is none)."""
    path = Path(path)
    if not (path / ".zmetadata").exists():
        return 0
    with xr.open_zarr(path, consolidated=True) as dataset:
        return int(dataset.sizes.get("checkpoint", 0))


def truncate(path: Path, checkpoints: int) -> None:
    """Cut the store back to its first ``checkpoints`` checkpoints (drops partial writes)."""
    path = Path(path)
    # Read each array's own metadata: the consolidated copy hides a partial append.
    group = zarr.open_group(str(path), mode="r+", zarr_format=2, use_consolidated=False)
    for _, array in group.arrays():
        dims = array.attrs.get("_ARRAY_DIMENSIONS", [])
        if dims and dims[0] == "checkpoint" and array.shape[0] != checkpoints:
            array.resize((checkpoints,) + tuple(array.shape[1:]))
    zarr.consolidate_metadata(str(path), zarr_format=2)


def open_trajectory(path: str | Path, lazy: bool = True, verify: bool = True) -> xr.Dataset:
    """Open a run's trajectory (a run directory or the .zarr store itself) with xarray:
    as xarray opens zarr by default when ``lazy``, else as plain arrays (never dask).
    ``verify``: check every chunk first (growsim.integrity.verify_store; a RunError if the
    store is corrupt)."""
    path = Path(path)
    if (path / TRAJECTORY_NAME).exists():
        path = path / TRAJECTORY_NAME
    if not (path / ".zmetadata").exists():
        raise RunError(f"{path}: no trajectory here (expected a run directory or a .zarr store)")
    if verify:
        verify_store(path, "the trajectory", "it cannot be read; run it again with --overwrite")
    if lazy:  # xarray's default: dask-backed where dask is installed
        return xr.open_zarr(path, consolidated=True)
    return xr.open_zarr(path, consolidated=True, chunks=None)
