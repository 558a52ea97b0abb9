"""The layout registry is the one place a layout is named: the converter's choices, dispatch and flags come from it."""
import inspect
import types

import pytest

from iwo_tf.data import convert, validation
from iwo_tf.data.layouts.registry import LAYOUTS, THUMOS14_LAYOUTS, get_layout
from iwo_tf.errors import UserInputError


def _flags(**overrides):
    values = dict(features_npy="f.npy", annotations_dir="ann", annotations=["a.json"], features_dir="feats", data_dir="d",
                  video_info=None, split_files=[], snippet_frames=16.0, feature_fps=25.0, clip_frames=16.0, clip_stride_frames=4.0,
                  fit_to_duration=False, thumos14_include_ambiguous=False)
    values.update(overrides)
    return types.SimpleNamespace(**values)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_every_layout_maps_flags_onto_its_reader_arguments(name):
    layout = get_layout(name)
    arguments = layout.args_from_flags(_flags())
    inspect.signature(layout.read).bind(**arguments)  # raises TypeError on a name the reader does not take


def test_the_converter_uses_the_registry():
    assert convert.LAYOUTS == tuple(LAYOUTS)
    assert set(THUMOS14_LAYOUTS) == {"wtalc", "actionformer", "basnet", "thumos14_original"}
    with pytest.raises(UserInputError, match="unknown layout 'nope'"):
        convert.read_layout("nope")
    with pytest.raises(UserInputError, match="on_bad_video='maybe'"):
        convert.convert("activitynet", "/nonexistent/out", on_bad_video="maybe", annotation_files=[], features_dir="x")
    assert validation.POLICIES == ("skip", "error")


def test_a_layout_taking_one_file_says_so():
    with pytest.raises(UserInputError, match="--annotations takes exactly one file"):
        get_layout("actionformer").args_from_flags(_flags(annotations=["a.json", "b.json"]))
