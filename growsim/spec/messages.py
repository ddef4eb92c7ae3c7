"""pydantic's validation errors in the words of growsim's spec errors: the key path of an
error's location, and what is wrong ("must be >= 0, got -1", "unknown key (known keys
here: ...)")."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from growsim.spec.config import Spec


def strip_optional(hint: Any) -> Any:
    """``X`` from ``X | None``; any other type hint as it is."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def key_path(location: tuple) -> str:
    """A pydantic error location as a key path: ``data.occlusion.levels[1]``."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def _section_keys(location: tuple) -> list[str]:
    """The keys the section at ``location`` (a key path's parts) knows."""
    cls: Any = Spec
    for part in location:
        if isinstance(part, str):
            cls = strip_optional(typing.get_type_hints(cls)[part])
    return sorted(field.name for field in dataclasses.fields(cls))


_TYPE_WORDS = {
    "int_type": "an integer", "tuple_type": "a list", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
    "bool_parsing": "true or false", "string_type": "a string", "list_type": "a list",
    "dict_type": "a mapping", "dataclass_type": "a mapping of keys",
}  # fmt: skip
_LIMIT_WORDS = {
    "greater_than_equal": ">=",
    "greater_than": ">",
    "less_than_equal": "<=",
    "less_than": "<",
}


def message(item: dict) -> str:
    """What a pydantic error says, in the words of growsim's spec errors."""
    kind, value, context = item["type"], item.get("input"), item.get("ctx") or {}
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        return f"unknown key (known keys here: {', '.join(_section_keys(item['loc'][:-1]))})"
    if kind in _LIMIT_WORDS:
        limit = next(iter(context.values()))
        return f"must be {_LIMIT_WORDS[kind]} {limit:g}, got {_shown(value)}"
    if kind == "literal_error":
        return f"must be one of {context['expected'].replace(' or ', ', ')}, got {_describe(value)}"
    if kind in _TYPE_WORDS:
        return f"must be {_TYPE_WORDS[kind]}, got {_describe(value)}"
    return item["msg"]


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return _describe(value)


def _describe(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return f"a {type(value).__name__}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
