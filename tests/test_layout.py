"""The package layout follows the data flow: a stage imports only from itself and the
stages before it, and no module grows past ~400 lines."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "growsim"
STAGES = ["spec", "data", "model", "train", "record", "runs", "analysis", "sweep", "reproduce", "cli"]
SHARED = {"errors", "files", "locks", "faults", "stopping", "_version"}  # helpers any stage may use
MODULES = sorted(PACKAGE.rglob("*.py"))
# Modules outside the stages that stand for one: ``python -m growsim`` is the command line.
ENTRY_POINTS = {"growsim.__main__": "cli"}


def stage_of(module: str) -> str | None:
    """The stage of ``growsim.<stage>...`` (None for shared helpers, the package root and
    names that are not stages, e.g. ``growsim.__version__``)."""
    parts = module.split(".")
    if parts[0] != "growsim" or len(parts) == 1 or parts[1] not in STAGES:
        return None
    return parts[1]


def imports_of(source: str, path: Path) -> set[str]:
    """The growsim modules ``source`` (the text of module ``path``) imports: ``import a.b``,
    ``from a.b import c`` (as a.b and a.b.c, since c may be a module), and relative imports
    resolved against ``path``."""
    package = ["growsim", *path.relative_to(PACKAGE).parent.parts]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "growsim" or name.startswith("growsim.")}


def test_the_import_reader_sees_every_form_of_import():
    source = (
        "from growsim import runs\nfrom ..sweep import runner\nfrom . import idx\n"
        "import growsim.model.lattice\n"
    )
    modules = imports_of(source, PACKAGE / "data" / "example.py")
    assert {"growsim.runs", "growsim.sweep.runner", "growsim.data.idx", "growsim.model.lattice"} <= modules
    assert {stage_of(m) for m in modules} == {None, "runs", "sweep", "data", "model"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_only_from_its_stage_and_the_stages_before(path):
    own = ".".join(("growsim", *path.relative_to(PACKAGE).with_suffix("").parts))
    own_stage = stage_of(own) or ENTRY_POINTS.get(own)
    for module in imports_of(path.read_text(), path):
        stage = stage_of(module)
        if own_stage is None:  # a shared helper or the package root imports no stage
            assert stage is None, f"{own} imports {module}"
        elif stage is not None:
            assert STAGES.index(stage) <= STAGES.index(own_stage), f"{own} imports {module}, a later stage"


def test_every_stage_is_a_package_and_the_tree_holds_nothing_else():
    top = {p.stem for p in PACKAGE.glob("*.py")}
    top |= {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert top == {"__init__", "__main__", *SHARED, *STAGES}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_passes_400_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= 400, f"{path.relative_to(PACKAGE)} has {lines} lines: split it by job"
