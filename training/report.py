"""Evaluation report as one self-contained HTML file: paper-style tables, confusion matrix, ROC and
precision-recall curves, example images with saliency, the dataset snapshot's hash and the model card.

Charts are inline SVG drawn from the curve points; images are PNGs embedded as base64 ``data:``
URIs; no external file, script or style sheet. Callers may append their own sections (the app adds
the graders' agreement statistics). ``rop-train report`` and the app's "Report…" button both end in
:func:`build_report` / :func:`render_html`.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from training.bundle import ModelCard, read_card
from training.data.io import read_rgb
from training.evaluate import EvaluationReport, evaluate_predictor
from training.metrics.bootstrap import format_interval
from training.metrics.tables import paper_a_rows, paper_b_rows
from training.predictor import Predictor
from training.snapshot import Snapshot

#: Examples are shown at most this many pixels on their longer side (keeps the file small).
EXAMPLE_SIDE = 160
CHART_W, CHART_H, MARGIN = 280, 240, 40


class ReportError(ValueError):
    """A report that cannot be made (bad argument, nothing to show); the message says why."""


@dataclass(frozen=True)
class ReportSection:
    """A titled block of trusted HTML appended to the report (e.g. agreement statistics)."""

    title: str
    html: str


@dataclass(frozen=True)
class ReportExample:
    """One evaluated image: the RGB picture, its saliency (classifiers) or line mask (segmenters)."""

    id: str
    rgb: np.ndarray
    overlay: np.ndarray | None  #: float in [0, 1], same height and width as ``rgb``
    reference: str
    predicted: str


# ------------------------------------------------------------------------------- HTML pieces
def esc(value: Any) -> str:
    """HTML-escaped text of ``value``."""
    return html.escape(str(value))


def fmt(value: Any, decimals: int = 3) -> str:
    """A table cell: floats rounded, None as "n/a"."""
    if value is None:
        return "n/a"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{decimals}f}"
    return esc(value)


def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], css: str = "data") -> str:
    """A ``<table>`` with a header row; cells through :func:`fmt`."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table class="{css}" border="1" cellspacing="0" cellpadding="4"><tr>{head}</tr>{body}</table>'


def confusion_table(matrix: np.ndarray, classes: Sequence[str]) -> str:
    """The confusion matrix (rows = reference, columns = predicted), cells shaded by row share."""
    matrix = np.asarray(matrix)
    head = "<th>reference \\ predicted</th>" + "".join(f"<th>{esc(c)}</th>" for c in classes)
    rows = []
    for i, name in enumerate(classes):
        total = max(int(matrix[i].sum()), 1)
        cells = []
        for j in range(len(classes)):
            shade = 255 - int(150 * matrix[i, j] / total)
            cells.append(f'<td align="center" bgcolor="#{shade:02x}{shade:02x}ff">{int(matrix[i, j])}</td>')
        rows.append(f"<tr><th>{esc(name)}</th>{''.join(cells)}</tr>")
    return f'<table class="confusion" border="1" cellspacing="0" cellpadding="6"><tr>{head}</tr>{"".join(rows)}</table>'


def svg_curve(
    title: str,
    x: np.ndarray,
    y: np.ndarray,
    xlabel: str,
    ylabel: str,
    *,
    diagonal: bool = False,
    point: tuple[float, float] | None = None,
) -> str:
    """A line chart on the unit square as inline SVG (axes, ticks at 0/0.5/1, optional chance line)."""
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    if x.size != y.size or x.size == 0:
        raise ReportError(f"{title}: curve needs as many x as y points (got {x.size} and {y.size})")
    pw, ph = CHART_W - MARGIN - 10, CHART_H - MARGIN - 25

    def px(u: float) -> float:
        return MARGIN + u * pw

    def py(v: float) -> float:
        return 25 + (1.0 - v) * ph

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_W}" height="{CHART_H}" '
        f'viewBox="0 0 {CHART_W} {CHART_H}" font-family="sans-serif" font-size="11">',
        f'<rect width="{CHART_W}" height="{CHART_H}" fill="white"/>',
        f'<text x="{CHART_W / 2}" y="15" text-anchor="middle" font-weight="bold">{esc(title)}</text>',
        f'<rect x="{MARGIN}" y="25" width="{pw}" height="{ph}" fill="none" stroke="#444"/>',
    ]
    for t in (0.0, 0.5, 1.0):
        parts.append(f'<text x="{px(t):.1f}" y="{25 + ph + 13}" text-anchor="middle">{t:g}</text>')
        parts.append(f'<text x="{MARGIN - 4}" y="{py(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    parts.append(f'<text x="{px(0.5):.1f}" y="{CHART_H - 4}" text-anchor="middle">{esc(xlabel)}</text>')
    parts.append(
        f'<text x="12" y="{py(0.5):.1f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {py(0.5):.1f})">{esc(ylabel)}</text>'
    )
    if diagonal:
        parts.append(
            f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(1)}" y2="{py(1)}" stroke="#aaa" stroke-dasharray="4 3"/>'
        )
    xs, ys = np.clip(x, 0, 1), np.clip(y, 0, 1)
    points = " ".join(f"{px(u):.1f},{py(v):.1f}" for u, v in zip(xs, ys, strict=True))
    parts.append(f'<polyline points="{points}" fill="none" stroke="#1f5fbf" stroke-width="2"/>')
    if point is not None:
        parts.append(f'<circle cx="{px(point[0]):.1f}" cy="{py(point[1]):.1f}" r="4" fill="#d62728"/>')
    return "".join(parts) + "</svg>"


