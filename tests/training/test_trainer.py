"""Winners-out training end to end on a tiny synthetic set: the main job, masks, resume, summaries."""
import glob
import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.training.conftest import REPO, TINY_OVERRIDES, run_train, subprocess_env, tiny_config, train_command

pytestmark = pytest.mark.slow  # every test here trains (in this process or through train.py)


@pytest.fixture(scope="module")
def finished_run(tiny_data_dir, tmp_path_factory):
    """One uninterrupted `python train.py --dataset=synthetic` run (tiny), as users run it."""
    workdir = tmp_path_factory.mktemp("run") / "workdir"
    result = run_train(tiny_data_dir, workdir)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir, result.stdout


def _results(workdir):
    with open(os.path.join(workdir, "results.json")) as f:
        return json.load(f)


def test_main_job_prints_single_step_versus_winners_out_table_and_writes_the_run(finished_run):
    workdir, stdout = finished_run
    for step in (1, 2):
        assert f"WO-step {step}, winners-out testing" in stdout
        assert f"WO-step {step}, single-step testing" in stdout
    results = _results(workdir)
    assert results["model_selection"] == "last winners-out step"
    assert results["tiou_thresholds"] == [0.1, 0.3, 0.5]
    assert len(results["rows"]) == 6  # winners-out, fair single-step and 1 x p testing, per step
    for metrics in results["rows"].values():
        assert len(metrics["mAP"]) == 3 and all(0.0 <= v <= 1.0 for v in metrics["mAP"])
        assert metrics["average_mAP"] == pytest.approx(np.mean(metrics["mAP"]))
    assert results["final"]["wo_testing"] == results["rows"]["WO-step 2, winners-out testing"]
    for name in ("model.keras", "run_config.json", "masks/step_000.json", "masks/step_001.json",
                 "detections/step2_wo_testing.json", "metrics/step2_single_step_testing.json",
                 "export/models.config", "export/iwo/1/saved_model.pb"):
        assert os.path.exists(os.path.join(workdir, name)), name
    assert glob.glob(os.path.join(workdir, "figures", "step2_*.png"))
    # Nothing half-written is left behind.
    assert not glob.glob(os.path.join(workdir, "**", ".tmp-*"), recursive=True)


def test_detections_are_what_the_evaluate_command_scores(finished_run, tiny_data_dir):
    workdir, _ = finished_run
    output = os.path.join(workdir, "evaluate_check.json")
    command = ["python", "-m", "iwo_tf.evaluate", f"--ground_truth={tiny_data_dir}/ground_truth.json",
               f"--predictions={workdir}/detections/step2_wo_testing.json", "--subset=test",
               "--tiou_thresholds=0.1,0.3,0.5", f"--output={output}"]
    subprocess.run(command, cwd=str(REPO), check=True, capture_output=True, timeout=120)
    with open(output) as f:
        evaluated = json.load(f)
    np.testing.assert_allclose(evaluated["mAP"], _results(workdir)["final"]["wo_testing"]["mAP"], atol=1e-12)


def test_exported_model_reproduces_the_training_runs_detections(finished_run, tiny_data_dir):
    from iwo_tf.serving import SavedModelLocalizer

    workdir, _ = finished_run
    localizer = SavedModelLocalizer(os.path.join(workdir, "export", "iwo", "1"))
    served = localizer.localize_tfrecord_files(sorted(glob.glob(os.path.join(tiny_data_dir, "test-*.tfrecord"))))
    with open(os.path.join(workdir, "detections", "step2_wo_testing.json")) as f:
        trained = json.load(f)["results"]
    assert set(served) == set(trained)
    for video_id, detections in trained.items():
        assert [d["label"] for d in served[video_id]] == [d["label"] for d in detections], video_id
        np.testing.assert_allclose([d["score"] for d in served[video_id]], [d["score"] for d in detections], atol=1e-5)
        np.testing.assert_allclose([d["segment"] for d in served[video_id]], [d["segment"] for d in detections], atol=1e-3)


def _event_tags(directory):
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(
        str(directory), size_guidance={event_accumulator.TENSORS: 0, event_accumulator.IMAGES: 0}
    )
    accumulator.Reload()
    return accumulator


