"""Pictures of what a trained IWO model localized (the paper's Figs. 6-7): `python -m iwo_tf.visualize`."""
from iwo_tf.visualization.class_track import ClassTrack
from iwo_tf.visualization.localization_figure import render_png, sheet_size_px
from iwo_tf.visualization.video_localization import VideoLocalization, localize_for_display

__all__ = ["ClassTrack", "VideoLocalization", "localize_for_display", "render_png", "sheet_size_px"]
