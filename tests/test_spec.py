"""Spec loading: typed config, key-path errors with file and line, overrides, fuzzing."""

import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from growsim.errors import SpecError
from growsim.spec import (
    Spec,
    load_spec,
    parse_spec,
    parse_stored_spec,
    spec_from_dict,
    spec_schema,
    spec_schema_text,
    spec_to_dict,
    spec_to_yaml,
)

SPECS = sorted(Path(__file__).parent.parent.joinpath("specs").glob("*.yaml"))
MINIMAL = "training: {iterations: 10}\n"


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_shipped_spec_is_valid(path):
    assert isinstance(load_spec(path), Spec)


def test_values_land_in_typed_fields():
    spec = parse_spec(MINIMAL + "costs: {time: {weight: 0.5, schedule: {kind: linear, ramp: 10}}}")
    assert spec.costs.time.weight == 0.5
    assert spec.costs.time.schedule.ramp == 10
    assert spec.training.iterations == 10


def test_spec_round_trips_through_yaml():
    spec = parse_spec(MINIMAL + "data: {occlusion: {levels: [0.0, 0.3]}}")
    assert parse_spec(spec_to_yaml(spec)) == spec


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "costs:\n  time:\n    weight: -1\n",
            "spec.yaml:3: costs.time.weight: must be >= 0, got -1",
        ),
        (
            "lattice:\n  layers: {initial: 5, max: 2}\n",
            "spec.yaml:2: lattice.layers.initial: must be <= lattice.layers.max",
        ),
        ("training:\n  stepz: 3\n", "spec.yaml:2: training.stepz: unknown key"),
        (
            "training:\n  iterations: 'many'\n",
            "training.iterations: must be an integer, got 'many'",
        ),
        ("time_selection: sometimes\n", "time_selection: must be one of 'fixed', 'adaptive'"),
        (
            "data:\n  occlusion:\n    levels: [0.0, 1.5]\n",
            "data.occlusion.levels[1]: must be in [0, 1), got 1.5",
        ),
        ("lattice: [1, 2]\n", "lattice: must be a mapping of keys"),
        (
            "training: {iterations: 3, epochs: 2}\n",
            "training: set exactly one of training.iterations",
        ),
        ("lattice: {kernel_size: 2}\n", "lattice.kernel_size: must be odd"),
        ("lattice: {connections: [lateral]}\n", "lattice.connections: must include 'bottom_up'"),
        (
            "costs: {depth: {schedule: {kind: linear}}}\n",
            "costs.depth.schedule.ramp: a linear schedule needs ramp >= 1",
        ),
        ("growth: {enabled: 1}\n", "growth.enabled: must be true or false, got 1"),
        (
            "active: {channel_threshold: .nan}\n",
            "active.channel_threshold: must be a finite number",
        ),
        (
            "compaction: {step_mass: 0.1}\n",
            "spec.yaml:1: compaction.step_mass: must be below active.time_threshold",
        ),
        (
            "data: {dataset: fashion_mnist, clutter: 2}\n",
            "data.clutter: only the shapes dataset draws clutter",
        ),
        ("record: {exit_threshold: 0.9}\n", "record.exit_threshold: must be <= 0.5"),
        ("lattice: {readout_grid: 15}\n", "lattice.readout_grid: 15 exceeds the 14 x 14 positions"),
        (
            "training: {iterations: 10, lr_schedule: {final: 0.1}}\n",
            "training.lr_schedule.final: a constant schedule has no final rate",
        ),
        (
            "training: {iterations: 10, lr_schedule: {kind: cosine, warmup: 10}}\n",
            "training.lr_schedule.warmup: 10 iterations of warm-up leave none",
        ),
        (
            "training: {iterations: 10, time_entropy: 0.1}\n",
            "training.time_entropy: with costs.time.weight 0 the entropy bonus",
        ),
    ],
)
def test_errors_name_file_line_and_key_path(tmp_path, text, message):
    if "training" not in text:
        text = text + MINIMAL
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    assert message in str(raised.value)
    assert str(path) in str(raised.value)


