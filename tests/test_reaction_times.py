"""Reaction-time files: per-image tables, model-vs-human trial tables, matching to image ids."""

import numpy as np
import pytest

from growsim.analysis.reaction_times import (
    ReactionTimeOptions,
    image_key,
    match_reaction_times,
    read_reaction_times,
)
from growsim.errors import DataError

MVH_HEADER = "subj,Session,trial,rt,object_response,category,condition,imagename\n"  # as shipped


def write(tmp_path, text, name="rts.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_per_image_file_reads_ids_as_keys(tmp_path):
    path = write(tmp_path, "Image_ID,RT,subject\n7,512.5,s1\n009,430,s1\ncat/a.png,610,s2\n")
    times = read_reaction_times(path)
    assert times.kind == "per image" and times.rows == 3
    assert times.keys == ["7", "9", "cat/a.png"] and times.rts.tolist() == [512.5, 430.0, 610.0]


def test_tab_separated_files_read_too(tmp_path):
    path = write(tmp_path, "image_id\trt\n1\t300\n2\t350\n", "rts.tsv")
    assert read_reaction_times(path).rts.tolist() == [300.0, 350.0]


@pytest.mark.parametrize(
    "text, message",
    [
        ("image,rt\n1,300\n", ":1: the header must name columns image_id and rt"),
        ("image_id,rt\n1,300\n2,fast\n", ":3: rt must be a number, got 'fast'"),
        ("image_id,rt\n1,300\n01,310\n", ":3: image_id 01 appears twice \\(first on line 2\\)"),
        ("image_id,rt\n1,-3\n", ":2: rt must be a positive number, got '-3'"),
        ("image_id,rt\n1,NaN\n", ":2: rt must be a positive number, got 'NaN'"),
        ("image_id,rt\n,300\n", ":2: image_id is empty"),
        ("image_id,rt\n", "holds no reaction times"),
        ("image_id,rt\n1\n", ":2: has 1 cells, fewer than the header's columns"),
    ],
)
def test_bad_per_image_files_name_file_and_line(tmp_path, text, message):
    with pytest.raises(DataError, match=f"rts.csv{message}" if message[0] == ":" else message):
        read_reaction_times(write(tmp_path, text))


def trial_table(tmp_path):
    """Image a.png: correct trials 1, 2 and 6 s, one wrong trial of 10 s, one without an
    answer; image b.png: one correct trial of 0.5 s."""
    rows = [
        "s01,1,1,1.0,dog,dog,c100,a.png",
        "s01,1,2,0.5,cat,cat,c100,b.png",
        "s02,1,1,2.0,dog,dog,c100,a.png",
        "s03,1,1,6.0,Dog,dog,c100,a.png",  # answers compare without case
        "s04,1,1,10.0,cat,dog,c100,a.png",
        "s05,1,1,NaN,na,dog,c100,a.png",  # no response: model-vs-human writes NaN,na
    ]
    return write(tmp_path, MVH_HEADER + "\n".join(rows) + "\n")


def test_trial_table_gives_the_median_of_correct_trials_per_image(tmp_path):
    times = read_reaction_times(trial_table(tmp_path))
    assert times.kind == "trials" and times.rows == 6
    assert dict(zip(times.keys, times.rts)) == {"a.png": 2.0, "b.png": 0.5}
    assert times.skipped["incorrect"] == 1 and times.skipped["without an RT (no response)"] == 1
    assert "6 trials, 4 used (1 incorrect, 1 without an RT (no response) left out)" in times.text()


@pytest.mark.parametrize(
    "trials, statistic, expected",
    [("correct", "mean", 3.0), ("all", "median", 4.0), ("all", "mean", 4.75)],
)
def test_trial_aggregation_is_configurable(tmp_path, trials, statistic, expected):
    times = read_reaction_times(trial_table(tmp_path), ReactionTimeOptions(trials, statistic))
    assert dict(zip(times.keys, times.rts))["a.png"] == pytest.approx(expected)


def test_a_correct_column_decides_correctness_when_there_is_one(tmp_path):
    path = write(tmp_path, "imagename,rt,correct\na.png,1,1\na.png,3,0\na.png,2,true\n")
    assert read_reaction_times(path).rts.tolist() == [1.5]


@pytest.mark.parametrize(
    "text, message",
    [
        (MVH_HEADER + "s1,1,1,quick,dog,dog,c1,a.png\n", "rts.csv:2: rt must be a number, got 'quick'"),
        (MVH_HEADER + "s1,1,1,0,dog,dog,c1,a.png\n", "rts.csv:2: rt must be a positive number"),
        ("subj,rt,imagename\ns1,1.0,a.png\n", "rts.csv:1: keeping the correct trials needs columns object_response and category .*--rt-trials all"),
        (MVH_HEADER + "s1,1,1,0.8,cat,dog,c1,a.png\n", "no trial is left .* 1 incorrect .*--rt-trials all"),
        ("imagename,rt,correct\na.png,1,maybe\n", "rts.csv:2: correct must be true/false or 1/0"),
    ],
)  # fmt: skip
def test_bad_trial_tables_are_refused(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        read_reaction_times(write(tmp_path, text))


def test_keys_compare_integers_by_value_and_paths_by_text():
    assert image_key(7) == image_key("007") == image_key(" 7.0 ") == "7"
    assert image_key("cat\\0042.png") == "cat/0042.png"
    assert (
        image_key("0052_cop_s01_c30_dog_10_n0209_52.png", r"c\d+_\w+?_n\d+_\d+")
        == "c30_dog_10_n0209_52"
    )
    assert image_key("x.png", r"(c\d+)") is None


def test_integer_ids_match_by_value(tmp_path):
    times = read_reaction_times(write(tmp_path, "image_id,rt\n0012,300\n5,200\n99,100\n"))
    matched = match_reaction_times(np.array([3, 5, 12]), times)
    assert matched.image_index.tolist() == [1, 2] and matched.rts.tolist() == [200.0, 300.0]
    assert "2 of those matched, giving 2 of the 3 images analysed a reaction time" in matched.text()


def test_paths_match_exactly_and_unique_file_names_match_alone(tmp_path):
    ids = np.array(["cat/a.png", "cat/b.png", "dog/c.png"])
    times = read_reaction_times(write(tmp_path, "image_id,rt\ndog/c.png,3\nb.png,2\nz.png,9\n"))
    matched = match_reaction_times(ids, times)
    assert matched.image_index.tolist() == [1, 2] and matched.rts.tolist() == [2.0, 3.0]
    assert matched.file_matched == 2


def test_an_ambiguous_file_name_is_refused(tmp_path):
    ids = np.array(["cat/a.png", "dog/a.png"])
    times = read_reaction_times(write(tmp_path, "image_id,rt\na.png,3\n"))
    with pytest.raises(DataError, match="'a.png' could be any of cat/a.png, dog/a.png"):
        match_reaction_times(ids, times)


def test_an_image_named_twice_is_refused(tmp_path):
    times = read_reaction_times(write(tmp_path, "image_id,rt\ncat/a.png,3\na.png,4\n"))
    with pytest.raises(DataError, match="image cat/a.png is named twice"):
        match_reaction_times(np.array(["cat/a.png", "dog/b.png"]), times)


def test_no_match_is_refused_with_examples_of_both_sides(tmp_path):
    times = read_reaction_times(write(tmp_path, "image_id,rt\nx.png,3\n"))
    with pytest.raises(DataError, match=r"no image in the file matches .*'x.png'.*'cat/a.png'"):
        match_reaction_times(np.array(["cat/a.png"]), times)


def test_a_key_pattern_pools_subjects_file_names_of_one_stimulus(tmp_path):
    rows = [  # model-vs-human names each subject's copy of a stimulus differently
        "subject-01,1,52,0.8,dog,dog,c30,0052_cop_s01_c30_dog_10_n02097474_5234.png",
        "subject-02,1,20,1.0,dog,dog,c30,0020_cop_s02_c30_dog_10_n02097474_5234.png",
        "subject-02,1,21,0.6,cat,cat,c30,0021_cop_s02_c30_cat_10_n02123045_1484.png",
    ]
    path = write(tmp_path, MVH_HEADER + "\n".join(rows) + "\n")
    options = ReactionTimeOptions(key_pattern=r"c\d+_[a-z]+_\d+_n\d+_\d+")
    times = read_reaction_times(path, options)
    assert dict(zip(times.keys, times.rts)) == {
        "c30_dog_10_n02097474_5234": pytest.approx(0.9),
        "c30_cat_10_n02123045_1484": pytest.approx(0.6),
    }
    ids = np.array(["cat/c30_cat_10_n02123045_1484.png", "dog/c30_dog_10_n02097474_5234.png"])
    matched = match_reaction_times(ids, times)
    assert matched.image_index.tolist() == [0, 1]
    assert matched.rts == pytest.approx([0.6, 0.9])
    with pytest.raises(DataError, match="--rt-key '\\(': not a regular expression"):
        read_reaction_times(path, ReactionTimeOptions(key_pattern="("))
