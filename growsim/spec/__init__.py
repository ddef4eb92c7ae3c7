"""Stage 1, spec: YAML text -> a typed, validated ``Spec``.

``config`` (the typed sections, frozen pydantic dataclasses with defaults and limits; a
``Spec`` runs the checks across keys as it is made), ``loading`` (YAML with key lines,
``--set`` overrides, errors with file, line and key path, the JSON Schema), ``messages``
(pydantic's errors in growsim's words), ``checks`` (checks across keys, run names, data on
disk) and ``shipped`` (where the specs growsim ships are). Imports nothing else of growsim
but ``growsim.errors``.
"""

from growsim.spec.checks import DATA_DEFAULT_PATHS, data_source, run_name_problem
from growsim.spec.config import (
    ActiveConfig,
    CompactionConfig,
    CostConfig,
    CostsConfig,
    DataConfig,
    Extent,
    GrowthConfig,
    LatticeConfig,
    LearningRateSchedule,
    OcclusionConfig,
    RecordConfig,
    Schedule,
    Spec,
    TrainingConfig,
)
from growsim.spec.loading import (
    apply_overrides,
    check_data_source,
    load_spec,
    override_item,
    parse_spec,
    parse_stored_spec,
    read_raw_spec,
    read_spec_text,
    spec_error,
    spec_from_dict,
    spec_schema,
    spec_schema_text,
    spec_to_dict,
    spec_to_yaml,
)

__all__ = [
    "DATA_DEFAULT_PATHS", "ActiveConfig", "CompactionConfig", "CostConfig", "CostsConfig",
    "DataConfig", "Extent", "GrowthConfig", "LatticeConfig", "LearningRateSchedule",
    "OcclusionConfig", "RecordConfig", "Schedule", "Spec", "TrainingConfig", "apply_overrides",
    "check_data_source", "data_source", "load_spec", "override_item", "parse_spec", "parse_stored_spec", "read_raw_spec",
    "read_spec_text", "run_name_problem", "spec_error", "spec_from_dict", "spec_schema",
    "spec_schema_text", "spec_to_dict", "spec_to_yaml",
]  # fmt: skip
