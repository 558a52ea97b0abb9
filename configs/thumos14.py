"""THUMOS14 (200 validation videos to train, 212 test videos): the paper's settings, K=400."""
from configs import base


def get_config():
    config = base.get_config()
    config.dataset = "thumos14"
    config.data.num_segments = 400
    config.model.num_modules = 18
    config.winners_out.segments_per_step = 30
    config.testing.segments_per_step = 30
    config.testing.tiou_thresholds = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    return config
