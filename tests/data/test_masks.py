import json
import os

import numpy as np
import pytest
import tensorflow as tf

from iwo_tf.data.masks import MaskStore, MaskTable, mask_checksum
from iwo_tf.errors import UserInputError


def _mask(k, removed):
    mask = np.ones(k, bool)
    mask[list(removed)] = False
    return mask


def test_store_round_trip_is_readable_and_atomic(tmp_path):
    store = MaskStore(str(tmp_path / "masks"))
    assert store.latest_step() is None
    masks = {"b": _mask(6, [5, 0]), "a": _mask(6, [])}
    path = store.save(1, masks)
    assert os.path.basename(path) == "step_001.json"
    document = json.loads(open(path).read())
    removed = {"a": [], "b": [0, 5]}
    assert document == {"sha256": mask_checksum(6, 1, removed), "num_segments": 6, "step": 1, "removed": removed}
    assert open(path).read().count("\n") == 4  # one video per line
    assert os.listdir(tmp_path / "masks") == ["step_001.json"]  # no temporary file left behind
    loaded = store.load(1)
    assert set(loaded) == {"a", "b"}
    np.testing.assert_array_equal(loaded["b"], masks["b"])
    store.save(0, {"a": _mask(6, [])})
    store.save(2, {"a": _mask(6, [1])})
    assert store.latest_step() == 2 and store.steps() == [0, 1, 2]


def test_store_rejects_out_of_range_indices(tmp_path):
    store = MaskStore(str(tmp_path))
    removed = {"a": [4]}
    document = {"sha256": mask_checksum(4, 3, removed), "num_segments": 4, "step": 3, "removed": removed}
    (tmp_path / "step_003.json").write_text(json.dumps(document))
    with pytest.raises(UserInputError, match=r"step_003.json: video 'a': removed indices outside \[0, 4\)"):
        store.load(3)


def _saved_run(tmp_path):
    """A store checking against the run's three training videos and K=6, with step 1 saved."""
    store = MaskStore(str(tmp_path / "masks"), video_ids=["a", "b", "c"], num_segments=6)
    store.save(1, {"a": _mask(6, [0, 1]), "b": _mask(6, [5]), "c": _mask(6, [2, 3])})
    return store, store.path(1)


def _edit(path, change):
    document = json.loads(open(path).read())
    change(document)
    with open(path, "w") as f:
        json.dump(document, f)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["removed"].update(a=[], b=[], c=[]), "checksum mismatch"),  # empty lists edited in
        (lambda d: d["removed"].pop("b"), "checksum mismatch"),  # a video dropped
        (lambda d: d.update(num_segments=8), "checksum mismatch"),  # a wrong K
        (lambda d: d.pop("sha256"), "not a keep-mask file"),
    ],
    ids=["emptied", "video-dropped", "wrong-num-segments", "no-checksum"],
)
def test_edited_mask_files_are_refused_in_one_line_naming_the_file(tmp_path, change, message):
    store, path = _saved_run(tmp_path)
    _edit(path, change)
    with pytest.raises(UserInputError, match=message) as error:
        store.load(1)
    assert str(error.value).startswith(path) and "\n" not in str(error.value)


def _resigned(path, change):
    """An edit with a recomputed checksum: the file is consistent but not this run's."""
    def apply(document):
        change(document)
        document["sha256"] = mask_checksum(document["num_segments"], document["step"], document["removed"])
    _edit(path, apply)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["removed"].pop("b"), "video 'b' is missing"),
        (lambda d: d["removed"].update(zzz=[]), "video 'zzz' is not a training video of this run"),
        (lambda d: d.update(num_segments=8), "num_segments=8 but the run has K=6"),
        (lambda d: d.update(step=2), "holds the masks of step 2, not 1"),
    ],
    ids=["video-dropped", "extra-video", "wrong-num-segments", "wrong-step"],
)
def test_consistent_files_of_another_run_are_refused(tmp_path, change, message):
    store, path = _saved_run(tmp_path)
    _resigned(path, change)
    with pytest.raises(UserInputError, match=message):
        store.load(1)


def test_truncated_and_missing_mask_files_are_one_line_errors_naming_the_file(tmp_path):
    store, path = _saved_run(tmp_path)
    text = open(path).read()
    with open(path, "w") as f:
        f.write(text[: len(text) // 2])
    with pytest.raises(UserInputError, match=r"step_001.json: not valid JSON") as error:
        store.load(1)
    assert "\n" not in str(error.value)
    with pytest.raises(UserInputError, match=r"step_002.json: missing"):
        store.load(2)


def test_saving_replaces_a_planted_symlink_instead_of_following_it(tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text("precious")
    store = MaskStore(str(tmp_path / "masks"))
    os.makedirs(store.directory)
    os.symlink(outside, store.path(1))
    store.save(1, {"a": _mask(3, [1])})
    assert outside.read_text() == "precious" and not os.path.islink(store.path(1))


def test_table_lookup_follows_assign_without_rebuilding():
    table = MaskTable(["a", "b", "c"], 5)
    lookup = tf.function(table.lookup)
    np.testing.assert_array_equal(lookup(tf.constant(["c", "a"])).numpy(), np.ones((2, 5)))
    table.assign({"a": _mask(5, [1, 2])})
    np.testing.assert_array_equal(lookup(tf.constant(["c", "a"])).numpy(), [[1] * 5, [1, 0, 0, 1, 1]])
    np.testing.assert_array_equal(table.numpy()["a"], _mask(5, [1, 2]))


def test_unknown_ids_fail_in_strict_mode_and_keep_everything_otherwise():
    strict = MaskTable(["a"], 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="(?s)no keep-mask.*zzz"):
        strict.lookup(tf.constant("zzz"))
    lenient = MaskTable(["a"], 3, strict=False)
    lenient.assign({"a": _mask(3, [0])})
    np.testing.assert_array_equal(lenient.lookup(tf.constant(["zzz", "a"])).numpy(), [[1, 1, 1], [0, 1, 1]])


def test_assign_rejects_unknown_ids_and_wrong_shapes():
    table = MaskTable(["a"], 3)
    with pytest.raises(KeyError, match="unknown video ids"):
        table.assign({"b": _mask(3, [])})
    with pytest.raises(ValueError, match="mask shape"):
        table.assign({"a": np.ones(4, bool)})


def test_store_works_on_a_url_filesystem():
    store = MaskStore("ram://iwo-test-masks/masks", video_ids=["a", "b"], num_segments=4)
    assert store.latest_step() is None
    store.save(0, {"a": _mask(4, []), "b": _mask(4, [])})
    store.save(1, {"a": _mask(4, [2]), "b": _mask(4, [0, 3])})
    assert store.steps() == [0, 1]
    np.testing.assert_array_equal(store.load(1)["b"], _mask(4, [0, 3]))
    with pytest.raises(UserInputError, match="step_002.json: missing"):
        store.load(2)
