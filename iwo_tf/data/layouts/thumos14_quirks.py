"""THUMOS14 annotation quirks, handled the way the WTAL field does by default.

Defaults (each configurable from `python -m iwo_tf.data.convert`):

* **Ambiguous segments** (`Ambiguous_val.txt` / `Ambiguous_test.txt`, official layout only) are not
  ground truth and are left out (`--thumos14_include_ambiguous` adds them as a 21st class "Ambiguous",
  for analysis only). `video_test_0001292` has only Ambiguous segments, so it is not a test video.
* **CliffDiving instances are also labelled Diving** (same interval twice). Kept, as every public
  annotation copy and evaluator does: the 3,007 / 3,358 instance counts include the duplicates.
  `--nothumos14_cliffdiving_is_diving` drops a Diving instance whose interval equals a CliffDiving one
  in the same video.
* **Test videos 270 and 1496** have wrong annotations; W-TALC, ActionFormer and the official
  evaluation keep them (212 test videos, the default), BaS-Net/CoLA drop them.
  `--thumos14_drop_test_videos=video_test_0000270,video_test_0001496` drops them (counted as skipped,
  reason `excluded_by_option`).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

from iwo_tf.data.layouts.base import LayoutContents
from iwo_tf.data.validation import BadVideoError

EXCLUDED_BY_OPTION = "excluded_by_option"
FIELD_DROPPED_TEST_VIDEOS = ("video_test_0000270", "video_test_0001496")


@dataclasses.dataclass(frozen=True)
class Thumos14Quirks:
    """How to treat THUMOS14's annotation quirks (defaults: as the field does; see module docstring).

    Args:
        drop_test_videos: video ids to leave out.
        cliffdiving_is_diving: keep the Diving copy of each CliffDiving instance.
        include_ambiguous: keep Ambiguous segments as an extra class (official layout only).
    """

    drop_test_videos: Sequence[str] = ()
    cliffdiving_is_diving: bool = True
    include_ambiguous: bool = False


def apply_quirks(contents: LayoutContents, quirks: Thumos14Quirks) -> LayoutContents:
    """Applies the options to a read THUMOS14 layout (in place) and returns it."""
    dropped = set(quirks.drop_test_videos)
    kept = []
    for video in contents.videos:
        if video.video_id in dropped:
            contents.left_out.append(
                (BadVideoError(EXCLUDED_BY_OPTION, video.video_id, video.annotation_path, "left out by --thumos14_drop_test_videos"), video.subset)
            )
            continue
        if not quirks.cliffdiving_is_diving:
            cliff = {(s, e) for label, s, e in video.annotations if label == "CliffDiving"}
            video.annotations = [a for a in video.annotations if not (a[0] == "Diving" and (a[1], a[2]) in cliff)]
        kept.append(video)
    contents.videos = kept
    contents.notes.append(
        f"THUMOS14 quirks: drop_test_videos={sorted(dropped)}, cliffdiving_is_diving={quirks.cliffdiving_is_diving}, "
        f"include_ambiguous={quirks.include_ambiguous}"
    )
    return contents
