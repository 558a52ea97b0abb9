"""The embedded default: a synthetic THUMOS-like dataset generated on first use (no download).

Sized so that `python train.py --dataset=synthetic` trains with winners-out (2 steps), tests and
evaluates in under a minute on 2 CPU cores. The ratios follow the paper (p/K = 15/200 = 30/400,
q = 2, 10 test steps); videos are 100..800 snippets, so K = 200 keeps instances of a few seconds
several segments long.
"""
from configs import base


def get_config():
    config = base.get_config()
    config.dataset = "synthetic"
    config.synthetic_seed = 0
    config.data.num_segments = 200
    config.data.batch_size = 16
    config.model.num_modules = 8
    config.optimizer.learning_rate = 0.05
    config.optimizer.decay_every_epochs = 16
    config.winners_out.epochs_per_step = 24
    config.winners_out.segments_per_step = 15
    config.testing.segments_per_step = 15
    config.testing.tiou_thresholds = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    return config
