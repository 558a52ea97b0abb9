"""The names that make a converted dataset directory: format tag, file names, shard names."""
from __future__ import annotations

FORMAT_NAME = "iwo-tf-video-tfrecords"
FORMAT_VERSION = 1
DATASET_JSON = "dataset.json"
CLASSES_TXT = "classes.txt"
GROUND_TRUTH_JSON = "ground_truth.json"


def shard_name(subset: str, index: int, count: int) -> str:
    """The file name of shard `index` of `count` of a subset."""
    return f"{subset}-{index:05d}-of-{count:05d}.tfrecord"
