"""``growsim.sweep``: many runs of one spec, in parallel, and their combined store."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from growsim.api.runs import Run
from growsim.errors import SpecError
from growsim.files import COMBINED_NAME

if TYPE_CHECKING:
    import xarray as xr

    from growsim.spec import Spec
    from growsim.sweep.runner import MemberOutcome


def sweep(
    spec: Spec | str | Path,
    out: str | Path = "outputs",
    *,
    grid: Mapping[str, Sequence] | None = None,
    points: Sequence[Mapping[str, Any]] | None = None,
    seeds: Sequence[int] | None = None,
    overrides: Mapping[str, Any] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    report: Callable[[MemberOutcome], None] | None = None,
) -> SweepResults:
    """Run every member of a sweep in ``out/<spec name>/`` (unfinished ones only; interrupted
    ones resume), then combine their trajectories into ``sweep.zarr``.

    ``spec``: a YAML spec with a ``sweep:`` block, or a spec (a path or a ``Spec``) whose
    members ``grid`` (key path -> values: every combination), ``points`` (explicit sets of
    overrides) and ``seeds`` give here; given, they replace the file's own. ``overrides``
    set base-spec keys (dotted paths) for every member. ``workers`` members run at once on
    this machine (default: the spec's ``sweep.workers``, else the cores); ``scheduler``
    sends them to a Dask distributed scheduler instead (its workers must see ``out``).
    ``report`` hears each member's outcome as it comes. A failing member does not stop
    the others: see ``SweepResults.failed``.
    """
    from growsim.api.specs import override_items
    from growsim.sweep.runner import run_sweep, sweep_directory
    from growsim.sweep.spec import parse_sweep

    text, source = _sweep_text(spec, grid, points, seeds)
    plan = parse_sweep(text, source, override_items(overrides, {}), check_files=True)
    if workers is not None and workers < 1:
        raise SpecError(f"workers must be >= 1, got {workers}")
    outcomes = run_sweep(
        plan,
        out,
        workers=workers,
        scheduler=scheduler,
        overwrite=overwrite,
        progress=progress,
        report=report,
    )
    return SweepResults(sweep_directory(plan, out), outcomes)


@dataclass
class SweepResults:
    """A sweep's directory and what happened to each member in this call."""

    path: Path
    outcomes: list[MemberOutcome]

    @property
    def failed(self) -> dict[str, str]:
        """{member name: error} of the members that failed."""
        return {o.name: o.error or "" for o in self.outcomes if o.status == "failed"}

    @property
    def runs(self) -> dict[str, Run]:
        """{member name: Run} of the finished members (this call's and earlier ones')."""
        return {
            o.name: Run(self.path / o.name)
            for o in self.outcomes
            if o.status in ("finished", "skipped")
        }

    @cached_property
    def trajectories(self) -> xr.Dataset:
        """Every finished member's trajectory along a ``run`` dim, the swept keys as its
        coordinates (``sweep.zarr``, in memory)."""
        import xarray as xr

        with xr.open_zarr(self.path / COMBINED_NAME, chunks=None) as combined:
            return combined.load()


def _sweep_text(spec, grid, points, seeds) -> tuple[str, str]:
    """The YAML text of the sweep (base spec with its sweep: block) and its name for errors."""
    import yaml

    from growsim.spec import read_spec_text, spec_to_yaml
    from growsim.spec.loading import plain_value

    if hasattr(spec, "lattice"):
        text, source = spec_to_yaml(spec), f"<spec {spec.name}>"
    else:
        text, source = read_spec_text(spec), str(spec)
    if grid is None and points is None and seeds is None:
        return text, source
    raw = yaml.safe_load(text)
    block = dict(raw.get("sweep") or {})
    for key, value in (("grid", grid), ("points", points), ("seeds", seeds)):
        if value is not None:
            block[key] = plain_value(value)
    raw["sweep"] = block
    return yaml.safe_dump(raw, sort_keys=False), source
