"""Evaluation and agreement statistics, one module for model evaluation and the app's dashboard.

Built on torchmetrics (and pycocotools for instance-mask AP): this package validates input,
maps labels to indices, marks undefined values as ``None`` with a note, and returns plain
dataclasses (``to_dict()`` for JSON). No Qt, nothing of ``rop_desktop``.
"""

from __future__ import annotations

from training.metrics._common import MetricsInputError
from training.metrics.agreement import (
    RaterPerformance,
    cohen_kappa,
    fleiss_kappa,
    leave_one_out_performance,
    pairwise_kappa,
    percent_agreement,
)
from training.metrics.binary import (
    BinaryRates,
    BinaryReport,
    ErrorReductionReport,
    GraderComparison,
    RocCurve,
    binary_report,
    choose_threshold,
    error_reduction,
)
from training.metrics.instance_ap import APReport, instance_ap
from training.metrics.multiclass import (
    MulticlassReport,
    check_table_consistency,
    multiclass_report,
    report_from_confusion,
)
from training.metrics.operating_point import (
    THRESHOLD_RULES,
    OperatingThreshold,
    choose_operating_threshold,
    threshold_choice_dict,
    tolerance_factor,
)
from training.metrics.segmentation import (
    MASK_THRESHOLDS,
    MaskScores,
    MaskThresholdChoice,
    choose_mask_threshold,
    dice,
    iou,
    mask_scores,
)
from training.metrics.tables import paper_a_table, paper_b_table, save_report

__all__ = [
    "MASK_THRESHOLDS",
    "THRESHOLD_RULES",
    "APReport",
    "BinaryRates",
    "BinaryReport",
    "ErrorReductionReport",
    "GraderComparison",
    "MaskScores",
    "MaskThresholdChoice",
    "MetricsInputError",
    "MulticlassReport",
    "OperatingThreshold",
    "RaterPerformance",
    "RocCurve",
    "binary_report",
    "check_table_consistency",
    "choose_mask_threshold",
    "choose_operating_threshold",
    "choose_threshold",
    "cohen_kappa",
    "dice",
    "error_reduction",
    "fleiss_kappa",
    "instance_ap",
    "iou",
    "leave_one_out_performance",
    "mask_scores",
    "multiclass_report",
    "pairwise_kappa",
    "paper_a_table",
    "paper_b_table",
    "percent_agreement",
    "report_from_confusion",
    "save_report",
    "threshold_choice_dict",
    "tolerance_factor",
]
