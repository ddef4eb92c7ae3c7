"""Sweep throughput now against the code the speed issue measured: members per hour of the
same sweep spec run by this tree's growsim and by the growsim of commit ``FILED_AT`` (main
when the issue was filed), one after the other in one run of the benchmark.

The old package is taken from git (``git archive``) into a temporary folder; each sweep runs
in a fresh Python process with that package first on its path, every member from scratch, as
many at once as there are cores, one thread each (the default then and now). Two workloads,
each written in keys both versions read (the step count was ``training.steps`` then,
``training.iterations`` now):

- shapes: 4 seeds of the trade-off network (box up to 3 x 16 x 6, all three costs) on the
  procedural shapes, 300 iterations, 3 checkpoints;
- Fashion-MNIST: 4 seeds of the trade-off spec as it was then (5000 images, 500 test images,
  600 iterations, a checkpoint every 100), when the dataset is installed.

The same spec text is not the same algorithm: since then the breadth and depth weights drive
a proximal step after each optimiser step (they were loss terms), growth waits for the costs'
full weights and never happens at the last checkpoint, a new step gets its halting mass
through a per-step gain, 10% of the training images are held out for validation, and the
record defaults evaluate the test sets at the end only (then: at every checkpoint). So the
ratios mix speed with those changes; the rows say whether the members' final boxes match.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

FILED_AT = "dfdbc04"  # main when the speed issue was filed (its "today")
REPOSITORY = Path(__file__).resolve().parent.parent

COMMON = """
name: history
lattice:
  layers: {{initial: 1, max: 3}}
  channels: {{initial: 8, max: 16}}
  steps: {{initial: 2, max: 6}}
costs:
  breadth: {{weight: 0.01, schedule: {{kind: linear, delay: {delay}, ramp: {ramp}}}}}
  depth: {{weight: {depth}, schedule: {{kind: linear, delay: {delay}, ramp: {ramp}}}}}
  time: {{weight: 0.1, schedule: {{kind: linear, delay: {delay}, ramp: {ramp}}}}}
time_selection: adaptive
growth: {{channels: 4, layers: 1, steps: 1, new_step_mass: 0.01}}
data: {data}
training:
  lr: {lr}
  time_lr: 0.01
  step_supervision: 0.5
  batch_size: 64
  {steps_key}: {iterations}
record: {{every: {every}}}
sweep:
  seeds: [0, 1, 2, 3]
"""

WORKLOADS = {
    "shapes": dict(delay=20, ramp=40, depth=0.03, lr=0.01, iterations=300, every=100,
                   data="{dataset: shapes, classes: 6, train_size: 2000, test_size: 300}"),
    "Fashion-MNIST": dict(delay=100, ramp=200, depth=0.005, lr=0.005, iterations=600, every=100,
                          data="{dataset: fashion_mnist, classes: 10, train_size: 5000, test_size: 500}"),
}  # fmt: skip

RUNNER = r"""
import json, sys, tempfile, time
from pathlib import Path
tree, spec_text = sys.argv[1], Path(sys.argv[2]).read_text()
sys.path.insert(0, tree)
try:
    from growsim.sweep.runner import run_sweep
    from growsim.sweep.spec import parse_sweep
except ImportError:  # the flat layout of the older growsim
    from growsim.sweep import run_sweep
    from growsim.sweep_spec import parse_sweep
import growsim
assert growsim.__file__.startswith(tree), growsim.__file__
if __name__ == "__main__":
    sweep = parse_sweep(spec_text, "<sweep history benchmark>")
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        outcomes = run_sweep(sweep, out, progress=False)
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "members": [
        {"status": o.status, "box": (o.summary or {}).get("box"), "seconds": (o.summary or {}).get("seconds"),
         "training": ((o.summary or {}).get("time_spent") or {}).get("training")}
        for o in outcomes]}))
