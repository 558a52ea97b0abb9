"""The public feature layouts the converter reads: name -> reader, THUMOS14 quirks, flags -> reader args.

Adding a layout: write its reader module (a `read(...)` returning `LayoutContents`) and add one
`Layout` entry below; the converter's `--layout` choices, its dispatch and its flag mapping all come
from this table. Layout-specific flags are defined in `iwo_tf.data.convert` and shared by layouts.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Tuple

from iwo_tf.data.layouts import actionformer, activitynet, basnet, thumos14_original, wtalc
from iwo_tf.data.layouts.base import LayoutContents
from iwo_tf.errors import UserInputError


def _one(values, name):
    if len(values) != 1:
        raise UserInputError(f"{name} takes exactly one file for this layout, got {list(values)}")
    return values[0]


@dataclasses.dataclass(frozen=True)
class Layout:
    """One public layout.

    Args:
        name: the `--layout` value.
        read: the reader; returns `LayoutContents`.
        thumos14: the layout holds THUMOS14 (the THUMOS14 quirks apply).
        args_from_flags: the converter's parsed flags -> the reader's keyword arguments.
        summary: one line for `--help`.
    """

    name: str
    read: Callable[..., LayoutContents]
    thumos14: bool
    args_from_flags: Callable[[object], dict]
    summary: str


_ENTRIES = (
    Layout("wtalc", wtalc.read, True,
           lambda f: {"features_npy": f.features_npy, "annotations_dir": f.annotations_dir,
                      "snippet_frames": f.snippet_frames, "feature_fps": f.feature_fps},
           "W-TALC / STPN: one joint feature npy plus annotation npys"),
    Layout("actionformer", actionformer.read, True,
           lambda f: {"annotations_json": _one(f.annotations, "--annotations"), "features_dir": f.features_dir,
                      "clip_frames": f.clip_frames, "clip_stride_frames": f.clip_stride_frames},
           "ActionFormer: thumos14.json plus <video>.npy"),
    Layout("basnet", basnet.read, True,
           lambda f: {"data_dir": f.data_dir, "gt_json": f.annotations[0] if f.annotations else None, "video_info_json": f.video_info,
                      "snippet_frames": f.snippet_frames, "feature_fps": f.feature_fps},
           "BaS-Net: features/{train,test}/{rgb,flow}, gt.json, split_*.txt"),
    Layout("thumos14_original", thumos14_original.read, True,
           lambda f: {"annotations_dir": f.annotations_dir, "features_dir": f.features_dir, "include_ambiguous": f.thumos14_include_ambiguous,
                      "video_info_json": f.video_info, "snippet_frames": f.snippet_frames, "feature_fps": f.feature_fps},
           "THUMOS14 original <Class>_{val,test}.txt annotations plus per-video features"),
    Layout("activitynet", activitynet.read, False,
           lambda f: {"annotation_files": list(f.annotations), "features_dir": f.features_dir, "split_files": list(f.split_files),
                      "snippet_frames": f.snippet_frames, "feature_fps": f.feature_fps, "fit_to_duration": f.fit_to_duration},
           "ActivityNet1.3: official json or TSP CSVs plus per-video features"),
)
LAYOUTS: Dict[str, Layout] = {layout.name: layout for layout in _ENTRIES}
LAYOUT_NAMES: Tuple[str, ...] = tuple(LAYOUTS)
THUMOS14_LAYOUTS: Tuple[str, ...] = tuple(name for name, layout in LAYOUTS.items() if layout.thumos14)


def get_layout(name: str) -> Layout:
    """The layout called `name`.

    Raises:
        UserInputError: no such layout.
    """
    if name not in LAYOUTS:
        raise UserInputError(f"unknown layout {name!r}; one of {LAYOUT_NAMES}")
    return LAYOUTS[name]
