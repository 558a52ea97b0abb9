import os

import numpy as np
import pytest
import tensorflow as tf

from iwo_tf.data.dataset_info import load_dataset_info
from iwo_tf.data.dataset_writer import DatasetWriter
from iwo_tf.data.masks import MaskTable
from iwo_tf.data.pipeline import make_dataset, resample_to_segments
from iwo_tf.data.epoch_order import MAX_BLOCK_RECORDS, block_schedule, block_size
from iwo_tf.data.record_index import records_from, scan_record_offsets
from iwo_tf.data.schema import VideoRecord
from iwo_tf.errors import UserInputError


def numpy_segments(x, k):
    """Independent reference: loop over segments, the definition in docs/METHOD.md."""
    t = len(x)
    rows = []
    for i in range(k):
        start = int(np.floor(i * t / k))
        end = int(np.floor((i + 1) * t / k))
        rows.append(x[start:end].mean(0) if end > start else x[start])
    return np.stack(rows)


@pytest.mark.parametrize("t, k", [(1, 1), (1, 7), (3, 8), (8, 8), (10, 4), (101, 10), (799, 100), (400, 7)])
def test_test_mode_is_the_interval_mean(t, k):
    x = np.random.default_rng(t * 1000 + k).normal(size=(t, 5)).astype(np.float32)
    np.testing.assert_allclose(resample_to_segments(x, k, training=False).numpy(), numpy_segments(x, k), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("t, k", [(1, 4), (5, 9), (37, 10)])
def test_training_draws_stay_inside_each_segment(t, k):
    # Row i of x is the constant i, so a segment's value is the mean of the drawn snippet indices.
    x = np.repeat(np.arange(t, dtype=np.float32)[:, None], 2, axis=1)
    single = resample_to_segments(x, k, training=True, snippets_per_segment=1, seed=[3, 4]).numpy()[:, 0]
    for i, drawn in enumerate(single):
        start = i * t // k
        end = max((i + 1) * t // k, start + 1)
        assert drawn == int(drawn) and start <= drawn < end, (i, drawn, start, end)
    draws = np.stack([resample_to_segments(x, k, training=True, seed=[s, 0]).numpy() for s in range(200)])
    np.testing.assert_allclose(draws.mean(0), numpy_segments(x, k), atol=0.35)  # unbiased on average


def test_training_draws_are_reproducible_with_a_seed():
    x = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    a = resample_to_segments(x, 10, training=True, seed=[1, 2]).numpy()
    np.testing.assert_array_equal(a, resample_to_segments(x, 10, training=True, seed=[1, 2]).numpy())
    assert not np.array_equal(a, resample_to_segments(x, 10, training=True, seed=[1, 3]).numpy())


def test_zero_snippets_is_an_invalid_argument():
    with pytest.raises(tf.errors.InvalidArgumentError, match="zero snippets"):
        resample_to_segments(np.zeros((0, 4), np.float32), 5, training=False)

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32)])
    def in_graph(features):
        return resample_to_segments(features, 5, training=False)

    with pytest.raises(tf.errors.InvalidArgumentError, match="zero snippets"):
        in_graph(tf.zeros([0, 4]))


def test_a_very_long_video_is_exact_and_static_in_k():
    x = np.tile(np.arange(100_000, dtype=np.float32)[:, None], (1, 3))
    y = resample_to_segments(x, 400, training=False).numpy()
    assert y.shape == (400, 3)
    np.testing.assert_allclose(y[:, 0], np.arange(400) * 250 + 124.5, rtol=1e-5)  # differencing float32 cumsums would be off by ~100s


# --- make_dataset ---------------------------------------------------------------------------------
NUM_CLASSES, K = 4, 6


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    rng = np.random.default_rng(7)
    path = str(tmp_path_factory.mktemp("pipeline") / "dataset")
    with DatasetWriter(path, [f"c{i}" for i in range(NUM_CLASSES)], [2, 2], {"train": 3, "test": 1}) as writer:
        for i in range(10):
            subset = "train" if i < 8 else "test"
            labels = [i % NUM_CLASSES] + ([3] if i == 2 else [])
            writer.add(VideoRecord(f"v{i}", subset, labels, 10.0, 0.5, rng.normal(size=(3 + 2 * i, 4)), gt_segments=[[1, 2]] * len(labels), gt_labels=labels))
    return load_dataset_info(path)


