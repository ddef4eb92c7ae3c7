"""The README gets a newcomer running: its two set-up commands are the ones that work (and the
test command is the one CI runs), every growsim command line in it parses, its Python tour
runs as written, every link in it leads to a file, and it stays short."""

import re
import shlex
from pathlib import Path

import pytest

from growsim.cli import build_parser
from tests.conftest import TINY_SPEC

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
INSTALL = 'pip install torch==2.13.0 -e ".[test]" && growsim run specs/quick.yaml'
TEST = "python -m pytest"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_the_two_set_up_commands_are_there_verbatim():
    commands = [line.strip() for block in blocks("bash") for line in block.splitlines()]
    assert INSTALL in commands and TEST in commands


def test_the_set_up_commands_name_what_exists():
    """The install names the test extra and a spec that ship; CI runs the README's test
    command (as python3)."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r"^test = \[", pyproject, flags=re.MULTILINE)
    assert (ROOT / "specs" / "quick.yaml").is_file()
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert f"python3 {TEST.removeprefix('python ')}" in ci


def test_every_growsim_command_line_parses():
    parser = build_parser()
    commands = []
    for block in blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():  # join continued lines
            for part in line.split("#")[0].split("&&"):
                words = shlex.split(part)
                if words[:1] == ["growsim"]:
                    commands.append(words[1:])
    assert len(commands) >= 10
    for words in commands:
        if words in (["--help"], ["--version"]):
            continue
        parser.parse_args(words)  # SystemExit on an option the parser does not know


def test_the_python_tour_runs_as_written(tmp_path, monkeypatch):
    """The tour's block, on a tiny spec instead of the quick one, in a scratch directory."""
    (tmp_path / "tiny.yaml").write_text(TINY_SPEC)
    monkeypatch.chdir(tmp_path)
    (block,) = blocks("python")
    assert '"specs/quick.yaml"' in block
    namespace: dict = {}
    exec(
        compile(block.replace('"specs/quick.yaml"', '"tiny.yaml"'), "README.md", "exec"), namespace
    )
    import matplotlib.pyplot as plt

    plt.close("all")  # the xarray plot's figure
    run = namespace["run"]
    assert run.path == Path("outputs") / "quick-400" and run.finished
    assert int(run.trajectory.iteration[-1]) == 400
    assert len(namespace["figure"].axes) >= 4


def test_every_relative_link_leads_to_a_file():
    links = re.findall(r"\]\(([^)#\s]+)", README)
    relative = [link for link in links if "://" not in link]
    assert len(relative) >= 10
    missing = [link for link in relative if not (ROOT / link).exists()]
    assert not missing, missing


def test_the_readme_stays_short_and_leaves_changing_numbers_to_generated_pages():
    assert len(README.splitlines()) < 220
    prose = re.sub(r"```.*?```", "", README, flags=re.DOTALL)
    durations = re.findall(r"\b\d+(?:\.\d+)?\s*(?:s|min|minutes|hours?)\b", prose)
    assert not durations, durations


SPECS = sorted((ROOT / "specs").glob("*.yaml"))
DURATION = re.compile(
    r"\b(\d+(\.\d+)?\s*(s|sec|seconds?|min|minutes?|h|hours?)|a minute|an hour)\b"
)


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_spec_comments_leave_wall_times_to_the_docs_and_name_pages_that_exist(path):
    comments = " ".join(
        line for line in path.read_text().splitlines() if line.lstrip().startswith("#")
    )
    assert not DURATION.search(comments), DURATION.search(comments).group(0)
    for page in re.findall(r"docs/[\w/.-]+\.md", comments):
        assert (ROOT / page).is_file(), page