def test_not_yaml_and_not_a_mapping_are_spec_errors(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("a: [1, 2\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(path)
    path.write_text("- 1\n- 2\n")
    with pytest.raises(SpecError, match="must be a YAML mapping"):
        load_spec(path)
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "missing.yaml")


def test_overrides_set_single_keys_and_are_validated():
    spec = parse_spec(MINIMAL, overrides=["training.seed=3", "costs.breadth.weight=0.1"])
    assert spec.training.seed == 3 and spec.costs.breadth.weight == 0.1
    with pytest.raises(SpecError, match="training has no key 'sed'"):
        parse_spec(MINIMAL, overrides=["training.sed=3"])
    with pytest.raises(SpecError, match="training.seed: must be >= 0"):
        parse_spec(MINIMAL, overrides=["training.seed=-2"])
    with pytest.raises(SpecError, match="expected KEY.PATH=VALUE"):
        parse_spec(MINIMAL, overrides=["training.seed"])


def test_bare_on_and_off_mean_on_and_off():
    assert parse_spec("training: {iterations: 1, compile: on}").training.compile == "on"
    assert parse_spec(MINIMAL, overrides=["training.compile=off"]).training.compile == "off"


def test_exponent_strings_are_read_as_numbers():
    # YAML 1.1 reads 1e-3 (no dot) as a string; a number field accepts it.
    assert parse_spec("training: {iterations: 1, lr: 1e-3}").training.lr == 1e-3


# ------------------------------------------------------------------ fuzzing

VALID = spec_to_dict(parse_spec(MINIMAL))


def _paths(tree, prefix=()):
    for key, value in tree.items():
        yield prefix + (key,)
        if isinstance(value, dict):
            yield from _paths(value, prefix + (key,))


PATHS = list(_paths(VALID))
JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
    st.text(max_size=8), st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PATHS), JUNK), min_size=1, max_size=4), st.booleans())
def test_fuzzed_specs_raise_only_spec_errors(mutations, add_unknown):
    import copy

    raw = copy.deepcopy(VALID)
    for path, value in mutations:
        target = raw
        for key in path[:-1]:
            if not isinstance(target.get(key), dict):
                break
            target = target[key]
        else:
            target[path[-1]] = value
    if add_unknown:
        raw["lattice"] = dict(raw["lattice"]) if isinstance(raw.get("lattice"), dict) else {}
        raw["lattice"]["bogus"] = 1
    text = yaml.safe_dump(raw)
    try:
        parse_spec(text)
    except SpecError:
        pass


# ------------------------------------------------------------------ what a file can hold


@pytest.mark.parametrize(
    "text, first, second, key",
    [
        ("costs:\n  time: {weight: 0.2}\ntraining: {iterations: 5}\ncosts:\n  breadth: {weight: 0.1}\n",
         1, 4, "costs"),
        ("training:\n  iterations: 5\n  lr: 0.1\n  seed: 1\n  lr: 0.2\n", 3, 5, "training.lr"),
        ("training: {iterations: 5, seed: 1, seed: 2}\n", 1, 1, "training.seed"),
    ],
)  # fmt: skip
def test_a_key_given_twice_is_refused_with_both_lines(tmp_path, text, first, second, key):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    assert f"spec.yaml:{second}: {key}: given twice (first at line {first})" in str(raised.value)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_an_empty_spec_says_it_is_empty(tmp_path, text):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match="spec.yaml: the spec is empty"):
        load_spec(path)


@pytest.mark.parametrize(
    "content", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"\xff\xfe\x00binary\x80"]
)
def test_a_binary_file_is_not_a_spec(tmp_path, content):
    path = tmp_path / "figure.png"
    path.write_bytes(content)
    with pytest.raises(SpecError, match="figure.png: not a text file"):
        load_spec(path)


