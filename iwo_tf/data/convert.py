"""Converts public WTAL feature layouts into the project's TFRecord dataset directory.

    python -m iwo_tf.data.convert --layout=wtalc --features_npy=DIR/Thumos14reduced-I3D-JOINTFeatures.npy \
        --annotations_dir=DIR/Thumos14reduced-Annotations --output=data/thumos14
    python -m iwo_tf.data.convert --layout=actionformer --annotations=thumos14.json --features_dir=i3d_features --output=...
    python -m iwo_tf.data.convert --layout=basnet --data_dir=dataset/THUMOS14 --output=...
    python -m iwo_tf.data.convert --layout=thumos14_original --annotations_dir=annotations --features_dir=feats --output=...
    python -m iwo_tf.data.convert --layout=activitynet \
        --annotations=activitynet_v1-3_train_tsp_groundtruth.csv,activitynet_v1-3_valid_tsp_groundtruth.csv \
        --split_files=split_train.txt,split_test.txt --class_list=activitynet_v1-3_action_label_mapping.json \
        --features_dir=feats --output=data/activitynet13

Bad input, and what happens by default (each switch below changes one of them):

| problem                                        | default | switch                               |
|------------------------------------------------|---------|--------------------------------------|
| annotated video without a feature file         | skip    | `--on_missing_features=error`        |
| feature file without annotations               | skip    | `--on_unannotated_features=error`    |
| wrong feature width, NaN/Inf, zero snippets,   | error   | `--on_bad_video=skip`                |
| unreadable features, label not in class list,  |         |                                      |
| malformed annotation (end before start)        |         |                                      |
| duplicate video id                             | error   | (always)                             |

An error names the file, the video and the problem, and leaves no output directory behind. A skip is
counted, printed in the closing summary and listed in `dataset.json` (`skipped`). The output
directory appears only once complete (see `iwo_tf.data.dataset_writer`); a truncated or replaced shard
is detected by `load_dataset_info` (sizes recorded in dataset.json), and `verify_records` reads
every record naming the shard and position of a corrupt one.

THUMOS14 quirks (defaults as the field does) are described in `iwo_tf.data.layouts.thumos14_quirks`.
"""
from __future__ import annotations

if __name__ == "__main__":  # before TensorFlow is imported: its start-up chatter off
    from iwo_tf.training.log_filter import quiet_tensorflow_logs

    quiet_tensorflow_logs()

import collections
import dataclasses
import os
from typing import Optional, Sequence

import numpy as np

from iwo_tf.data import validation
from iwo_tf.data.dataset_writer import DatasetWriter, shard_count
from iwo_tf.data.layouts import activitynet
from iwo_tf.data.layouts.base import LayoutContents, SourceVideo
from iwo_tf.data.layouts.registry import LAYOUT_NAMES, THUMOS14_LAYOUTS, get_layout
from iwo_tf.data.layouts.thumos14_quirks import Thumos14Quirks, apply_quirks
from iwo_tf.data.schema import SUBSETS, VideoRecord
from iwo_tf.data.validation import BadVideoError
from iwo_tf.errors import UserInputError, exit_on_user_error

LAYOUTS = LAYOUT_NAMES  # the registry's names (iwo_tf.data.layouts.registry)
__all__ = ["LAYOUTS", "THUMOS14_LAYOUTS", "ConversionReport", "convert", "input_paths", "read_layout"]


@dataclasses.dataclass
class ConversionReport:
    """What a conversion wrote and left out.

    Args:
        output_dir: the dataset directory.
        videos: subset -> videos written.
        instances: subset -> ground-truth instances written.
        skipped: the skipped videos as listed in dataset.json.
    """

    output_dir: str
    videos: dict
    instances: dict
    skipped: list

    def summary(self) -> str:
        lines = [f"Wrote {self.output_dir}"]
        lines += [f"  {s}: {self.videos[s]} videos, {self.instances[s]} instances" for s in sorted(self.videos)]
        by_reason = collections.defaultdict(list)
        for item in self.skipped:
            by_reason[item["reason"]].append(item)
        lines.append(f"  skipped: {len(self.skipped)} videos" + (" (listed in dataset.json)" if self.skipped else ""))
        for reason, items in sorted(by_reason.items()):
            examples = ", ".join(i["video_id"] for i in items[:3])
            lines.append(f"    {reason}: {len(items)} (e.g. {examples}; {items[0]['problem']})")
        return "\n".join(lines)