def test_tensorboard_has_losses_learning_rate_accuracy_map_histograms_and_csc_images(finished_run):
    workdir, _ = finished_run
    train = _event_tags(os.path.join(workdir, "tensorboard", "train"))
    tags = set(train.Tags()["tensors"])
    for tag in ("loss/total", "loss/cross_entropy", "loss/orthogonality", "learning_rate", "accuracy",
                "winners_out/step", "winners_out/removed_fraction", "attention/stream0", "attention/stream1"):
        assert tag in tags, (tag, sorted(tags))
    epochs = TINY_OVERRIDES["winners_out.epochs_per_step"] * TINY_OVERRIDES["winners_out.train_steps"]
    assert [e.step for e in train.Tensors("loss/total")] == list(range(1, epochs + 1))
    test = _event_tags(os.path.join(workdir, "tensorboard", "test"))
    tags = set(test.Tags()["tensors"])
    for mode in ("wo_testing", "single_step_testing"):
        for threshold in ("0.10", "0.30", "0.50"):
            assert f"{mode}/mAP@{threshold}" in tags
        events = test.Tensors(f"{mode}/average_mAP")
        assert [e.step for e in events] == [3, 6]  # the global epoch, training's axis
    final = test.Tensors("wo_testing/average_mAP")[-1]
    assert float(tf.make_ndarray(final.tensor_proto)) == pytest.approx(_results(workdir)["final"]["wo_testing"]["average_mAP"], abs=1e-6)
    assert any(tag.startswith("csc_curves/") for tag in tags)


