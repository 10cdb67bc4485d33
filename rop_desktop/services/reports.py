"""Evaluation reports of a study's model versions (the Models tab's "Report…").

One use case: export the reference standard as a dataset snapshot, evaluate the chosen model
version on it with :func:`training.report.build_report` (its test split when the version was
trained on this study, else every reference image, said so in the report), add the graders'
agreement statistics from :class:`AgreementService`, and write one HTML file in the study's
``cache/reports/``. The same report as ``rop-train report`` plus the study's own section.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rop_desktop.services.agreement import AgreementReport, AgreementService
from rop_desktop.services.exams import treatment_report_section
from rop_desktop.services.export import ExportError, export_snapshot
from rop_desktop.services.models import ModelService
from rop_desktop.store import Study
from training.evaluate import EvaluationError, EvaluationReport
from training.report import ReportSection, build_report, html_table

from .policy import Action, Actor, current, guarded

#: The snapshot task filter of each app task.
SNAPSHOT_TASK = {"binary": "binary", "stage": "stage3", "segmentation": "segmentation"}
REPORTS_DIR = "reports"


class ReportServiceError(ValueError):
    """A report that cannot be made for this study; the message is for the user."""


@dataclass(frozen=True)
class WrittenReport:
    html: Path
    evaluation: EvaluationReport
    agreement: AgreementReport


def agreement_section(report: AgreementReport) -> ReportSection:
    """The graders' agreement statistics as a report section (Fleiss' kappa, leave-one-out, references)."""
    if len(report.graders) < 2:
        body = f"<p>{len(report.graders)} grader(s): agreement needs at least two.</p>"
    else:
        fleiss = html_table(
            ["Field", "Fleiss' kappa", "Images rated by all"],
            [[f.field, f.fleiss_kappa, f.fleiss_items] for f in report.fields],
        )
        pairs = html_table(
            ["Field", "Grader A", "Grader B", "Images", "% agreement", "Cohen's kappa"],
            [
                [p.field, p.grader_a, p.grader_b, p.n_items, p.percent_agreement, p.kappa]
                for f in report.fields
                if f.field == "rop"
                for p in f.pairs
            ],
        )
        loo = html_table(
            ["Grader", "Images", "Sensitivity", "Specificity", "Accuracy"],
            [[g.grader, g.n_items, g.sensitivity, g.specificity, g.accuracy] for g in report.leave_one_out],
        )
        body = (
            f"<p>{len(report.graders)} graders, {report.n_images} graded images.</p>{fleiss}"
            f"<h3>ROP yes/no, pairs of graders</h3>{pairs}"
            f"<h3>Each grader against the majority of the others (ROP yes/no)</h3>{loo}"
        )
    methods = html_table(["Reference method", "Images"], sorted(report.references_by_method.items()))
    return ReportSection("Agreement between graders", body + f"<h3>Reference standard</h3>{methods}")


class ReportService:
    """Writes evaluation reports of the study's model versions."""

    def __init__(self, study: Study, actor: Actor, *, device: str = "auto") -> None:
        self.study, self.device = study, device
        self.actor = current(study, actor, verb="write evaluation reports")

    @guarded(Action.MODELS_MANAGE)
    def reports_dir(self) -> Path:
        """``cache/reports/`` of the study (created)."""
        folder = self.study.cache_path(REPORTS_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @guarded(Action.MODELS_MANAGE)
    def write(self, version_id: int, *, examples: int = 4) -> WrittenReport:
        """Evaluate version ``version_id`` on the reference standard and write its HTML report."""
        version = next((v for v in ModelService(self.study, self.actor).versions() if v.id == version_id), None)
        if version is None:
            raise ReportServiceError(f"there is no model version #{version_id} in this study")
        agreement = AgreementService(self.study, self.actor).dashboard()
        sections = [agreement_section(agreement), treatment_report_section(self.study, self.actor)]
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = self.reports_dir() / f"model-{version_id}-{stamp}.html"
        work = Path(tempfile.mkdtemp(prefix="report-", dir=self.reports_dir()))
        try:
            snapshot = export_snapshot(
                self.study,
                self.actor,
                work / "snapshot",
                task_filter=SNAPSHOT_TASK[version.task],
                description=f"report of model version #{version_id}",
            )
            title = f"Evaluation report: {version.name} (version #{version_id})"
            try:
                _, evaluation = build_report(
                    version.bundle_dir,
                    snapshot,
                    out,
                    split="test",
                    examples=examples,
                    device=self.device,
                    sections=sections,
                    title=title,
                )
            except EvaluationError:  # not trained on this study's splits: every reference image
                note = ReportSection(
                    "Note",
                    "<p>No test split of this study is known to the model: it is "
                    "evaluated on every reference image, which may include its training "
                    "images.</p>",
                )
                _, evaluation = build_report(
                    version.bundle_dir,
                    snapshot,
                    out,
                    split=None,
                    examples=examples,
                    device=self.device,
                    sections=[note, *sections],
                    title=title,
                )
        except (EvaluationError, ExportError) as exc:
            raise ReportServiceError(f"model version #{version_id} cannot be evaluated: {exc}") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return WrittenReport(out, evaluation, agreement)