def test_an_error_in_a_set_value_names_the_set_not_a_line_of_the_file(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("name: x\ntraining:\n  iterations: 10\n  seed: 1\n")
    with pytest.raises(SpecError) as raised:
        load_spec(path, ["training.seed=-2"])
    assert str(raised.value).startswith("--set 'training.seed=-2': training.seed: must be >= 0")
    # a key below an overridden section, and a check of several keys, name the --set too
    with pytest.raises(SpecError, match=r"^--set 'costs.time=\{weight: -1\}': costs.time.weight"):
        load_spec(path, ["costs.time={weight: -1}"])
    with pytest.raises(SpecError, match=r"^--set 'lattice.layers.initial=9': lattice.layers"):
        load_spec(path, ["lattice.layers.initial=9"])
    # while an error in the file still names its line, whatever else is overridden
    path.write_text("name: x\ntraining:\n  iterations: 10\n  seed: -1\n")
    with pytest.raises(SpecError, match=r"spec.yaml:4: training.seed: must be >= 0"):
        load_spec(path, ["training.lr=0.1"])


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".", "", "a\\b"])
def test_a_run_name_is_one_path_component(name):
    with pytest.raises(SpecError, match=r"<spec>:1: name: the run's directory name"):
        parse_spec(f"name: {name!r}\ntraining: {{iterations: 1}}\n")


def test_files_are_checked_only_when_asked(tmp_path):
    text = f"training: {{iterations: 1}}\ndata:\n  dataset: fashion_mnist\n  path: {tmp_path / 'gone'}\n"
    parse_spec(text)  # a spec is valid wherever its data is
    with pytest.raises(SpecError, match=r"<spec>:4: data.path: .*gone does not exist"):
        parse_spec(text, check_files=True)
    (tmp_path / "gone").mkdir()
    parse_spec(text, check_files=True)
    assert parse_spec("training: {iterations: 1}\n", check_files=True)  # shapes read no files


def test_the_committed_schema_is_the_one_growsim_prints():
    committed = SPECS[0].parent.joinpath("spec.schema.json").read_text()
    assert committed == spec_schema_text(), "regenerate it: growsim schema > specs/spec.schema.json"


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_shipped_spec_names_the_schema_and_passes_it(path):
    text = path.read_text()
    assert text.splitlines()[0] == "# yaml-language-server: $schema=spec.schema.json"
    jsonschema.validate(yaml.safe_load(text), spec_schema())


def test_the_schema_refuses_what_the_loader_refuses():
    schema = spec_schema()
    for bad in ({"training": {"iterations": 0}}, {"training": {"stepz": 3}}, {"training": {"epochs": -1}},
                {"time_selection": "sometimes"}, {"lattice": {"layers": {"initial": 1.5}}}):  # fmt: skip
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
        with pytest.raises(SpecError):
            spec_from_dict(bad)


