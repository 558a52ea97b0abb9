"""Winners-out: selection (Algorithms 1 and 2, in-graph) and post-processing (Eq. 11)."""
from iwo_tf.winners_out.localize import Detections, Localization, detections_to_results, localize
from iwo_tf.winners_out.proposals import (
    Proposals,
    proposals_from_selection,
    proposals_to_seconds,
    segment_boundaries_sec,
)
from iwo_tf.winners_out.select import WinnersOutSelection, remove_winners, select_top_p, winners_out_select
from iwo_tf.winners_out.incremental import prepare_streams, video_class_scores_from_sums, winners_out_select_incremental
from iwo_tf.winners_out.localize_incremental import localize_incremental