def _all(dataset):
    batches = list(dataset.as_numpy_iterator())
    return {key: np.concatenate([b[key] for b in batches]) for key in batches[0]}


def test_batches_have_the_contract_shapes_and_labels(small_dataset):
    dataset = make_dataset(small_dataset.files("train"), num_segments=K, num_classes=NUM_CLASSES, training=False, batch_size=3)
    spec = dataset.element_spec
    assert spec["features"].shape.as_list() == [None, K, 4]  # D from dataset.json
    assert spec["mask"].shape.as_list() == [None, K] and spec["labels"].shape.as_list() == [None, NUM_CLASSES]
    rows = _all(dataset)
    assert sorted(rows["video_id"].tolist()) == [f"v{i}".encode() for i in range(8)]
    for video, labels, mask, snippets in zip(rows["video_id"], rows["labels"], rows["mask"], rows["num_snippets"]):
        i = int(video[1:])
        expected = np.zeros(NUM_CLASSES)
        expected[[i % NUM_CLASSES] + ([3] if i == 2 else [])] = 1
        np.testing.assert_array_equal(labels, expected)
        assert snippets == 3 + 2 * i and mask.tolist() == [1.0] * K
    assert rows["features"].dtype == np.float32 and rows["duration"].tolist() == [10.0] * 8
    np.testing.assert_allclose(rows["snippet_stride_sec"], 0.5)


def test_masks_from_the_table_are_applied_and_follow_updates(small_dataset):
    table = MaskTable([f"v{i}" for i in range(8)], K)
    dataset = make_dataset(small_dataset.files("train"), num_segments=K, num_classes=NUM_CLASSES, training=True, batch_size=4, mask_table=table, seed=1)
    assert _all(dataset)["mask"].min() == 1.0
    removed = {"v3": np.array([1, 0, 1, 1, 0, 1], bool), "v5": np.array([0, 1, 1, 1, 1, 1], bool)}
    table.assign(removed)
    rows = _all(dataset)  # the same dataset object: the table is read at iteration time
    for video, mask in zip(rows["video_id"], rows["mask"]):
        expected = removed.get(video.decode(), np.ones(K, bool))
        np.testing.assert_array_equal(mask, expected.astype(np.float32))


def test_training_order_and_draws_are_deterministic_for_a_seed(small_dataset):
    def run(seed):
        return _all(make_dataset(small_dataset.files("train"), num_segments=K, num_classes=NUM_CLASSES, training=True, batch_size=3, seed=seed))

    a, b, c = run(5), run(5), run(6)
    np.testing.assert_array_equal(a["video_id"], b["video_id"])
    np.testing.assert_array_equal(a["features"], b["features"])
    assert not (np.array_equal(a["video_id"], c["video_id"]) and np.array_equal(a["features"], c["features"]))


def test_repeat_with_drop_remainder_gives_full_batches(small_dataset):
    dataset = make_dataset(
        small_dataset.files("train"), num_segments=K, num_classes=NUM_CLASSES, training=True, batch_size=3, seed=0, repeat=True, drop_remainder=True
    )
    batches = list(dataset.take(6).as_numpy_iterator())
    assert [len(b["video_id"]) for b in batches] == [3] * 6
    ids = np.concatenate([b["video_id"] for b in batches])
    assert set(ids) == {f"v{i}".encode() for i in range(8)}


