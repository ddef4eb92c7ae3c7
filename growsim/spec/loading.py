"""YAML spec text -> a validated ``Spec``, with every error naming file, line and key path,
e.g. ``specs/x.yaml:12: costs.time.weight: must be >= 0, got -1``.

Types and ranges are checked by pydantic (growsim.spec.config); this module reads the YAML
with the line of every key, applies ``--set`` overrides, turns pydantic's error locations
into key paths and lines, and runs the checks across keys (growsim.spec.checks).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml
from pydantic import TypeAdapter, ValidationError

from growsim.errors import SpecError
from growsim.spec.checks import SpecCheckError, check_data_files
from growsim.spec.config import Spec
from growsim.spec.messages import key_path, message, strip_optional
from growsim.spec.shipped import shipped_specs

SPEC_ADAPTER = TypeAdapter(Spec)
# Keys that were renamed: old key path -> new key path.
RENAMED = {  # old key path: (new key path, why)
    "training.steps": (
        "training.iterations",
        "it counts optimiser iterations; lattice.steps counts recurrent time steps",
    ),
}


def load_spec(
    path: str | Path, overrides: list[str] | None = None, check_files: bool = False
) -> Spec:
    """Read, override (``key.path=value``) and validate a YAML spec file.

    ``check_files`` also checks that the data the spec reads from disk is there (not for a
    spec with a sweep: block, whose members may read other data; see ``load_sweep``).
    """
    return parse_spec(read_spec_text(path), str(path), overrides, check_files)


def read_spec_text(path: str | Path) -> str:
    """The text of a spec file; a SpecError naming the file when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        hint = ""
        if isinstance(error, FileNotFoundError) and (shipped_specs() / Path(path).name).is_file():
            hint = f" (growsim ships a spec of that name: {shipped_specs() / Path(path).name})"
        raise SpecError(f"{path}: cannot read the spec: {error.strerror or error}{hint}") from None
    except UnicodeDecodeError:
        raise SpecError(
            f"{path}: not a text file (a spec is YAML text in UTF-8); is this the spec you meant?"
        ) from None


def parse_spec(
    text: str,
    source: str = "<spec>",
    overrides: list[str] | None = None,
    check_files: bool = False,
) -> Spec:
    """Validate spec text; ``source`` names it in error messages."""
    raw, lines = read_raw_spec(text, source, overrides)
    spec = spec_from_dict(raw, source=source, lines=lines)
    if check_files and spec.sweep is None:
        check_data_source(spec, source, lines)
    return spec


def read_raw_spec(
    text: str, source: str = "<spec>", overrides: list[str] | None = None
) -> tuple[dict, dict[str, int | str]]:
    """Spec text with ``overrides`` set -> (plain mapping, where every key path was given:
    its line, or the ``--set`` that set it); not yet validated.

    Refuses an empty spec and a key given twice in one mapping (YAML would silently keep
    the second).
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        lines = _key_lines(node, source)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(error, "problem", None) or str(error)
        raise SpecError(f"{where}: not valid YAML: {problem}") from None
    if raw is None:
        raise SpecError(
            f"{source}: the spec is empty (no keys, only comments or blank lines). A spec is a "
            "YAML mapping, at least `training: {iterations: 600}`; specs/quick.yaml is a full "
            "example."
        )
    if not isinstance(raw, dict):
        raise SpecError(
            f"{source}: a spec must be a YAML mapping of keys to values, got {type(raw).__name__}"
        )
    overrides = overrides or []
    return apply_overrides(raw, overrides, source), _override_lines(lines, overrides)


def parse_stored_spec(text: str, source: str) -> Spec:
    """A run's own ``spec.yaml``, also as an older growsim wrote it (renamed keys are read
    under their new names, so runs made before a rename can be resumed and predicted from)."""
    raw, lines = read_raw_spec(text, source)
    for old, section, key in _renamed_keys(raw):
        raw[section].setdefault(RENAMED[old][0].rpartition(".")[2], raw[section].pop(key))
    return spec_from_dict(raw, source, lines)


def spec_error(source: str, lines: dict, path: str, message: str) -> SpecError:
    """A SpecError reading ``source:line: key.path: message`` (line of the nearest known key)."""
    return _Context(source, lines).error(path, message)


def spec_from_dict(raw: dict, source: str = "<spec>", lines: dict | None = None) -> Spec:
    """Build a validated Spec from a plain nested mapping."""
    context = _Context(source, lines or {})
    _check_keys_are_names(raw, "", context)
    for old, _, _ in _renamed_keys(raw):
        raise context.error(old, f"renamed to {_renamed_to(old)}")
    try:
        return SPEC_ADAPTER.validate_python(raw)  # a Spec checks itself as it is made
    except ValidationError as error:
        problems = [context.error(key_path(item["loc"]), message(item)) for item in error.errors()]
        raise SpecError("\n".join(str(problem) for problem in problems)) from None
    except SpecCheckError as error:
        raise context.error(error.key, error.problem) from None


def check_data_source(spec: Spec, source: str = "<spec>", lines: dict | None = None) -> None:
    """SpecError when the data the spec reads from disk is not there."""
    check_data_files(spec, _Context(source, lines or {}).error)


def spec_schema() -> dict:
    """The JSON Schema of a spec file (for editors: completion and checks)."""
    schema = SPEC_ADAPTER.json_schema()
    schema["title"] = "growsim spec"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def spec_schema_text() -> str:
    """``spec_schema()`` as the JSON text ``growsim schema`` prints."""
    return json.dumps(spec_schema(), indent=2) + "\n"


def apply_overrides(raw: dict, overrides: list[str], source: str = "<spec>") -> dict:
    """Return a copy of ``raw`` with each ``a.b.c=value`` override set (value parsed as YAML)."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        key, sep, value_text = item.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"--set {item!r}: expected KEY.PATH=VALUE, e.g. training.seed=3")
        try:
            value = yaml.safe_load(value_text)
        except yaml.YAMLError:
            raise SpecError(f"--set {item!r}: the value is not valid YAML") from None
        parts = key.strip().split(".")
        _check_override_path(parts, item)
        target = raw
        for part in parts[:-1]:
            child = target.get(part)
            if not isinstance(child, dict):
                child = {}
                target[part] = child
            target = child
        target[parts[-1]] = value
    return raw


