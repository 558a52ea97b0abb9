"""Synthetic data: the embedded default, the THUMOS14 / ActivityNet1.3 presets against the real
annotation statistics, --layout_from, and the winner-takes-all structure of the feature model."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from iwo_tf.data.dataset_info import load_dataset_info, verify_records
from iwo_tf.data.pipeline import make_dataset
from iwo_tf.data.synthetic import (
    ACTIVITYNET13,
    ASYMMETRIC_STREAMS,
    BACKGROUND,
    STRONG,
    THUMOS14,
    WEAK,
    SyntheticSpec,
    generate_synthetic_dataset,
    load_snippet_parts,
    make_directions,
    synthesize_features,
)
from iwo_tf.data.synthetic.layouts import layouts_from_ground_truth, preset_layouts
from iwo_tf.errors import UserInputError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _directory_bytes(path):
    return sum(os.path.getsize(os.path.join(path, name)) for name in os.listdir(path))


def _layout_statistics(videos):
    """videos: list of (duration, [(label, start, end)]) -> the statistics the presets reproduce."""
    durations = np.array([d for d, _ in videos])
    counts = np.array([len(a) for _, a in videos])
    lengths = np.array([e - s for _, a in videos for _, s, e in a])
    relative = np.array([(e - s) / d for d, a in videos for _, s, e in a])
    multi = np.mean([len({label for label, _, _ in a}) > 1 for _, a in videos])
    return {"median_duration": np.median(durations), "mean_count": counts.mean(), "median_count": np.median(counts),
            "median_length": np.median(lengths), "median_relative": np.median(relative), "multi_label": multi,
            "single_instance": np.mean(counts == 1)}


def _preset_statistics(stats, seed=0):
    videos = preset_layouts(np.random.default_rng(seed), stats, stats.snippet_rate)
    by_subset = {s: sum(v.subset == s for v in videos) for s in ("train", "test")}
    layout = [(v.duration, [(c, s, e) for (_, _, c), (s, e) in zip(v.instances, v.segments_sec)]) for v in videos]
    return by_subset, _layout_statistics(layout), videos


def test_default_size_is_quick_small_and_thumos_like(tmp_path):
    path = generate_synthetic_dataset(str(tmp_path / "synthetic"), seed=0)
    assert _directory_bytes(path) < 200e6
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
    assert np.median(lengths) < 0.05 * np.median(durations)
    assert 0.1 < multi_label / len(database) < 0.35
    assert durations.min() >= 100 * 0.64 - 1e-6 and durations.max() <= 800 * 0.64 + 1e-6
    for video in database.values():  # non-overlapping, with background between instances
        segments = sorted(a["segment"] for a in video["annotations"])
        assert all(prev[1] < nxt[0] for prev, nxt in zip(segments, segments[1:]))
    parts = load_snippet_parts(path)
    assert set(parts) == set(database)


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


# --- presets against the real annotation statistics --------------------------------------------------
def _thumos_real(shared_data):
    database = json.loads((shared_data / "thumos14" / "actionformer" / "thumos14.json").read_text())["database"]
    return [(v["duration"], [(a["label"], *a["segment"]) for a in v["annotations"]]) for v in database.values()]


def _activitynet_real(shared_data):
    videos = {}
    for subset in ("train", "valid"):
        with open(shared_data / "activitynet13" / "tsp" / f"activitynet_v1-3_{subset}_tsp_groundtruth.csv") as f:
            for row in csv.DictReader(f):
                item = videos.setdefault(row["video-name"], (float(row["video-duration"]), []))
                if row["temporal-region-label"] == "Action":
                    item[1].append((row["action-label"], float(row["t-start"]), float(row["t-end"])))
    return list(videos.values())


def test_thumos14_preset_matches_the_real_annotations(shared_data):
    counts, synthetic, videos = _preset_statistics(THUMOS14)
    real = _layout_statistics(_thumos_real(shared_data))
    assert counts == {"train": 200, "test": 212}
    assert len({c for v in videos for c in v.classes}) == 20
    assert synthetic["median_duration"] == pytest.approx(real["median_duration"], rel=0.15)
    assert synthetic["mean_count"] == pytest.approx(real["mean_count"], rel=0.25)
    assert synthetic["median_count"] == pytest.approx(real["median_count"], rel=0.35)
    assert synthetic["median_length"] == pytest.approx(real["median_length"], rel=0.15)
    assert synthetic["multi_label"] == pytest.approx(real["multi_label"], abs=0.06)


def test_activitynet13_preset_matches_the_real_annotations(shared_data):
    counts, synthetic, videos = _preset_statistics(ACTIVITYNET13)
    real = _layout_statistics(_activitynet_real(shared_data))
    assert counts == {"train": 10024, "test": 4926}
    assert len({c for v in videos for c in v.classes}) == 200
    assert synthetic["median_duration"] == pytest.approx(real["median_duration"], rel=0.1)
    assert synthetic["mean_count"] == pytest.approx(real["mean_count"], rel=0.15)
    assert synthetic["single_instance"] == pytest.approx(real["single_instance"], abs=0.05)
    assert synthetic["median_relative"] == pytest.approx(real["median_relative"], rel=0.2)
    assert synthetic["multi_label"] < 0.01


def test_preset_videos_are_laid_out_consistently():
    _, _, videos = _preset_statistics(THUMOS14, seed=5)
    for v in videos:
        assert v.num_snippets == max(1, round(v.duration * THUMOS14.snippet_rate))
        assert v.instances and all(0 <= s < e <= v.num_snippets for s, e, _ in v.instances)
        assert all(0 <= s < e <= v.duration + 1e-6 for s, e in v.segments_sec)
        action = sum(e - s for s, e in v.segments_sec)
        assert action <= THUMOS14.max_coverage * v.duration + 0.01  # segments are rounded to ms


@pytest.mark.slow
def test_layout_from_reproduces_the_ground_truth_file(tmp_path, shared_data):
    source = shared_data / "thumos14" / "actionformer" / "thumos14.json"
    path = generate_synthetic_dataset(str(tmp_path / "laid"), layout_from=str(source), snippet_rate=1.0, stream_dims=(4, 4))
    info = load_dataset_info(path)
    assert info.num_videos("train") == 200 and info.num_videos("test") == 212 and info.num_classes == 20
    original = json.loads(source.read_text())["database"]
    written = json.load(open(info.ground_truth_path))["database"]
    assert set(written) == set(original)
    left_out = json.load(open(os.path.join(path, "dataset.json")))["source"]["left_out"]
    late = sum(a["segment"][0] >= v["duration"] for v in original.values() for a in v["annotations"])
    assert late > 0 and left_out == {"instances starting after the video's end": late}  # counted, not silent
    for video, item in original.items():
        expected = sorted((a["label"], a["segment"][0], min(a["segment"][1], item["duration"])) for a in item["annotations"]
                          if a["segment"][0] < item["duration"])
        got = sorted((a["label"], *a["segment"]) for a in written[video]["annotations"])
        assert [g[0] for g in got] == [e[0] for e in expected], video
        assert np.allclose([g[1:] for g in got], [e[1:] for e in expected]), video
        assert written[video]["subset"] == {"Validation": "train", "Test": "test"}[item["subset"]]
    parts = load_snippet_parts(path)
    assert all(len(parts[v]) == max(1, round(original[v]["duration"])) for v in original)


def test_layout_from_activitynet_subsets_and_bad_entries(tmp_path):
    good = {"database": {
        "a": {"subset": "training", "duration": 10.0, "annotations": [{"label": "X", "segment": [1.0, 3.0]}, {"label": "Y", "segment": [2.0, 9.5]}]},
        "b": {"subset": "validation", "duration": 8.0, "annotations": [{"label": "Y", "segment": [0.0, 8.0]}]},
        "c": {"subset": "testing", "duration": 8.0, "annotations": []},
    }}
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(good))
    names, videos, left_out = layouts_from_ground_truth(str(path), 2.0)
    assert names == ["X", "Y"] and left_out == {"unlabelled subset": 1}
    by_id = {v.video_id: v for v in videos}
    assert by_id["a"].subset == "train" and by_id["b"].subset == "test"
    assert by_id["a"].instances == ((2, 6, 0), (4, 19, 1)) and by_id["a"].classes == [0, 1]  # multi-label kept
    bad = json.loads(json.dumps(good))
    bad["database"]["b"]["annotations"][0]["segment"] = [5.0, 2.0]
    path.write_text(json.dumps(bad))
    with pytest.raises(UserInputError, match=r"gt\.json: video 'b': segment \[5\.0, 2\.0\] is empty"):
        layouts_from_ground_truth(str(path), 2.0)


@pytest.mark.slow
def test_command_line_preset_and_user_errors(tmp_path):
    env = {**os.environ, "PYTHONPATH": REPO}
    run = lambda *a: subprocess.run([sys.executable, "-m", "iwo_tf.data.synthetic", *a], capture_output=True, text=True, env=env, cwd=REPO)  # noqa: E731
    done = run(f"--output={tmp_path / 'th'}", "--preset=thumos14", "--scale=0.05", "--stream_dims=8,8", "--weak_amplitude=0.5")
    assert done.returncode == 0, done.stderr
    info = load_dataset_info(str(tmp_path / "th"))
    assert info.stream_dims == (8, 8) and info.num_videos("train") == 10 and info.num_videos("test") == 11
    assert json.load(open(tmp_path / "th" / "dataset.json"))["source"]["spec"]["weak_amplitude"] == 0.5
    missing = run(f"--output={tmp_path / 'x'}", f"--layout_from={tmp_path / 'nope.json'}")
    assert missing.returncode == 2 and "nope.json" in missing.stderr and "Traceback" not in missing.stderr
    assert not (tmp_path / "x").exists()


# --- the winner-takes-all structure of the feature model -------------------------------------------
def _videos(spec, count=30, seed=0):
    rng = np.random.default_rng(seed)
    directions = make_directions(rng, spec.num_classes, spec.stream_dims)
    out = []
    for i in range(count):
        c = i % spec.num_classes
        instances = [(20, 40, c), (70, 76, c), (120, 160, c)]
        features, parts = synthesize_features(rng, 200, instances, [c], directions, spec)
        out.append((c, features, parts))
    return directions, out


def test_climax_is_strong_weak_part_distinct_background_off_the_class_directions():
    spec = SyntheticSpec()
    directions, videos = _videos(spec)
    along = {key: [] for key in ("strong_S", "weak_S", "weak_W", "bg_S", "bg_W", "bg_ctx", "strong_sal", "weak_sal", "weak_act", "bg_act")}
    for c, x, parts in videos:
        # Every stream slice of a direction is a unit vector: projections are (streams x amplitude).
        project = lambda d: x @ d / len(spec.stream_dims)  # noqa: E731
        s, w, ctx = project(directions.strong[c]), project(directions.weak[c]), project(directions.context[c])
        sal, act = project(directions.salience), project(directions.actionness)
        along["strong_S"] += list(s[parts == STRONG]); along["weak_S"] += list(s[parts == WEAK])
        along["weak_W"] += list(w[parts == WEAK]); along["bg_S"] += list(s[parts == BACKGROUND])
        along["bg_W"] += list(w[parts == BACKGROUND]); along["bg_ctx"] += list(ctx[parts == BACKGROUND])
        along["strong_sal"] += list(sal[parts == STRONG]); along["weak_sal"] += list(sal[parts == WEAK])
        along["weak_act"] += list(act[parts == WEAK]); along["bg_act"] += list(act[parts == BACKGROUND])
    mean = {k: float(np.mean(v)) for k, v in along.items()}
    assert mean["strong_S"] == pytest.approx(spec.strong_amplitude, abs=0.15)
    assert mean["weak_W"] == pytest.approx(spec.weak_amplitude, abs=0.15)
    assert abs(mean["weak_S"]) < 0.1  # the weak part looks unlike the climax
    assert abs(mean["bg_S"]) < 0.1 and abs(mean["bg_W"]) < 0.1  # background is off the class directions
    assert mean["bg_ctx"] == pytest.approx(spec.context_amplitude, abs=0.1)  # ... but carries class context
    assert mean["strong_sal"] == pytest.approx(spec.salience_amplitude, abs=0.15) and abs(mean["weak_sal"]) < 0.1
    assert mean["weak_act"] > mean["bg_act"] + 0.8 * spec.actionness_amplitude  # weak parts are still action
    # Attention-relevant signal: class + salience energy of the climax exceeds the weak part's.
    assert spec.strong_amplitude ** 2 + spec.salience_amplitude ** 2 > 2 * spec.weak_amplitude ** 2
    strong_norm = np.hypot(mean["strong_S"], mean["strong_sal"])
    assert strong_norm > 1.5 * mean["weak_W"]
    # Directions: weak orthogonal to strong per class; context orthogonal to every class direction here.
    assert np.abs(np.sum(directions.strong * directions.weak, axis=1)).max() < 1e-5
    assert np.abs(directions.context @ np.concatenate([directions.strong, directions.weak]).T).max() < 1e-5


def test_parts_follow_the_instances_and_the_weak_knob():
    spec = SyntheticSpec(weak_amplitude=0.0)
    directions, videos = _videos(spec, count=10, seed=1)
    for c, x, parts in videos:
        assert set(np.flatnonzero(parts > BACKGROUND)) == set(range(20, 40)) | set(range(70, 76)) | set(range(120, 160))
        for start, end in ((20, 40), (70, 76), (120, 160)):
            strong = np.flatnonzero(parts[start:end] == STRONG)
            assert len(strong) == max(1, round(spec.strong_fraction * (end - start)))
            assert np.all(np.diff(strong) == 1)  # one contiguous climax
        w = x @ directions.weak[c] / 2
        assert abs(np.mean(w[parts == WEAK])) < 0.15  # weak_amplitude=0: no class evidence left there


def test_asymmetric_streams_put_class_in_the_first_and_motion_in_the_second():
    spec = SyntheticSpec(**ASYMMETRIC_STREAMS)
    directions, videos = _videos(spec, count=20, seed=2)
    d0 = spec.stream_dims[0]
    per_stream = np.zeros((2, 2))
    for c, x, parts in videos:
        strong = parts == STRONG
        for i, cut in enumerate((slice(0, d0), slice(d0, None))):
            per_stream[i, 0] += np.mean(x[strong][:, cut] @ directions.strong[c][cut])
            per_stream[i, 1] += np.mean(x[parts > BACKGROUND][:, cut] @ directions.actionness[cut])
    per_stream /= len(videos)
    assert per_stream[1, 0] / per_stream[0, 0] == pytest.approx(0.5, abs=0.1)
    assert per_stream[1, 1] / per_stream[0, 1] == pytest.approx(3.0, abs=0.5)


@pytest.mark.parametrize("options, message", [
    ({"seed": -1}, r"--seed=-1: must be an integer >= 0"),
    ({"weak_amplitude": float("inf")}, r"--weak_amplitude=inf: must be finite and >= 0"),
    ({"noise_std": -1.0}, r"--noise_std=-1.0: must be finite and >= 0"),
    ({"strong_fraction": 1.5}, r"--strong_fraction=1.5: must be in \(0, 1\]"),
    ({"scale": 0.0, "preset": "thumos14"}, r"--scale=0.0: must be in \(0, 1\]"),
    ({"snippet_rate": float("inf"), "preset": "thumos14"}, r"--snippet_rate=inf: must be positive and finite"),
])
def test_generator_values_it_cannot_use_are_one_line_errors(tmp_path, options, message):
    from iwo_tf.errors import UserInputError

    with pytest.raises(UserInputError, match=message):
        generate_synthetic_dataset(str(tmp_path / "out"), **options)
    assert not (tmp_path / "out").exists()