def _wait_for(path, process, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def test_run_killed_mid_winners_out_resumes_with_same_step_masks_and_numbers(finished_run, tiny_data_dir, tmp_path):
    """kill -9 right after the step-1 masks appear; the rerun must end exactly as the uninterrupted run."""
    reference_dir, _ = finished_run
    workdir = tmp_path / "killed"
    process = subprocess.Popen(
        train_command(tiny_data_dir, workdir), cwd=str(REPO), env=subprocess_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        assert _wait_for(os.path.join(workdir, "masks", "step_001.json"), process, timeout=240), "run ended early"
        time.sleep(0.5)  # into the second winners-out step
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not os.path.exists(os.path.join(workdir, "results.json"))

    resumed = run_train(tiny_data_dir, workdir)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert "Resumed from" in resumed.stdout
    assert _results(workdir)["rows"] == _results(reference_dir)["rows"]
    for step in ("000", "001"):
        with open(os.path.join(workdir, "masks", f"step_{step}.json")) as a, \
                open(os.path.join(reference_dir, "masks", f"step_{step}.json")) as b:
            assert json.load(a) == json.load(b)
    import keras

    import iwo_tf.model  # noqa: F401  (registers the classes model.keras names)

    reference = keras.models.load_model(os.path.join(reference_dir, "model.keras"))
    model = keras.models.load_model(os.path.join(workdir, "model.keras"))
    for w_resumed, w_reference in zip(model.weights, reference.weights):
        np.testing.assert_array_equal(w_resumed.numpy(), w_reference.numpy(), err_msg=w_resumed.path)


def test_resuming_with_a_different_model_config_is_refused(finished_run, tiny_data_dir, tmp_path):
    workdir = tmp_path / "changed"
    first = run_train(tiny_data_dir, workdir, "--config.export.enabled=false", winners_out__train_steps=1,
                      winners_out__epochs_per_step=1, testing__compare_single_step=False)
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_train(tiny_data_dir, workdir, "--config.export.enabled=false", model__num_modules=5,
                       winners_out__train_steps=1, winners_out__epochs_per_step=1)
    assert second.returncode != 0
    assert "run_config.json" in second.stderr and "'model' config differs" in second.stderr


def _one_line_error(result):
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


def test_a_second_run_on_a_locked_workdir_fails_at_once_naming_the_holder(tiny_data_dir, tmp_path):
    from iwo_tf.training.run_dir import RunDir

    holder = RunDir(str(tmp_path / "w"))
    holder.lock()  # this test process plays the first run
    try:
        result = run_train(tiny_data_dir, tmp_path / "w", "--config.export.enabled=false", timeout=120)
    finally:
        holder.release()
    line = _one_line_error(result)
    assert f"another run (pid {os.getpid()}) is using this workdir" in line
    assert os.listdir(tmp_path / "w") == ["run.lock"]  # the refused run wrote nothing


def test_resuming_on_other_data_with_the_same_ids_is_refused_and_run_config_kept(tiny_data_dir, tmp_path):
    from iwo_tf.data.synthetic import generate_synthetic_dataset
    from tests.training.conftest import TINY_SPEC

    other = generate_synthetic_dataset(str(tmp_path / "other"), seed=4, spec=TINY_SPEC)  # same ids and classes
    workdir = tmp_path / "w"
    short = dict(winners_out__train_steps=1, winners_out__epochs_per_step=1, testing__compare_single_step=False)
    first = run_train(tiny_data_dir, workdir, "--config.export.enabled=false", **short)
    assert first.returncode == 0, first.stderr[-3000:]
    stored = (workdir / "run_config.json").read_bytes()
    second = run_train(other, workdir, "--config.export.enabled=false", **short)
    line = _one_line_error(second)
    assert "run_config.json: the workdir holds a run trained on other data" in line and str(other) in line
    assert (workdir / "run_config.json").read_bytes() == stored


def test_an_edited_mask_file_stops_the_resumed_run_with_one_line_naming_it(tiny_data_dir, tmp_path):
    workdir = tmp_path / "w"
    short = dict(winners_out__epochs_per_step=1, testing__compare_single_step=False)
    first = run_train(tiny_data_dir, workdir, "--config.export.enabled=false", **short)
    assert first.returncode == 0, first.stderr[-3000:]
    path = workdir / "masks" / "step_001.json"
    document = json.loads(path.read_text())
    document["removed"] = {video: [] for video in document["removed"]}  # valid JSON, nothing removed
    path.write_text(json.dumps(document))
    second = run_train(tiny_data_dir, workdir, "--config.export.enabled=false", **short)
    line = _one_line_error(second)
    assert line.startswith(f"error: {path}: checksum mismatch"), line


def test_thumos14_without_features_names_layouts_converter_and_flags(tmp_path):
    result = subprocess.run(
        ["python", "train.py", "--dataset=thumos14", f"--data_dir={tmp_path / 'nothing'}",
         f"--workdir={tmp_path / 'w'}"],
        cwd=str(REPO), capture_output=True, text=True, timeout=120,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert result.returncode != 0
    message = result.stderr
    for text in ("--layout=wtalc", "--layout=actionformer", "--layout=basnet", "--layout=thumos14_original",
                 "--layout=activitynet", "python -m iwo_tf.data.convert", "--data_dir", "--dataset=synthetic",
                 str(tmp_path / "nothing")):
        assert text in message, text
    assert not (tmp_path / "w").exists()


# --- in-process: the winners-out removal itself ----------------------------------------------------


@pytest.fixture(scope="module")
def trained_trainer(tiny_data_dir, tmp_path_factory):
    from iwo_tf.training.trainer import WinnersOutTrainer

    config = tiny_config(tiny_data_dir, winners_out__train_steps=1, winners_out__epochs_per_step=6,
                         testing__compare_single_step=False, summaries__num_curve_videos=0)
    workdir = str(tmp_path_factory.mktemp("inproc"))
    trainer = WinnersOutTrainer(config, workdir, tf.distribute.get_strategy(), verbose=False)
    trainer.run()
    return trainer, workdir


def test_training_lowers_the_loss(trained_trainer):
    _, workdir = trained_trainer
    losses = [float(tf.make_ndarray(e.tensor_proto)) for e in
              _event_tags(os.path.join(workdir, "tensorboard", "train")).Tensors("loss/cross_entropy")]
    assert len(losses) == 6
    assert np.mean(losses[-2:]) < np.mean(losses[:2]), losses


def _own_label_topp(trainer, masks_before):
    """Expected removal: per video, the union over its own labels of the top-p CSC segments among the kept ones."""
    p = trainer.config.winners_out.segments_per_step
    expected = {}
    for batch in trainer.eval_dataset("train", trainer.mask_table):
        scores = trainer.model.make_segment_scorer(
            batch["features"], None, stream_weights=trainer.config.winners_out.stream_weights
        )(batch["mask"]).numpy()  # [B, C, K], all classes
        for video_id, labels, video_scores in zip(batch["video_id"].numpy(), batch["labels"].numpy(), scores):
            video_id = video_id.decode()
            keep = masks_before[video_id].copy()
            removed = set()
            for label in np.flatnonzero(labels > 0):
                candidates = np.flatnonzero(masks_before[video_id])
                order = candidates[np.argsort(-video_scores[label][candidates], kind="stable")]
                removed |= set(order[:p].tolist())
            keep[sorted(removed)] = False
            expected[video_id] = keep
    return expected


def test_removal_takes_top_p_of_each_own_label_only_and_masks_change_between_steps(trained_trainer):
    trainer, _ = trained_trainer
    p = trainer.config.winners_out.segments_per_step
    all_kept = {v: np.ones(trainer.num_segments, bool) for v in trainer.train_ids}
    step1 = trainer.remove_winners()
    expected = _own_label_topp(trainer, all_kept)
    assert set(step1) == set(trainer.train_ids)
    for video_id, keep in step1.items():
        np.testing.assert_array_equal(keep, expected[video_id], err_msg=video_id)
        assert p <= (~keep).sum() <= p * trainer.max_labels

    trainer.mask_table.assign(step1)
    try:
        step2 = trainer.remove_winners()
        expected = _own_label_topp(trainer, step1)
    finally:
        trainer.mask_table.assign(all_kept)
    for video_id, keep in step2.items():
        np.testing.assert_array_equal(keep, expected[video_id], err_msg=video_id)
        assert not np.any(keep & ~step1[video_id]), "a removed segment came back"
        assert (~keep).sum() > (~step1[video_id]).sum(), "the second step removed nothing"


def test_removed_segments_are_not_seen_by_the_training_pipeline(trained_trainer):
    """The pipeline's mask for a video is exactly its persisted mask (what training attends over)."""
    from iwo_tf.data.masks import MaskStore

    trainer, _ = trained_trainer
    masks = trainer.remove_winners()
    store = MaskStore(os.path.join(trainer.workdir, "scratch_masks"))
    store.save(1, masks)
    loaded = store.load(1)
    trainer.mask_table.assign(loaded)
    try:
        iterator = iter(trainer.dataset_for_epoch(0))
        seen = {}
        for _ in range(trainer.steps_per_epoch):
            batch = next(iterator)
            for video_id, mask in zip(batch["video_id"].numpy(), batch["mask"].numpy()):
                seen[video_id.decode()] = mask > 0
    finally:
        trainer.mask_table.assign({v: np.ones(trainer.num_segments, bool) for v in trainer.train_ids})
    assert seen
    for video_id, mask in seen.items():
        np.testing.assert_array_equal(mask, masks[video_id], err_msg=video_id)


def _ablation_run(data_dir, workdir, switches):
    """A tiny in-process run (1 epoch per step) that records the weights the second winners-out step starts from."""
    from iwo_tf.training.trainer import WinnersOutTrainer

    config = tiny_config(data_dir, winners_out__epochs_per_step=1, **switches)
    trainer = WinnersOutTrainer(config, str(workdir), tf.distribute.get_strategy(), verbose=False)
    seen = {}
    train_epoch = trainer.train_epoch

    def recording_epoch(wo_step, epoch):
        if (wo_step, epoch) == (1, 0):
            seen["step2_start"] = [v.numpy() for v in trainer.model.weights]
        return train_epoch(wo_step, epoch)

    trainer.train_epoch = recording_epoch
    summary = trainer.run()
    return trainer, summary, seen


@pytest.fixture(scope="module")
def baseline_run(tiny_data_dir, tmp_path_factory):
    return _ablation_run(tiny_data_dir, tmp_path_factory.mktemp("baseline"), {})


def _masks(trainer, step):
    with open(os.path.join(trainer.workdir, "masks", f"step_{step:03d}.json")) as f:
        return json.load(f)["removed"]


def _pooling_weights(trainer):
    return [w for pooling in trainer.model.stream_poolings for w in pooling.weights]


def _check_mean_pooling(trainer, baseline, seen, baseline_seen):
    from iwo_tf.model.replicated_mean_pooling import ReplicatedMeanPooling

    assert all(isinstance(p, ReplicatedMeanPooling) for p in trainer.model.stream_poolings)
    assert _pooling_weights(trainer) == [] and _pooling_weights(baseline) != []


def _check_attention_scores(trainer, baseline, seen, baseline_seen):
    # Step 1 trains identically (same seed): the removal pass saw the same weights, only its scorer differs.
    for ours, theirs in zip(seen["step2_start"], baseline_seen["step2_start"]):
        np.testing.assert_array_equal(ours, theirs)
    assert _masks(trainer, 1) != _masks(baseline, 1)
    assert trainer.removal.score_method == "attention" and baseline.removal.score_method == "csc"


def _check_shifting_bias(trainer, baseline, seen, baseline_seen):
    assert all(p.shifting_bias is not None for p in trainer.model.stream_poolings)
    assert all(p.shifting_bias is None for p in baseline.model.stream_poolings)
    assert not any("shifting_bias" in w.path for w in baseline.model.weights)


def _check_reinitialize(trainer, baseline, seen, baseline_seen):
    for start, initial in zip(seen["step2_start"], trainer.state.initial_weights):
        np.testing.assert_array_equal(start, initial)
    assert any(not np.array_equal(start, initial)
               for start, initial in zip(baseline_seen["step2_start"], baseline.state.initial_weights))


@pytest.mark.slow
@pytest.mark.parametrize(
    "switches, check",
    [
        ({"model__pooling": "mean"}, _check_mean_pooling),  # Table V: CAM instead of CSC
        ({"winners_out__score_method": "attention"}, _check_attention_scores),  # Sec. VI-C.2
        ({"model__use_shifting_bias": True}, _check_shifting_bias),  # Table VII variant
        ({"winners_out__reinitialize": True}, _check_reinitialize),
    ],
    ids=["pooling=mean", "score_method=attention", "use_shifting_bias", "reinitialize"],
)
def test_ablation_switches_change_what_they_name(baseline_run, tiny_data_dir, tmp_path, switches, check):
    baseline, _, baseline_seen = baseline_run
    trainer, summary, seen = _ablation_run(tiny_data_dir, tmp_path, switches)
    assert set(summary["rows"]) == {f"WO-step {s}, {m}" for s in (1, 2) for m in (
        "winners-out testing", "single-step testing", "single-step testing (1 x p)")}
    with open(tmp_path / "run_config.json") as f:
        recorded = json.load(f)["config"]
    for key, value in switches.items():
        section, name = key.split("__")
        assert recorded[section][name] == value
    check(trainer, baseline, seen, baseline_seen)


def test_csc_figures_of_ids_with_slashes_stay_in_figures_and_follow_no_symlink(trained_trainer, tmp_path):
    """An id holding '/' or '..' names a file inside figures/; a pre-placed symlink is replaced, not followed."""
    from iwo_tf.training.csc_figures import write_csc_figures
    from iwo_tf.training.run_dir import RunDir

    trainer, _ = trained_trainer
    prefix = "../../evil/"
    batches = []
    for batch in trainer.eval_dataset("test"):
        renamed = dict(batch)
        renamed["video_id"] = tf.constant([prefix + v.decode() for v in batch["video_id"].numpy()])
        batches.append(renamed)
    database = {prefix + v: item for v, item in trainer.ground_truth["database"].items()}
    video_ids = [prefix + trainer.test_ids[0], prefix + trainer.test_ids[-1]]
    run_dir = RunDir(str(tmp_path / "w"))
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"precious")
    os.makedirs(os.path.dirname(run_dir.figure_path(1, video_ids[0])))
    os.symlink(outside, run_dir.figure_path(1, video_ids[0]))
    written = write_csc_figures(
        trainer.model, batches, video_ids=video_ids, database=database, class_names=trainer.class_names,
        config=trainer.config, run_dir=run_dir, writer=tf.summary.create_noop_writer(), wo_step=1,
    )
    assert sorted(written) == sorted(run_dir.figure_path(1, v) for v in video_ids)
    for path in written:
        assert os.path.dirname(path) == str(tmp_path / "w" / "figures") and not os.path.islink(path)
        assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert outside.read_bytes() == b"precious"
    assert not (tmp_path / "evil").exists()


def test_stream_weights_that_do_not_match_the_datas_streams_are_refused_before_training(tiny_data_dir, tmp_path):
    from iwo_tf.errors import UserInputError
    from iwo_tf.training.trainer import WinnersOutTrainer

    config = tiny_config(tiny_data_dir, winners_out__stream_weights=(1.0,))
    with pytest.raises(UserInputError, match=r"stream_weights=\(1.0,\): 1 weights for data of 2 streams"):
        WinnersOutTrainer(config, str(tmp_path / "w"), tf.distribute.get_strategy(), verbose=False)
    assert not (tmp_path / "w" / "checkpoints").exists()
