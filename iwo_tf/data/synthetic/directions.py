"""The unit directions of the synthetic feature model (see `feature_model` for what each one means)."""
from __future__ import annotations

import dataclasses
from typing import Sequence, Tuple

import numpy as np


@dataclasses.dataclass(frozen=True)
class Directions:
    """The unit directions of the feature model, each `[rows, D]` (streams concatenated, every
    stream's slice a unit vector).

    Args:
        strong: `[C, D]` per-class climax directions.
        weak: `[C, D]` per-class weak-part directions.
        context: `[C, D]` per-class background context directions.
        actionness: `[D]` class-agnostic, every action snippet.
        salience: `[D]` class-agnostic, climaxes only.
        class_span: per stream, an orthonormal `[r, D_s]` basis of the strong and weak directions
            (scene vectors are drawn orthogonal to it).
    """

    strong: np.ndarray
    weak: np.ndarray
    context: np.ndarray
    actionness: np.ndarray
    salience: np.ndarray
    class_span: Tuple[np.ndarray, ...]


def _stream_directions(rng: np.random.Generator, num_classes: int, width: int):
    """Strong, weak, context `[C, w]`, actionness, salience `[w]` and the class span basis for one stream.

    Directions are orthonormal in the order strong, weak, actionness, salience, context as far as
    the width allows; beyond that they are random unit vectors (nearly orthogonal in high D).
    """
    rows = 3 * num_classes + 2
    raw = rng.standard_normal((rows, width))
    basis_rows = min(rows, width)
    q, _ = np.linalg.qr(raw[:basis_rows].T)  # [w, basis_rows], orthonormal columns
    directions = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    directions[:basis_rows] = q.T
    # The weak direction of a class is always orthogonal to its own strong one.
    strong, weak = directions[:num_classes], directions[num_classes : 2 * num_classes].copy()
    weak -= np.sum(weak * strong, axis=1, keepdims=True) * strong
    weak /= np.linalg.norm(weak, axis=1, keepdims=True)
    actionness, salience = directions[2 * num_classes], directions[2 * num_classes + 1]
    context = directions[2 * num_classes + 2 :]
    span_rows = min(2 * num_classes, width - 1)
    span, _ = np.linalg.qr(np.concatenate([strong, weak])[:span_rows].T)
    return strong, weak, context, actionness, salience, span.T


def make_directions(rng: np.random.Generator, num_classes: int, stream_dims: Sequence[int]) -> Directions:
    """Draws the feature model's directions, independently per stream.

    Args:
        rng: the generator.
        num_classes: C.
        stream_dims: stream widths.
    """
    per_stream = [_stream_directions(rng, num_classes, int(w)) for w in stream_dims]
    join = lambda i: np.concatenate([s[i] for s in per_stream], axis=-1).astype(np.float32)  # noqa: E731
    return Directions(
        strong=join(0), weak=join(1), context=join(2), actionness=join(3), salience=join(4),
        class_span=tuple(s[5] for s in per_stream),
    )
