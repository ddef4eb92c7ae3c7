"""The package layout follows the data flow: a stage imports only from itself and the
stages before it, and no module grows past ~400 lines."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "growsim"
STAGES = [
    "spec",
    "data",
    "model",
    "train",
    "record",
    "runs",
    "analysis",
    "sweep",
    "reproduce",
    "api",
    "cli",
]
SHARED = {
    "errors",
    "files",
    "locks",
    "faults",
    "stopping",
    "_version",
    "integrity",
    "threads",
}  # helpers any stage may use
MODULES = sorted(PACKAGE.rglob("*.py"))
# Modules outside the stages that stand for one: the package root is the public API's door
# (``growsim.run``), ``python -m growsim`` the command line.
ENTRY_POINTS = {"growsim.__init__": "api", "growsim.__main__": "cli"}


def stage_of(module: str) -> str | None:
    """The stage of ``growsim.<stage>...`` (None for shared helpers, the package root and
    names that are not stages, e.g. ``growsim.__version__``)."""
    parts = module.split(".")
    if parts[0] != "growsim" or len(parts) == 1 or parts[1] not in STAGES:
        return None
    return parts[1]


def imports_of(source: str, path: Path, typing_only: bool = True) -> set[str]:
    """The growsim modules ``source`` (the text of module ``path``) imports: ``import a.b``,
    ``from a.b import c`` (as a.b and a.b.c, since c may be a module), and relative imports
    resolved against ``path``; imports inside functions too (they run when called), and
    those under ``if TYPE_CHECKING:`` unless ``typing_only`` is False (they never run)."""
    package = ["growsim", *path.relative_to(PACKAGE).parent.parts]
    found = set()
    tree = ast.parse(source)
    if not typing_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and ast.unparse(node.test) in (
                "TYPE_CHECKING",
                "typing.TYPE_CHECKING",
            ):
                node.body = []
    for node in ast.walk(tree):
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
    assert {
        "growsim.runs",
        "growsim.sweep.runner",
        "growsim.data.idx",
        "growsim.model.lattice",
    } <= modules
    assert {stage_of(m) for m in modules} == {None, "runs", "sweep", "data", "model"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_only_from_its_stage_and_the_stages_before(path):
    own = ".".join(("growsim", *path.relative_to(PACKAGE).with_suffix("").parts))
    own_stage = stage_of(own) or ENTRY_POINTS.get(own)
    for module in imports_of(path.read_text(), path):
        stage = stage_of(module)
        if own_stage is None:  # a shared helper imports no stage
            assert stage is None, f"{own} imports {module}"
        elif stage is not None:
            assert STAGES.index(stage) <= STAGES.index(own_stage), (
                f"{own} imports {module}, a later stage"
            )


def module_name(path: Path) -> str:
    """``growsim/spec/config.py`` -> ``growsim.spec.config``; a package's ``__init__`` is the package."""
    parts = ("growsim", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Which growsim modules each growsim module imports when it runs (packages by name)."""
    modules = {module_name(path): path for path in MODULES}
    return {
        name: {
            m
            for m in imports_of(path.read_text(), path, typing_only=False)
            if m in modules and m != name
        }
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph``: its strongly connected components of more than one
    module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for child in sorted(graph.get(node, ())):
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle_and_only_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_two_modules_import_each_other_even_within_a_stage():
    """Stages import only leftwards; within a stage, modules must not import each other in a
    circle either (directly or through others), inside functions included."""
    assert cycles(import_graph()) == []


def test_every_stage_is_a_package_and_the_tree_holds_nothing_else():
    top = {p.stem for p in PACKAGE.glob("*.py")}
    top |= {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert top == {
        "__init__",
        "__main__",
        *SHARED,
        *STAGES,
        "specs",
    }  # specs: the shipped specs (data)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_passes_400_lines(path):
    lines = len(path.read_text().splitlines())
    assert lines <= 400, f"{path.relative_to(PACKAGE)} has {lines} lines: split it by job"
