"""The docs site: its generated pages cover what they say (every spec key with its meaning,
every command, the benchmark run's table), the reproduction page quotes only numbers the
results page holds, every link between pages leads to a file, and mkdocs builds it
with --strict."""

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from growsim.spec import spec_schema

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(
    p
    for p in DOCS.rglob("*.md")
    if "results" not in p.relative_to(DOCS).parts[:1] and p.name != "results.md"
)


def generated():
    """docs/generated.py, the mkdocs hook that writes the generated parts."""
    spec = importlib.util.spec_from_file_location("docs_generated", DOCS / "generated.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def leaf_keys(schema, node, path):
    """Every leaf key path below ``node`` of the spec's JSON Schema."""
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    if node.get("type") == "object" and "properties" in node:
        return [
            k
            for key, child in node["properties"].items()
            for k in leaf_keys(schema, child, f"{path}.{key}".lstrip("."))
        ]
    return [path]


def test_the_spec_reference_has_a_row_with_a_meaning_for_every_key():
    schema = spec_schema()
    keys = leaf_keys(schema, schema, "")
    assert len(keys) > 60 and "lattice.layers.initial" in keys and "record.keep_models" in keys
    rows = {}
    for line in generated().spec_reference().splitlines():
        found = re.match(r"\| `([\w.]+)` \| (.*) \| (.*) \| (.*) \|$", line)
        if found:
            rows[found.group(1)] = found.groups()[1:]
    assert set(rows) == set(keys)
    for key, (kind, default, meaning) in rows.items():
        assert kind and default and len(meaning) > 10, key
    assert rows["lattice.channels.max"][1] == "`32`"  # the section's own default, not Extent's
    assert "(or unset)" in rows["training.iterations"][0]


def test_the_command_line_reference_has_every_command():
    from growsim.cli import build_parser

    page = generated().command_line_reference()
    (commands,) = [
        a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction"
    ]
    for name in commands.choices:
        assert f"## `growsim {name}`" in page and f"usage: growsim {name}" in page


def test_the_benchmark_table_is_the_one_a_full_benchmark_run_wrote():
    sys.path.insert(0, str(ROOT))
    from benchmarks.__main__ import GROUPS, table

    saved = DOCS / "results" / "benchmarks" / "cpu-2core.json"
    rows = json.loads(saved.read_text())["rows"]
    assert {row["group"] for row in rows} == set(GROUPS)  # a full run, every group
    assert generated().benchmark_table() == table(rows)
    assert "<!-- generated: benchmark-table -->" in (DOCS / "benchmarks.md").read_text()


def test_the_hook_puts_each_generated_part_in_place_of_its_marker():
    hook = generated()
    page = "# x\n\n<!-- generated: command-line -->\n"
    made = hook.on_page_markdown(page, page=None)
    assert "<!-- generated" not in made and "usage: growsim" in made


def test_reproducing_the_paper_quotes_only_numbers_that_the_results_page_holds():
    """Every number of the findings on docs/reproducing.md comes from docs/results.md, the
    page `growsim reproduce` wrote."""
    page = (DOCS / "reproducing.md").read_text()
    section = page.split("\n## The short-budget protocol\n", 1)[1].split(
        "\n## Where it writes\n", 1
    )[0]
    results = (DOCS / "results.md").read_text()
    prose = re.sub(r"```.*?```", "", section, flags=re.DOTALL)  # commands, not results
    prose = re.sub(r"\]\([^)]*\)|`[^`]*`", "", prose)  # links and code name files
    numbers = re.findall(r"[-+]?\d+(?:\.\d+)?", prose)
    assert len(numbers) > 20, "the page should quote the findings"
    missing = [n for n in numbers if not re.search(rf"(?<![\d.]){re.escape(n)}(?![\d])", results)]
    assert not missing, f"numbers on docs/reproducing.md not in docs/results.md: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_every_link_of_a_page_leads_to_a_file(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    for link in re.findall(r"\]\(([^)#\s]+)", text):
        if "://" not in link:
            assert (page.parent / link).exists(), f"{page.name}: {link}"


def test_the_nav_lists_every_page_written_for_the_site():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in PAGES:
        assert str(page.relative_to(DOCS)) in nav, page


def test_the_site_builds_with_every_warning_an_error(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    mkdocs = shutil.which("mkdocs") or pytest.skip("no mkdocs command")
    finished = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    reference = (tmp_path / "site" / "spec-reference" / "index.html").read_text()
    assert "lattice.layers.initial" in reference and "<!-- generated" not in reference
    assert "load_spec" in (tmp_path / "site" / "api" / "index.html").read_text()
