"""The README's examples run as written: every Python block against a small real run and
sweep, every growsim command line through the parser, the sweep: block through the loader."""

import re
import shlex
from pathlib import Path

import matplotlib
import pytest

from growsim.cli import build_parser, main
from growsim.sweep.spec import parse_sweep
from tests.conftest import TINY_SPEC

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

README = (Path(__file__).parent.parent / "README.md").read_text()

# A run with checkpoints at iterations 0, 600 and 1200 (the README selects 1200 and >= 1000):
# small batches keep 1200 iterations to a few seconds.
RUN_SETTINGS = ["training.batch_size=4", "training.iterations=1200", "record.every=600",
                "data.train_size=200", "data.test_size=60"]  # fmt: skip
SWEEP_SPEC = TINY_SPEC.replace("name: tiny", "name: readme-sweep") + """
sweep:
  grid:
    costs.time.weight: [0.0, 0.02]
"""


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """{README path: real path} of a small run and a small sweep."""
    root = tmp_path_factory.mktemp("readme")
    spec = root / "tiny.yaml"
    spec.write_text(TINY_SPEC)
    overrides = [item for setting in RUN_SETTINGS for item in ("--set", setting)]
    common = ["--out", str(root), "--no-progress"]
    assert main(["run", str(spec), "--name", "occlusion", *overrides, *common]) == 0
    sweep = root / "sweep.yaml"
    sweep.write_text(SWEEP_SPEC)
    short = ["--set", "training.iterations=20", "--set", "record.every=10", "--workers", "2"]
    assert main(["sweep", str(sweep), *short, *common]) == 0
    return {"outputs/occlusion": root / "occlusion", "outputs/tradeoff": root / "readme-sweep"}


def test_every_python_block_runs_as_written(outputs):
    python = blocks("python")
    assert len(python) >= 2
    namespace: dict = {}
    for block in python:
        for shown, real in outputs.items():
            block = block.replace(f'"{shown}/', f'"{real}/')
        exec(compile(block, "README.md", "exec"), namespace)  # one session, as a reader types it
    # "width of every layer over training": one line per layer against the iterations
    lines = plt.gca().get_lines()
    run = namespace["run"]
    assert len(lines) == run.sizes["layer"]
    assert [line.get_xdata().tolist() for line in lines] == [[0, 600, 1200]] * len(lines)
    assert plt.gca().get_xlabel().startswith("training iterations")
    assert plt.gca().get_ylabel().startswith("active channels per layer")
    plt.close("all")
    assert int(run.sel(iteration=1200).depth) == int(run.depth[-1])


def test_every_growsim_command_line_parses():
    parser = build_parser()
    commands = []
    for block in blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():  # join continued lines
            for part in line.split("#")[0].split("&&"):
                words = shlex.split(part)
                if words[:1] == ["growsim"]:
                    commands.append(words[1:])
    assert len(commands) >= 15
    for words in commands:
        if words in (["--help"], ["--version"]):
            continue
        parser.parse_args(words)  # SystemExit on an option the parser does not know


def test_the_sweep_block_is_a_valid_sweep():
    (sweep_block,) = [b for b in blocks("yaml") if b.startswith("sweep:")]
    sweep = parse_sweep(TINY_SPEC + sweep_block)
    assert len(sweep.members) == 2 * 2 * 1 * 3


SPECS = sorted((Path(__file__).parent.parent / "specs").glob("*.yaml"))
DURATION = re.compile(r"\b(\d+(\.\d+)?\s*(s|sec|seconds?|min|minutes?|h|hours?)|a minute|an hour)\b")


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_spec_comments_leave_wall_times_to_the_readme(path):
    comments = " ".join(line for line in path.read_text().splitlines() if line.startswith("#"))
    assert not DURATION.search(comments), DURATION.search(comments).group(0)
    assert "README" in comments


def test_the_quick_demo_says_what_it_is_for():
    comments = (Path(__file__).parent.parent / "specs" / "quick.yaml").read_text()
    assert "smoke demo of growth, not of the paper's findings" in comments
    assert "`specs/quick.yaml` is a fast smoke demo of *growth*" in README


def test_the_benchmark_table_is_the_one_the_benchmark_wrote():
    import json

    from benchmarks.__main__ import table

    saved = Path(__file__).parent.parent / "docs" / "results" / "benchmarks" / "cpu-2core.json"
    rows = json.loads(saved.read_text())["rows"]
    assert table(rows) in README
    groups = {row["group"] for row in rows}
    from benchmarks.__main__ import GROUPS

    assert groups == set(GROUPS)  # a full run, every group


def test_benchmark_options_parse_and_render_a_saved_run(tmp_path, capsys):
    import json

    from benchmarks.__main__ import main as benchmarks_main

    saved = tmp_path / "b.json"
    row = {"group": "floor", "measure": "m", "value": 0.5, "unit": "fraction", "target": "t"}
    saved.write_text(json.dumps({"machine": {}, "rows": [row]}))
    assert benchmarks_main(["--render", str(saved)]) == 0
    assert "| m | 50.0% | t |  |" in capsys.readouterr().out


def test_reproducing_the_paper_quotes_only_numbers_that_docs_results_md_holds():
    """Every number in the README's "Reproducing the paper" comes from the results page
    `growsim reproduce` wrote."""
    section = README.split("\n## Reproducing the paper\n", 1)[1].split("\n## ", 1)[0]
    results = (Path(__file__).parent.parent / "docs" / "results.md").read_text()
    prose = re.sub(r"```.*?```", "", section, flags=re.DOTALL)  # commands, not results
    prose = re.sub(r"\]\([^)]*\)|`[^`]*`", "", prose)  # links and code name files
    numbers = re.findall(r"[-+]?\d+(?:\.\d+)?", prose)
    assert len(numbers) > 20, "the section should quote the findings"
    missing = [n for n in numbers if not re.search(rf"(?<![\d.]){re.escape(n)}(?![\d])", results)]
    assert not missing, f"numbers in the README's 'Reproducing the paper' not in docs/results.md: {missing}"
