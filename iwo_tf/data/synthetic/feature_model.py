"""The synthetic feature model: snippet features with the winner-takes-all problem at the attention level.

Every snippet is a sum of components, per feature stream (each stream has its own directions):

* background: Gaussian noise (`noise_std` per dimension), a per-video scene vector (`scene_amplitude`)
  and, for each class of the video, that class's CONTEXT direction (`context_amplitude`). Context
  directions are orthogonal to every class's strong and weak directions whenever the stream is wide
  enough (2C + C + 2 <= D_s), so background never looks like an action, only like its setting;
* the STRONG part of an instance (its climax: one contiguous run, `strong_fraction` of the instance):
  the class's strong direction (`strong_amplitude`) plus a class-agnostic SALIENCE direction
  (`salience_amplitude`, what makes a climax grab attention whatever the class), plus actionness;
* the WEAK part (the rest of the instance: the parts of an action that look unlike its climax): the
  class's weak direction, a second direction orthogonal to its strong one (`weak_amplitude`),
  plus actionness;
* ACTIONNESS (`actionness_amplitude`): a class-agnostic direction in every action snippet, strong or
  weak (like motion), which separates weak parts from background.

Why this is the winner-takes-all regime: attention that follows the strong direction and salience
is enough to classify every training video, so training drives the attention onto the climaxes and
the classifier learns little about the weak directions; attention-only (or one-step CSC)
localization then finds the climaxes and misses the rest of each instance. Removing the winners
forces both the attention and the classifier onto the weak parts. `weak_amplitude` is the main knob:
0 makes the weak parts plain actionness (no class evidence to recover), equal to `strong_amplitude`
removes the problem.

Streams: `stream_class_gains` scales the class components (strong, weak, context) and
`stream_actionness_gains` the class-agnostic ones (actionness, salience) per stream: `(1, 1)` and
`(1, 1)` are symmetric streams; `ASYMMETRIC_STREAMS` makes the first stream (RGB-like) carry the
class and the second (flow-like) carry motion.
"""
from __future__ import annotations

import dataclasses
from typing import List, Sequence, Tuple

import numpy as np

from iwo_tf.data.synthetic.directions import Directions

