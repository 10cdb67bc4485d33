"""The source papers' result tables as text, and reports saved as JSON (+ CSV of the table).

Tables are Markdown (readable in a terminal, pasted as is into a README or a paper draft);
undefined values print as "n/a". CSV files hold the same rows unrounded, for re-analysis.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from training.metrics._common import MetricsInputError, ReportMixin
from training.metrics.binary import BinaryReport
from training.metrics.instance_ap import APReport
from training.metrics.multiclass import MulticlassReport
from training.metrics.segmentation import MaskScores

#: Paper A's columns, in its order, and the BinaryReport field behind each.
PAPER_A_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Precision", "precision"),
    ("Sensitivity", "sensitivity"),
    ("Specificity", "specificity"),
    ("Accuracy", "accuracy"),
    ("F1", "f1"),
)

Table = tuple[list[str], list[list[Any]]]


def _rows_of(rows: Mapping[str, Any], kind: type) -> None:
    if not rows:
        raise MetricsInputError("no rows: give at least one model")
    wrong = [name for name, r in rows.items() if not isinstance(r, kind)]
    if wrong:
        raise MetricsInputError(f"rows {wrong} are not {kind.__name__} objects")


def paper_a_rows(rows: Mapping[str, BinaryReport]) -> Table:
    """Header and rows (model, precision, sensitivity, specificity, accuracy, F1), unrounded."""
    _rows_of(rows, BinaryReport)
    header = ["Model"] + [title for title, _ in PAPER_A_COLUMNS]
    return header, [[name] + [getattr(r, attr) for _, attr in PAPER_A_COLUMNS] for name, r in rows.items()]


def paper_b_rows(rows: Mapping[str, MulticlassReport]) -> Table:
    """Header and rows (model, per class precision/recall/F1, accuracy), unrounded; classes must match."""
    _rows_of(rows, MulticlassReport)
    classes = next(iter(rows.values())).classes
    differ = [name for name, r in rows.items() if r.classes != classes]
    if differ:
        raise MetricsInputError(
            f"rows {differ} have classes other than {list(classes)}: one table needs one class list"
        )
    header = ["Model"] + [f"{c} {m}" for c in classes for m in ("precision", "recall", "F1")] + ["Accuracy"]
    body = [
        [name] + [v for i in range(len(classes)) for v in (r.precision[i], r.recall[i], r.f1[i])] + [r.accuracy]
        for name, r in rows.items()
    ]
    return header, body


def _cell(value: Any, decimals: int) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{decimals}f}"
    return str(value)


def markdown(table: Table, decimals: int = 2) -> str:
    """A Markdown table, numbers rounded to ``decimals``, the first column left-aligned."""
    header, body = table
    cells = [header] + [[_cell(v, decimals) for v in row] for row in body]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for k, row in enumerate(cells):
        padded = [row[0].ljust(widths[0])] + [v.rjust(w) for v, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("| " + " | ".join(padded) + " |")
        if k == 0:
            lines.append(
                "|" + "|".join([":" + "-" * (widths[0] + 1)] + ["-" * (w + 1) + ":" for w in widths[1:]]) + "|"
            )
    return "\n".join(lines) + "\n"


def paper_a_table(rows: Mapping[str, BinaryReport], decimals: int = 2) -> str:
    """Paper A's table: one row per model; Precision, Sensitivity, Specificity, Accuracy, F1."""
    return markdown(paper_a_rows(rows), decimals)


def paper_b_table(rows: Mapping[str, MulticlassReport], decimals: int = 2) -> str:
    """Paper B's table: one row per model; precision/recall/F1 of each stage, then accuracy."""
    return markdown(paper_b_rows(rows), decimals)


def _csv_table(report: Any, name: str) -> Table:
    rows = report if isinstance(report, Mapping) else {name: report}
    first = next(iter(rows.values()), None)
    if isinstance(first, BinaryReport):
        return paper_a_rows(rows)
    if isinstance(first, MulticlassReport):
        return paper_b_rows(rows)
    if isinstance(report, APReport):
        return ["Recall", "Precision"], [
            [r, p] for r, p in zip(report.recall.tolist(), report.precision.tolist(), strict=True)
        ]
    if isinstance(report, MaskScores):
        return ["Image", "Dice", "IoU"], [
            [i, d, j] for i, (d, j) in enumerate(zip(report.dice.tolist(), report.iou.tolist(), strict=True))
        ]
    raise MetricsInputError(f"no CSV table for {type(first if isinstance(report, Mapping) else report).__name__}")


def save_report(
    report: ReportMixin | Mapping[str, ReportMixin],
    path_json: str | Path,
    path_csv: str | Path | None = None,
    name: str = "model",
) -> None:
    """Write a report (or a name → report mapping, the rows of one table) as JSON, and its table as CSV.

    JSON is ``to_dict()`` of each report (numpy arrays as lists, undefined values as null). The
    CSV holds paper A's table for binary reports, paper B's for multi-class ones, the
    precision-recall curve for an :class:`APReport`, per-image scores for :class:`MaskScores`;
    ``name`` labels the row of a single report. Parent folders are created.
    """
    if isinstance(report, Mapping):
        if not report or not all(isinstance(r, ReportMixin) for r in report.values()):
            raise MetricsInputError("save_report needs a report or a non-empty mapping of name → report")
        data: Any = {str(k): r.to_dict() for k, r in report.items()}
    elif isinstance(report, ReportMixin):
        data = report.to_dict()
    else:
        raise MetricsInputError(f"save_report needs a metrics report, got {type(report).__name__}")
    table = _csv_table(report, name) if path_csv is not None else None  # fail before writing anything
    text = json.dumps(data, indent=2, allow_nan=False)
    path_json = Path(path_json)
    path_json.parent.mkdir(parents=True, exist_ok=True)
    path_json.write_text(text + "\n", encoding="utf-8")
    if path_csv is not None and table is not None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(table[0])
        writer.writerows([["" if v is None else v for v in row] for row in table[1]])
        path_csv = Path(path_csv)
        path_csv.parent.mkdir(parents=True, exist_ok=True)
        path_csv.write_text(buffer.getvalue(), encoding="utf-8")
