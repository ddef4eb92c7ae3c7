"""The package layout follows the data flow: a stage imports only from itself and the
stages before it, and no module grows past ~400 lines."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "growsim"
STAGES = ["spec", "data", "model", "train", "record", "runs", "analysis", "sweep", "cli"]
SHARED = {"errors", "files", "locks", "faults"}  # helpers any stage may use
MODULES = sorted(PACKAGE.rglob("*.py"))


def stage_of(module: str) -> str | None:
    """The stage of ``growsim.<stage>...`` (None for shared helpers and the package root)."""
    parts = module.split(".")
    if parts[0] != "growsim" or len(parts) == 1 or parts[1] in SHARED:
        return None
    return parts[1]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("growsim")}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_only_from_its_stage_and_the_stages_before(path):
    own = ".".join(("growsim", *path.relative_to(PACKAGE).with_suffix("").parts))
    own_stage = stage_of(own)
    for module in imported_modules(path):
        stage = stage_of(module)
        if stage is None or own_stage is None:
            assert own_stage is not None or stage is None, f"shared helper {own} imports {module}"
            continue
        assert stage in STAGES, f"{own} imports {module}, which is in no stage"
        assert STAGES.index(stage) <= STAGES.index(own_stage), f"{own} imports {module}, a later stage"


def test_every_stage_is_a_package_and_the_tree_holds_nothing_else():
    top = {p.stem for p in PACKAGE.glob("*.py")} | {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert top == {"__init__", *SHARED, *STAGES}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_passes_400_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= 400, f"{path.relative_to(PACKAGE)} has {lines} lines: split it by job"
