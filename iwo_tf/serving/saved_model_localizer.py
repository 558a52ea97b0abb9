"""Localize a user's own feature files with an exported model (no server needed)."""
from __future__ import annotations

import json
import os
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from iwo_tf.serving.saved_model_export import METADATA_FILENAME, latest_version_dir
from iwo_tf.winners_out import detections_to_results

_DETECTION_FIELDS = ("class_index", "score", "start_sec", "end_sec", "num_valid")


class SavedModelLocalizer:
    """Runs the exported `localize` / `serving_default` signatures from Python.

    It calls the very signatures TF Serving serves, so results match a deployed server.

    Args:
        path: a version directory (`.../<model_name>/<version>`) or a model directory, in which
            case the highest version is used.

    Example:

    ```python
    localizer = SavedModelLocalizer("exports/iwo")
    results = localizer.localize_npy_files(["video_a.npy", "video_b.npy"], snippet_stride_sec=0.64)
    write_results_json("results.json", results)
    ```
    """

    def __init__(self, path: str):
        self.path = latest_version_dir(path)
        self._loaded = tf.saved_model.load(self.path)
        self._localize = self._loaded.signatures["localize"]
        self._serve = self._loaded.signatures["serving_default"]
        with open(os.path.join(self.path, "assets.extra", METADATA_FILENAME)) as f:
            self.metadata = json.load(f)
        self.class_names = list(self.metadata["class_names"])
        self.feature_dim = int(self.metadata["feature_dim"])

    def localize_features(
        self,
        features,
        *,
        num_steps: Optional[int] = None,
        top_q: Optional[int] = None,
        segments_per_step: Optional[int] = None,
        snippet_stride_sec: Optional[float] = None,
        snippet_offset_sec: Optional[float] = None,
        duration: Optional[float] = None,
    ) -> dict:
        """Localizes one video from raw features `[T, D]`; None arguments take the export's defaults.

        Returns:
            A dict of numpy arrays: the `localize` signature outputs.
        """
        serving = self.metadata["serving"]
        inputs = {
            "features": tf.constant(np.asarray(features, np.float32)),
            "num_steps": tf.constant(serving["num_steps"] if num_steps is None else num_steps, tf.int32),
            "top_q": tf.constant(self.metadata["max_top_q"] if top_q is None else top_q, tf.int32),
            "segments_per_step": tf.constant(
                serving["segments_per_step"] if segments_per_step is None else segments_per_step, tf.int32
            ),
            "snippet_stride_sec": tf.constant(
                serving["snippet_stride_sec"] if snippet_stride_sec is None else snippet_stride_sec, tf.float32
            ),
            "snippet_offset_sec": tf.constant(
                serving["snippet_offset_sec"] if snippet_offset_sec is None else snippet_offset_sec, tf.float32
            ),
            "duration": tf.constant(0.0 if duration is None else duration, tf.float32),
        }
        return {key: value.numpy() for key, value in self._localize(**inputs).items()}

    def localize_records(self, serialized: Sequence[bytes]) -> dict:
        """Localizes a batch of serialized records in the project schema (`serving_default`)."""
        outputs = self._serve(examples=tf.constant(list(serialized), tf.string))
        return {key: value.numpy() for key, value in outputs.items()}

    def localize_npy_files(
        self,
        paths: Iterable[str],
        *,
        durations: Optional[Mapping[str, float]] = None,
        **localize_kwargs,
    ) -> dict:
        """Localizes `.npy` files of raw features `[T, D]`; the video id is the file name stem.

        Args:
            paths: `.npy` files.
            durations: optional `{video_id: seconds}`; known durations clip the detections.
            **localize_kwargs: passed to `localize_features` (num_steps, snippet_stride_sec, ...).

        Returns:
            ActivityNet results `{video_id: [{label, score, segment}]}`.
        """
        results = {}
        for path in paths:
            video_id = os.path.splitext(os.path.basename(path))[0]
            duration = None if durations is None else durations.get(video_id)
            outputs = self.localize_features(np.load(path), duration=duration, **localize_kwargs)
            batched = {key: np.asarray(outputs[key])[None] for key in _DETECTION_FIELDS}
            results.update(detections_to_results([video_id], batched, self.class_names))
        return results

    def localize_tfrecord_files(self, paths: Sequence[str], *, batch_size: int = 8) -> dict:
        """Localizes every record of TFRecord files written by the project's converter.

        Returns:
            ActivityNet results `{video_id: [{label, score, segment}]}`.
        """
        results = {}
        dataset = tf.data.TFRecordDataset(list(paths)).batch(batch_size)
        for batch in dataset.as_numpy_iterator():
            outputs = self.localize_records(list(batch))
            detections = {key: outputs[key] for key in _DETECTION_FIELDS}
            results.update(detections_to_results(list(outputs["video_id"]), detections, self.class_names))
        return results
