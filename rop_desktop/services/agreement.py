"""Agreement dashboard: how the graders agree with each other, with the reference, and the model.

Every figure comes from :mod:`training.metrics` (torchmetrics underneath); this module only
gathers the submitted grades of the study into aligned label lists and packs the results into
plain, JSON-able dataclasses (:meth:`AgreementReport.to_dict`, :meth:`AgreementReport.to_csv`).

Choices (the tests pin them):

* The level follows the study's vote level (``votes.level``): at image level every submitted
  image grade is a rating of its image; at eye level every confirmed (submitted) eye-level grade
  is a rating of its exam — one eye at one visit, one rating per grader — and the field, pair,
  Fleiss and leave-one-out figures are computed over the exams (:meth:`AgreementService.eye_labels`).
  The report says which (``AgreementReport.level``). The model comparison stays per image: the
  models predict images.
* Labels are the stored enum values. "Not assessable" (``na``) and unanswered fields count as
  *not rated*: an ungradable vote rates the image quality but no ROP / stage / plus / zone.
* Pairwise statistics use the images both graders rated; weighted kappa (linear and quadratic)
  is given for the ordinal fields, in clinical order: stage by ``Stage.severity`` (0 < 1 < 2 <
  3 < 4A < 4B < 5A < 5B < 5C), plus normal < pre-plus < plus, zone III < II < posterior II < I.
* Fleiss' kappa uses the images rated by every grader in the report.
* Leave-one-out: each grader's ROP yes/no against the strict majority of the *other* graders'
  votes. A tie among the others is **left out** by default (``loo_ties="leave_out"``; the
  alternative ``"severe"`` counts a tie as ROP present, the screening-safe reading).
* Model hook: ``model_predictions`` (image id → probability of ROP) is compared with the
  reference standard at ``threshold`` (positive when ``p >= threshold``), and paper A's error
  reduction is computed against each grader on the same images.
"""

from __future__ import annotations

import csv
import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Eye, Plus, Quality, RopPresence, Stage, Zone
from rop_desktop.services.errors import ServiceError
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import Exam, Image

from .exam_reference import exam_references_in, exam_votes, level_in
from .policy import Action, Actor, current, guarded
from .reference import submitted_votes

#: field → grader → one label per rated item (image or exam), None = not rated.
LabelTable = dict[str, dict[str, list[str | None]]]

FIELDS: tuple[str, ...] = ("rop", "stage", "plus", "zone", "quality")


def _by_severity(choices: Iterable[Stage | Plus | Zone]) -> list[str]:
    """The values of the assessable choices, least severe first ("not assessable" has no rank)."""
    ranked: list[tuple[int, str]] = []
    for choice in choices:
        rank = choice.severity
        if rank is not None:
            ranked.append((rank, choice.value))
    return [value for _, value in sorted(ranked)]


#: Category lists, in ordinal (clinical severity) order for the ordinal fields.
CATEGORIES: dict[str, list[str]] = {
    "rop": [RopPresence.NO.value, RopPresence.YES.value],
    "stage": _by_severity(Stage),
    "plus": _by_severity(Plus),
    "zone": _by_severity(Zone),
    "quality": [q.value for q in Quality],
}
ORDINAL: frozenset[str] = frozenset({"stage", "plus", "zone"})
LOO_TIES: tuple[str, ...] = ("leave_out", "severe")
_NOT_RATED = {"na", None}


class AgreementError(ServiceError):
    """Bad dashboard input; ``reason`` says what and how to fix it."""


@dataclass(frozen=True)
class PairAgreement:
    field: str
    grader_a: str
    grader_b: str
    n_items: int  #: images both rated
    percent_agreement: float | None
    kappa: float | None
    kappa_linear: float | None = None  #: ordinal fields only
    kappa_quadratic: float | None = None  #: ordinal fields only


