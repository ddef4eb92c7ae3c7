"""One zarr store for a whole sweep: every member's trajectory along a ``run`` dim.

The swept key paths become coordinates on ``run`` (e.g. ``costs.time.weight``), so
``xr.open_zarr(".../sweep.zarr").test_accuracy.isel(checkpoint=-1)`` compares members at
once. Members with fewer checkpoints or a smaller maximum box are padded with the same
blanks a trajectory uses (NaN, False, 0; ``iteration`` -1).

Only a sweep's parent process writes this store, under a lock (two sweeps combining at once
take turns). Each write goes to a new directory ``.sweep.zarr.v<N>``; ``sweep.zarr`` is a
symbolic link that is then swung to it by one atomic rename, so a reader opens the old
store or the new one, never a mix or nothing. The previous version is kept (a reader may
still be reading it lazily); older ones are deleted.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from growsim.files import (
    COMBINED_NAME,
    checksum_encoding,
    flush_to_disk,
    point_link_atomically,
    writing_every_chunk,
)
from growsim.locks import exclusive_lock
from growsim.record.trajectory import SCHEMA, open_trajectory


def combine_trajectories(
    sweep_dir: Path,
    members: list[tuple[str, Path, dict[str, Any]]],
    swept_keys: list[str],
    attrs: dict,
) -> Path | None:
    """Write ``sweep_dir/sweep.zarr`` from (name, run_dir, overrides) of finished members.

    Returns the store's path, or None when no member has a trajectory yet.
    """
    sweep_dir = Path(sweep_dir)
    target = sweep_dir / COMBINED_NAME
    with exclusive_lock(sweep_dir / ".combine.lock", wait=True, holder=str(target)):
        combined = combined_dataset(members, swept_keys, attrs)
        if combined is None:
            return None
        version = _next_version(sweep_dir)
        store = sweep_dir / f".{COMBINED_NAME}.v{version}"
        shutil.rmtree(store, ignore_errors=True)
        encoding = checksum_encoding(combined)  # a CRC-32C per chunk (growsim.integrity)
        for name in combined.data_vars:  # one chunk per member and variable: few files
            if combined[name].dims[:2] == ("run", "checkpoint"):
                encoding.setdefault(name, {})["chunks"] = (1,) + combined[name].shape[1:]
        with writing_every_chunk():
            combined.to_zarr(store, mode="w", encoding=encoding, consolidated=True, zarr_format=2)
        flush_to_disk(store)  # on the disk before readers are pointed at it
        point_link_atomically(target, store.name)
        for old in _versions(sweep_dir)[:-2]:
            shutil.rmtree(sweep_dir / f".{COMBINED_NAME}.v{old}", ignore_errors=True)
    return target


def combined_store_holds(sweep_dir: Path, names: list[str], attrs: dict) -> bool:
    """Whether ``sweep_dir/sweep.zarr`` already holds exactly the runs ``names``, in order,
    with ``attrs`` (then writing it again would change nothing)."""
    try:
        with xr.open_zarr(Path(sweep_dir) / COMBINED_NAME, consolidated=True) as store:
            return [str(n) for n in store["run"].values] == names and store.attrs == attrs
    except (OSError, KeyError, ValueError):  # no store yet, or one that does not read
        return False


def combined_dataset(
    members: list[tuple[str, Path, dict[str, Any]]], swept_keys: list[str], attrs: dict
) -> xr.Dataset | None:
    """The members' trajectories concatenated along ``run`` (None when there are none)."""
    datasets, names = [], []
    for name, run_dir, _ in members:
        with open_trajectory(run_dir, lazy=False) as trajectory:
            dataset = trajectory.load()
        dataset = dataset.reset_coords("iteration")
        dataset = dataset.assign_coords(checkpoint=np.arange(dataset.sizes["checkpoint"]))
        dataset.attrs = {}
        datasets.append(dataset)
        names.append(name)
    if not datasets:
        return None
    fills: dict[str, Any] = {"iteration": -1}
    for variable, (_, dtype, _, _) in SCHEMA.items():
        fills[variable] = False if dtype == "bool" else 0 if dtype.startswith("int") else np.nan
    combined = xr.concat(
        datasets, dim="run", join="outer", fill_value=fills, combine_attrs="drop_conflicts"
    )
    for variable, (_, dtype, _, _) in SCHEMA.items():
        combined[variable] = combined[variable].astype(dtype)
    combined["iteration"] = combined["iteration"].astype("int64")
    combined = combined.set_coords("iteration")
    combined = combined.assign_coords(run=np.asarray(names))
    for key in swept_keys:
        values = [_coordinate_value(overrides.get(key)) for _, _, overrides in members]
        combined = combined.assign_coords({key: ("run", _column(values))})
        combined[key].attrs["long_name"] = f"swept spec key {key}"
    combined["run"].attrs["long_name"] = "sweep member (its run directory's name)"
    combined["checkpoint"].attrs["long_name"] = "checkpoint index within the run"
    for variable in combined.data_vars:
        combined[variable].attrs = datasets[0][variable].attrs
    combined.attrs = attrs
    return combined


def _coordinate_value(value: Any) -> Any:
    if isinstance(value, (list, tuple, dict)):
        return str(list(value) if isinstance(value, tuple) else value)
    return value


def _column(values: list[Any]) -> np.ndarray:
    """A coordinate column: numeric when every value is a number, else text."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.asarray(
            values, dtype="float64" if any(isinstance(v, float) for v in values) else "int64"
        )
    return np.asarray(["" if v is None else str(v) for v in values])


def _versions(sweep_dir: Path) -> list[int]:
    prefix = f".{COMBINED_NAME}.v"
    found = [p.name[len(prefix) :] for p in sweep_dir.glob(f"{prefix}*")]
    return sorted(int(v) for v in found if v.isdigit())


def _next_version(sweep_dir: Path) -> int:
    versions = _versions(sweep_dir)
    return versions[-1] + 1 if versions else 1
