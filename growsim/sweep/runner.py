"""Run a sweep's members in parallel (local processes or a Dask cluster) and combine them.

Layout: ``<out>/<sweep name>/<member name>/`` is an ordinary run directory per member;
``<out>/<sweep name>/sweep.zarr`` is the combined store; ``sweep.json`` lists every
member's status. A member that fails is reported and the others go on; a member whose
directory already holds a finished run of the same spec is skipped, and one that was
interrupted resumes from its last checkpoint.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import active_children, get_context
from pathlib import Path
from typing import Any, Callable

from growsim.errors import GrowsimError, RunError, SpecError
from growsim.files import (
    SPEC_NAME,
    SUMMARY_NAME,
    SWEEP_SPEC_NAME,
    SWEEP_STATUS_NAME,
    jsonable,
    write_text_atomically,
)
from growsim.record.combine import combine_trajectories, combined_store_holds
from growsim.record.variables import CONVENTIONS
from growsim.runs.directories import claim_sweep_directory
from growsim.runs.experiment import same_experiment
from growsim.spec import spec_to_yaml
from growsim.stopping import sigterm_raises
from growsim.sweep.spec import Sweep, SweepMember

DASK_CONNECT_TIMEOUT = "20s"  # how long to try reaching a --scheduler before giving up


@dataclass
class MemberOutcome:
    """What happened to one member in this invocation."""

    name: str
    status: str  # finished | skipped (finished before) | failed
    seconds: float | None = None  # from the member's start to its end (None: not run here)
    error: str | None = None
    summary: dict | None = None


def sweep_directory(sweep: Sweep, out_root: str | Path) -> Path:
    """``out_root/<sweep name>``."""
    return Path(out_root) / sweep.name


def run_sweep(
    sweep: Sweep,
    out_root: str | Path,
    workers: int | None = None,
    scheduler: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    report: Callable[[MemberOutcome], None] | None = None,
) -> list[MemberOutcome]:
    """Run every unfinished member, then write the combined store; returns the outcomes.

    ``workers`` members run at once on local cores (default: the spec's sweep.workers,
    else the core count), each with cores // workers threads. ``scheduler`` sends the
    members to a Dask distributed scheduler instead (its workers must see ``out_root``).
    """
    sweep_dir = sweep_directory(sweep, out_root)
    _prepare(sweep_dir, sweep)
    outcomes: dict[str, MemberOutcome] = {}
    pending: list[SweepMember] = []
    for member in sweep.members:
        state = "pending" if overwrite else _member_state(sweep_dir / member.name, member)
        if state == "finished":
            outcomes[member.name] = MemberOutcome(member.name, "skipped")
        elif state == "stale":
            outcomes[member.name] = MemberOutcome(member.name, "failed", error=(
                f"{sweep_dir / member.name}: holds a run of a different spec (the sweep's spec "
                "or growsim's defaults changed since). Rerun the sweep with --overwrite to "
                "replace its members."
            ))  # fmt: skip
        else:
            pending.append(member)
    _write_status(sweep_dir, sweep, outcomes)
    for outcome in outcomes.values():
        if report:
            report(outcome)
    if pending:
        runner = _run_on_dask if scheduler else _run_locally
        for outcome in runner(
            sweep_dir, pending, workers or sweep.workers, scheduler, overwrite, progress
        ):
            outcomes[outcome.name] = outcome
            _write_status(sweep_dir, sweep, outcomes)
            if report:
                report(outcome)
    done = [m for m in sweep.members if outcomes[m.name].status in ("finished", "skipped")]
    attrs = _combined_attrs(sweep, outcomes)
    # A rerun that trained nothing leaves a complete combined store as it is (rewriting one
    # of 81 members took minutes).
    if pending or not combined_store_holds(sweep_dir, [m.name for m in done], attrs):
        combine_trajectories(
            sweep_dir,
            [(m.name, sweep_dir / m.name, swept_values(m, sweep.swept_keys)) for m in done],
            sweep.swept_keys,
            attrs,
        )
    return [outcomes[m.name] for m in sweep.members]


def _member_state(run_dir: Path, member: SweepMember) -> str:
    """``finished`` (a completed run of ``member``'s spec), ``stale`` (a run of another
    spec), or ``pending`` (nothing there yet, or an interrupted run to resume)."""
    spec_file = run_dir / SPEC_NAME
    if not spec_file.exists():
        return "pending"
    try:  # an older growsim's spec.yaml is read with its renamed keys
        same = same_experiment(spec_file.read_text(), member.spec, str(spec_file))
    except SpecError:
        return "stale"
    if not same:  # training.threads and record.write_seconds may differ
        return "stale"
    return "finished" if (run_dir / SUMMARY_NAME).exists() else "pending"


def swept_values(member: SweepMember, keys: list[str]) -> dict[str, Any]:
    """The member's value of every swept key (the base spec's where it sets none)."""
    values = {}
    for key in keys:
        node: Any = member.spec
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else getattr(node, part)
        values[key] = node
    return values


def run_member(spec_text: str, run_dir: str, threads: int | None, overwrite: bool) -> dict:
    """Train one member in its own process (the function local and Dask workers call).

    Returns ``{"summary": ..., "seconds": ...}``, the seconds counted from the member's
    own start (not from when it was queued).
    """
    started = time.perf_counter()
    import torch

    from growsim.runs.experiment import run_experiment
    from growsim.spec import parse_spec

    if threads:
        torch.set_num_threads(threads)
    spec = parse_spec(spec_text, source=f"{run_dir}/spec.yaml")
    with sigterm_raises():  # stopped by the sweep: write what is kept in memory first
        summary = run_experiment(
            spec, Path(run_dir), resume=not overwrite, overwrite=overwrite, progress=False
        )
    return {"summary": jsonable(summary), "seconds": time.perf_counter() - started}


# --------------------------------------------------------------------------- executors


def _run_locally(sweep_dir, pending, workers, scheduler, overwrite, progress):
    cores = os.cpu_count() or 1
    workers = max(1, min(workers or cores, len(pending)))
    threads = max(1, cores // workers)
    context = get_context("spawn")  # no forked torch thread pools
    others = set(active_children())
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        try:
            futures = {
                pool.submit(run_member, spec_to_yaml(m.spec), str(sweep_dir / m.name), threads, overwrite): m
                for m in pending
            }  # fmt: skip
            yield from _collect(as_completed(futures), futures, len(pending), progress)
        except BaseException:  # Ctrl-C, SIGTERM: stop the members now (they resume next time)
            pool.shutdown(wait=False, cancel_futures=True)
            for worker in set(active_children()) - others:
                worker.terminate()
            raise


def _run_on_dask(sweep_dir, pending, workers, scheduler, overwrite, progress):
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise RunError(
            "--scheduler needs Dask distributed: pip install 'dask[distributed]'"
        ) from None
    try:
        client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as error:
        raise RunError(
            f"--scheduler {scheduler}: cannot reach the Dask scheduler ({error})"
        ) from None
    with client:
        futures = {
            client.submit(run_member, spec_to_yaml(m.spec), str((sweep_dir / m.name).resolve()), None, overwrite, pure=False): m
            for m in pending
        }  # fmt: skip
        yield from _collect(dask_completed(futures), futures, len(pending), progress)


def _collect(completed, futures, total, progress):
    from tqdm.auto import tqdm

    failed = 0
    with tqdm(total=total, disable=not progress, desc="sweep", unit="run") as bar:
        for future in completed:
            member = futures[future]
            try:
                result = future.result()
                outcome = MemberOutcome(
                    member.name, "finished", result["seconds"], summary=result["summary"]
                )
            except Exception as error:  # a failing member must not stop the others
                failed += 1
                outcome = MemberOutcome(member.name, "failed", error=_describe(error))
            bar.update(1)
            bar.set_postfix_str(f"{failed} failed")
            yield outcome


def _describe(error: BaseException) -> str:
    if isinstance(error, GrowsimError):
        return str(error)
    lines = traceback.format_exception_only(type(error), error)
    return "".join(lines).strip()


# --------------------------------------------------------------------------- files


def _prepare(sweep_dir: Path, sweep: Sweep) -> None:
    claim_sweep_directory(sweep_dir)
    write_text_atomically(sweep_dir / SWEEP_SPEC_NAME, sweep.text)


def _write_status(sweep_dir: Path, sweep: Sweep, outcomes: dict[str, MemberOutcome]) -> None:
    members = []
    for member in sweep.members:
        outcome = outcomes.get(member.name, MemberOutcome(member.name, "pending"))
        members.append({**asdict(outcome), "overrides": member.overrides})
    write_text_atomically(sweep_dir / SWEEP_STATUS_NAME, json.dumps({"members": members}, indent=2))


def _combined_attrs(sweep: Sweep, outcomes: dict[str, MemberOutcome]) -> dict[str, Any]:
    failed = [name for name, o in outcomes.items() if o.status == "failed"]
    return {
        "Conventions": CONVENTIONS,
        "title": f"growsim sweep {sweep.name!r}",
        "sweep_spec": sweep.text,
        "swept_keys": list(sweep.swept_keys),
        "failed_members": failed,
    }
