"""Localize a user's own feature files with an exported model (no server needed)."""
from __future__ import annotations

import os
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from iwo_tf.data.safe_npy import load_feature_matrix
from iwo_tf.errors import UserInputError
from iwo_tf.io import read_json
from iwo_tf.serving.saved_model_export import METADATA_FILENAME, latest_version_dir
from iwo_tf.winners_out import detections_to_results

_DETECTION_FIELDS = ("class_index", "score", "start_sec", "end_sec", "num_valid")


def video_ids_of_files(paths: Iterable[str]) -> dict:
    """`{video_id: path}` with the video id the file name stem; two files with one id are an error.

    Raises:
        UserInputError: naming both files, when two paths (e.g. in two folders) share a stem.
    """
    ids = {}
    for path in paths:
        video_id = os.path.splitext(os.path.basename(path))[0]
        if video_id in ids:
            raise UserInputError(
                f"video {video_id!r} is given twice: {ids[video_id]} and {path}; pass only one of them"
            )
        ids[video_id] = path
    return ids


class SavedModelLocalizer:
    """Runs the exported signatures from Python.

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
        signatures = self._loaded.signatures
        # Exports made before `localize_with_options` existed had the options on `localize`.
        self._localize = signatures["localize_with_options" if "localize_with_options" in signatures else "localize"]
        self._serve = self._loaded.signatures["serving_default"]
        self.metadata = read_json(os.path.join(self.path, "assets.extra", METADATA_FILENAME))
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
            A dict of numpy arrays: the `localize_with_options` signature outputs.
        """
        serving = self.metadata["serving"]

        def pick(value, default, dtype):
            return tf.constant(default if value is None else value, dtype)

        inputs = {
            "features": tf.constant(np.asarray(features, np.float32)),
            "num_steps": pick(num_steps, serving["num_steps"], tf.int32),
            "top_q": pick(top_q, self.metadata["max_top_q"], tf.int32),
            "segments_per_step": pick(segments_per_step, serving["segments_per_step"], tf.int32),
            "snippet_stride_sec": pick(snippet_stride_sec, serving["snippet_stride_sec"], tf.float32),
            "snippet_offset_sec": pick(snippet_offset_sec, serving["snippet_offset_sec"], tf.float32),
            "duration": pick(duration, 0.0, tf.float32),
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
            paths: `.npy` files; two with the same stem are refused (naming both).
            durations: optional `{video_id: seconds}`; known durations clip the detections.
            **localize_kwargs: passed to `localize_features` (num_steps, snippet_stride_sec, ...).

        Returns:
            ActivityNet results `{video_id: [{label, score, segment}]}`.
        """
        results = {}
        for video_id, path in video_ids_of_files(paths).items():
            duration = None if durations is None else durations.get(video_id)
            try:
                outputs = self.localize_features(
                    load_feature_matrix(path, self.feature_dim), duration=duration, **localize_kwargs
                )
            except tf.errors.InvalidArgumentError as error:
                raise UserInputError(f"{path}: video {video_id!r}: {_first_line(error.message)}") from None
            batched = {key: np.asarray(outputs[key])[None] for key in _DETECTION_FIELDS}
            results.update(detections_to_results([video_id], batched, self.class_names))
        return results

    def localize_tfrecord_files(self, paths: Sequence[str], *, batch_size: int = 8) -> dict:
        """Localizes every record of TFRecord files written by the project's converter.

        Returns:
            ActivityNet results `{video_id: [{label, score, segment}]}`.

        Raises:
            UserInputError: a bad record (naming the file), or one video id in two records.
        """
        results, origin = {}, {}
        for path in paths:
            dataset = tf.data.TFRecordDataset([path]).batch(batch_size)
            try:
                for batch in dataset.as_numpy_iterator():
                    outputs = self.localize_records(list(batch))
                    video_ids = [v.decode("utf-8", "replace") for v in outputs["video_id"]]
                    for video_id in video_ids:
                        if video_id in origin:
                            raise UserInputError(
                                f"video {video_id!r} is in two records: {origin[video_id]} and {path}; keep only one"
                            )
                        origin[video_id] = path
                    detections = {key: outputs[key] for key in _DETECTION_FIELDS}
                    results.update(detections_to_results(video_ids, detections, self.class_names))
            except (tf.errors.InvalidArgumentError, tf.errors.DataLossError) as error:
                raise UserInputError(f"{path}: {_first_line(error.message)}") from None
        return results


def _first_line(message: str) -> str:
    """The readable head of a TF error message (assert text, without the graph trace)."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    for line in lines:
        if "assertion failed:" in line:
            return line.split("assertion failed:", 1)[1].strip().strip("[]").replace("] [", " ")
    return lines[0] if lines else "invalid input"
