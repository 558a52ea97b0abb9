import json
import os

import numpy as np
import pytest
import tensorflow as tf

from iwo_tf.data.masks import MaskStore, MaskTable


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
    assert document == {"num_segments": 6, "step": 1, "removed": {"a": [], "b": [0, 5]}}
    assert os.listdir(tmp_path / "masks") == ["step_001.json"]  # no temporary file left behind
    loaded = store.load(1)
    assert set(loaded) == {"a", "b"}
    np.testing.assert_array_equal(loaded["b"], masks["b"])
    store.save(0, {"a": _mask(6, [])})
    store.save(2, {"a": _mask(6, [1])})
    assert store.latest_step() == 2 and store.steps() == [0, 1, 2]


def test_store_rejects_out_of_range_indices(tmp_path):
    store = MaskStore(str(tmp_path))
    (tmp_path / "step_003.json").write_text(json.dumps({"num_segments": 4, "step": 3, "removed": {"a": [4]}}))
    with pytest.raises(ValueError, match="outside"):
        store.load(3)


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
