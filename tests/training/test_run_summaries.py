"""The run's config text and HParams summaries, read back from the event files."""
import glob

from iwo_tf.training.run_summaries import flat_hparams, write_model_graph, write_run_description


def _config():
    from configs import synthetic

    config = synthetic.get_config()
    config.optimizer.name = "sgd"
    config.optimizer.learning_rate = 0.05
    config.winners_out.stream_weights = (1.0, 10.0)
    return config


def test_flat_hparams_are_plugin_types():
    flat = flat_hparams(_config())
    assert flat["optimizer.learning_rate"] == 0.05 and flat["data.num_segments"] == 200
    assert flat["winners_out.stream_weights"] == "[1.0, 10.0]"
    assert all(isinstance(v, (bool, int, float, str)) for v in flat.values())


def test_config_text_and_hparams_are_in_the_event_file(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.plugins.hparams import metadata

    write_run_description(str(tmp_path), _config(), ["wo_testing", "single_step_testing"], trial_id="run-a")
    assert glob.glob(str(tmp_path / "events.out.tfevents.*"))
    accumulator = event_accumulator.EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
    accumulator.Reload()
    tags = accumulator.Tags()["tensors"]
    assert "config" in tags
    text = accumulator.Tensors("config")[0].tensor_proto.string_val[0].decode()
    assert '"num_segments": 200' in text
    content = accumulator.PluginTagToContent(metadata.PLUGIN_NAME)
    session = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    assert session.hparams["optimizer.learning_rate"].number_value == 0.05
    assert session.hparams["optimizer.name"].string_value == "sgd"
    experiment = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
    assert {m.name.tag for m in experiment.metric_infos} == {"wo_testing/average_mAP", "single_step_testing/average_mAP"}


def test_model_graph_is_in_the_event_file(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    from iwo_tf.training.model_factory import build_model

    config = _config()
    model = build_model(config, num_classes=3, stream_dims=(4, 4))
    write_model_graph(str(tmp_path), model, config.data.num_segments, 8)
    accumulator = event_accumulator.EventAccumulator(str(tmp_path))
    accumulator.Reload()
    assert accumulator.Tags()["graph"]
    nodes = accumulator.Graph().node
    placeholders = {node.name for node in nodes if node.op == "Placeholder"}
    assert {"features", "mask"} <= placeholders
    assert "BiasAdd" in {node.op for node in nodes}  # the classifier's fully connected layer