@dataclass(frozen=True)
class FieldAgreement:
    field: str
    ordinal: bool
    categories: list[str]
    pairs: list[PairAgreement]
    fleiss_kappa: float | None
    fleiss_items: int  #: images rated by every grader
    # `dataclasses.field`: the bare name `field` is this class's own attribute above
    notes: list[str] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class GraderPerformance:
    """One grader's ROP yes/no against the majority of the other graders."""

    grader: str
    n_items: int
    tp: int
    fp: int
    tn: int
    fn: int
    sensitivity: float | None
    specificity: float | None
    accuracy: float | None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ModelComparison:
    """The model's ROP calls against the reference standard, and paper A's error reduction."""

    threshold: float
    n_images: int
    sensitivity: float | None
    specificity: float | None
    accuracy: float
    auroc: float | None
    tp: int
    fp: int
    tn: int
    fn: int
    error_reduction: dict[str, float | None]  #: per grader, (grader error − model error) / grader error
    grader_error_rate: dict[str, float]
    model_error_rate: float
    mean_error_reduction: float | None
    notes: list[str] = field(default_factory=list)
    #: Patient-bootstrap 95 % intervals of sensitivity, specificity, accuracy, AUROC (None: undefined).
    ci95: dict[str, tuple[float, float] | None] = field(default_factory=dict)


