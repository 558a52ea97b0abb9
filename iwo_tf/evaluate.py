r"""Evaluates a detection JSON file against ground truth: mAP at tIoU thresholds, as the official
ActivityNet evaluator computes it (see ``iwo_tf.evaluation.compute_detection_map``).

    python -m iwo_tf.evaluate --ground_truth GT.json --predictions PRED.json \
        --subset Test --tiou_thresholds thumos14 --output OUT.json

``--tiou_thresholds`` takes a comma-separated list (``0.1,0.3,0.5``), a range ``start:step:stop``
(stop included when on the grid; built with ``np.linspace(start, stop, n)``), or a preset: ``thumos14`` (0.1..0.7 step 0.1, the default: this
project's main benchmark; the IWO paper reports 0.1..0.5) or ``activitynet`` (0.5:0.05:0.95, the official
ActivityNet1.3 thresholds). ``--subset`` is compared exactly with each video's ``subset`` (THUMOS14
ActionFormer: ``Validation``/``Test``; BaS-Net: ``train``/``test``; ActivityNet: ``validation``); empty
means every ground-truth video. The output JSON holds ``tiou_thresholds``, ``mAP`` (fractions, in
threshold order), ``average_mAP``, ``per_class_ap`` and diagnostics; it is written atomically.
At most ``MAX_TIOU_THRESHOLDS`` (1000) thresholds. Exit status: 0 on success, 2 on bad input (``error:``
and a one-line message on stderr naming the file and the problem, no traceback).
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence, Tuple, Union

import numpy as np
from absl import app, flags

from iwo_tf.errors import UserInputError, exit_on_user_error
from iwo_tf.evaluation.detection_map import (
    ACTIVITYNET_TIOU_THRESHOLDS,
    MAX_TIOU_THRESHOLDS,
    THUMOS14_TIOU_THRESHOLDS,
    DetectionMapResult,
    compute_detection_map,
)
from iwo_tf.evaluation.results_json import load_json, write_json_atomic

__all__ = ["TIOU_PRESETS", "parse_tiou_thresholds", "evaluate_files", "main"]

TIOU_PRESETS = {
    "thumos14": THUMOS14_TIOU_THRESHOLDS,
    "activitynet": ACTIVITYNET_TIOU_THRESHOLDS,
}


def parse_tiou_thresholds(spec: Union[str, Sequence[float]]) -> Tuple[float, ...]:
    """``"thumos14"`` | ``"activitynet"`` | ``"0.1,0.3,0.5"`` | ``"0.5:0.05:0.95"`` | a sequence -> floats.

    Order is kept; every value must be in [0, 1].
    """
    if isinstance(spec, str):
        text = spec.strip().lower()
        if not text:
            raise UserInputError("empty tIoU threshold specification")
        if text in TIOU_PRESETS:
            values = TIOU_PRESETS[text]
        elif ":" in text:
            parts = text.split(":")
            if len(parts) != 3:
                raise UserInputError(f"tIoU range must be start:step:stop, got {spec!r}")
            try:
                start, step, stop = (float(p) for p in parts)
            except ValueError as e:
                raise UserInputError(f"tIoU range must be start:step:stop numbers, got {spec!r}") from e
            if not step > 0 or stop < start:
                raise UserInputError(f"tIoU range needs step > 0 and stop >= start, got {spec!r}")
            count = (stop - start) / step + 1e-9
            if not np.isfinite(count) or count >= MAX_TIOU_THRESHOLDS:
                raise UserInputError(f"tIoU range {spec!r} gives more than {MAX_TIOU_THRESHOLDS} thresholds")
            count = int(np.floor(count)) + 1
            end = start + (count - 1) * step
            if abs(end - stop) <= 1e-9:
                end = stop  # as np.linspace(start, stop, count), e.g. 0.5:0.05:0.95 == linspace(0.5, 0.95, 10)
            values = tuple(float(v) for v in np.linspace(start, end, count))
        else:
            try:
                values = tuple(float(v) for v in text.split(","))
            except ValueError as e:
                raise UserInputError(
                    f"bad tIoU thresholds {spec!r}: expected a comma-separated list, start:step:stop, "
                    f"or one of {sorted(TIOU_PRESETS)}"
                ) from e
    else:
        values = tuple(float(v) for v in spec)
        if len(values) > MAX_TIOU_THRESHOLDS:
            raise UserInputError(f"{len(values)} tIoU thresholds; at most {MAX_TIOU_THRESHOLDS} are evaluated")
    if not values:
        raise UserInputError("no tIoU thresholds")
    if len(values) > MAX_TIOU_THRESHOLDS:
        raise UserInputError(f"{len(values)} tIoU thresholds; at most {MAX_TIOU_THRESHOLDS} are evaluated")
    for v in values:
        if not (0.0 <= v <= 1.0):
            raise UserInputError(f"tIoU thresholds must be in [0, 1], got {v!r} in {spec!r}")
    return values


def evaluate_files(
    ground_truth_path: str,
    predictions_path: str,
    *,
    subset: Optional[str] = None,
    tiou_thresholds: Union[str, Sequence[float]] = "thumos14",
    output_path: Optional[str] = None,
    strip_v_prefix: bool = False,
    blocked_videos: Iterable[str] = (),
) -> DetectionMapResult:
    """Reads both JSON files, computes mAP and, with ``output_path``, writes the result JSON atomically.

    ``subset`` None or "" evaluates every ground-truth video. Errors in either file raise
    ``ResultsFormatError`` naming the file, the video and the problem.
    """
    thresholds = parse_tiou_thresholds(tiou_thresholds)
    result = compute_detection_map(
        load_json(ground_truth_path),
        load_json(predictions_path),
        subset=subset or None,
        tiou_thresholds=thresholds,
        strip_v_prefix=strip_v_prefix,
        blocked_videos=blocked_videos,
        ground_truth_source=ground_truth_path,
        predictions_source=predictions_path,
    )
    if output_path:
        document = result.to_json_dict()
        document["ground_truth"] = ground_truth_path
        document["predictions"] = predictions_path
        write_json_atomic(output_path, document, indent=1)
    return result


FLAGS = flags.FLAGS
flags.DEFINE_string("ground_truth", None, "Ground-truth JSON ({'database': {video: {subset, annotations}}}).")
flags.DEFINE_string("predictions", None, "Detections JSON ({'results': {video: [{label, score, segment}]}}).")
flags.DEFINE_string("subset", "", "Ground-truth subset to evaluate, compared exactly (e.g. Test, test, validation); empty: all videos.")
flags.DEFINE_string(
    "tiou_thresholds", "thumos14",
    "Comma-separated list, start:step:stop, or a preset: thumos14 (0.1..0.7) or activitynet (0.5:0.05:0.95).",
)
flags.DEFINE_string("output", "", "Where to write the result JSON (atomically); empty: don't write.")
flags.DEFINE_bool("strip_v_prefix", False, "Remove a leading 'v_' from all video ids before matching (ActivityNet).")
flags.DEFINE_bool("per_class", False, "Also print AP per class.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        result = evaluate_files(
            FLAGS.ground_truth,
            FLAGS.predictions,
            subset=FLAGS.subset or None,
            tiou_thresholds=FLAGS.tiou_thresholds,
            output_path=FLAGS.output or None,
            strip_v_prefix=FLAGS.strip_v_prefix,
        )
    except OSError as e:
        raise UserInputError(f"{e.filename or FLAGS.output}: {e.strerror or e}") from e
    subset = "all videos" if result.subset is None else f"subset {result.subset!r}"
    print(
        f"{subset}: {len(result.class_names)} classes, {result.num_ground_truth} ground-truth instances in "
        f"{result.num_ground_truth_videos} videos; {result.num_predictions} detections "
        f"({result.num_predictions_evaluated} evaluated)"
    )
    print(
        f"prediction videos without ground truth: {len(result.prediction_videos_without_ground_truth)}"
    )
    for note in result.warnings():
        print(f"warning: {note}")
    print(result.format_table(per_class=FLAGS.per_class))
    if FLAGS.output:
        print(f"wrote {FLAGS.output}")
    return 0


def run():
    flags.mark_flags_as_required(["ground_truth", "predictions"])
    app.run(lambda argv: exit_on_user_error(main, argv))


if __name__ == "__main__":
    run()
