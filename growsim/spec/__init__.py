"""Stage 1, spec: YAML text -> a typed, validated ``Spec``.

Every error names the file, the line and the key path. Imports nothing else of growsim
but ``growsim.errors``.
"""

from growsim.spec.loading import (
    DATA_DEFAULT_PATHS,
    DataConfig,
    OcclusionConfig,
    Spec,
    load_spec,
    parse_spec,
    spec_to_dict,
    spec_to_yaml,
)

__all__ = [
    "DATA_DEFAULT_PATHS", "DataConfig", "OcclusionConfig", "Spec", "load_spec", "parse_spec",
    "spec_to_dict", "spec_to_yaml",
]  # fmt: skip