def png_data_uri(rgb: np.ndarray) -> str:
    """An RGB (or gray) uint8 image as a ``data:image/png;base64,…`` URI."""
    image = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise ReportError("an example image could not be encoded as PNG")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")


def blend(rgb: np.ndarray, overlay: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """``overlay`` (float [0, 1]) as a JET heat map over ``rgb``."""
    heat = cv2.applyColorMap((np.clip(overlay, 0, 1) * 255).astype(np.uint8), cv2.COLORMAP_JET)
    heat = cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(rgb, 1.0 - alpha, heat, alpha, 0.0)


def _small(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = EXAMPLE_SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


# ------------------------------------------------------------------------------- sections
def _curves(report: EvaluationReport) -> str:
    charts: list[str] = []
    b = report.binary
    if b is not None and b.roc is not None:
        point = None
        if b.sensitivity is not None and b.specificity is not None:
            point = (1.0 - b.specificity, b.sensitivity)
        auc = "n/a" if b.auroc is None else f"{b.auroc:.3f}"
        charts.append(
            svg_curve(
                f"ROC (AUROC {auc})", b.roc.fpr, b.roc.tpr, "1 - specificity", "sensitivity", diagonal=True, point=point
            )
        )
    if b is not None and len({r["label"] for r in report.predictions}) == 2:
        import torch
        from torchmetrics.functional.classification import binary_precision_recall_curve

        precision, recall, _ = binary_precision_recall_curve(
            torch.tensor([r["probability"] for r in report.predictions], dtype=torch.float32),
            torch.tensor([r["label"] for r in report.predictions]),
        )
        charts.append(
            svg_curve(
                "Precision-recall",
                recall.numpy(),
                precision.numpy(),
                "recall (sensitivity)",
                "precision",
                point=None if b.precision is None or b.sensitivity is None else (b.sensitivity, b.precision),
            )
        )
    if report.ap is not None and report.ap.ap is not None:
        charts.append(
            svg_curve(
                f"Line masks: precision-recall (AP@{report.ap.iou_threshold:g} {report.ap.ap:.3f})",
                report.ap.recall,
                report.ap.precision,
                "recall",
                "precision",
            )
        )
    return "".join(f'<span class="chart">{c}</span> ' for c in charts)


def threshold_provenance(report: EvaluationReport, card: ModelCard | None) -> str:
    """Where a binary model's operating threshold came from, and where it is applied."""
    b = report.binary
    assert b is not None
    source = card.metrics.get("threshold_source") if card is not None else None
    val_n = (card.metrics.get("validation") or {}).get("n") if card is not None else None
    if card is not None and card.threshold is not None and abs(float(card.threshold) - b.threshold) < 1e-12 and source:
        origin = (
            source
            if source.startswith("default")
            else f"chosen on the {source}"
            if not val_n or str(val_n) in source
            else f"chosen on the {source} ({val_n} images)"
        )
    elif card is not None and card.threshold is None:
        origin = "the default 0.5 (the model card records no threshold chosen on validation data)"
    else:
        origin = "given for this evaluation"
    return (
        f"Operating threshold {b.threshold:.3f}, {origin}; applied to the {b.n} "
        f"{report.split or 'evaluated'} images below."
    )


def _ci_table(report: EvaluationReport) -> str:
    """Every headline figure with its 95 % interval (patient-level bootstrap)."""
    if report.ci is None:
        return ""
    summary = report.summary()
    rows = [
        [key, format_interval(summary.get(key), interval)]
        for key, interval in report.ci.intervals.items()
        if summary.get(key) is not None
    ]
    if report.multiclass is not None:
        m = report.multiclass
        for i, c in enumerate(m.classes):
            for metric, values in (("precision", m.precision), ("recall", m.recall), ("F1", m.f1)):
                name = f"{c} {metric}"
                if name in report.ci.intervals and values[i] is not None:
                    rows.append([name, format_interval(values[i], report.ci.intervals[name])])
    return f"<h3>Confidence intervals</h3><p>{esc(report.ci.describe())}.</p>" + html_table(
        ["Metric", "Value (95 % CI)"], rows
    )


def _warnings(report: EvaluationReport) -> str:
    return "".join(f'<p class="warning"><b>Warning:</b> {esc(w)}</p>' for w in report.warnings)


def _tables(report: EvaluationReport, model_name: str, card: ModelCard | None = None) -> str:
    out: list[str] = [_warnings(report)]
    if report.binary is not None:
        header, rows = paper_a_rows({model_name: report.binary})
        out += [
            "<h3>Binary ROP (paper A's table)</h3>",
            html_table([*header, "AUROC"], [[*rows[0], report.binary.auroc]]),
        ]
        b = report.binary
        out += [
            f"<p>{esc(threshold_provenance(report, card))}</p>",
            confusion_table(np.array([[b.tn, b.fp], [b.fn, b.tp]]), ["no ROP", "ROP"]),
        ]
    if report.multiclass is not None:
        header, rows = paper_b_rows({model_name: report.multiclass})
        m = report.multiclass
        out += [
            "<h3>Stages (paper B's table)</h3>",
            html_table(header, rows),
            f"<p>Macro F1 {fmt(m.macro_f1)}; {m.n} images.</p>",
            "<h3>Confusion matrix</h3>",
            confusion_table(m.confusion, m.classes),
        ]
    if report.masks is not None:
        k = report.masks
        out += [
            "<h3>Line masks</h3>",
            html_table(
                ["Mean Dice", "Mean IoU", "Images", "Both empty"],
                [[k.mean_dice, k.mean_iou, len(k.dice), k.n_both_empty]],
            ),
        ]
    if report.ap is not None:
        out.append(html_table([f"AP@{report.ap.iou_threshold:g}"], [[report.ap.ap]]))
    if report.error_reduction is not None:
        e = report.error_reduction
        rows = [
            [g, c.n_images, c.grader_error_rate, c.model_error_rate, c.error_reduction] for g, c in e.per_grader.items()
        ]
        out += [
            "<h3>Model versus graders (error reduction)</h3>",
            html_table(["Grader", "Images", "Grader error", "Model error", "Error reduction"], rows),
            f"<p>Mean error reduction {fmt(e.mean_error_reduction)}.</p>",
        ]
    out.append(_ci_table(report))
    return "".join(out)


def _examples(examples: Sequence[ReportExample]) -> str:
    cells = []
    for ex in examples:
        shown = _small(ex.rgb)
        pictures = f'<img src="{png_data_uri(shown)}" width="{shown.shape[1]}" height="{shown.shape[0]}"/>'
        if ex.overlay is not None:
            over = _small(blend(ex.rgb, ex.overlay))
            pictures += f' <img src="{png_data_uri(over)}" width="{over.shape[1]}" height="{over.shape[0]}"/>'
        cells.append(
            f"<td>{pictures}<br/><b>{esc(ex.id)}</b><br/>reference: {esc(ex.reference)}"
            f"<br/>model: {esc(ex.predicted)}</td>"
        )
    rows = ["<tr>" + "".join(cells[i : i + 2]) + "</tr>" for i in range(0, len(cells), 2)]
    return f'<table class="examples" cellpadding="6">{"".join(rows)}</table>'


def _card(card: ModelCard, evaluated_hash: str | None = None) -> str:
    rows: list[list[Any]] = [
        ["Name", card.name],
        ["Architecture", f"{card.architecture} {card.model_kwargs}"],
        ["Task", card.task],
        ["Classes", ", ".join(card.classes) or "-"],
        ["Operating threshold", card.threshold],
        ["Threshold chosen on", card.metrics.get("threshold_source") or "-"],
        ["Initial weights", card.pretrained_source or "random initialisation"],
    ]
    if card.snapshot_hash and card.snapshot_hash != evaluated_hash:  # the same snapshot is named once, above
        rows.append(["Trained on another snapshot", card.snapshot_hash])
    rows.append(["Created", card.created])
    rows += [[f"metric: {k}", v] for k, v in card.metrics.items() if not isinstance(v, (list, dict))]
    out = [html_table(["Field", "Value"], rows, css="card")]
    if card.notes:
        out.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in card.notes) + "</ul>")
    versions = ", ".join(f"{k} {v}" for k, v in card.library_versions.items())
    return "".join(out) + f"<p><small>Libraries: {esc(versions)}</small></p>"