@pytest.mark.slow
@pytest.mark.parametrize("num_pipelines", [2, 5])  # 3 files: by file with 2 pipelines, by record with 5
def test_input_pipelines_split_the_videos_without_overlap(small_dataset, num_pipelines):
    seen = []
    for index in range(num_pipelines):
        context = tf.distribute.InputContext(num_input_pipelines=num_pipelines, input_pipeline_id=index, num_replicas_in_sync=num_pipelines)
        dataset = make_dataset(small_dataset.files("train"), num_segments=K, num_classes=NUM_CLASSES, training=False, batch_size=2, input_context=context)
        ids = [v for b in dataset.as_numpy_iterator() for v in b["video_id"]]
        assert ids, f"pipeline {index} of {num_pipelines} got no data"
        seen.extend(ids)
    assert sorted(seen) == sorted(f"v{i}".encode() for i in range(8))


def test_a_label_beyond_num_classes_fails(small_dataset):
    dataset = make_dataset(small_dataset.files("train"), num_segments=K, num_classes=2, training=False, batch_size=8)
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_classes=2"):
        _all(dataset)


def test_works_under_a_mirrored_strategy(small_dataset):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    table = MaskTable([f"v{i}" for i in range(8)], K)
    table.assign({"v0": np.array([0, 0, 1, 1, 1, 1], bool)})

    def dataset_fn(context):
        return make_dataset(
            small_dataset.files("train"), num_segments=K, num_classes=NUM_CLASSES, training=True,
            batch_size=context.get_per_replica_batch_size(8), mask_table=table, seed=0, input_context=context,
        )

    batch = next(iter(strategy.distribute_datasets_from_function(dataset_fn)))
    local = strategy.experimental_local_results(batch)[0]
    assert local["features"].shape == (8, K, 4)
    row = list(local["video_id"].numpy()).index(b"v0")
    assert local["mask"].numpy()[row].tolist() == [0, 0, 1, 1, 1, 1]


