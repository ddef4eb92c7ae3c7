"""``growsim.load_spec``: a spec file, with keys set from Python."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from growsim.spec import Spec


def load_spec(
    path: str | Path,
    overrides: Mapping[str, Any] | None = None,
    /,
    *,
    check_files: bool = False,
    **keys: Any,
) -> Spec:
    """Read and check the YAML spec at ``path``, with some keys set to other values.

    A key is named by its dotted path, either in the ``overrides`` mapping or as a keyword
    argument with ``__`` for each dot; a keyword wins over the mapping. For example,

        growsim.load_spec("specs/quick.yaml", {"training.iterations": 200})
        growsim.load_spec("specs/quick.yaml", training__iterations=200, name="quick-200")

    Values are Python values (numbers, strings, lists, dicts), checked like the file's.
    ``check_files`` also checks that the data the spec reads from disk is there. The result
    is a frozen ``Spec``; ``dataclasses.replace`` makes a changed copy, checked again.
    Raises ``SpecError`` naming the file, the line (or the override) and the key.
    """
    from growsim.spec import load_spec as load

    return load(path, override_items(overrides, keys), check_files)


def override_items(overrides: Mapping[str, Any] | None, keys: Mapping[str, Any]) -> list[str]:
    """``key.path=value`` overrides from a mapping of dotted keys and from keyword arguments
    (``__`` for the dots; they win)."""
    from growsim.spec import override_item

    settings = {
        **(overrides or {}),
        **{key.replace("__", "."): value for key, value in keys.items()},
    }
    return [override_item(key, value) for key, value in settings.items()]