@dataclass(frozen=True)
class AgreementReport:
    graders: list[str]
    n_images: int  #: images with at least one submitted grade
    fields: list[FieldAgreement]
    leave_one_out: list[GraderPerformance]
    loo_ties: str
    references_by_method: dict[str, int]
    model: ModelComparison | None = None
    #: What a rating is: "image" (``n_images`` counts images) or "eye" (``n_images`` counts exams:
    #: one eye at one visit, rated by each grader's confirmed eye-level grade).
    level: str = "image"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready Python."""
        return dataclasses.asdict(self)

    def for_field(self, name: str) -> FieldAgreement:
        return next(f for f in self.fields if f.field == name)

    def grader(self, name: str) -> GraderPerformance:
        return next(g for g in self.leave_one_out if g.grader == name)

    def rows(self) -> list[dict[str, Any]]:
        """Every figure as one long table: table, field, grader_a, grader_b, statistic, value, n."""
        out: list[dict[str, Any]] = []

        def add(
            table: str, stat: str, value: Any, n: int | None = None, fld: str = "", a: str = "", b: str = ""
        ) -> None:
            out.append(
                {
                    "table": table,
                    "field": fld,
                    "grader_a": a,
                    "grader_b": b,
                    "statistic": stat,
                    "value": "" if value is None else value,
                    "n": "" if n is None else n,
                }
            )

        add("level", "level", self.level, self.n_images)
        for fa in self.fields:
            for p in fa.pairs:
                for stat in ("percent_agreement", "kappa", "kappa_linear", "kappa_quadratic"):
                    if stat.startswith("kappa_") and not fa.ordinal:
                        continue
                    add("pairwise", stat, getattr(p, stat), p.n_items, fa.field, p.grader_a, p.grader_b)
            add("fleiss", "fleiss_kappa", fa.fleiss_kappa, fa.fleiss_items, fa.field)
        for g in self.leave_one_out:
            for stat in ("sensitivity", "specificity", "accuracy", "tp", "fp", "tn", "fn"):
                add("leave_one_out", stat, getattr(g, stat), g.n_items, "rop", g.grader)
        for method, count in sorted(self.references_by_method.items()):
            add("references", method, count)
        if self.model is not None:
            m = self.model
            for stat in (
                "threshold",
                "sensitivity",
                "specificity",
                "accuracy",
                "auroc",
                "model_error_rate",
                "mean_error_reduction",
            ):
                add("model", stat, getattr(m, stat), m.n_images, "rop")
            for name, value in m.error_reduction.items():
                add("error_reduction", "error_reduction", value, None, "rop", name)
                add("error_reduction", "grader_error_rate", m.grader_error_rate[name], None, "rop", name)
        return out

    def to_csv(self, path: str | Path) -> Path:
        """Write :meth:`rows` as a UTF-8 CSV with a header; returns the path."""
        path = Path(path)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(
                handle, fieldnames=["table", "field", "grader_a", "grader_b", "statistic", "value", "n"]
            )
            writer.writeheader()
            writer.writerows(self.rows())
        return path


class AgreementService:
    """Agreement statistics of one study (read only)."""

    def __init__(self, study: Study, actor: Actor) -> None:
        self.study = study
        self.actor = current(study, actor, verb="see the agreement statistics")

    @guarded(Action.AGREEMENT_READ)
    def labels(self) -> tuple[list[int], LabelTable]:
        """(image ids, field → grader → labels aligned with the ids); None = not rated."""
        with self.study.session() as session:
            votes = submitted_votes(session)
        image_ids = sorted(votes)
        return image_ids, _label_table(image_ids, {i: {g: v[1] for g, v in by.items()} for i, by in votes.items()})

    @guarded(Action.AGREEMENT_READ)
    def eye_labels(self) -> tuple[list[tuple[int, Eye]], LabelTable]:
        """:meth:`labels` at eye level: ((exam id, eye) in exam order, field → grader → labels of
        their confirmed eye-level grades aligned with the exams); None = not rated."""
        with self.study.session() as session:
            votes = exam_votes(session)
        keys = sorted(votes, key=lambda k: (k[0], k[1].value))
        return keys, _label_table(keys, votes)

    @guarded(Action.AGREEMENT_READ)
    def dashboard(
        self,
        model_predictions: Mapping[int, float] | None = None,
        threshold: float = 0.5,
        *,
        loo_ties: str = "leave_out",
    ) -> AgreementReport:
        """Every table of the dashboard (see the module documentation for the choices)."""
        if loo_ties not in LOO_TIES:
            raise AgreementError(f"loo_ties must be one of {', '.join(LOO_TIES)}, got {loo_ties!r}")
        with self.study.session() as session:
            level = level_in(session)
        # the figures' ratings: eye-level grades per exam, or image grades; the model needs the images'
        exams, eye_table = self.eye_labels() if level == "eye" else ([], {})
        image_ids, image_table = self.labels() if level == "image" or model_predictions is not None else ([], {})
        n_items, table = (len(exams), eye_table) if level == "eye" else (len(image_ids), image_table)
        graders = list(table["rop"])
        fields = [_field_agreement(f, table[f]) for f in FIELDS] if len(graders) >= 2 else []
        loo = _leave_one_out(table["rop"], loo_ties) if len(graders) >= 2 else []
        with self.study.session() as session:
            references = repo.list_references(session)
            by_method = dict(Counter(r.method for r in references))
            if level == "eye":  # the reference standard the votes make at this level: the exams'
                by_method = dict(Counter(r.method for r in exam_references_in(session).values()))
            reference_rop = {
                r.image_id: _binary(r.rop.value if r.rop else None)
                for r in references
                if r.quality is not Quality.UNGRADABLE
            }
            patients = (
                dict(session.execute(select(Image.id, Exam.patient_id).join(Exam, Image.exam_id == Exam.id)).all())
                if model_predictions is not None
                else {}
            )
        model = None
        if model_predictions is not None:  # per image at either level: the model rates images
            model = _model(model_predictions, threshold, reference_rop, image_ids, image_table["rop"], patients)
        return AgreementReport(graders, n_items, fields, loo, loo_ties, by_method, model, level)


# ---------------------------------------------------------------------------- helpers
def _label_table(items: list[Any], votes: Mapping[Any, Mapping[str, GradeValues]]) -> LabelTable:
    """field → grader → the grader's label of each of ``items`` (None: not rated, or "not assessable")."""
    graders = sorted({name for by in votes.values() for name in by})
    table: LabelTable = {f: {g: [] for g in graders} for f in FIELDS}
    for item in items:
        for grader in graders:
            vote = votes[item].get(grader)
            plain = vote.as_dict() if vote is not None else {}
            for f in FIELDS:
                value = plain.get(f)
                table[f][grader].append(None if value in _NOT_RATED else str(value))
    return table