def override_item(key: str, value: Any) -> str:
    """The ``key.path=value`` override that sets ``key`` to the Python ``value`` (written as
    YAML, so ``apply_overrides`` reads it back to an equal value)."""
    text = yaml.safe_dump(plain_value(value), default_flow_style=True, width=float("inf"))
    return f"{key}={text.strip().removesuffix('...').strip()}"


def spec_to_dict(spec: Spec) -> dict:
    """The spec as a plain nested dict of dicts, lists and values (for YAML dumps and
    trajectory attrs)."""
    return plain_value(dataclasses.asdict(spec))


def spec_to_yaml(spec: Spec) -> str:
    """The spec as YAML text that ``parse_spec`` reads back to an equal Spec."""
    return yaml.safe_dump(spec_to_dict(spec), sort_keys=False)


# --------------------------------------------------------------------------- internals


@dataclass
class _Context:
    source: str
    lines: dict

    def error(self, path: str, message: str) -> SpecError:
        line = self._line_for(path)
        if isinstance(line, str):  # the value came from a --set override
            where = line
        else:
            where = f"{self.source}:{line}" if line else self.source
        return SpecError(f"{where}: {path or '<top level>'}: {message}")

    def _line_for(self, path: str) -> int | str | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            shorter = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", path)  # drop the last key or index
            path = "" if shorter == path else shorter  # a top-level key: nothing above it
        return None


def plain_value(value: Any) -> Any:
    """``value`` as what YAML's safe dumper writes: mappings as dicts, tuples as lists, numpy
    arrays and numbers as lists and Python numbers."""
    if hasattr(value, "tolist"):  # numpy
        value = value.tolist()
    if isinstance(value, Mapping):
        return {key: plain_value(child) for key, child in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_value(child) for child in value]
    return value


def _check_keys_are_names(value: Any, path: str, context: _Context) -> None:
    """Refuse a mapping key that is not text (YAML reads ``1:`` or ``null:`` as a number or
    None), naming where it is."""
    if isinstance(value, dict):
        for key, child in value.items():
            if not isinstance(key, str):
                spelled = (
                    "null"
                    if key is None
                    else str(key).lower()
                    if isinstance(key, bool)
                    else str(key)
                )
                raise context.error(_join(path, spelled), f"a key must be a name, got {key!r}")
            _check_keys_are_names(child, _join(path, key), context)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_keys_are_names(item, f"{path}[{index}]", context)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _override_lines(lines: dict[str, int | str], overrides: list[str]) -> dict[str, int | str]:
    """``lines`` with each key an override sets (and every key below it) attributed to that
    ``--set``, so an error in an overridden value names the ``--set``, not a line of the file."""
    lines = dict(lines)
    for item in overrides:
        key = item.partition("=")[0].strip()
        for path in [p for p in lines if p == key or p.startswith((f"{key}.", f"{key}["))]:
            del lines[path]
        lines[key] = f"--set {item!r}"
    return lines


def _key_lines(node: yaml.Node | None, source: str, prefix: str = "") -> dict[str, int]:
    """Map every key path in a composed YAML tree to its 1-based line number; a SpecError
    when a mapping holds one key twice."""
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        first_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            path = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            line = key_node.start_mark.line + 1
            if path in first_lines:
                raise SpecError(
                    f"{source}:{line}: {path}: given twice (first at line {first_lines[path]}); "
                    "YAML would keep only the second. Merge the two into one."
                )
            first_lines[path] = line
            lines[path] = line
            lines.update(_key_lines(value_node, source, path))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            path = f"{prefix}[{index}]"
            lines[path] = item.start_mark.line + 1
            lines.update(_key_lines(item, source, path))
    return lines


def _check_override_path(parts: list[str], item: str) -> None:
    cls: Any = Spec
    for depth, part in enumerate(parts):
        old = ".".join(parts[: depth + 1])
        if old in RENAMED:
            raise SpecError(f"--set {item!r}: {old} was renamed to {_renamed_to(old)}")
        hints = typing.get_type_hints(cls)
        if part not in hints:
            where = ".".join(parts[:depth]) or "the top level"
            raise SpecError(f"--set {item!r}: {where} has no key {part!r}")
        inner = strip_optional(hints[part])
        if depth < len(parts) - 1 and not dataclasses.is_dataclass(inner):
            if typing.get_origin(inner) is dict:
                return
            raise SpecError(f"--set {item!r}: {'.'.join(parts[: depth + 1])} is not a section")
        cls = inner


def _renamed_keys(raw: dict) -> list[tuple[str, str, str]]:
    """(old key path, section, key) of every renamed key ``raw`` still uses."""
    found = []
    for old in RENAMED:
        section, _, key = old.rpartition(".")
        if isinstance(raw.get(section), dict) and key in raw[section]:
            found.append((old, section, key))
    return found


def _renamed_to(old: str) -> str:
    """The new key path of a renamed key, with why: ``training.iterations (it counts ...)``."""
    new, why = RENAMED[old]
    return f"{new} ({why})"
