"""The sweep-history benchmark's workloads read in the current growsim and, from git, in the
growsim the speed issue measured (so both run the same sweep spec)."""

import subprocess
import sys

import pytest

from benchmarks.sweep_history import COMMON, FILED_AT, WORKLOADS, _work, old_tree
from growsim.sweep.spec import parse_sweep


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_each_workload_is_a_four_seed_sweep_now(name):
    sweep = parse_sweep(COMMON.format(steps_key="iterations", **WORKLOADS[name]), name)
    assert [m.spec.training.seed for m in sweep.members] == [0, 1, 2, 3]
    assert sweep.members[0].spec.training.iterations == WORKLOADS[name]["iterations"]


def test_the_old_growsim_reads_the_same_workloads(tmp_path):
    tree = old_tree(FILED_AT, tmp_path)
    if tree is None:
        pytest.skip(f"no git history with {FILED_AT} here")
    assert (tree / "growsim" / "sweep_spec.py").exists()  # the flat layout of then
    texts = [COMMON.format(steps_key="steps", **settings) for settings in WORKLOADS.values()]
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import growsim;"
        "assert growsim.__file__.startswith(sys.argv[1]);"
        "from growsim.sweep_spec import parse_sweep;"
        "print([len(parse_sweep(t, 'x').members) for t in sys.argv[2:]])"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tree), *texts],
                          capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[4, 4]"
    assert old_tree("0" * 40, tmp_path / "none") is None  # no such commit: the rows say so


def test_final_boxes_match_only_when_every_member_s_box_does():
    box = {"layers": 3, "channels": 16, "steps": 3}
    now = {"members": [{"box": box}, {"box": box}]}
    then = {"members": [{"box": box}, {"box": {**box, "steps": 5}}]}
    assert _work(now, now).startswith("final boxes match")
    assert _work(now, then).startswith("final boxes differ") and "3x16x5" in _work(now, then)