def _field_agreement(name: str, labels: dict[str, list[str | None]]) -> FieldAgreement:
    # training.metrics loads torch (~2 s): imported when a statistic is computed, not when the window opens
    from training.metrics import cohen_kappa, fleiss_kappa, percent_agreement

    cats = CATEGORIES[name]
    ordinal = name in ORDINAL
    graders = list(labels)
    pairs = []
    for i, a in enumerate(graders):
        for b in graders[i + 1 :]:
            la, lb = labels[a], labels[b]
            n = sum(x is not None and y is not None for x, y in zip(la, lb, strict=True))
            pairs.append(
                PairAgreement(
                    name,
                    a,
                    b,
                    n,
                    percent_agreement(la, lb, cats),
                    cohen_kappa(la, lb, None, cats),
                    cohen_kappa(la, lb, "linear", cats) if ordinal else None,
                    cohen_kappa(la, lb, "quadratic", cats) if ordinal else None,
                )
            )
    complete = [i for i in range(len(labels[graders[0]])) if all(labels[g][i] is not None for g in graders)]
    notes = []
    fleiss = None
    if complete:
        counts = np.zeros((len(complete), len(cats)), np.int64)
        for row, i in enumerate(complete):
            for g in graders:
                label = labels[g][i]
                if label is not None:  # always so in a complete row; narrows the type
                    counts[row, cats.index(label)] += 1
        fleiss = fleiss_kappa(counts)
    else:
        notes.append(f"no image was rated on {name} by all {len(graders)} graders: Fleiss' kappa undefined")
    return FieldAgreement(name, ordinal, list(cats), pairs, fleiss, len(complete), notes)


def _binary(value: str | None) -> int | None:
    return {"yes": 1, "no": 0}.get(value) if value is not None else None


def _leave_one_out(rop: dict[str, list[str | None]], ties: str) -> list[GraderPerformance]:
    from training.metrics import leave_one_out_performance  # loads torch: see _field_agreement

    labels = {g: [_binary(v) for v in values] for g, values in rop.items()}

    def reference(others: list[Any]) -> int | None:
        if not others:
            return None
        yes = sum(others)
        if 2 * yes > len(others):
            return 1
        if 2 * yes < len(others):
            return 0
        return 1 if ties == "severe" else None

    results = leave_one_out_performance(labels, reference, positive={1}, categories=[0, 1])
    return [
        GraderPerformance(g, r.n_items, r.tp, r.fp, r.tn, r.fn, r.sensitivity, r.specificity, r.accuracy, list(r.notes))
        for g, r in results.items()
    ]


def _model(
    predictions: Mapping[int, float],
    threshold: float,
    reference: dict[int, int | None],
    image_ids: list[int],
    rop: dict[str, list[str | None]],
    patients: Mapping[int, int] | None = None,
) -> ModelComparison:
    """The model against the reference at ``threshold``; intervals resample patients (``patients``:
    image id → patient id; an image without one is its own group)."""
    from training.metrics import binary_report, error_reduction  # loads torch: see _field_agreement
    from training.metrics.bootstrap import binary_intervals

    notes = []
    referenced = {i: label for i in predictions if (label := reference.get(i)) is not None}
    scored = sorted(referenced)
    left = len(predictions) - len(scored)
    if left:
        notes.append(f"{left} prediction(s) left out: the image has no ROP yes/no reference")
    if not scored:
        raise AgreementError(
            "no predicted image has a reference standard for ROP presence: run the votes / adjudicate first"
        )
    y_true = [referenced[i] for i in scored]
    y_score = [float(predictions[i]) for i in scored]
    report = binary_report(y_true, y_score, threshold)
    notes += list(report.notes)
    row = {image_id: k for k, image_id in enumerate(image_ids)}
    graders = {g: [_binary(values[row[i]]) if i in row else None for i in scored] for g, values in rop.items()}
    y_model = [int(s >= threshold) for s in y_score]
    reduction = error_reduction(y_true, y_model, graders)
    notes += list(reduction.notes)
    groups = [(patients or {}).get(i, f"image {i}") for i in scored]
    intervals = binary_intervals(y_true, y_score, threshold, groups).intervals
    ci95 = {k: intervals.get(k) for k in ("sensitivity", "specificity", "accuracy", "auroc")}
    return ModelComparison(
        report.threshold,
        report.n,
        report.sensitivity,
        report.specificity,
        report.accuracy,
        report.auroc,
        report.tp,
        report.fp,
        report.tn,
        report.fn,
        {g: c.error_reduction for g, c in reduction.per_grader.items()},
        {g: c.grader_error_rate for g, c in reduction.per_grader.items()},
        reduction.model_error_rate,
        reduction.mean_error_reduction,
        notes,
        ci95,
    )
