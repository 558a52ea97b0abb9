"""ActivityNet1.3 (train on training, test on validation): K=200 (the paper's best, Fig. 8b)."""
from configs import base


def get_config():
    config = base.get_config()
    config.dataset = "activitynet13"
    config.data.num_segments = 200
    # p scales with K: the paper removes 30 of 400 segments per step (7.5%).
    config.winners_out.segments_per_step = 15
    config.testing.segments_per_step = 15
    config.testing.tiou_thresholds = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
    config.winners_out.epochs_per_step = 20
    config.optimizer.decay_every_epochs = 10
    return config
