"""The in-graph functions behind the exported signatures `localize`, `localize_with_options` and
`serving_default`.

They reuse the library end to end: the data package's record parsing and test-time resampling to K
segments, and `iwo_tf.winners_out.localize_incremental` for classification, winners-out testing
(Algorithm 2) and proposals (Eq. 11), which tests hold to the reference `localize`. This module adds
input validation, defaults and output naming.
"""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from iwo_tf.data.pipeline import resample_to_segments
from iwo_tf.errors import UserInputError
from iwo_tf.serving import input_checks
from iwo_tf.serving.record_batch import parse_record_batch
from iwo_tf.serving.serving_config import ServingConfig
from iwo_tf.winners_out.localize_incremental import localize_incremental

# Output keys of every signature, in a stable order (serving_default adds `video_id`).
DETECTION_KEYS = ("class_index", "class_name", "score", "start_sec", "end_sec", "num_valid", "video_scores")
SIGNATURE_NAMES = ("localize", "localize_with_options", "serving_default")


class LocalizationSignatures:
    """Builds the signature functions for one trained `IWOClassifier`.

    Nothing here holds TF state of its own: the functions close over the model, so the exporter
    (Keras `ExportArchive`) tracks only the model's variables, the route that loads in the TF1
    Session loader TF Serving uses. All control flow is explicit (`tf.while_loop`, `tf.cond`), so tracing with autograph off, as `ExportArchive` does, gives the same graph.

    Args:
        model: a built `IWOClassifier`.
        class_names: C names, index-aligned with the classifier's outputs.
        config: a `ServingConfig`.
    """

    def __init__(self, model, class_names: Sequence[str], config: ServingConfig):
        if len(class_names) != model.num_classes:
            raise ValueError(f"{len(class_names)} class names for a model with {model.num_classes} classes")
        if config.stream_weights is not None and len(config.stream_weights) != len(model.stream_dims):
            raise UserInputError(
                f"stream_weights has {len(config.stream_weights)} values for a model of {len(model.stream_dims)} "
                f"streams (widths {list(model.stream_dims)}): give one weight per stream"
            )
        self.model = model
        self.class_names = [str(name) for name in class_names]
        self.config = config
        self.num_segments = int(model.num_segments)
        self.feature_dim = int(model.feature_dim)
        self.max_top_q = min(int(config.top_q), int(model.num_classes))
        self.max_detections = self.max_top_q * ((self.num_segments + 1) // 2)

    # --- input signatures ------------------------------------------------------------------
    @property
    def features_spec(self):
        # D is left dynamic so a wrong D reaches the graph's readable check instead of a
        # client-side shape error that TF Serving does not raise.
        return tf.TensorSpec([None, None], tf.float32, name="features")

    @property
    def options_input_signature(self):
        """`[features, num_steps, top_q, segments_per_step, snippet_stride_sec, snippet_offset_sec, duration]`."""
        scalar_int = lambda name: tf.TensorSpec([], tf.int32, name=name)  # noqa: E731
        scalar_float = lambda name: tf.TensorSpec([], tf.float32, name=name)  # noqa: E731
        return [
            self.features_spec,
            scalar_int("num_steps"),
            scalar_int("top_q"),
            scalar_int("segments_per_step"),
            scalar_float("snippet_stride_sec"),
            scalar_float("snippet_offset_sec"),
            scalar_float("duration"),
        ]

    @property
    def examples_input_signature(self):
        """`[examples]`: a batch of serialized records. A single input keeps REST `instances` usable."""
        return [tf.TensorSpec([None], tf.string, name="examples")]

    def endpoints(self) -> dict:
        """`{signature name: (function, input signature)}` for every exported signature."""
        return {
            "localize": (self.features_function(), [self.features_spec]),
            "localize_with_options": (self.options_function(), self.options_input_signature),
            "serving_default": (self.examples_function(), self.examples_input_signature),
        }

    # --- the signature functions -----------------------------------------------------------
    def _defaults(self):
        cfg = self.config
        return dict(
            num_steps=tf.constant(cfg.num_steps, tf.int32),
            top_q=tf.constant(self.max_top_q, tf.int32),
            segments_per_step=tf.constant(cfg.segments_per_step, tf.int32),
            snippet_stride_sec=tf.constant(cfg.snippet_stride_sec, tf.float32),
            snippet_offset_sec=tf.constant(cfg.snippet_offset_sec, tf.float32),
            duration=tf.constant(0.0, tf.float32),
        )

    def features_function(self):
        """The `localize` signature: raw features of one video, every setting the export's default.

        With a single input it is callable with features alone from every client, TF2's
        `loaded.signatures["localize"](features=...)` included.
        """

        def localize(features):
            # The step count as a Python int: fixed in this graph, so the steps are unrolled.
            return self.localize_snippets(features, **dict(self._defaults(), num_steps=int(self.config.num_steps)))

        return localize

    def options_function(self):
        """The `localize_with_options` signature: every setting an optional input.

        The defaults become `PlaceholderWithDefault` nodes and `SignatureDef.defaults`: TF Serving and
        the TF1 loader accept requests that omit them (TF2 signature calls need every input).
        """
        defaults = self._defaults()

        def localize_with_options(
            features,
            num_steps=defaults["num_steps"],
            top_q=defaults["top_q"],
            segments_per_step=defaults["segments_per_step"],
            snippet_stride_sec=defaults["snippet_stride_sec"],
            snippet_offset_sec=defaults["snippet_offset_sec"],
            duration=defaults["duration"],
        ):
            return self.localize_snippets(
                features,
                num_steps=num_steps,
                top_q=top_q,
                segments_per_step=segments_per_step,
                snippet_stride_sec=snippet_stride_sec,
                snippet_offset_sec=snippet_offset_sec,
                duration=duration,
            )

        return localize_with_options

    def examples_function(self):
        """The `serving_default` signature: a batch of serialized records."""

        def localize_examples(examples):
            return self.localize_records(examples)

        return localize_examples

    # --- the computation -------------------------------------------------------------------
    def localize_snippets(
        self, features, *, num_steps, top_q, segments_per_step, snippet_stride_sec, snippet_offset_sec, duration
    ):
        """Localizes one video given its raw snippet features `[T, D]` (unbatched outputs).

        Returns:
            A dict: `class_index [N] int32`, `class_name [N] string`, `score [N]`, `start_sec [N]`,
            `end_sec [N]`, `num_valid [] int32`, `video_scores [C]`, with `N = max_detections`.
        """
        features = input_checks.check_snippet_features(features, self.feature_dim)
        stride, offset, duration = input_checks.check_timing(snippet_stride_sec, snippet_offset_sec, duration)
        segments = resample_to_segments(features, self.num_segments, training=False)
        batched = self.localize_segments(
            segments[None],
            num_snippets=tf.shape(features)[:1],
            snippet_stride_sec=stride[None],
            snippet_offset_sec=offset[None],
            duration=duration[None],
            num_steps=num_steps,
            top_q=top_q,
            segments_per_step=segments_per_step,
        )
        return {key: value[0] for key, value in batched.items()}

    def localize_records(self, examples, *, num_steps=None, top_q=None, segments_per_step=None):
        """Localizes a batch of serialized records in the project's TFRecord schema.

        The batch is parsed, validated and resampled together (`parse_record_batch`), then goes
        through winners-out testing together. A malformed record fails the request with the
        parser's InvalidArgument; a record with empty, non-finite or wrong-D features, or bad
        timing, fails it with a message naming the record's video id.

        Returns:
            The `localize_snippets` dict with a leading batch axis, plus `video_id [B] string`.
        """
        records = parse_record_batch(examples, self.num_segments, self.feature_dim)
        cfg = self.config
        outputs = self.localize_segments(
            records.segments,
            num_snippets=records.num_snippets,
            snippet_stride_sec=records.snippet_stride_sec,
            snippet_offset_sec=records.snippet_offset_sec,
            duration=records.duration,
            # A tensor: serving_default keeps the loop (its graph traces in half the time; at
            # batch 16 unrolled steps gain little).
            num_steps=tf.constant(cfg.num_steps, tf.int32) if num_steps is None else num_steps,
            top_q=self.max_top_q if top_q is None else top_q,
            segments_per_step=cfg.segments_per_step if segments_per_step is None else segments_per_step,
        )
        outputs["video_id"] = records.video_id
        return outputs

    def localize_segments(
        self, segments, *, num_snippets, snippet_stride_sec, snippet_offset_sec, duration, num_steps, top_q, segments_per_step
    ):
        """Runs winners-out localization on `[B, K, D]` segments and names the outputs."""
        top_q = input_checks.check_nonnegative_int(top_q, "top_q", upper=self.max_top_q)
        segments_per_step = input_checks.check_nonnegative_int(segments_per_step, "segments_per_step")
        # With p >= 1 every step takes at least one remaining segment, so after K steps none is
        # left (and with p = 0 none is ever taken): capping at K changes no result and bounds the
        # loop a request can ask for. A Python int (the `localize` signature's default, validated by
        # ServingConfig) has its steps unrolled: faster for one video.
        unroll_steps = isinstance(num_steps, int)
        if unroll_steps:
            num_steps = min(num_steps, self.num_segments)
        else:
            num_steps = tf.minimum(input_checks.check_nonnegative_int(num_steps, "num_steps"), self.num_segments)
        result = localize_incremental(
            self.model,
            segments,
            num_snippets=num_snippets,
            snippet_stride_sec=snippet_stride_sec,
            snippet_offset_sec=snippet_offset_sec,
            duration=duration,
            num_steps=num_steps,
            top_q=self.max_top_q,
            segments_per_step=segments_per_step,
            num_active_classes=top_q,
            method=self.config.score_method,
            stream_weights=self.config.stream_weights,
            check_finite=True,
            unroll_steps=unroll_steps,
        )
        detections = result.detections
        valid = tf.range(tf.shape(detections.class_index)[1])[None, :] < detections.num_valid[:, None]
        names = tf.gather(tf.constant(self.class_names, tf.string), detections.class_index)
        outputs = {
            "class_index": detections.class_index,
            "class_name": tf.where(valid, names, tf.constant("", tf.string)),
            "score": detections.score,
            "start_sec": detections.start_sec,
            "end_sec": detections.end_sec,
            "num_valid": detections.num_valid,
            "video_scores": result.video_scores,
        }
        return input_checks.check_finite_outputs(outputs)
