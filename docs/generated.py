"""The docs site's generated parts, so they cannot drift from the code: the spec reference
(from the spec's JSON Schema, ``growsim schema``), the command-line reference (from the
``growsim`` parser) and the benchmark table (from the JSON the benchmark run wrote).

mkdocs runs this file as a hook (``hooks:`` in mkdocs.yml): a page holding a marker such as
``<!-- generated: spec-reference -->`` gets the generated Markdown in its place. The tests
call the generators directly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent


# --------------------------------------------------------------------------- spec reference


def spec_reference() -> str:
    """Every key of a spec: one table per section, with its type, default and meaning."""
    from growsim.spec import parse_spec, spec_schema, spec_to_dict

    schema = spec_schema()
    defaults = spec_to_dict(parse_spec("training: {iterations: 1}"))
    defaults["training"]["iterations"] = None  # set only to make the defaults a valid spec
    lines = []
    for section, node in schema["properties"].items():
        rows = list(_rows(schema, section, node, defaults.get(section)))
        title = f"## `{section}`"
        described = _resolve(schema, node)
        lines += [title, "", described.get("description", node.get("description", "")).strip(), ""]
        if len(rows) == 1 and rows[0][0] == section:  # a key, not a section
            lines += ["| key | type | default | |", "|---|---|---|---|", _row(*rows[0]), ""]
            continue
        lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
        lines += [_row(*row) for row in rows]
        lines.append("")
    return "\n".join(lines)


def spec_key_paths() -> list[str]:
    """Every leaf key path of a spec, e.g. ``lattice.layers.initial``."""
    from growsim.spec import spec_schema

    schema = spec_schema()
    return [
        row[0]
        for section, node in schema["properties"].items()
        for row in _rows(schema, section, node, None)
    ]


def _rows(schema: dict, path: str, node: dict, default: Any):
    """(key path, type, default, description) of every leaf under ``node``."""
    target = _resolve(schema, node)
    if target.get("type") == "object" and "properties" in target:
        for key, child in target["properties"].items():
            yield from _rows(
                schema,
                f"{path}.{key}",
                child,
                (default or {}).get(key) if isinstance(default, dict) else None,
            )
        return
    value = node.get("default", default) if default is None else default
    yield (
        path,
        _type(schema, node),
        _shown(value),
        node.get("description", target.get("description", "")),
    )


def _resolve(schema: dict, node: dict) -> dict:
    if "$ref" in node:
        return schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _type(schema: dict, node: dict) -> str:
    node = _resolve(schema, node)
    if "anyOf" in node:
        kinds = [_type(schema, option) for option in node["anyOf"] if option.get("type") != "null"]
        return " or ".join(kinds) + " (or unset)"
    if "enum" in node:
        return " \\| ".join(f"`{value}`" for value in node["enum"])
    kind = node.get("type", "")
    if kind == "array":
        return f"list of {_type(schema, node.get('items', {}))}"
    if kind == "object":
        return "mapping"
    limits = [f"{word} {node[key]:g}" for key, word in (
        ("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"),
    ) if key in node]  # fmt: skip
    return ", ".join(
        [
            {
                "integer": "integer",
                "number": "number",
                "boolean": "true/false",
                "string": "text",
            }.get(kind, kind),
            *limits,
        ]
    )


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, list):
        return "`[" + ", ".join(str(v) for v in value) + "]`"
    return f"`{value}`"


def _row(path: str, kind: str, default: str, description: str) -> str:
    cells = [f"`{path}`", kind, default, description.replace("|", "\\|").replace("\n", " ")]
    return "| " + " | ".join(cells) + " |"


# --------------------------------------------------------------------------- command line


def command_line_reference() -> str:
    """``growsim --help`` and every command's ``--help``, as the parser prints them."""
    from growsim.cli import build_parser

    parser = build_parser()
    (commands,) = [
        action for action in parser._actions if action.__class__.__name__ == "_SubParsersAction"
    ]
    lines = ["## `growsim`", "", "```text", _help(parser), "```", ""]
    for name, command in commands.choices.items():
        lines += [f"## `growsim {name}`", "", "```text", _help(command), "```", ""]
    return "\n".join(lines)


def _help(parser) -> str:
    import os

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # the same width on every machine
    try:
        return parser.format_help().rstrip()
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous


# --------------------------------------------------------------------------- benchmarks

BENCHMARKS = ROOT / "docs" / "results" / "benchmarks" / "cpu-2core.json"


def benchmark_table(path: Path = BENCHMARKS) -> str:
    """The table ``python -m benchmarks --render PATH`` prints."""
    import sys

    sys.path.insert(0, str(ROOT))  # benchmarks/ is beside the package, not part of it
    try:
        from benchmarks.__main__ import table
    finally:
        sys.path.remove(str(ROOT))
    return table(json.loads(Path(path).read_text())["rows"])


TIME_TO_COMPETENCE = ROOT / "docs" / "results" / "time-to-competence"
SHARED_MACHINE = ROOT / "docs" / "results" / "benchmarks" / "shared-machine.json"
RUN_PROFILE = ROOT / "docs" / "results" / "benchmarks" / "run-profile.json"


def _benchmark_module(name: str):
    import importlib
    import sys

    sys.path.insert(0, str(ROOT))
    try:
        return importlib.import_module(f"benchmarks.{name}")
    finally:
        sys.path.remove(str(ROOT))


def time_to_competence_tables() -> str:
    """The tables ``python -m benchmarks.time_to_competence --render`` prints, one per saved run."""
    render = _benchmark_module("time_to_competence").render
    paths = sorted(TIME_TO_COMPETENCE.glob("*.json"))
    if not paths:
        return "*Not measured yet: run `python -m benchmarks.time_to_competence --out FILE`.*"
    return "\n\n".join(render(json.loads(path.read_text())) for path in paths)


def shared_machine_table() -> str:
    """The table ``python -m benchmarks.shared_machine --render`` prints."""
    if not SHARED_MACHINE.exists():
        return "*Not measured on a quiet machine yet: run `python -m benchmarks.shared_machine --out FILE`.*"
    return _benchmark_module("shared_machine").render(json.loads(SHARED_MACHINE.read_text()))


def run_profile_table() -> str:
    """The table ``python -m benchmarks.run_profile --render`` prints."""
    if not RUN_PROFILE.exists():
        return "*Not measured yet: run `python -m benchmarks.run_profile --out FILE`.*"
    return _benchmark_module("run_profile").render(json.loads(RUN_PROFILE.read_text()))


# --------------------------------------------------------------------------- the mkdocs hook

GENERATORS = {
    "spec-reference": spec_reference,
    "command-line": command_line_reference,
    "benchmark-table": benchmark_table,
    "time-to-competence": time_to_competence_tables,
    "shared-machine": shared_machine_table,
    "run-profile": run_profile_table,
}


def on_page_markdown(markdown: str, **_) -> str:
    """mkdocs hook: put the generated Markdown in place of each marker."""
    for name, generate in GENERATORS.items():
        marker = f"<!-- generated: {name} -->"
        if marker in markdown:
            markdown = markdown.replace(marker, generate())
    return markdown