STYLE = (
    "body{font-family:sans-serif;margin:24px;color:#222} h1{font-size:20pt} h2{border-bottom:1px solid #888}"
    " table{border-collapse:collapse;margin:6px 0} th{background:#eee} td,th{padding:4px 8px}"
    " .chart{display:inline-block;margin:4px} .warning{background:#fde2e1;border:1px solid #c0392b;padding:6px}"
)
EXAMPLES_TITLE = "Examples, hardest cases first"
EXAMPLES_NOTE = (
    "Mistakes first, then the correct answers the model was least sure of (probability nearest the "
    "threshold); not a random sample."
)


def render_html(
    report: EvaluationReport,
    card: ModelCard,
    *,
    snapshot_hash: str | None,
    examples: Sequence[ReportExample] = (),
    sections: Sequence[ReportSection] = (),
    title: str | None = None,
) -> str:
    """The whole report as one HTML document (UTF-8 text, nothing external)."""
    title = title or f"Evaluation report: {card.name}"
    when = datetime.now(UTC).isoformat(timespec="seconds")
    parts = [
        f'<!DOCTYPE html><html><head><meta charset="utf-8"/><title>{esc(title)}</title>'
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        html_table(
            ["Model", "Task", "Split", "Images", "Dataset snapshot (SHA-256)", "Generated"],
            [[card.name, report.task, report.split or "all", report.n, snapshot_hash or "-", when]],
            css="meta",
        ),
        "<h2>Results</h2>",
        _tables(report, card.name, card),
    ]
    curves = _curves(report)
    if curves:
        parts += ["<h2>Curves</h2>", f"<p>{curves}</p>"]
    if report.notes:
        parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in report.notes) + "</ul>")
    if examples:
        parts += [f"<h2>{EXAMPLES_TITLE}</h2>", f"<p>{EXAMPLES_NOTE}</p>", _examples(examples)]
    for section in sections:
        parts += [f"<h2>{esc(section.title)}</h2>", section.html]
    parts += ["<h2>Model card</h2>", _card(card, snapshot_hash), "</body></html>"]
    return "\n".join(parts)


