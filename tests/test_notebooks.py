"""The example notebooks run top to bottom in a fresh kernel (all three in well under a minute
on 2 cores: one tiny run, trained by the first and reused by the others), and are committed
without outputs."""

import os
import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A copy of examples/, where the notebooks run and write their outputs/."""
    copy = tmp_path_factory.mktemp("examples")
    shutil.copytree(
        EXAMPLES,
        copy,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("outputs", ".ipynb_checkpoints"),
    )
    return copy


def test_there_are_the_three_examples():
    assert [p.stem for p in NOTEBOOKS] == [
        "activations_rdm",
        "growth",
        "stimuli_and_reaction_times",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_is_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name}: strip its outputs"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_runs_top_to_bottom(path, folder, monkeypatch):
    # The kernel imports this checkout's growsim, as the tests do.
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
    notebook = nbformat.read(folder / path.name, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    client.execute()  # a cell that raises fails the test with its traceback
    outputs = [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    ]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert figures, "every example draws at least one figure"