def read_layout(layout: str, **reader_args) -> LayoutContents:
    """Reads one public layout; `reader_args` are the keyword arguments of that layout's `read`."""
    return get_layout(layout).read(**reader_args)


def input_paths(reader_args: dict) -> list:
    """Every existing file or folder named by a layout reader's arguments (the conversion's inputs)."""
    paths = []
    for value in reader_args.values():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, (str, os.PathLike)) and os.path.lexists(item):
                paths.append(os.fspath(item))
    return paths


def _check_policy(name: str, value: str) -> None:
    if value not in validation.POLICIES:
        raise UserInputError(f"{name}={value!r}; expected one of {validation.POLICIES}")


def _record_for(video: SourceVideo, class_index: dict, stream_dims: Sequence[int]) -> VideoRecord:
    if video.problem is not None:
        raise video.problem
    timing_path = video.timing_path or video.annotation_path
    duration, stride, offset = validation.check_timing(
        duration=video.duration, stride=video.snippet_stride_sec, offset=video.snippet_offset_sec, video_id=video.video_id, path=timing_path
    )
    try:
        features = video.features.load()
    except BadVideoError:
        raise
    except Exception as error:  # noqa: BLE001 - any loader failure is this video's unreadable file
        raise BadVideoError(validation.UNREADABLE_FEATURES, video.video_id, video.features.path, f"cannot load features: {error}") from error
    features = validation.check_features(features, video_id=video.video_id, path=video.features.path, stream_dims=stream_dims)
    labels = validation.check_labels([a[0] for a in video.annotations], class_index, video_id=video.video_id, path=video.annotation_path)
    for label, start, end in video.annotations:
        if not (np.isfinite(start) and np.isfinite(end)) or end < start:
            raise BadVideoError(validation.BAD_ANNOTATION, video.video_id, video.annotation_path, f"{label} segment [{start}, {end}] ends before it starts")
    num_snippets = features.shape[0]
    if stride is None:  # fit to the video's duration
        if not duration:
            raise BadVideoError(validation.BAD_TIMING, video.video_id, timing_path, f"duration {duration} cannot be spread over {num_snippets} snippets")
        stride = duration / num_snippets
    if duration is None:
        duration = offset + num_snippets * stride
    duration, stride, offset = validation.check_timing(duration=duration, stride=stride, offset=offset, video_id=video.video_id, path=timing_path)
    return VideoRecord(
        video_id=video.video_id,
        subset=video.subset,
        labels=sorted(set(labels)),
        duration=duration,
        snippet_stride_sec=stride,
        snippet_offset_sec=offset,
        features=features,
        stream_dims=list(stream_dims),
        gt_segments=[[s, e] for _, s, e in video.annotations],
        gt_labels=labels,
    )


