import numpy as np
import pytest
import tensorflow as tf

from iwo_tf.data.schema import VideoRecord, parse_video, serialize_video


def _record(**changes):
    fields = dict(
        video_id="video_a",
        subset="train",
        labels=[3, 1, 3],
        duration=12.5,
        snippet_stride_sec=0.64,
        snippet_offset_sec=0.24,
        features=np.arange(5 * 6, dtype=np.float32).reshape(5, 6) / 7.0,
        stream_dims=[2, 4],
        gt_segments=[[1.0, 2.5], [4.0, 6.0]],
        gt_labels=[1, 3],
    )
    fields.update(changes)
    return VideoRecord(**fields)


def test_round_trip_keeps_every_field():
    record = _record()
    video = {k: v.numpy() for k, v in parse_video(tf.constant(serialize_video(record))).items()}
    assert video["video_id"] == b"video_a" and video["subset"] == b"train"
    np.testing.assert_array_equal(video["labels"], [1, 3])  # unique and sorted
    assert video["num_snippets"] == 5 and video["feature_dim"] == 6
    np.testing.assert_array_equal(video["stream_dims"], [2, 4])
    np.testing.assert_allclose([video["duration"], video["snippet_stride_sec"], video["snippet_offset_sec"]], [12.5, 0.64, 0.24], rtol=1e-6)
    np.testing.assert_array_equal(video["features"], record.features)  # raw float32: bit-exact
    np.testing.assert_allclose(video["gt_segments"], [[1.0, 2.5], [4.0, 6.0]])
    np.testing.assert_array_equal(video["gt_labels"], [1, 3])


def test_parse_runs_in_a_graph_with_a_static_width():
    @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
    def features_of(serialized):
        return parse_video(serialized, feature_dim=6)["features"]

    concrete = features_of.get_concrete_function()
    assert concrete.structured_outputs.shape.as_list() == [None, 6]
    np.testing.assert_array_equal(features_of(tf.constant(serialize_video(_record()))).numpy(), _record().features)


def test_parse_rejects_a_record_of_another_width():
    with pytest.raises(tf.errors.InvalidArgumentError, match="feature_dim differs"):
        parse_video(tf.constant(serialize_video(_record())), feature_dim=8)


def test_parse_rejects_a_payload_that_does_not_match_its_shape():
    example = tf.train.Example.FromString(serialize_video(_record()))
    example.features.feature["num_snippets"].int64_list.value[0] = 6  # one row more than stored
    with pytest.raises(tf.errors.InvalidArgumentError, match="payload"):
        parse_video(tf.constant(example.SerializeToString()))


def test_empty_video_and_no_ground_truth_serialize():
    video = parse_video(tf.constant(serialize_video(_record(features=np.zeros((0, 6), np.float32), gt_segments=[], gt_labels=[]))))
    assert video["features"].shape == (0, 6)
    assert video["gt_segments"].shape == (0, 2)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(features=np.zeros(6, np.float32)), r"\[T, D\]"),
        (dict(stream_dims=[3, 4]), "do not sum"),
        (dict(gt_labels=[1]), "2 ground-truth segments but 1 labels"),
    ],
)
def test_serialize_rejects_structural_errors(changes, message):
    with pytest.raises(ValueError, match=message):
        serialize_video(_record(**changes))