# --- training reads: record-index shuffle, identical draws -----------------------------------------
def test_training_resample_matches_separate_gathers_with_the_same_draws():
    # The single SparseSegmentMean kernel against the plain formulation with the same draws: the
    # sum of the L gathered rows in draw order, times 1/L (exactly), or divided by L (1 ulp).
    x = np.random.default_rng(3).normal(size=(777, 16)).astype(np.float32)
    for t, k, l in [(777, 400, 3), (50, 400, 3), (777, 10, 5), (1, 4, 2)]:
        features = tf.constant(x[:t])
        got = resample_to_segments(features, k, training=True, snippets_per_segment=l, seed=[7, t]).numpy()
        starts = (np.arange(k) * t) // k
        ends = np.maximum(((np.arange(k) + 1) * t) // k, starts + 1)
        uniform = tf.random.stateless_uniform([k, l], seed=tf.constant([7, t], tf.int64), dtype=tf.float32)
        offsets = tf.cast(tf.floor(uniform * tf.constant((ends - starts).astype(np.float32))[:, None]), tf.int64)
        indices = starts[:, None] + tf.minimum(offsets, (ends - starts - 1)[:, None])
        total = tf.add_n([tf.gather(features, indices[:, draw]) for draw in range(l)])
        np.testing.assert_array_equal(got, (total * (1.0 / l)).numpy())
        np.testing.assert_array_max_ulp(got, (total / float(l)).numpy(), maxulp=1)


def test_each_training_epoch_has_every_video_once(small_dataset):
    dataset = make_dataset(
        small_dataset.files("train"), num_segments=K, num_classes=NUM_CLASSES, training=True, batch_size=2, seed=3, repeat=True, drop_remainder=True
    )
    ids = [v for b in dataset.take(12).as_numpy_iterator() for v in b["video_id"]]  # 3 epochs of 8
    epochs = [ids[i:i + 8] for i in range(0, 24, 8)]
    for epoch in epochs:
        assert sorted(epoch) == [f"v{i}".encode() for i in range(8)]
    assert len({tuple(e) for e in epochs}) > 1  # reshuffled each epoch


def test_training_without_dataset_json_still_shuffles_and_reads_everything(small_dataset, tmp_path):
    import shutil

    files = []
    for f in small_dataset.files("train"):
        files.append(str(tmp_path / os.path.basename(f)))
        shutil.copy(f, files[-1])
    rows = _all(make_dataset(files, num_segments=K, num_classes=NUM_CLASSES, training=True, batch_size=3, seed=2, feature_dim=4))
    assert sorted(rows["video_id"].tolist()) == [f"v{i}".encode() for i in range(8)]
    again = _all(make_dataset(files, num_segments=K, num_classes=NUM_CLASSES, training=True, batch_size=3, seed=2, feature_dim=4))
    np.testing.assert_array_equal(rows["features"], again["features"])


def _copy_with_metadata(small_dataset, tmp_path, edit):
    import json
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(os.path.dirname(small_dataset.files("train")[0]), copy)
    meta = json.loads((copy / "dataset.json").read_text())
    edit(meta["subsets"]["train"])
    (copy / "dataset.json").write_text(json.dumps(meta))
    return [str(copy / os.path.basename(f)) for f in small_dataset.files("train")]


def test_a_record_missing_from_a_shard_fails_loudly_in_training(small_dataset, tmp_path):
    def claim_one_more(block):  # claims a record the shard does not hold
        block["records_per_file"][0] += 1
        del block["record_offsets_per_file"]

    files = _copy_with_metadata(small_dataset, tmp_path, claim_one_more)
    with pytest.raises(UserInputError, match=r"train-00000-of-00003.tfrecord: 3 records found, dataset.json says 4"):
        _all(make_dataset(files, num_segments=K, num_classes=NUM_CLASSES, training=True, batch_size=3, seed=0))


def test_edited_offsets_are_refused(small_dataset, tmp_path):
    def swap(block):
        block["record_offsets_per_file"][0][1:3] = block["record_offsets_per_file"][0][2:0:-1]

    def shift(block):
        block["record_offsets_per_file"][0][1] += 4  # increasing, inside the file, but not a record start

    for name, edit in (("swap", swap), ("shift", shift)):
        files = _copy_with_metadata(small_dataset, tmp_path / name, edit)
        with pytest.raises(UserInputError, match="train-00000-of-00003.tfrecord: dataset.json lists record 1 at a byte offset"):
            make_dataset(files, num_segments=K, num_classes=NUM_CLASSES, training=True, batch_size=3)


def test_an_offset_that_is_not_a_record_start_fails_the_read(small_dataset):
    path = small_dataset.files("train")[0]
    offsets = small_dataset.subsets["train"]["record_offsets_per_file"][0]
    with pytest.raises(tf.errors.DataLossError):
        list(tf.data.Dataset.from_tensors(offsets[1] + 4).flat_map(lambda offset: records_from(path, offset, 1)))


def test_offsets_from_the_converter_equal_a_scan_and_old_datasets_train_identically(small_dataset, tmp_path):
    for path, listed in zip(small_dataset.files("train"), small_dataset.subsets["train"]["record_offsets_per_file"]):
        assert scan_record_offsets(path) == listed
    files = _copy_with_metadata(small_dataset, tmp_path, lambda block: block.pop("record_offsets_per_file"))

    def run(files):
        return _all(make_dataset(files, num_segments=K, num_classes=NUM_CLASSES, training=True, batch_size=3, seed=4))

    new, old = run(small_dataset.files("train")), run(files)
    np.testing.assert_array_equal(new["video_id"], old["video_id"])
    np.testing.assert_array_equal(new["features"], old["features"])


def test_records_from_reads_a_run_of_records_at_an_offset(small_dataset):
    path = small_dataset.files("train")[0]
    offsets = small_dataset.subsets["train"]["record_offsets_per_file"][0]
    everything = [r.numpy() for r in tf.data.TFRecordDataset(path)]
    got = tf.data.Dataset.from_tensors(offsets[1]).flat_map(lambda offset: records_from(path, offset, 2))
    assert [r.numpy() for r in got] == everything[1:3]


@pytest.mark.slow
@pytest.mark.parametrize("num_pipelines, shuffle_buffer", [(2, 256), (5, 256), (5, 1)])
def test_training_pipelines_split_the_videos_without_overlap_whatever_their_seeds(small_dataset, num_pipelines, shuffle_buffer):
    seen = []
    for index in range(num_pipelines):
        context = tf.distribute.InputContext(num_input_pipelines=num_pipelines, input_pipeline_id=index, num_replicas_in_sync=num_pipelines)
        dataset = make_dataset(small_dataset.files("train"), num_segments=K, num_classes=NUM_CLASSES, training=True, batch_size=2,
                               input_context=context, seed=None, shuffle_buffer=shuffle_buffer)
        ids = [v for b in dataset.as_numpy_iterator() for v in b["video_id"]]
        assert ids, f"pipeline {index} of {num_pipelines} got no data"
        seen.extend(ids)
    assert sorted(seen) == sorted(f"v{i}".encode() for i in range(8))


def _block_dataset(tmp_path, count):
    """One shard of `count` tiny records (blocks of many records), ids in file order."""
    path = str(tmp_path / "tiny")
    with DatasetWriter(path, ["a"], [2], {"train": 1}) as writer:
        for i in range(count):
            writer.add(VideoRecord(f"r{i:04d}", "train", [0], 1.0, 0.5, np.full((2, 2), i, np.float32)))
    return load_dataset_info(path)


def test_small_records_come_in_blocks_that_change_every_epoch(tmp_path):
    info = _block_dataset(tmp_path, 300)
    assert block_size(300, info.subsets["train"]["bytes_per_file"][0]) == MAX_BLOCK_RECORDS
    dataset = make_dataset(info.files("train"), num_segments=2, num_classes=1, training=True, batch_size=10, seed=1, repeat=True, drop_remainder=True)
    ids = [int(v[1:]) for b in dataset.take(60).as_numpy_iterator() for v in b["video_id"]]  # 2 epochs of 300
    epochs = [ids[:300], ids[300:]]
    for epoch in epochs:
        assert sorted(epoch) == list(range(300))
    assert epochs[0] != epochs[1]


def test_the_block_schedule_covers_every_record_once_and_recuts_each_epoch():
    counts, sizes = [300, 7, 0, 64], [32, 32, 1, 1]
    starts_by_epoch = []
    for epoch in range(4):
        file_id, start, count = (t.numpy() for t in block_schedule(counts, sizes, 5, epoch))
        covered = sorted((f, s + i) for f, s, c in zip(file_id, start, count) for i in range(c))
        assert covered == [(f, r) for f, n in enumerate(counts) for r in range(n)]
        assert all(1 <= c <= sizes[f] for f, c in zip(file_id, count))
        starts_by_epoch.append({(f, s) for f, s in zip(file_id, start) if f == 0})
        again = [t.numpy() for t in block_schedule(counts, sizes, 5, epoch)]
        np.testing.assert_array_equal(again[1], start)  # same seed and epoch, same schedule
    assert len({frozenset(s) for s in starts_by_epoch}) > 1  # the cut moves between epochs
    file_id, _, _ = (t.numpy() for t in block_schedule(counts, sizes, 5, 0))
    assert list(file_id) != sorted(file_id)  # blocks of all files in random order


@pytest.mark.parametrize("pipelines", [2, 3])
def test_pipeline_block_schedules_are_disjoint_and_complete(pipelines):
    counts, sizes = [10, 3], [32, 32]
    seen = []
    for index in range(pipelines):
        file_id, start, count = (t.numpy() for t in block_schedule(counts, sizes, index * 7, 0, shard=(pipelines, index)))
        assert len(file_id) > 0
        seen += [(f, s + i) for f, s, c in zip(file_id, start, count) for i in range(c)]
    assert sorted(seen) == [(f, r) for f, n in enumerate(counts) for r in range(n)]


def test_a_shuffle_buffer_of_one_reads_the_files_interleaved_in_order(small_dataset):
    dataset = make_dataset(small_dataset.files("train"), num_segments=K, num_classes=NUM_CLASSES, training=True, batch_size=8,
                           seed=3, shuffle_buffer=1)
    ids = [int(v[1:]) for v in _all(dataset)["video_id"]]
    per_file = [ids[i::3] for i in range(3)]  # 3 shards, round-robin: each shard's records in file order
    assert sorted(ids) == list(range(8)) and all(p == sorted(p) for p in per_file)