def convert(
    layout: str,
    output_dir: str,
    *,
    stream_dims: Sequence = (1024, 1024),
    class_list: Optional[Sequence[str]] = None,
    num_shards: int = 8,
    on_missing_features: str = "skip",
    on_unannotated_features: str = "skip",
    on_bad_video: str = "error",
    thumos14: Optional[Thumos14Quirks] = None,
    overwrite: bool = False,
    progress: bool = True,
    **reader_args,
) -> ConversionReport:
    """Reads a layout and writes the converted dataset directory.

    Args:
        layout: one of LAYOUTS.
        output_dir: the directory to create.
        stream_dims: expected width of each feature stream (RGB first; ints or their text, checked by
            `validation.check_stream_dims`); videos of another total width are bad videos.
        class_list: overrides the layout's class list (index = position); labels outside it are bad.
        num_shards: shard files per subset (capped by the subset's video count).
        on_missing_features: `skip` or `error` for annotated videos without features.
        on_unannotated_features: `skip` or `error` for features without annotations.
        on_bad_video: `error` or `skip` for a video whose content is unusable.
        thumos14: quirk options for THUMOS14 layouts; None = the defaults.
        overwrite: replace an existing output directory (once the new one is complete).
        progress: show a progress bar.
        **reader_args: the layout reader's arguments (see `iwo_tf.data.layouts.<layout>.read`).

    Returns:
        The report (also printed by the CLI).

    Raises:
        BadVideoError: a video that is an error under the chosen policies (names file, video, problem).
        FileExistsError: the output exists and `overwrite` is False.
    """
    stream_dims = validation.check_stream_dims(stream_dims)
    if isinstance(num_shards, bool) or int(num_shards) != num_shards or num_shards < 1:
        raise UserInputError(f"--num_shards={num_shards}: must be an integer >= 1")
    _check_policy("on_missing_features", on_missing_features)
    _check_policy("on_unannotated_features", on_unannotated_features)
    _check_policy("on_bad_video", on_bad_video)
    contents = read_layout(layout, **reader_args)
    if layout in THUMOS14_LAYOUTS:
        contents = apply_quirks(contents, thumos14 or Thumos14Quirks())
    class_names = list(class_list) if class_list is not None else list(contents.class_names)
    class_index = {name: i for i, name in enumerate(class_names)}
    seen = {}
    for video in contents.videos:
        if video.video_id in seen:
            raise BadVideoError(validation.DUPLICATE_ID, video.video_id, video.features.path, f"the same id also comes from {seen[video.video_id]}")
        seen[video.video_id] = video.features.path
    left_out_policy = {
        validation.MISSING_FEATURES: on_missing_features,
        validation.MISSING_ANNOTATION: on_unannotated_features,
    }
    for error, _ in contents.left_out:
        if left_out_policy.get(error.reason, "skip") == "error":
            raise error
    counts = collections.Counter(v.subset for v in contents.videos)
    shards = {subset: shard_count(counts[subset], num_shards) for subset in SUBSETS if counts[subset]}
    if not shards:
        raise ValueError(f"{layout}: no video has both annotations and features ({len(contents.left_out)} left out)")
    source = {"layout": layout, "reader_args": {k: str(v) for k, v in reader_args.items()}, "notes": contents.notes,
              "policies": {"on_missing_features": on_missing_features, "on_unannotated_features": on_unannotated_features, "on_bad_video": on_bad_video}}
    if progress:
        from keras.utils import Progbar

        bar = Progbar(len(contents.videos), unit_name="video")
    with DatasetWriter(output_dir, class_names, stream_dims, shards, overwrite=overwrite, source=source,
                       inputs=input_paths(reader_args)) as writer:
        for error, subset in contents.left_out:
            writer.skip(error, subset)
        for done, video in enumerate(contents.videos, 1):
            try:
                writer.add(_record_for(video, class_index, stream_dims), source_path=video.features.path)
            except BadVideoError as error:
                if error.reason == validation.DUPLICATE_ID or on_bad_video == "error":
                    raise
                writer.skip(error, video.subset)
            if progress:
                bar.update(done)
    return ConversionReport(
        output_dir=writer.output_dir, videos=writer.counts(), instances=writer.instance_counts(), skipped=writer.skipped
    )