BACKGROUND, WEAK, STRONG = 0, 1, 2
PART_NAMES = {BACKGROUND: "background", WEAK: "weak", STRONG: "strong"}
SYMMETRIC_STREAMS = {"stream_class_gains": (1.0, 1.0), "stream_actionness_gains": (1.0, 1.0)}
ASYMMETRIC_STREAMS = {"stream_class_gains": (1.0, 0.5), "stream_actionness_gains": (0.5, 1.5)}


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
    """Everything that shapes a synthetic dataset; defaults are the embedded default dataset.

    Args:
        num_classes: C.
        stream_dims: width of each feature stream.
        num_train: videos in the `train` subset (embedded layout only; presets fix their own).
        num_test: videos in the `test` subset (embedded layout only).
        min_snippets: shortest video (embedded layout).
        max_snippets: longest video (embedded layout).
        snippet_stride_sec: seconds between snippets (presets and --layout_from: 1 / snippet rate).
        snippets_per_instance: roughly one instance per this many snippets (embedded layout).
        median_instance_snippets: median instance length (embedded layout; log-normal in [3, 80]).
        multi_label_fraction: share of videos with two classes (embedded layout).
        strong_fraction: share of each instance that is its climax (one contiguous run, >= 1 snippet).
        strong_amplitude: amplitude of the class's strong direction in the climax.
        weak_amplitude: amplitude of the class's weak direction in the rest of the instance.
        salience_amplitude: amplitude of the class-agnostic salience direction in the climax.
        actionness_amplitude: amplitude of the class-agnostic actionness direction in every action snippet.
        context_amplitude: amplitude of the video's classes' context directions in its background.
        scene_amplitude: a per-video constant offset (scene appearance), the same for all snippets.
        noise_std: per-dimension Gaussian noise.
        stream_class_gains: per stream, a factor on strong, weak and context components.
        stream_actionness_gains: per stream, a factor on actionness and salience.
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
    strong_fraction: float = 0.3
    strong_amplitude: float = 3.0
    weak_amplitude: float = 1.5
    salience_amplitude: float = 3.0
    actionness_amplitude: float = 1.0
    context_amplitude: float = 0.5
    scene_amplitude: float = 1.0
    noise_std: float = 1.0
    stream_class_gains: Sequence[float] = (1.0, 1.0)
    stream_actionness_gains: Sequence[float] = (1.0, 1.0)
    shards_per_subset: int = 4


def _stream_gain_vector(gains: Sequence[float], stream_dims: Sequence[int]) -> np.ndarray:
    if len(gains) != len(stream_dims):
        raise ValueError(f"{len(gains)} stream gains for {len(stream_dims)} streams")
    return np.concatenate([np.full(int(w), float(g), np.float32) for g, w in zip(gains, stream_dims)])


def part_labels(rng: np.random.Generator, num_snippets: int, instances, strong_fraction: float) -> Tuple[np.ndarray, List[tuple]]:
    """Per-snippet part labels and the climax run of every instance.

    Args:
        rng: the generator (draws where each climax lies).
        num_snippets: T.
        instances: `(start, end, class)` snippet intervals, end exclusive, non-empty.
        strong_fraction: share of each instance that is its climax.

    Returns:
        `(labels [T] int8 in {BACKGROUND, WEAK, STRONG}, [(strong_start, strong_end, class), ...])`;
        where instances overlap, the stronger label wins.
    """
    labels = np.zeros(num_snippets, np.int8)
    climaxes = []
    for start, end, c in instances:
        length = end - start
        strong = min(length, max(1, int(round(strong_fraction * length))))
        strong_start = start + int(rng.integers(0, length - strong + 1))
        labels[start:end] = np.maximum(labels[start:end], WEAK)
        labels[strong_start : strong_start + strong] = STRONG
        climaxes.append((strong_start, strong_start + strong, int(c)))
    return labels, climaxes


def synthesize_features(
    rng: np.random.Generator,
    num_snippets: int,
    instances,
    video_classes: Sequence[int],
    directions: Directions,
    spec: SyntheticSpec,
) -> Tuple[np.ndarray, np.ndarray]:
    """Snippet features of one video and its per-snippet part labels.

    Args:
        rng: the generator.
        num_snippets: T.
        instances: `(start, end, class)` snippet intervals (end exclusive); they may overlap.
        video_classes: the video's classes (their context fills the background).
        directions: from `make_directions`.
        spec: amplitudes and stream gains.

    Returns:
        `(features [T, D] float32, parts [T] int8)`.
    """
    dims = [int(w) for w in spec.stream_dims]
    class_gain = _stream_gain_vector(spec.stream_class_gains, dims)
    agnostic_gain = _stream_gain_vector(spec.stream_actionness_gains, dims)
    parts, climaxes = part_labels(rng, num_snippets, instances, spec.strong_fraction)
    action = parts > BACKGROUND
    strong_weight = np.zeros((num_snippets, spec.num_classes), np.float32)
    weak_weight = np.zeros((num_snippets, spec.num_classes), np.float32)
    for (start, end, c), (s_start, s_end, _) in zip(instances, climaxes):
        weak_weight[start:end, c] = spec.weak_amplitude
        weak_weight[s_start:s_end, c] = 0.0
        strong_weight[s_start:s_end, c] = spec.strong_amplitude
    weak_weight[parts == STRONG] = 0.0  # an overlapping instance's weak part does not dilute a climax
    context_weight = np.zeros((num_snippets, spec.num_classes), np.float32)
    classes = sorted({int(c) for c in video_classes})
    context_weight[np.ix_(~action, classes)] = spec.context_amplitude / max(1, len(classes))
    class_part = (strong_weight @ directions.strong + weak_weight @ directions.weak + context_weight @ directions.context) * class_gain
    agnostic = (
        spec.actionness_amplitude * action[:, None] * directions.actionness[None]
        + spec.salience_amplitude * (parts == STRONG)[:, None] * directions.salience[None]
    ) * agnostic_gain
    scene = []
    for width, span in zip(dims, directions.class_span):
        v = rng.standard_normal(width)
        v -= span.T @ (span @ v)  # off every class direction
        scene.append(v / max(np.linalg.norm(v), 1e-12))
    scene = np.concatenate(scene).astype(np.float32) * spec.scene_amplitude
    features = rng.standard_normal((num_snippets, sum(dims)), dtype=np.float32) * spec.noise_std
    features += class_part + agnostic + scene[None]
    return features.astype(np.float32), parts
