"""The localization figure: its size is known in advance and every panel is drawn (no model needed)."""
import io

import numpy as np
import pytest
from PIL import Image

from iwo_tf.visualization import ClassTrack, VideoLocalization, render_png, sheet_size_px
from iwo_tf.visualization.localization_figure import PANEL_PX, TITLE_PX


def _video(video_id, num_tracks, num_segments=20, num_steps=3, seed=0):
    rng = np.random.default_rng(seed)
    tracks = []
    for q in range(num_tracks):
        steps = np.full(num_segments, -1)
        steps[rng.choice(num_segments, num_steps * 2, replace=False)] = np.repeat(np.arange(num_steps), 2)
        tracks.append(ClassTrack(
            class_index=q, class_name=f"class{q}", video_score=0.5, curve=rng.uniform(0, 1, num_segments),
            selection_step=steps, selected_score=np.where(steps >= 0, 0.5, 0.0),
            detections=[(2.0, 5.0, 0.8), (10.0, 11.0, 0.1)], ground_truth=[(3.0, 6.0)],
        ))
    return VideoLocalization(video_id=video_id, boundaries_sec=np.linspace(0, 40, num_segments + 1), num_steps=num_steps,
                             segments_per_step=2, score_method="csc", tracks=tracks, missed_classes=["other"])


@pytest.mark.parametrize("num_videos,num_tracks,width", [(1, 2, 1400), (3, 1, 800)])
def test_png_has_the_announced_size(num_videos, num_tracks, width):
    videos = [_video(f"v{i}", num_tracks, seed=i) for i in range(num_videos)]
    png = render_png(videos, width)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == sheet_size_px(videos, width) == (width, num_videos * (TITLE_PX + num_tracks * PANEL_PX))


def test_each_winners_out_step_gets_its_own_colour_in_the_picture():
    from iwo_tf.visualization.localization_figure import step_colors

    colors = step_colors(3)
    png = render_png([_video("v", 1)], 1000)
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3)
    present = {tuple(int(v) for v in p) for p in pixels[:: 7]}
    for color in colors:
        rgb = tuple(int(round(255 * c)) for c in color[:3])
        assert any(sum(abs(a - b) for a, b in zip(rgb, p)) <= 6 for p in present), rgb