def _define_flags():
    from absl import flags

    flags.DEFINE_enum("layout", None, LAYOUTS, "Which public layout the input is in (see docs/DATA.md): "
                      + "; ".join(f"{name}: {get_layout(name).summary}" for name in LAYOUTS) + ".")
    flags.DEFINE_string("output", None, "Directory to create (converted dataset).")
    flags.DEFINE_bool("overwrite", False, "Replace an existing output directory.")
    flags.DEFINE_list("stream_dims", ["1024", "1024"], "Width of each feature stream, RGB first.")
    flags.DEFINE_string("class_list", None, "Class list overriding the layout's (JSON list or one name per line).")
    flags.DEFINE_integer("num_shards", 8, "TFRecord files per subset (>= number of training workers).")
    flags.DEFINE_enum("on_missing_features", "skip", validation.POLICIES, "Annotated video without a feature file.")
    flags.DEFINE_enum("on_unannotated_features", "skip", validation.POLICIES, "Feature file without annotations.")
    flags.DEFINE_enum("on_bad_video", "error", validation.POLICIES,
                      "Wrong width, NaN/Inf, non-numeric dtype, zero snippets, bad fps or duration, unknown label, bad segment.")
    flags.DEFINE_bool("progress", True, "Show a progress bar.")
    # Layout inputs.
    flags.DEFINE_string("features_npy", None, "wtalc: the <Dataset>-<Feature>-JOINTFeatures.npy file.")
    flags.DEFINE_string("annotations_dir", None, "wtalc: folder of the annotation npys; thumos14_original: folder of <Class>_{val,test}.txt.")
    flags.DEFINE_list("annotations", [], "actionformer: thumos14.json; basnet: gt.json; activitynet: official json or the TSP CSVs.")
    flags.DEFINE_string("features_dir", None, "actionformer / thumos14_original / activitynet: per-video <video>.npy (or rgb/ + flow/).")
    flags.DEFINE_string("data_dir", None, "basnet: folder holding features/{train,test}/{rgb,flow}, gt.json, split_*.txt.")
    flags.DEFINE_list("split_files", [], "activitynet: video lists choosing the videos (subset from the file name).")
    flags.DEFINE_string("video_info", None, "basnet / thumos14_original: {video: {duration}} json (else duration = T * stride).")
    flags.DEFINE_float("snippet_frames", 16, "Frames per snippet (wtalc, basnet, thumos14_original, activitynet).")
    flags.DEFINE_float("feature_fps", 25, "Frame rate the features were extracted at.")
    flags.DEFINE_float("clip_frames", 16, "actionformer: frames per clip.")
    flags.DEFINE_float("clip_stride_frames", 4, "actionformer: frames between clips.")
    flags.DEFINE_bool("fit_to_duration", False, "activitynet: stride = duration / T (features resampled to a fixed length).")
    # THUMOS14 quirks.
    flags.DEFINE_list("thumos14_drop_test_videos", [], "Test videos to leave out; BaS-Net drops video_test_0000270,video_test_0001496.")
    flags.DEFINE_bool("thumos14_cliffdiving_is_diving", True, "Keep the Diving copy of every CliffDiving instance (as the field does).")
    flags.DEFINE_bool("thumos14_include_ambiguous", False, "thumos14_original: keep Ambiguous segments as an extra class.")
    flags.mark_flags_as_required(["layout", "output"])


def main(argv):
    from absl import flags

    del argv
    f = flags.FLAGS
    try:
        class_list = activitynet.load_class_list(f.class_list) if f.class_list else None
        report = convert(
            f.layout,
            f.output,
            stream_dims=f.stream_dims,  # checked and parsed by convert()
            class_list=class_list,
            num_shards=f.num_shards,
            on_missing_features=f.on_missing_features,
            on_unannotated_features=f.on_unannotated_features,
            on_bad_video=f.on_bad_video,
            thumos14=Thumos14Quirks(tuple(f.thumos14_drop_test_videos), f.thumos14_cliffdiving_is_diving, f.thumos14_include_ambiguous),
            overwrite=f.overwrite,
            progress=f.progress,
            **get_layout(f.layout).args_from_flags(f),
        )
    except (OSError, ValueError) as error:  # BadVideoError and every UserInputError are ValueErrors
        raise UserInputError(f"conversion failed, nothing written: {error}") from None
    print(report.summary())
    return 0


def run():
    """Entry point of the `iwo-convert` console script (setup.py)."""
    from absl import app

    _define_flags()
    app.run(lambda argv: exit_on_user_error(main, argv))


if __name__ == "__main__":
    run()