def test_the_old_training_steps_key_is_refused_with_the_new_name(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("name: x\ntraining:\n  steps: 10\n")
    with pytest.raises(
        SpecError, match=r"spec.yaml:3: training.steps: renamed to training.iterations"
    ):
        load_spec(path)
    path.write_text(MINIMAL)
    with pytest.raises(
        SpecError,
        match=r"--set 'training.steps=5': training.steps was renamed to training.iterations",
    ):
        load_spec(path, ["training.steps=5"])


def test_every_type_and_range_problem_is_reported_at_once(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(MINIMAL + "growth:\n  enabled: 1\nrecord:\n  every: 0\n")
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    assert str(raised.value).splitlines() == [
        f"{path}:3: growth.enabled: must be true or false, got 1",
        f"{path}:5: record.every: must be >= 1, got 0",
    ]


def test_halting_without_confidence_needs_adaptive_time_selection():
    spec = parse_spec(MINIMAL + "lattice: {halting_reads_confidence: false}\n")
    assert spec.lattice.halting_reads_confidence is False
    with pytest.raises(SpecError, match="lattice.halting_reads_confidence: only adaptive halting"):
        parse_spec(MINIMAL + "time_selection: fixed\nlattice: {halting_reads_confidence: false}\n")


def test_the_schema_uses_json_schema_keywords_only():
    def keys(node):
        if isinstance(node, dict):
            for key, value in node.items():
                yield key
                yield from keys(value)
        elif isinstance(node, list):
            for item in node:
                yield from keys(item)

    assert not {"gt", "ge", "lt", "le"} & set(keys(spec_schema()))  # pydantic's, not JSON Schema's


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "lattice: {connections: !!set {bottom_up, lateral}}\n",
            "spec.yaml:2: lattice.connections: must be a list",
        ),
        ("1: x\n", "spec.yaml:2: 1: a key must be a name, got 1"),
        (
            "data: {occlusion: {levels: [0.1, x]}}\n",
            "spec.yaml:2: data.occlusion.levels[1]: must be a number, got 'x'",
        ),
    ],
)
def test_sets_numeric_keys_and_list_items_are_named_with_their_line(tmp_path, text, message):
    path = tmp_path / "spec.yaml"
    path.write_text(MINIMAL + text)
    with pytest.raises(SpecError, match=re.escape(message)):
        load_spec(path)


def test_a_wrong_list_item_set_by_an_override_names_the_set(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(MINIMAL)
    with pytest.raises(
        SpecError,
        match=re.escape("--set 'data.occlusion.levels=[0.5, x]': data.occlusion.levels[1]"),
    ):
        load_spec(path, ["data.occlusion.levels=[0.5, x]"])


def test_a_runs_stored_spec_is_read_with_its_renamed_keys():
    stored = parse_stored_spec("training:\n  steps: 12\n", "run/spec.yaml")
    assert stored.training.iterations == 12
    with pytest.raises(SpecError, match="renamed"):
        parse_spec("training:\n  steps: 12\n")


# --------------------------------------------------------------------------- specs made in Python


def test_a_spec_made_in_python_runs_the_checks_across_keys():
    from growsim.spec import Extent, LatticeConfig, TrainingConfig

    with pytest.raises(
        SpecError, match=r"lattice.layers.initial: must be <= lattice.layers.max \(2\), got 5"
    ):
        Spec(lattice=LatticeConfig(layers=Extent(5, 2)), training=TrainingConfig(iterations=10))
    with pytest.raises(
        SpecError, match="set exactly one of training.iterations and training.epochs"
    ):
        Spec()  # the defaults alone say neither how long to train
    assert Spec(training=TrainingConfig(iterations=10)).lattice.layers == Extent(2, 4)


def test_a_checked_spec_cannot_be_changed_and_a_copy_is_checked_again():
    import dataclasses

    spec = parse_spec(MINIMAL + "data: {occlusion: {levels: [0.0, 0.3]}}")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.training.lr = -5
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.data = spec.data
    with pytest.raises(AttributeError):  # lists are read as tuples: no append, no item assignment
        spec.data.occlusion.levels.append(0.9)
    assert spec.data.occlusion.levels == (0.0, 0.3)
    with pytest.raises(ValueError, match="greater than 0"):  # a section checks its own keys
        dataclasses.replace(spec.training, lr=-5)


def test_a_replaced_spec_runs_the_checks_across_keys():
    import dataclasses

    spec = parse_spec(MINIMAL)
    with pytest.raises(
        SpecError, match="compaction.step_mass: must be below active.time_threshold"
    ):
        dataclasses.replace(spec, compaction=dataclasses.replace(spec.compaction, step_mass=0.2))
    renamed = dataclasses.replace(spec, name="other")
    assert renamed.name == "other" and renamed.training == spec.training