"""


def old_tree(commit: str, directory: Path) -> Path | None:
    """The ``growsim`` package of ``commit`` unpacked under ``directory`` (None: no git or
    no such commit here, e.g. a shallow clone)."""
    try:
        archive = subprocess.run(["git", "-C", str(REPOSITORY), "archive", commit, "growsim"],
                                 capture_output=True, check=True).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(directory)], input=archive, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return directory


def timed_sweep(tree: Path, spec_text: str) -> dict:
    """Run the sweep ``spec_text`` with the growsim under ``tree`` in a fresh process."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as file:
        file.write(spec_text)
    try:
        done = subprocess.run([sys.executable, "-c", RUNNER, str(tree), file.name],
                              capture_output=True, text=True, cwd=tempfile.gettempdir())  # fmt: skip
    finally:
        os.unlink(file.name)
    if done.returncode != 0:
        raise RuntimeError(f"sweep with {tree} failed:\n{done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    failed = [m for m in result["members"] if m["status"] != "finished"]
    if failed:
        raise RuntimeError(f"sweep with {tree}: members failed: {failed}")
    return result


def fashion_mnist_installed() -> bool:
    """Whether the Fashion-MNIST files growsim reads are on this machine."""
    from growsim.data.datasets import FASHION_MNIST_DIR

    return Path(FASHION_MNIST_DIR, "train-images-idx3-ubyte.gz").exists()


def _boxes(result: dict) -> str:
    return ", ".join("x".join(str(m["box"][k]) for k in ("layers", "channels", "steps"))
                     for m in result["members"])  # fmt: skip


def _work(new: dict, old: dict) -> str:
    if _boxes(new) == _boxes(old):
        return f"final boxes match then and now ({_boxes(new)})"
    return f"final boxes differ: now {_boxes(new)}, then {_boxes(old)}"


def rows(quick: bool = False) -> list[dict]:
    """Members per hour of each workload now and at FILED_AT, their ratio, and the training
    share of the sweep now."""
    if quick:
        return [{"measure": f"sweep throughput, this code / the code the speed issue measured ({FILED_AT})",
                 "value": None, "unit": "x", "target": ">= 1.5", "detail": "not run with --quick"}]  # fmt: skip
    cores = os.cpu_count() or 1
    threads = max(1, cores // min(cores, 4))  # each of the 4 members' processes (run_sweep's rule)
    found = []
    with tempfile.TemporaryDirectory() as directory:
        tree = old_tree(FILED_AT, Path(directory))
        for name, settings in WORKLOADS.items():
            measure = f"sweep throughput ({name}, 4 members), this code / the code the speed issue measured ({FILED_AT})"
            skip = ("the git history (commit %s) is not here" % FILED_AT if tree is None
                    else "Fashion-MNIST is not installed" if name == "Fashion-MNIST"
                    and not fashion_mnist_installed() else None)  # fmt: skip
            if skip:
                found.append({"measure": measure, "value": None, "unit": "x", "target": ">= 1.5",
                              "detail": f"skipped: {skip}"})  # fmt: skip
                continue
            old = timed_sweep(tree, COMMON.format(steps_key="steps", **settings))
            new = timed_sweep(REPOSITORY, COMMON.format(steps_key="iterations", **settings))
            training = sum(m["training"] for m in new["members"])
            then, now = (float(np.mean([m["seconds"] for m in r["members"]])) for r in (old, new))
            found += [
                {"measure": measure, "value": old["seconds"] / new["seconds"], "unit": "x", "target": ">= 1.5",
                 "detail": f"{4 / new['seconds'] * 3600:.0f} against {4 / old['seconds'] * 3600:.0f} members/h "
                           f"on {cores} cores; " + _work(new, old)},
                {"measure": f"sweep ({name}): a member's training run (iterations and checkpoints) then / now",
                 "value": then / now, "unit": "x", "target": "",
                 "detail": f"{then:.1f} s then, {now:.1f} s now (summary.json's seconds: no set-up, no "
                           f"per_image), of which {training / 4:.1f} s in training iterations now"},
                {"measure": f"sweep ({name}) now: core-seconds in training iterations / all core-seconds",
                 "value": training * threads / (new["seconds"] * cores), "unit": "fraction", "target": "",
                 "detail": "the rest (starting workers, set-up, checkpoints, combining) is what is left to cut"},
            ]  # fmt: skip
    return found
