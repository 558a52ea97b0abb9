"""Each public layout converted from tiny fake features plus the real annotation files (../shared/data)."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from iwo_tf.data.convert import convert
from iwo_tf.data.dataset_info import load_dataset_info, verify_records
from iwo_tf.data.layouts.thumos14_quirks import FIELD_DROPPED_TEST_VIDEOS, Thumos14Quirks
from iwo_tf.data.pipeline import make_dataset
from iwo_tf.data.schema import parse_video

from .conftest import STREAM_DIMS, fake_features, gt_counts, write_per_video

THUMOS_COUNTS = {"train": (200, 3007), "test": (212, 3358)}
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _first_record(data_dir, subset="train"):
    info = load_dataset_info(data_dir)
    serialized = next(iter(tf.data.TFRecordDataset(info.files(subset)[0])))
    return {k: v.numpy() for k, v in parse_video(serialized).items()}


def _check_thumos(output, counts=THUMOS_COUNTS):
    assert gt_counts(output) == counts
    info = load_dataset_info(output)
    assert info.num_classes == 20 and info.stream_dims == STREAM_DIMS and info.feature_dim == 8
    assert {s: (info.subsets[s]["num_videos"], info.subsets[s]["num_instances"]) for s in counts} == counts
    assert verify_records(output) == {s: n for s, (n, _) in counts.items()}
    return info


@pytest.mark.slow
def test_wtalc_joint_npy(tmp_path, shared_data, rng):
    annotations = shared_data / "thumos14" / "Thumos14reduced-Annotations"
    names = np.load(annotations / "videoname.npy")
    rows = np.empty(len(names), object)
    for i in range(len(names)):
        rows[i] = fake_features(rng)
    features_npy = str(tmp_path / "Thumos14reduced-I3D-JOINTFeatures.npy")
    np.save(features_npy, rows, allow_pickle=True)
    output = str(tmp_path / "out")
    report = convert("wtalc", output, stream_dims=STREAM_DIMS, features_npy=features_npy, annotations_dir=str(annotations), progress=False)
    assert report.videos == {"train": 200, "test": 212} and report.skipped == []
    info = _check_thumos(output)
    assert info.class_names[:2] == ("BaseballPitch", "BasketballDunk")
    record = _first_record(output)
    row = [n.decode() for n in names].index(record["video_id"].decode())
    np.testing.assert_array_equal(record["features"], rows[row])
    assert record["duration"] == pytest.approx(float(np.load(annotations / "duration.npy")[row, 0]))
    assert record["snippet_stride_sec"] == pytest.approx(0.64)


@pytest.mark.slow
def test_actionformer_per_video_npy(tmp_path, shared_data, rng, thumos_video_ids):
    val, test = thumos_video_ids
    features_dir = write_per_video(tmp_path / "i3d", val + test, rng)
    annotations = str(shared_data / "thumos14" / "actionformer" / "thumos14.json")
    output = str(tmp_path / "out")
    convert("actionformer", output, stream_dims=STREAM_DIMS, annotations_json=annotations, features_dir=features_dir, progress=False)
    info = _check_thumos(output)
    assert info.class_names == tuple(sorted(info.class_names))  # label_id order is alphabetical
    record = _first_record(output, "test")
    fps = json.load(open(annotations))["database"][record["video_id"].decode()]["fps"]
    assert record["snippet_stride_sec"] == pytest.approx(4 / fps)
    # Snippet centres at (4 i + 8) / fps, as ActionFormer defines them.
    assert record["snippet_offset_sec"] + 0.5 * record["snippet_stride_sec"] == pytest.approx(8 / fps)


@pytest.mark.slow
def test_basnet_rgb_flow_folders(tmp_path, shared_data, rng):
    basnet = shared_data / "thumos14" / "basnet"
    data_dir = tmp_path / "THUMOS14"
    for subset in ("train", "test"):
        videos = (basnet / f"split_{subset}.txt").read_text().split()
        write_per_video(data_dir / "features" / subset, videos, rng, split_streams=True)
        (data_dir / f"split_{subset}.txt").write_text((basnet / f"split_{subset}.txt").read_text())
    # Features of a video BaS-Net dropped from its ground truth: the reverse case, a counted skip.
    write_per_video(data_dir / "features" / "test", ["video_test_0000270"], rng, split_streams=True)
    output = str(tmp_path / "out")
    report = convert("basnet", output, stream_dims=STREAM_DIMS, data_dir=str(data_dir), gt_json=str(basnet / "gt.json"),
                     video_info_json=str(shared_data / "thumos14" / "TH14_video_info.json"), progress=False)
    info = _check_thumos(output, {"train": (200, 3007), "test": (210, 3311)})
    assert [(s["video_id"], s["reason"]) for s in report.skipped] == [("video_test_0000270", "features_but_not_annotated")]
    assert info.skipped["by_reason"] == {"features_but_not_annotated": 1}
    record = _first_record(output)
    assert record["duration"] == pytest.approx(json.load(open(shared_data / "thumos14" / "TH14_video_info.json"))[record["video_id"].decode()]["duration"])


@pytest.mark.slow
def test_official_thumos14_txt_files(tmp_path, shared_data, rng, thumos_video_ids):
    val, test = thumos_video_ids
    features_dir = write_per_video(tmp_path / "features", val + test + ["video_test_0001292"], rng)
    output = str(tmp_path / "out")
    report = convert("thumos14_original", output, stream_dims=STREAM_DIMS, annotations_dir=str(shared_data / "thumos14" / "original"),
                     features_dir=features_dir, progress=False)
    _check_thumos(output)
    # 1292 has only Ambiguous segments: not a test video; its features are a counted skip.
    assert [(s["video_id"], s["reason"]) for s in report.skipped] == [("video_test_0001292", "features_but_not_annotated")]
    wtalc_like = json.load(open(os.path.join(output, "ground_truth.json")))["database"]["video_validation_0000161"]["annotations"]
    assert {"label": "Diving", "segment": [11.3, 14.1]} in wtalc_like and {"label": "CliffDiving", "segment": [11.3, 14.1]} in wtalc_like


@pytest.mark.slow
def test_thumos14_quirk_switches(tmp_path, shared_data, rng, thumos_video_ids):
    val, test = thumos_video_ids
    features_dir = write_per_video(tmp_path / "features", val + test, rng)
    original = str(shared_data / "thumos14" / "original")
    output = str(tmp_path / "out")
    quirks = Thumos14Quirks(drop_test_videos=FIELD_DROPPED_TEST_VIDEOS, cliffdiving_is_diving=False)
    report = convert("thumos14_original", output, stream_dims=STREAM_DIMS, annotations_dir=original, features_dir=features_dir,
                     thumos14=quirks, progress=False)
    duplicates = {}
    for split, subset in (("val", "train"), ("test", "test")):
        lines = lambda c: {tuple(l.split()) for l in open(f"{original}/annotations_{split}/{c}_{split}.txt") if l.strip()}  # noqa: E731,E741
        duplicates[subset] = lines("CliffDiving") & lines("Diving")
    counts = gt_counts(output)
    assert counts["train"] == (200, 3007 - len(duplicates["train"]))
    assert counts["test"][0] == 210
    assert sorted((s["video_id"], s["reason"]) for s in report.skipped) == [(v, "excluded_by_option") for v in FIELD_DROPPED_TEST_VIDEOS]
    with_ambiguous = str(tmp_path / "ambiguous")
    convert("thumos14_original", with_ambiguous, stream_dims=STREAM_DIMS, annotations_dir=original, features_dir=features_dir,
            include_ambiguous=True, progress=False)
    assert load_dataset_info(with_ambiguous).class_names[-1] == "Ambiguous"
    assert gt_counts(with_ambiguous)["train"] == (200, 3007 + 89)


def _anet_subset(shared_data, name, count):
    with open(shared_data / "activitynet13" / "acmnet" / name) as f:
        return [line.strip() for line in f if line.strip()][:count]


@pytest.mark.slow
def test_activitynet_tsp_csv_with_acmnet_splits(tmp_path, shared_data, rng):
    anet = shared_data / "activitynet13"
    train, test = _anet_subset(shared_data, "split_train.txt", 40), _anet_subset(shared_data, "split_test.txt", 20)
    features_dir = write_per_video(tmp_path / "features", train + test, rng)  # names with the v_ prefix
    output = str(tmp_path / "out")
    mapping = json.load(open(anet / "tsp" / "activitynet_v1-3_action_label_mapping.json"))
    report = convert(
        "activitynet", output, stream_dims=STREAM_DIMS, class_list=mapping,
        annotation_files=[str(anet / "tsp" / f"activitynet_v1-3_{s}_tsp_groundtruth.csv") for s in ("train", "valid")],
        split_files=[str(anet / "acmnet" / "split_train.txt"), str(anet / "acmnet" / "split_test.txt")],
        features_dir=features_dir, progress=False,
    )
    assert report.videos == {"train": 40, "test": 20}
    missing = [s for s in report.skipped if s["reason"] == "annotated_but_no_features"]
    assert len(missing) == len(report.skipped) == (9032 - 40) + (4427 - 20)  # every split video has annotations
    expected = {}
    for subset, csv_name, ids in (("train", "train", train), ("test", "valid", test)):
        wanted = {v[2:] for v in ids}
        with open(anet / "tsp" / f"activitynet_v1-3_{csv_name}_tsp_groundtruth.csv") as f:
            rows = [r for r in csv.DictReader(f) if r["video-name"] in wanted and r["temporal-region-label"] == "Action"]
        expected[subset] = (len(wanted), len(rows))
    assert gt_counts(output) == expected
    info = load_dataset_info(output)
    assert info.num_classes == 200
    database = json.load(open(info.ground_truth_path))["database"]
    assert set(database) == {v[2:] for v in train + test}  # ids without the v_ prefix, like the official json
    batch = next(iter(make_dataset(info.files("train"), num_segments=5, num_classes=200, training=False, batch_size=4)))
    assert batch["labels"].numpy().sum(axis=1).min() >= 1


def test_activitynet_official_json_fit_to_duration(tmp_path, rng):
    database = {
        "aaa": {"subset": "training", "duration": 20.0, "annotations": [{"label": "Archery", "segment": [1.0, 5.0]}]},
        "bbb": {"subset": "validation", "duration": 10.0, "annotations": [{"label": "BMX", "segment": [2.0, 3.0]}]},
        "ccc": {"subset": "testing", "duration": 12.0, "annotations": []},
    }
    annotations = tmp_path / "activity_net.v1-3.min.json"
    annotations.write_text(json.dumps({"version": "VERSION 1.3", "database": database}))
    features_dir = write_per_video(tmp_path / "features", ["v_aaa", "v_bbb", "v_ccc"], rng)
    output = str(tmp_path / "out")
    report = convert("activitynet", output, stream_dims=STREAM_DIMS, annotation_files=[str(annotations)], features_dir=features_dir,
                     fit_to_duration=True, progress=False)
    assert gt_counts(output) == {"train": (1, 1), "test": (1, 1)}
    assert [(s["video_id"], s["reason"]) for s in report.skipped] == [("ccc", "features_but_not_annotated")]  # the testing subset has no labels
    record = _first_record(output)
    assert record["snippet_stride_sec"] * record["num_snippets"] == pytest.approx(20.0)


@pytest.mark.slow
def test_command_line(tmp_path, shared_data, rng, thumos_video_ids):
    val, test = thumos_video_ids
    features_dir = write_per_video(tmp_path / "features", val + test, rng)
    output = tmp_path / "out"
    command = [sys.executable, "-m", "iwo_tf.data.convert", "--layout=thumos14_original", f"--output={output}",
               f"--annotations_dir={shared_data / 'thumos14' / 'original'}", f"--features_dir={features_dir}",
               "--stream_dims=4,4", "--num_shards=3", "--thumos14_drop_test_videos=video_test_0000270,video_test_0001496"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": REPO}, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "train: 200 videos, 3007 instances" in result.stdout and "excluded_by_option: 2" in result.stdout
    assert "video" in result.stdout  # the progress bar's unit
    info = load_dataset_info(str(output))
    assert info.files("train")[0].endswith("train-00000-of-00003.tfrecord") and len(info.files("test")) == 3
