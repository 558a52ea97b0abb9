"""The paper's ablations as runs of train.py with config overrides: `python -m iwo_tf.ablations`."""
from iwo_tf.ablation.plan import TABLE_NAMES, AblationTable, ablation_tables
from iwo_tf.ablation.variant import Variant

__all__ = ["TABLE_NAMES", "AblationTable", "Variant", "ablation_tables"]
