"""Trains, tests and evaluates an Iterative-Winners-Out network.

    python train.py --dataset=synthetic                 # the embedded default, no download
    python train.py --dataset=thumos14 --data_dir=data/thumos14 --workdir=runs/thumos14
    python train.py --dataset=thumos14 --config.winners_out.train_steps=3 --config.data.num_segments=800
    python train.py --config=configs/thumos14.py --data_dir=DIR   # any converted dataset
    python train.py --mode=evaluate --workdir=runs/thumos14       # test a finished run again, no training

`--dataset` picks `configs/<dataset>.py`; every value of that config can be overridden with
`--config.<section>.<key>=<value>`. Watch the run with `tensorboard --logdir <workdir>/tensorboard`.
"""
import os
import time

_START = time.monotonic()

# TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notes) hides the progress bars: INFO and
# WARNING off, and the known-harmless ERROR lines filtered out of stderr (iwo_tf.training.log_filter).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if __name__ == "__main__":
    from iwo_tf.training.log_filter import install_stderr_filter

    install_stderr_filter()

from absl import app, flags, logging

from configs import DATASETS, define_config_flag
from iwo_tf.serving.saved_model_export import DEFAULT_SERVING_BASE_PATH


_DATASET = flags.DEFINE_enum("dataset", "synthetic", DATASETS, "Which named experiment (configs/<dataset>.py) to run.")
_CONFIG = define_config_flag("Config file; defaults to configs/<dataset>.py. Override values with --config.<key>=<value>.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Converted TFRecords (python -m iwo_tf.data.convert). Default: data/<dataset>.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Everything the run writes. Default: runs/<dataset>.")
_STRATEGY = flags.DEFINE_enum(
    "strategy", None, ["default", "mirrored", "multi_worker"],
    "tf.distribute strategy (overrides config.strategy): one device, all local devices, or several machines via TF_CONFIG.",
)
_EXPORT_BASE = flags.DEFINE_string("export_base", None, "Where to export the SavedModel. Default: <workdir>/export.")
_SERVING_BASE_PATH = flags.DEFINE_string(
    "serving_base_path", DEFAULT_SERVING_BASE_PATH,
    "Where the model server sees --export_base, written into models.config as base_path "
    "<serving_base_path>/<model name> (the TF Serving container's mount in export/README.md).",
)
_MODE = flags.DEFINE_enum(
    "mode", "train", ["train", "evaluate"],
    "train: train (or resume), test, evaluate and export. evaluate: test the final checkpoint of the finished "
    "run in --workdir again (its own config; both testing modes, figures, results) without training.",
)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "--mode=evaluate: where its results go. Default: <workdir>/evaluation.")

MISSING_FEATURES = """\
No converted features for '{dataset}' in {data_dir} ({problem}).

IWO trains on pre-extracted snippet features (two streams, e.g. I3D RGB + flow, 1024-d each), which
cannot be downloaded by this program. Bring them in one of the public layouts (see README, "Data"):
  --layout=wtalc         W-TALC/STPN joint npy (Thumos14reduced-I3D-JOINTFeatures.npy + annotation npys)
  --layout=actionformer  one <video>.npy per video + thumos14.json
  --layout=basnet        BaS-Net/CoLA/ACM-Net features/{{train,test}}/{{rgb,flow}}/<video>.npy + gt.json
  --layout=thumos14_original  official THUMOS14 <Class>_val.txt/_test.txt + per-video npy features
  --layout=activitynet   ActivityNet1.3 official json or the TSP CSV copy + per-video npy features
then convert them once and train:
  python -m iwo_tf.data.convert --layout=<layout> --output={data_dir} <layout flags>
  python train.py --dataset={dataset} --data_dir={data_dir}
`python -m iwo_tf.data.convert --helpfull` lists every layout's flags.
Without features, `python train.py --dataset=synthetic` runs the whole system on generated data."""


def _resolve_data(config, data_dir: str) -> None:
    from iwo_tf.data.dataset_info import dataset_problem

    problem = dataset_problem(data_dir)
    if problem is None:
        return
    if config.dataset == "synthetic":
        from iwo_tf.data.synthetic import generate_synthetic_dataset

        print(f"Generating the synthetic dataset in {data_dir} (seed {config.synthetic_seed}) ...")
        generate_synthetic_dataset(data_dir, seed=config.synthetic_seed)
        return
    raise app.UsageError(MISSING_FEATURES.format(dataset=config.dataset, data_dir=data_dir, problem=problem))


