"""The embedded default dataset: THUMOS-like synthetic snippet features generated from a seed.

    python -m iwo_tf.data.synthetic --output=data/synthetic [--seed=0]

Structure (what makes it a fair stand-in for THUMOS14 features):

* untrimmed videos of 100..800 snippets (log-uniform, so short videos are more common), 0.64 s apart;
* several instances per video (about one per 40 snippets), most of them short (median ~8 snippets),
  separated by background;
* about 20% of the videos have two action classes;
* two feature streams ("rgb", "flow"), each with its own per-class prototype direction.

It exhibits the winner-takes-all problem the paper attacks. Inside an instance only a contiguous
quarter of the snippets is strongly class-discriminative (high amplitude along the class prototype);
the rest is weakly discriminative (low amplitude, still well above background); the video's class also
leaks weakly into its background (context). A classifier learns the video label from the strong parts
alone, so attention-only localization finds them and misses the rest of each instance; removing the
winners forces the model onto the weak parts. All instances share a class-agnostic "actionness"
component (like motion in real flow features), which separates weak parts from background context.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Optional, Sequence

import numpy as np

from iwo_tf.data.dataset_writer import DatasetWriter, shard_count
from iwo_tf.data.schema import VideoRecord


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
    """Everything that shapes the synthetic dataset; defaults are the embedded default dataset.

    Args:
        num_classes: C.
        stream_dims: width of each feature stream.
        num_train: videos in the `train` subset.
        num_test: videos in the `test` subset.
        min_snippets: shortest video.
        max_snippets: longest video.
        snippet_stride_sec: seconds between snippets.
        snippets_per_instance: roughly one instance per this many snippets.
        median_instance_snippets: median instance length (log-normal, clipped to [3, 80]).
        multi_label_fraction: share of videos with two classes.
        strong_fraction: share of each instance that is strongly discriminative (one contiguous run).
        strong_amplitude: class-prototype amplitude in the strong part.
        weak_amplitude: class-prototype amplitude in the rest of the instance.
        context_amplitude: class-prototype amplitude in the video's background.
        actionness_amplitude: class-agnostic component inside every instance.
        scene_amplitude: a per-video constant offset (scene appearance), identical for all snippets.
        noise_std: per-dimension Gaussian noise.
        shards_per_subset: TFRecord files per subset (at least the number of workers you train on).
    """

    num_classes: int = 10
    stream_dims: Sequence[int] = (64, 64)
    num_train: int = 300
    num_test: int = 150
    min_snippets: int = 100
    max_snippets: int = 800
    snippet_stride_sec: float = 0.64
    snippets_per_instance: int = 40
    median_instance_snippets: float = 8.0
    multi_label_fraction: float = 0.2
    strong_fraction: float = 0.25
    strong_amplitude: float = 3.0
    weak_amplitude: float = 1.0
    context_amplitude: float = 0.3
    actionness_amplitude: float = 1.0
    scene_amplitude: float = 1.0
    noise_std: float = 1.0
    shards_per_subset: int = 4


def class_names(num_classes: int) -> list:
    return [f"SyntheticAction{c:02d}" for c in range(num_classes)]


def _unit_rows(rng: np.random.Generator, rows: int, dims: Sequence[int]) -> np.ndarray:
    """`[rows, D]`: per stream an independent random unit vector, concatenated."""
    parts = []
    for width in dims:
        v = rng.standard_normal((rows, width))
        parts.append(v / np.linalg.norm(v, axis=1, keepdims=True))
    return np.concatenate(parts, axis=1)


def _place_instances(rng: np.random.Generator, num_snippets: int, classes: np.ndarray, spec: SyntheticSpec):
    """Non-overlapping `(start, end, class)` snippet intervals with background between them."""
    wanted = max(1, int(rng.poisson(num_snippets / spec.snippets_per_instance)))
    lengths = np.clip(np.round(rng.lognormal(np.log(spec.median_instance_snippets), 0.7, size=wanted)), 3, 80).astype(int)
    # At most 60% of a video is action, at least 2 background snippets between instances.
    while len(lengths) > 1 and lengths.sum() + 2 * (len(lengths) + 1) > 0.6 * num_snippets:
        lengths = lengths[:-1]
    background = num_snippets - int(lengths.sum())
    gaps = rng.dirichlet(np.ones(len(lengths) + 1)) * (background - 2 * (len(lengths) + 1))
    gaps = np.floor(gaps).astype(int) + 2
    instances, cursor = [], 0
    for length, gap in zip(lengths, gaps[:-1]):
        cursor += gap
        instances.append((cursor, cursor + int(length), int(rng.choice(classes))))
        cursor += int(length)
    # Every class of the video must own at least one instance.
    for position, c in enumerate(classes):
        if all(k != c for _, _, k in instances) and position < len(instances):
            s, e, _ = instances[position]
            instances[position] = (s, e, int(c))
    return instances


def synthesize_video(rng: np.random.Generator, video_id: str, subset: str, prototypes, actionness, spec: SyntheticSpec):
    """One synthetic video as a VideoRecord."""
    dims = list(spec.stream_dims)
    num_snippets = int(np.round(np.exp(rng.uniform(np.log(spec.min_snippets), np.log(spec.max_snippets)))))
    num_labels = 2 if rng.random() < spec.multi_label_fraction and spec.num_classes > 1 else 1
    classes = np.sort(rng.choice(spec.num_classes, size=num_labels, replace=False))
    instances = _place_instances(rng, num_snippets, classes, spec)
    # Per-snippet coefficients over the class prototypes and the actionness direction.
    class_weight = np.zeros((num_snippets, spec.num_classes), np.float32)
    class_weight[:, classes] = spec.context_amplitude / num_labels
    action_weight = np.zeros(num_snippets, np.float32)
    for start, end, c in instances:
        length = end - start
        strong = max(1, int(round(spec.strong_fraction * length)))
        strong_start = start + int(rng.integers(0, length - strong + 1))
        class_weight[start:end] = 0.0
        class_weight[start:end, c] = spec.weak_amplitude
        class_weight[strong_start : strong_start + strong, c] = spec.strong_amplitude
        action_weight[start:end] = spec.actionness_amplitude
    scene = _unit_rows(rng, 1, dims)[0] * spec.scene_amplitude
    features = rng.standard_normal((num_snippets, sum(dims)), dtype=np.float32) * spec.noise_std
    features += class_weight @ prototypes + action_weight[:, None] * actionness[None] + scene[None]
    stride = spec.snippet_stride_sec
    return VideoRecord(
        video_id=video_id,
        subset=subset,
        labels=classes.tolist(),
        duration=num_snippets * stride,
        snippet_stride_sec=stride,
        snippet_offset_sec=0.0,
        features=features.astype(np.float32),
        stream_dims=dims,
        gt_segments=[[round(s * stride, 3), round(e * stride, 3)] for s, e, _ in instances],
        gt_labels=[c for _, _, c in instances],
    )


def generate_synthetic_dataset(
    output_dir: str,
    *,
    seed: int = 0,
    spec: Optional[SyntheticSpec] = None,
    overwrite: bool = False,
    **overrides,
) -> str:
    """Writes the synthetic dataset as a converted dataset directory (shards, classes.txt,
    ground_truth.json, dataset.json), identical for identical arguments.

    Args:
        output_dir: the directory to create.
        seed: seeds the numpy Generator that draws everything.
        spec: the dataset's shape; None uses the embedded default.
        overwrite: replace an existing directory.
        **overrides: `SyntheticSpec` fields to change, e.g. `num_train=20`.

    Returns:
        `output_dir`.
    """
    spec = dataclasses.replace(spec or SyntheticSpec(), **overrides)
    rng = np.random.default_rng(seed)
    dims = list(spec.stream_dims)
    prototypes = _unit_rows(rng, spec.num_classes, dims).astype(np.float32)
    actionness = _unit_rows(rng, 1, dims)[0].astype(np.float32)
    counts = {"train": spec.num_train, "test": spec.num_test}
    source = {"generator": "iwo_tf.data.synthetic", "seed": int(seed), "spec": {**dataclasses.asdict(spec), "stream_dims": dims}}
    shards = {subset: shard_count(n, spec.shards_per_subset) for subset, n in counts.items() if n > 0}
    with DatasetWriter(output_dir, class_names(spec.num_classes), dims, shards, overwrite=overwrite, source=source) as writer:
        for subset, count in counts.items():
            for i in range(count):
                writer.add(synthesize_video(rng, f"synthetic_{subset}_{i:05d}", subset, prototypes, actionness, spec))
    return output_dir


def main(argv):
    from absl import app, flags  # noqa: F401 - flags are defined at import below

    del argv
    flag_values = flags.FLAGS
    path = generate_synthetic_dataset(flag_values.output, seed=flag_values.seed, overwrite=flag_values.overwrite)
    from iwo_tf.data.dataset_info import load_dataset_info

    info = load_dataset_info(path)
    summary = ", ".join(f"{s}: {b['num_videos']} videos / {b['num_instances']} instances" for s, b in info.subsets.items())
    print(f"Wrote {path} ({info.num_classes} classes, D={info.feature_dim}; {summary})")


if __name__ == "__main__":
    from absl import app, flags

    flags.DEFINE_string("output", None, "Directory to create.", required=True)
    flags.DEFINE_integer("seed", 0, "Random seed.")
    flags.DEFINE_bool("overwrite", False, "Replace an existing directory.")
    app.run(main)
