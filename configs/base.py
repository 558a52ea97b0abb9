"""Defaults shared by every experiment: the paper's settings (Sec. V-B) where it gives them.

Every value can be overridden from the command line, e.g.
`python train.py --dataset=thumos14 --config.winners_out.train_steps=3`.
"""
import ml_collections

from iwo_tf.serving.serving_config import ServingConfig


def get_config():
    config = ml_collections.ConfigDict()
    config.dataset = ""  # a name for logs and the export; the data itself comes from data_dir
    config.data_dir = ""  # converted TFRecords (python -m iwo_tf.data.convert); --data_dir overrides
    config.seed = 0
    config.deterministic = True  # tf.config.experimental.enable_op_determinism: same seed, same numbers
    config.strategy = "default"  # default | mirrored | multi_worker (tf.distribute)

    config.data = ml_collections.ConfigDict()
    config.data.num_segments = 400  # K
    config.data.snippets_per_segment = 3  # L, snippets averaged per segment while training
    config.data.batch_size = 32  # global batch size (split across replicas)
    config.data.shuffle_buffer = 1024
    config.data.eval_batch_size = 16

    config.model = ml_collections.ConfigDict()
    config.model.num_modules = 18  # M
    config.model.dropout_rate = 0.8
    config.model.pooling = "attention"  # attention | mean (the CAM baseline, Table V)
    config.model.use_shifting_bias = False  # Table VII variant
    config.model.orthogonality_weight = 0.1  # beta of Eq. 6

    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.name = "sgd"  # sgd | adam
    config.optimizer.learning_rate = 1e-3
    config.optimizer.momentum = 0.9
    config.optimizer.decay_every_epochs = 20  # learning rate divided by 10 every 20 epochs
    config.optimizer.decay_factor = 0.1
    # restart_per_step: each winners-out step starts the schedule again (each step is a training of
    # its own); global: one schedule over all steps (iwo_tf.training.schedule). The paper is silent.
    config.optimizer.schedule = "restart_per_step"

    config.winners_out = ml_collections.ConfigDict()
    config.winners_out.train_steps = 2  # N_step of Algorithm 1; 1 = no winners-out training (Table IV)
    config.winners_out.epochs_per_step = 40
    config.winners_out.segments_per_step = 30  # p
    config.winners_out.reinitialize = False  # re-initialise the weights at each step
    config.winners_out.score_method = ServingConfig.score_method  # csc | attention (Sec. VI-C.2)
    config.winners_out.stream_weights = (1.0, 10.0)  # Eq. 10: (1, gamma)
    # Also train the p=0 control (same data, seed, schedule, epochs; no removal) in <workdir>/control_p0
    # and report its steps > 1 in the final table: what winners-out TRAINING adds over training longer.
    config.winners_out.control = False

    config.testing = ml_collections.ConfigDict()
    # The localization defaults live in one place, iwo_tf.serving.ServingConfig (10 steps, q=2, p=30).
    config.testing.num_steps = ServingConfig.num_steps  # winners-out testing steps (Algorithm 2)
    config.testing.top_q = ServingConfig.top_q  # q
    config.testing.segments_per_step = ServingConfig.segments_per_step  # p at test time
    # Also evaluate the fair single-step baseline: ONE step selecting num_steps x p segments per class
    # (what winners-out testing selects in total), so the comparison measures the recomputation.
    config.testing.compare_single_step = True
    config.testing.single_step_p = True  # and the paper's 1 step x p ("single-step testing (1 x p)")
    config.testing.tiou_thresholds = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    config.testing.evaluate_every_wo_step = True  # mAP per winners-out step in TensorBoard (monitoring only)

    config.convergence_guard = ml_collections.ConfigDict()
    # Warn (log + TensorBoard text) when the cross-entropy after this many epochs is still within
    # `tolerance` of ln(C), the loss of a uniform guess; 0 turns the check off.
    config.convergence_guard.after_epochs = 3
    config.convergence_guard.tolerance = 0.05

    config.summaries = ml_collections.ConfigDict()
    config.summaries.num_curve_videos = 3  # test videos whose CSC curves are drawn (Figs. 3 and 7)
    config.summaries.histogram_every_epochs = 5

    config.export = ml_collections.ConfigDict()
    config.export.enabled = True
    config.export.model_name = "iwo"
    return config
