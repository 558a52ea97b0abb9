import json
import os
import time

import numpy as np
import pytest

from iwo_tf.data.dataset_info import load_dataset_info, verify_records
from iwo_tf.data.pipeline import make_dataset
from iwo_tf.data.synthetic import SyntheticSpec, _unit_rows, generate_synthetic_dataset, synthesize_video


def _directory_bytes(path):
    return sum(os.path.getsize(os.path.join(path, name)) for name in os.listdir(path))


def test_default_size_is_quick_small_and_thumos_like(tmp_path):
    start = time.perf_counter()
    path = generate_synthetic_dataset(str(tmp_path / "synthetic"), seed=0)
    elapsed = time.perf_counter() - start
    assert elapsed < 60 and _directory_bytes(path) < 200e6
    info = load_dataset_info(path)
    assert info.num_classes == 10 and info.stream_dims == (64, 64)
    assert info.num_videos("train") == 300 and info.num_videos("test") == 150
    assert len(info.files("train")) >= 2  # enough files to shard by file over two workers
    database = json.load(open(info.ground_truth_path))["database"]
    per_video = [len(v["annotations"]) for v in database.values()]
    lengths = np.array([a["segment"][1] - a["segment"][0] for v in database.values() for a in v["annotations"]])
    durations = np.array([v["duration"] for v in database.values()])
    multi_label = sum(len({a["label"] for a in v["annotations"]}) > 1 for v in database.values())
    assert np.mean(per_video) > 4 and min(per_video) >= 1
    assert np.median(lengths) < 0.05 * np.median(durations)  # most instances short relative to the video
    assert 0.1 < multi_label / len(database) < 0.35
    assert durations.min() >= 100 * 0.64 - 1e-6 and durations.max() <= 800 * 0.64 + 1e-6
    for video in database.values():  # non-overlapping, with background between instances
        segments = sorted(a["segment"] for a in video["annotations"])
        assert all(prev[1] < nxt[0] for prev, nxt in zip(segments, segments[1:]))


def test_same_seed_same_bytes_other_seed_other_data(tmp_path):
    small = dict(num_train=6, num_test=3, shards_per_subset=2)
    a = generate_synthetic_dataset(str(tmp_path / "a"), seed=3, **small)
    b = generate_synthetic_dataset(str(tmp_path / "b"), seed=3, **small)
    c = generate_synthetic_dataset(str(tmp_path / "c"), seed=4, **small)
    for name in sorted(os.listdir(a)):
        assert open(os.path.join(a, name), "rb").read() == open(os.path.join(b, name), "rb").read(), name
    shard = "train-00000-of-00002.tfrecord"
    assert open(os.path.join(a, shard), "rb").read() != open(os.path.join(c, shard), "rb").read()
    assert verify_records(a) == {"train": 6, "test": 3}
    batch = next(iter(make_dataset(load_dataset_info(a).files("train"), num_segments=50, num_classes=10, training=True, batch_size=6, seed=0)))
    assert batch["features"].shape == (6, 50, 128) and batch["labels"].numpy().sum(1).min() >= 1


def test_instances_are_strong_in_a_quarter_weak_elsewhere_and_leak_into_background():
    """The winner-takes-all structure, measured along the true class prototype."""
    spec = SyntheticSpec(multi_label_fraction=0.0, scene_amplitude=0.0)
    rng = np.random.default_rng(0)
    prototypes = _unit_rows(rng, spec.num_classes, spec.stream_dims).astype(np.float32)
    actionness = _unit_rows(rng, 1, spec.stream_dims)[0].astype(np.float32)
    strong, weak, background, other_class = [], [], [], []
    for i in range(40):
        video = synthesize_video(rng, f"v{i}", "train", prototypes, actionness, spec)
        c = video.labels[0]
        # Each stream's prototype is a unit vector: the projection on both is 2x the amplitude.
        along = video.features @ prototypes[c] / 2
        inside = np.zeros(len(along), bool)
        for start, end in np.round(np.asarray(video.gt_segments) / spec.snippet_stride_sec).astype(int):
            inside[start:end] = True
            values = np.sort(along[start:end])[::-1]
            n_strong = max(1, int(round(spec.strong_fraction * (end - start))))
            strong.extend(values[:n_strong])
            weak.extend(values[n_strong:])
        background.extend(along[~inside])
        other_class.extend((video.features @ prototypes[(c + 1) % spec.num_classes] / 2)[~inside])
    assert np.mean(strong) > 2.5  # the discriminative quarter
    assert 0.7 < np.mean(weak) < 1.6  # the rest: clearly weaker, but still the class
    assert 0.15 < np.mean(background) < 0.5  # context: the class leaks into background
    assert abs(np.mean(other_class)) < 0.1
    assert np.mean(weak) > np.mean(background) + 0.4