def _evaluate(workdir: str) -> None:
    """--mode=evaluate: the run's final checkpoint tested again with the run's own config."""
    import tensorflow as tf

    from iwo_tf.training.final_evaluation import EVALUATION_DIR, evaluate_finished_run, run_config_of
    from iwo_tf.training.strategy import make_strategy
    from iwo_tf.training.trainer import WinnersOutTrainer
    from iwo_tf.training.training_job import print_closing_block

    config = run_config_of(workdir, _DATA_DIR.value)
    strategy = make_strategy("default")
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    _resolve_data(config, config.data_dir)
    trainer = WinnersOutTrainer(config, workdir, strategy)
    output_dir = _OUTPUT_DIR.value or os.path.join(workdir, EVALUATION_DIR)
    evaluate_finished_run(trainer, output_dir)
    print_closing_block(trainer.output, output_dir, None, time.monotonic() - _START)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # absl's INFO default floods the progress bars
    workdir = _WORKDIR.value or os.path.join("runs", _DATASET.value)
    if _MODE.value == "evaluate":
        return _evaluate(workdir)
    config = _CONFIG.value
    if _DATASET.value != config.dataset and config.dataset in DATASETS and _CONFIG.present is False:
        raise app.UsageError(f"--dataset={_DATASET.value} but the config is for {config.dataset}")
    from iwo_tf.training.config_validation import validate_config
    from iwo_tf.training.strategy import CLUSTER_ERRORS, cluster_failure_message, is_chief, make_strategy, num_workers, sync_workers

    with config.unlocked():
        config.strategy = _STRATEGY.value or config.strategy
        config.data_dir = _DATA_DIR.value or config.data_dir or os.path.join("data", config.dataset)
    validate_config(config)  # before anything runs or is written
    # The strategy comes first: MultiWorkerMirroredStrategy must exist before any other TF op.
    strategy = make_strategy(config.strategy)
    import tensorflow as tf

    from iwo_tf.training.training_job import print_closing_block, train_with_control

    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    workdir = _WORKDIR.value or os.path.join("runs", config.dataset)
    print(f"TensorFlow {tf.__version__} on {', '.join(d.name for d in tf.config.list_logical_devices())}; "
          f"workdir {os.path.abspath(workdir)}")
    try:
        if is_chief(strategy):
            _resolve_data(config, config.data_dir)
        if num_workers(strategy) > 1:
            sync_workers(strategy)  # the other workers wait for the chief's synthetic data (shared disk)
            if not is_chief(strategy):
                _resolve_data(config, config.data_dir)  # separate disks: the same data, generated locally
        _, trainer = train_with_control(config, workdir, strategy)
    except CLUSTER_ERRORS as error:
        if num_workers(strategy) <= 1:
            raise
        # A peer died or hung: collectives were aborted (coordination-service heartbeats, ~10 s).
        raise SystemExit("error: " + cluster_failure_message(strategy, error, workdir)) from None
    version_dir = None
    if config.export.enabled and is_chief(strategy):
        from iwo_tf.serving.training_run_export import export_run

        with trainer.output.stage("export", "SavedModel for TF Serving"):
            version_dir = export_run(
                workdir, _EXPORT_BASE.value or os.path.join(workdir, "export"), config.export.model_name,
                serving_base_path=_SERVING_BASE_PATH.value,
            )
        print(f"Exported the SavedModel for TF Serving to {version_dir} (see export/README.md)")
    if is_chief(strategy):
        print_closing_block(trainer.output, workdir, version_dir, time.monotonic() - _START)
    if num_workers(strategy) > 1:
        # The other workers wait here for the chief's final evaluation and export, so that every
        # worker's exit status says whether the job finished.
        try:
            sync_workers(strategy)
        except CLUSTER_ERRORS as error:
            raise SystemExit("error: " + cluster_failure_message(strategy, error, workdir)) from None


def _main(argv):
    """`main`, with a user error (a bad config value, a refused workdir) printed as one line, exit status 2."""
    from iwo_tf.errors import exit_on_user_error

    return exit_on_user_error(main, argv)


def run():
    """Entry point of the `iwo-train` console script (setup.py): the same as `python train.py`."""
    from iwo_tf.training.log_filter import install_stderr_filter

    install_stderr_filter()
    app.run(_main)


if __name__ == "__main__":
    app.run(_main)
