"""Fixtures for the data tests: tiny fake feature files in each public layout."""
import json
import os

import numpy as np
import pytest

STREAM_DIMS = (4, 4)
FEATURE_DIM = sum(STREAM_DIMS)


def fake_features(rng, num_snippets=None):
    """A small `[T, 8]` float32 matrix (T 3..11 unless given)."""
    t = int(rng.integers(3, 12)) if num_snippets is None else num_snippets
    return rng.normal(size=(t, FEATURE_DIM)).astype(np.float32)


def write_per_video(directory, videos, rng, split_streams=False):
    """Writes `<video>.npy` (or `rgb/` + `flow/` halves) for each video; returns the folder."""
    os.makedirs(directory, exist_ok=True)
    if split_streams:
        os.makedirs(os.path.join(directory, "rgb"), exist_ok=True)
        os.makedirs(os.path.join(directory, "flow"), exist_ok=True)
    for video in videos:
        x = fake_features(rng)
        if split_streams:
            np.save(os.path.join(directory, "rgb", f"{video}.npy"), x[:, : STREAM_DIMS[0]])
            np.save(os.path.join(directory, "flow", f"{video}.npy"), x[:, STREAM_DIMS[0] :])
        else:
            np.save(os.path.join(directory, f"{video}.npy"), x)
    return str(directory)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def thumos_video_ids(shared_data):
    """The 412 THUMOS14 videos with annotations: (validation ids, test ids)."""
    database = json.loads((shared_data / "thumos14" / "actionformer" / "thumos14.json").read_text())["database"]
    val = sorted(v for v, item in database.items() if item["subset"] == "Validation")
    test = sorted(v for v, item in database.items() if item["subset"] == "Test")
    return val, test


def gt_counts(output_dir):
    """{subset: (videos, instances)} read back from ground_truth.json."""
    with open(os.path.join(output_dir, "ground_truth.json")) as f:
        database = json.load(f)["database"]
    counts = {}
    for item in database.values():
        videos, instances = counts.get(item["subset"], (0, 0))
        counts[item["subset"]] = (videos + 1, instances + len(item["annotations"]))
    return counts
