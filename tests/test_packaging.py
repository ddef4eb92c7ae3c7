"""An installed growsim stands on its own: a wheel built from the tree, installed into a fresh
virtual environment, finds its shipped specs, its version and its commands (slow: builds
and installs; torch and the other dependencies come from the system's site-packages)."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from growsim import __version__

ROOT = Path(__file__).parent.parent


def run(command, cwd):
    """Run ``command`` away from the checkout (no PYTHONPATH), so only the installed growsim
    can be imported; its stdout."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    finished = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True)
    assert finished.returncode == 0, f"{command}: {finished.stdout}\n{finished.stderr}"
    return finished.stdout


@pytest.mark.slow
def test_a_wheel_installs_and_runs_from_its_own_files(tmp_path):
    source = tmp_path / "source"  # built from a copy: the build leaves its files beside the source
    shutil.copytree(
        ROOT / "growsim", source / "growsim", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(source),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
        ],
        tmp_path,
    )
    (wheel,) = wheels.glob("growsim-*.whl")
    assert wheel.name.startswith(f"growsim-{__version__}-")
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in ("quick.yaml", "occlusion.yaml", "reproduce/base.yaml", "spec.schema.json"):
        assert f"growsim/specs/{shipped}" in names
    assert "growsim/py.typed" in names and "growsim/__main__.py" in names

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], tmp_path)
    python, growsim = venv / "bin" / "python", venv / "bin" / "growsim"
    run([python, "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)], tmp_path)
    where = run([python, "-c", "import growsim; print(growsim.__file__)"], tmp_path).strip()
    assert Path(where).is_relative_to(venv), where  # the wheel's copy, not the checkout's
    quick = run(
        [
            python,
            "-c",
            "from growsim.spec.shipped import shipped_spec; print(shipped_spec('quick.yaml'))",
        ],
        tmp_path,
    ).strip()
    assert Path(quick).is_relative_to(venv)
    assert "valid" in run([growsim, "validate", quick], tmp_path)
    assert "reproduce" in run([growsim, "reproduce", "--help"], tmp_path)
    assert run([python, "-m", "growsim", "--version"], tmp_path).strip() == f"growsim {__version__}"
    base = run(
        [python, "-c", "from growsim.reproduce.experiments import BASE_SPEC; print(BASE_SPEC)"],
        tmp_path,
    )
    assert Path(base.strip()).is_relative_to(venv)