# ------------------------------------------------------------------------------- building
def pick_examples(predictor: Predictor, snapshot: Snapshot, report: EvaluationReport, n: int) -> list[ReportExample]:
    """Up to ``n`` evaluated images, hardest first (mistakes, then the least certain answers; segmenters:
    the lowest Dice), each with its saliency (or predicted line mask)."""
    if n < 0:
        raise ReportError(f"the number of examples must be 0 or more, got {n}")
    threshold = report.binary.threshold if report.binary is not None else 0.5

    def hardness(row: dict[str, Any]) -> tuple[bool, float]:
        if "dice" in row:
            return False, float(row["dice"])
        if "probability" in row:
            return row.get("label") == row.get("predicted"), abs(float(row["probability"]) - threshold)
        confidence = max((v for k, v in row.items() if k.startswith("p[")), default=1.0)
        return row.get("label") == row.get("predicted"), float(confidence)

    rows = sorted(report.predictions, key=hardness)
    by_id = snapshot.by_id()
    names = list(predictor.classes) or ["no ROP", "ROP"]
    out: list[ReportExample] = []
    for row in rows[:n]:
        if predictor.needs_line_mask and predictor.mask_provider is None:
            break  # a hybrid without its line segmenter cannot explain a single image
        rgb = read_rgb(snapshot.image_path(by_id[row["id"]]))
        pred = predictor.predict(rgb, saliency=predictor.task in ("binary", "multiclass"))
        overlay = (
            pred.saliency
            if pred.saliency is not None
            else ((pred.line_mask > 0).astype(np.float32) if pred.line_mask is not None else None)
        )

        def name(value: Any) -> str:
            return names[value] if isinstance(value, int) and 0 <= value < len(names) else str(value)

        out.append(
            ReportExample(
                row["id"],
                rgb,
                overlay,
                name(row.get("label", "-")),
                str(pred.predicted_class or name(row.get("predicted", "-"))),
            )
        )
    return out


def build_report(
    bundle: str | Path,
    snapshot: Snapshot | str | Path,
    out: str | Path,
    *,
    split: str | None = "test",
    examples: int = 4,
    device: str = "auto",
    line_bundle: str | Path | None = None,
    sections: Sequence[ReportSection] = (),
    title: str | None = None,
) -> tuple[Path, EvaluationReport]:
    """Evaluate ``bundle`` on ``split`` of ``snapshot`` and write the HTML report to ``out``."""
    snap = snapshot if isinstance(snapshot, Snapshot) else Snapshot.load(snapshot)
    predictor = Predictor.hybrid(bundle, line_bundle, device) if line_bundle else Predictor.from_bundle(bundle, device)
    report = evaluate_predictor(predictor, snap, split)
    report.bundle = str(bundle)
    chosen = pick_examples(predictor, snap, report, examples)
    text = render_html(
        report,
        read_card(bundle),
        snapshot_hash=snap.stored_hash or snap.content_hash(),
        examples=chosen,
        sections=sections,
        title=title,
    )
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path, report
