"""Winners-out keep-masks: a persisted store (one JSON file per step) and an in-graph lookup table.

A keep-mask is a boolean vector over a video's K segments: True = the segment is still used, False =
removed by winners-out training (METHOD.md, "Winners-out training").
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Dict, Iterable, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from iwo_tf.errors import UserInputError
from iwo_tf.io import write_text_atomic

_STEP_FILE = re.compile(r"^step_(\d+)\.json$")
_RECIPE = "restore the file, or start over with a new --workdir"


def mask_checksum(num_segments: int, step: int, removed: Mapping[str, Sequence[int]]) -> str:
    """The sha256 a mask file carries: of its contents in canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps({"num_segments": int(num_segments), "step": int(step), "removed": dict(removed)},
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class MaskStore:
    """One human-readable, checksummed JSON file per winners-out step, e.g. `masks/step_001.json`.

    File contents: `{"sha256": ..., "num_segments": K, "step": s, "removed": {video_id: [sorted
    removed segment indices]}}`; a video with nothing removed is listed with `[]`. `sha256` is
    `mask_checksum` of the rest, so an edited or damaged file is refused on load. Files are written
    atomically (temporary name, fsync, rename; no symlink followed), so a reader never sees a partial file.
    The directory may be a URL (`gs://...`): files go through `tf.io.gfile`.

    Args:
        directory: where the step files live (created on first save).
        video_ids: when given, every loaded file must list exactly these videos (the run's training videos).
        num_segments: when given, every loaded file must be for this K.
    """

    def __init__(self, directory: str, video_ids: Optional[Iterable[str]] = None, num_segments: Optional[int] = None):
        self.directory = directory
        self.video_ids = None if video_ids is None else {str(v) for v in video_ids}
        self.num_segments = None if num_segments is None else int(num_segments)

    def path(self, step: int) -> str:
        return os.path.join(self.directory, f"step_{int(step):03d}.json")

    def save(self, step: int, masks: Mapping[str, np.ndarray]) -> str:
        """Writes the keep-masks of one step.

        Args:
            step: winners-out step (0 = before any removal).
            masks: video id -> bool `[K]` keep-mask; every mask must have the same K.

        Returns:
            The file written.
        """
        sizes = {np.asarray(m).shape for m in masks.values()}
        if len(sizes) > 1:
            raise ValueError(f"masks of different shapes in one step: {sorted(sizes)}")
        num_segments = int(sizes.pop()[0]) if sizes else 0
        removed = {str(video): np.flatnonzero(~np.asarray(mask, bool)).tolist() for video, mask in sorted(masks.items())}
        checksum = mask_checksum(num_segments, step, removed)
        # One video per line: readable and diffable.
        lines = [f"\n {json.dumps(video)}: {json.dumps(indices)}" for video, indices in removed.items()]
        text = '{"sha256": "%s", "num_segments": %d, "step": %d, "removed": {%s\n}}\n' % (
            checksum, num_segments, int(step), ",".join(lines))
        return write_text_atomic(self.path(step), text)

    def load(self, step: int) -> Dict[str, np.ndarray]:
        """Reads and checks one step's keep-masks: video id -> bool `[K]`.

        Raises:
            UserInputError: one line naming the file: missing, not JSON (truncated), edited (checksum),
                another step, another K, videos missing or extra, indices outside `[0, K)`.
        """
        path = self.path(step)
        try:
            with tf.io.gfile.GFile(path, "r") as f:
                document = json.load(f)
        except (FileNotFoundError, tf.errors.NotFoundError):
            raise UserInputError(f"{path}: missing: the run needs the keep-masks of winners-out step {step}; {_RECIPE}") from None
        except ValueError as error:
            raise UserInputError(f"{path}: not valid JSON ({error}; truncated or edited); {_RECIPE}") from None
        if not isinstance(document, dict) or not {"sha256", "num_segments", "step", "removed"} <= set(document):
            raise UserInputError(f"{path}: not a keep-mask file (needs sha256, num_segments, step, removed); {_RECIPE}")
        try:
            checksum = mask_checksum(document["num_segments"], document["step"], document["removed"])
        except (TypeError, ValueError):
            checksum = None
        if checksum != document["sha256"]:
            raise UserInputError(f"{path}: checksum mismatch: the file was edited or damaged after winners-out wrote it; {_RECIPE}")
        num_segments = int(document["num_segments"])
        if int(document["step"]) != int(step):
            raise UserInputError(f"{path}: holds the masks of step {document['step']}, not {step}; {_RECIPE}")
        if self.num_segments is not None and num_segments != self.num_segments:
            raise UserInputError(f"{path}: masks for num_segments={num_segments} but the run has K={self.num_segments}; {_RECIPE}")
        if self.video_ids is not None:
            missing = sorted(self.video_ids - set(document["removed"]))
            extra = sorted(set(document["removed"]) - self.video_ids)
            if missing or extra:
                video, what = (missing[0], "is missing") if missing else (extra[0], "is not a training video of this run")
                raise UserInputError(f"{path}: video {video!r} {what} ({len(missing)} missing, {len(extra)} extra); {_RECIPE}")
        masks = {}
        for video, removed in document["removed"].items():
            removed = np.asarray(removed, np.int64).reshape(-1)
            if removed.size and (removed.min() < 0 or removed.max() >= num_segments):
                raise UserInputError(f"{path}: video {video!r}: removed indices outside [0, {num_segments}); {_RECIPE}")
            mask = np.ones(num_segments, bool)
            mask[removed] = False
            masks[video] = mask
        return masks

    def steps(self) -> list:
        if not tf.io.gfile.isdir(self.directory):
            return []
        return sorted(int(m.group(1)) for m in map(_STEP_FILE.match, tf.io.gfile.listdir(self.directory)) if m)

    def latest_step(self) -> Optional[int]:
        """The highest step with a file, or None when nothing was saved yet."""
        steps = self.steps()
        return steps[-1] if steps else None


class MaskTable:
    """Per-video keep-masks inside the graph, updatable without rebuilding the input pipeline.

    A `tf.lookup.StaticHashTable` maps video id -> row of a `tf.Variable` `[N, K]` float32 (1 = kept),
    all ones initially. `assign` rewrites the variable; a `tf.data` pipeline that calls `lookup`
    reads the current value each time it produces an element.

    Unknown ids: in strict mode (the default) `lookup` fails with InvalidArgument naming the ids;
    otherwise they get all-ones (nothing removed), which is right only for videos winners-out never
    touches (e.g. test videos). Create it outside `strategy.scope()`: it belongs to the input
    pipeline (host CPU), not to the replicas.

    Args:
        video_ids: every video that can be looked up.
        num_segments: K.
        strict: fail on unknown ids (else all-ones).
    """

    def __init__(self, video_ids: Iterable[str], num_segments: int, strict: bool = True):
        self.video_ids = [str(v) for v in video_ids]
        if len(set(self.video_ids)) != len(self.video_ids):
            raise ValueError("MaskTable: duplicate video ids")
        self.num_segments = int(num_segments)
        self.strict = strict
        self._row = {video: i for i, video in enumerate(self.video_ids)}
        with tf.init_scope(), tf.device("/cpu:0"):
            keys = tf.constant(self.video_ids if self.video_ids else [""], tf.string)
            values = tf.range(tf.size(keys, out_type=tf.int64), dtype=tf.int64)
            if not self.video_ids:
                values = tf.constant([-1], tf.int64)
            self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), default_value=-1)
            # One spare all-ones row at the end serves unknown ids in non-strict mode.
            self.masks = tf.Variable(
                tf.ones([len(self.video_ids) + 1, self.num_segments], tf.float32), trainable=False, name="winners_out_keep_masks"
            )

    def assign(self, masks: Mapping[str, np.ndarray]) -> None:
        """Sets the keep-masks of the given videos (others keep their current mask).

        Raises:
            KeyError: a video id not in the table.
            ValueError: a mask that is not `[K]`.
        """
        unknown = sorted(set(masks) - set(self._row))
        if unknown:
            raise KeyError(f"MaskTable.assign: {len(unknown)} unknown video ids, e.g. {unknown[:3]}")
        current = self.masks.numpy()
        for video, mask in masks.items():
            mask = np.asarray(mask)
            if mask.shape != (self.num_segments,):
                raise ValueError(f"MaskTable.assign: video {video!r}: mask shape {mask.shape}, expected ({self.num_segments},)")
            current[self._row[video]] = mask.astype(np.float32)
        self.masks.assign(current)

    def numpy(self) -> Dict[str, np.ndarray]:
        """The current keep-masks as video id -> bool `[K]`."""
        values = self.masks.numpy() > 0
        return {video: values[row] for video, row in self._row.items()}

    def lookup(self, video_id) -> tf.Tensor:
        """float32 `[..., K]` keep-masks for a string tensor of video ids of any shape."""
        video_id = tf.convert_to_tensor(video_id, tf.string)
        rows = self.table.lookup(video_id)
        unknown = rows < 0
        if self.strict:
            check = tf.debugging.Assert(
                tf.logical_not(tf.reduce_any(unknown)),
                ["MaskTable: no keep-mask for video ids", tf.boolean_mask(tf.reshape(video_id, [-1]), tf.reshape(unknown, [-1]))],
                summarize=5,
            )
            with tf.control_dependencies([check]):
                rows = tf.identity(rows)
        rows = tf.where(unknown, tf.cast(len(self.video_ids), tf.int64), rows)
        return tf.gather(self.masks, rows)
