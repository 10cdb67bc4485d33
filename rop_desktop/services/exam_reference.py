"""The eye-level reference standard: graders' confirmed eye-level grades vote per exam.

Which level votes is a study setting (``services.exams.VOTE_LEVEL_KEY``): "image" (the papers'
protocol, ``services.reference``) or "eye" (the clinical protocol, here). At eye level, the
*submitted* eye-level grades of one eye at one visit (an exam, ``ExamKey``) are settled by the
same rules as an image's votes (``domain.votes.settle_votes`` with the study's
:class:`~rop_desktop.domain.votes.VoteSettings`: quorum, tie rule, voted and required fields; the
"hospital" tie rule reads the hospital diagnosis recorded with the exam's images) plus the two
eye-level fields ETROP needs:

* **A-ROP** by majority of the gradable votes (unanswered counts as "no"); a tie goes to the
  adjudicator, or to "yes" under the "severe" tie rule;
* **extent** (clock hours) as the median of the answers (the lower middle one).

The result is one ``exam_references`` row per exam (migration 0009), kept in step with the
votes exactly as image references are: created, updated, withdrawn when the votes no longer
settle; an adjudicator's decision is never overwritten by the votes. Every change is an audit
event (entity ``"exam_reference"``).

When it settles: in the transaction of the confirm (:func:`settle_exams_in`, called by
``ExamService.submit`` and by amendments of a submitted grade) — when the grader may see the
exam's eye-level work (adjudicators, admins; a grader in an unblinded study, or once they have
submitted their own eye-level grade and every image of the exam in a study that reveals after
submitting; the database enforces the same on PostgreSQL). A confirm that may not see it leaves
the exam to the next one that may, or to *Recompute votes* (:func:`settle_exams`, which the
whole-study recompute of ``services.reference`` runs too).

:class:`ExamReferenceService` is the adjudicator's side: the exams the votes did not settle
(:meth:`~ExamReferenceService.queue`, paged like the image queue), one exam's votes
(:meth:`~ExamReferenceService.case`) and the decision (:meth:`~ExamReferenceService.adjudicate`,
version-checked).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from rop_desktop.domain.etrop import Classification, check_eye_grade, classify
from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Eye, Quality
from rop_desktop.domain.votes import METHODS, VoteOutcome, VoteSettings, settle_votes
from rop_desktop.services.errors import ServiceError
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import Exam, ExamGrade, ExamReference, Grade, Grader, Image, Patient
from rop_desktop.store.types import utcnow

from .importer import thumbnail_file
from .policy import BLINDED_SETTING, REVEAL_SETTING, Action, Actor, current, guarded, open_operation
from .vote_settings import vote_settings_in

VOTE_LEVEL_KEY = "votes.level"
VOTE_LEVELS = ("image", "eye")
#: Exams settled per transaction by a whole-study recompute.
SETTLE_STEP = 500
#: Rows of an eye-level queue page.
QUEUE_PAGE = 100
_VOTE_METHODS = frozenset(METHODS)


class ExamAdjudicationError(ServiceError):
    """An eye-level decision that cannot be made; ``reason`` is a sentence for the user."""


class ExamReferenceConflict(ExamAdjudicationError):
    """Someone settled the exam since it was opened; ``current`` is the state now."""

    def __init__(self, reason: str, current: ExamReferenceState | None) -> None:
        super().__init__(reason)
        self.current = current


@dataclass(frozen=True)
class ExamReferenceState:
    """An exam's eye-level reference as stored."""

    exam_id: int
    eye: Eye
    values: GradeValues
    method: str
    detail: dict[str, Any]
    decided_by: str | None  # None: the votes
    decided_at: datetime
    version: int

    @property
    def classification(self) -> Classification:
        return classify(self.values)

    def as_dict(self) -> dict[str, Any]:
        return {
            "exam_id": self.exam_id,
            "eye": self.eye.value,
            "values": self.values.as_dict(),
            "method": self.method,
            "decided_by": self.decided_by,
            "version": self.version,
        }


@dataclass
class ExamSettleSummary:
    """What a settling did, as lists of (exam id, eye)."""

    examined: int = 0
    created: list[tuple[int, Eye]] = field(default_factory=list)
    updated: list[tuple[int, Eye]] = field(default_factory=list)
    unchanged: list[tuple[int, Eye]] = field(default_factory=list)
    withdrawn: list[tuple[int, Eye]] = field(default_factory=list)
    needs_adjudication: list[tuple[int, Eye]] = field(default_factory=list)
    insufficient: list[tuple[int, Eye]] = field(default_factory=list)
    kept_decisions: list[tuple[int, Eye]] = field(default_factory=list)


@dataclass(frozen=True)
class ExamQueueItem:
    """One exam whose eye-level votes did not settle."""

    exam_id: int
    eye: Eye
    patient: str
    exam_date: date | None
    status: str  # "needs_adjudication" | "insufficient"
    n_votes: int
    reasons: tuple[str, ...]
    image_ids: tuple[int, ...]
    #: field → answer → votes, as :class:`~rop_desktop.domain.votes.VoteOutcome` counts them
    tally: dict[str, dict[str, int]] = field(default_factory=dict)
    #: treatment class value → graders whose eye-level grade puts the eye in it
    classes: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CaseImage:
    """One image of an exam as the adjudicator's strip shows it (its cached thumbnail, if any)."""

    image_id: int
    name: str
    thumbnail: Path | None
    status: str = ""  # the strip's mark: none here (no grader's own status)


@dataclass(frozen=True)
class ExamCase:
    """One exam for the adjudicator: every grader's submitted eye-level grade and the outcome."""

    exam_id: int
    eye: Eye
    patient: str
    exam_date: date | None
    votes: dict[str, GradeValues]
    outcome: VoteOutcome
    reference: ExamReferenceState | None
    image_ids: tuple[int, ...]
    images: tuple[CaseImage, ...] = ()

    @property
    def version(self) -> int:
        return self.reference.version if self.reference is not None else 0


# ---------------------------------------------------------------------------- the setting
def level_in(session: Session) -> str:
    """The study's vote level read inside an open session ("image" unless set to "eye")."""
    level = repo.get_setting(session, VOTE_LEVEL_KEY, "image")
    return level if level in VOTE_LEVELS else "image"


def _settings_in(session: Session) -> VoteSettings:

    return vote_settings_in(session)


# ---------------------------------------------------------------------------- votes
def exam_votes(
    session: Session, keys: Iterable[tuple[int, Eye]] | None = None
) -> dict[tuple[int, Eye], dict[str, GradeValues]]:
    """(exam id, eye) → grader name → submitted eye-level grade; one query."""
    stmt = (
        select(ExamGrade, Grader.name)
        .join(Grader, Grader.id == ExamGrade.grader_id)
        .where(ExamGrade.submitted.is_(True))
    )
    wanted = None if keys is None else set(keys)
    if wanted is not None:
        stmt = stmt.where(ExamGrade.exam_id.in_(sorted({k[0] for k in wanted})))
    out: dict[tuple[int, Eye], dict[str, GradeValues]] = defaultdict(dict)
    for row, name in session.execute(stmt):
        key = (row.exam_id, row.eye)
        if wanted is None or key in wanted:
            out[key][name] = row.values
    return out


def _hospital(session: Session, keys: Sequence[tuple[int, Eye]]) -> dict[tuple[int, Eye], str]:
    """The hospital diagnosis recorded with each exam's images (the first one stated)."""
    if not keys:
        return {}
    out: dict[tuple[int, Eye], str] = {}
    rows = session.execute(
        select(Image.exam_id, Image.eye, Image.hospital_diagnosis)
        .where(Image.exam_id.in_(sorted({k[0] for k in keys})), Image.hospital_diagnosis.is_not(None))
        .order_by(Image.id)
    )
    for exam_id, eye, text in rows:
        if text and eye is not None and (exam_id, eye) not in out:
            out[(exam_id, eye)] = text
    return out


def settle_eye(votes: dict[str, GradeValues], settings: VoteSettings, hospital: str | None = None) -> VoteOutcome:
    """The outcome of one exam's submitted eye-level grades (see the module docstring)."""
    outcome = settle_votes(votes, settings, hospital if settings.tie_rule == "hospital" else None)
    if not outcome.settled or outcome.reference is None or outcome.reference.quality is Quality.UNGRADABLE:
        return outcome
    gradable = [v for v in votes.values() if v.quality is not Quality.UNGRADABLE]
    yes = sum(bool(v.arop) for v in gradable)
    answered = [v.arop for v in gradable if v.arop is not None]
    reasons = list(outcome.reasons)
    if 2 * yes > len(gradable):
        arop: bool | None = True
    elif 2 * yes < len(gradable):
        arop = False if answered else None
    elif settings.tie_rule == "severe":
        arop = True
        reasons.append(f"{yes}–{len(gradable) - yes} tie on A-ROP; tie rule: the more severe (A-ROP)")
    else:
        reasons.append(f"{yes}–{len(gradable) - yes} tie on A-ROP (yes vs no); tie rule: adjudicate")
        return VoteOutcome(
            "needs_adjudication",
            None,
            None,
            {**outcome.tally, "arop": {"yes": yes, "no": len(gradable) - yes}},
            tuple(reasons),
            outcome.dissenters,
            outcome.fields,
        )
    extents = [v.extent_clock_hours for v in gradable if v.extent_clock_hours is not None]
    extent = statistics.median_low(extents) if extents else None
    reference = outcome.reference.with_(arop=arop, extent_clock_hours=extent)
    dissenters = tuple(
        dict.fromkeys(
            [
                *outcome.dissenters,
                *(n for n, v in votes.items() if v.quality is not Quality.UNGRADABLE and bool(v.arop) != bool(arop)),
            ]
        )
    )
    tally = {**outcome.tally, "arop": {"yes": yes, "no": len(gradable) - yes}}
    return VoteOutcome(outcome.status, reference, outcome.method, tally, tuple(reasons), dissenters, outcome.fields)


# ---------------------------------------------------------------------------- settling
def may_settle(session: Session, actor: Actor, exam_id: int, eye: Eye) -> bool:
    """Whether ``actor``'s transaction may write the exam's vote reference: they may see the
    exam's eye-level work (the rule migration 0009 enforces on PostgreSQL)."""
    if actor.elevated or not bool(repo.get_setting(session, BLINDED_SETTING, True)):
        return True
    if not bool(repo.get_setting(session, REVEAL_SETTING, True)):
        return False
    own = session.scalar(
        select(ExamGrade.submitted).where(
            ExamGrade.exam_id == exam_id, ExamGrade.eye == eye, ExamGrade.grader_id == actor.id
        )
    )
    if not own:
        return False
    images = select(Image.id).where(Image.exam_id == exam_id, Image.eye == eye)
    done = select(Grade.image_id).where(Grade.grader_id == actor.id, Grade.submitted.is_(True))
    left = session.scalar(select(func.count()).select_from(Image).where(Image.id.in_(images), Image.id.not_in(done)))
    return not left


def settle_exams_in(
    session: Session,
    keys: Sequence[tuple[int, Eye]],
    *,
    actor_id: int | None = None,
    settings: VoteSettings | None = None,
) -> ExamSettleSummary:
    """Settle these exams from their submitted eye-level grades inside ``session`` (the caller's
    transaction); a human decision is kept. Does nothing unless the study votes at eye level."""
    summary = ExamSettleSummary()
    if not keys or level_in(session) != "eye":
        return summary
    settings = settings or _settings_in(session)
    keys = sorted(set(keys), key=lambda k: (k[0], k[1].value))
    votes = exam_votes(session, keys)
    hospital = _hospital(session, keys) if settings.tie_rule == "hospital" else {}
    refs = {
        (r.exam_id, r.eye): r
        for r in session.scalars(select(ExamReference).where(ExamReference.exam_id.in_(sorted({k[0] for k in keys}))))
    }
    names = _names(session)
    for key in keys:
        summary.examined += 1
        ref = refs.get(key)
        if ref is not None and ref.method not in _VOTE_METHODS:
            summary.kept_decisions.append(key)
            continue
        outcome = settle_eye(votes.get(key, {}), settings, hospital.get(key))
        if not outcome.settled or outcome.reference is None:
            (summary.needs_adjudication if outcome.status == "needs_adjudication" else summary.insufficient).append(key)
            if ref is not None:
                withdrawn = _state(ref, names).as_dict()
                session.delete(ref)
                session.flush()
                repo.add_audit(session, "exam_reference", ref.id, "withdraw", grader=actor_id, before=withdrawn)
                summary.withdrawn.append(key)
            continue
        detail = outcome.as_detail()
        if ref is not None and (ref.values, ref.method, ref.detail) == (outcome.reference, outcome.method, detail):
            summary.unchanged.append(key)
            continue
        before = _state(ref, names).as_dict() if ref is not None else None
        ref = _write(session, key, outcome.reference, str(outcome.method), detail, None, ref)
        repo.add_audit(
            session,
            "exam_reference",
            ref.id,
            "update" if before else "create",
            grader=actor_id,
            before=before,
            after=_state(ref, names).as_dict(),
        )
        (summary.updated if before else summary.created).append(key)
    return summary


@open_operation(
    "the system settles exams from their submitted eye-level grades under the study's rules: what "
    "a confirm triggers anyway; it never touches a human decision"
)
def settle_exams(
    study: Study, keys: Sequence[tuple[int, Eye]] | None = None, *, actor_id: int | None = None
) -> ExamSettleSummary:
    """Settle the exams (all with eye-level grades, or ``keys``) in steps of :data:`SETTLE_STEP`,
    one transaction each. Run by *Recompute votes* and when the vote level becomes "eye"."""
    summary = ExamSettleSummary()
    with study.session() as session:
        if level_in(session) != "eye":
            return summary
        if keys is None:
            keys = [
                (e, eye)
                for e, eye in session.execute(
                    select(ExamGrade.exam_id, ExamGrade.eye).distinct().order_by(ExamGrade.exam_id, ExamGrade.eye)
                )
            ]
            keys += [(r.exam_id, r.eye) for r in session.scalars(select(ExamReference))]
    wanted = sorted(set(keys), key=lambda k: (k[0], k[1].value))
    for start in range(0, len(wanted), SETTLE_STEP):
        with study.session() as session:
            part = settle_exams_in(session, wanted[start : start + SETTLE_STEP], actor_id=actor_id)
        for name, value in vars(part).items():
            if isinstance(value, list):
                getattr(summary, name).extend(value)
        summary.examined += part.examined
    return summary


def _write(
    session: Session,
    key: tuple[int, Eye],
    values: GradeValues,
    method: str,
    detail: dict[str, Any],
    decided_by: int | None,
    ref: ExamReference | None,
) -> ExamReference:
    if ref is None:
        ref = ExamReference(exam_id=key[0], eye=key[1])
        session.add(ref)
    ref.set_values(values)
    ref.method, ref.detail, ref.decided_by, ref.decided_at = method, detail, decided_by, utcnow()
    session.flush()
    return ref


def _names(session: Session) -> dict[int, str]:
    return {grader_id: name for grader_id, name in session.execute(select(Grader.id, Grader.name))}


def _state(ref: ExamReference, names: dict[int, str]) -> ExamReferenceState:
    return ExamReferenceState(
        ref.exam_id,
        ref.eye,
        ref.values,
        ref.method,
        dict(ref.detail or {}),
        names.get(ref.decided_by) if ref.decided_by is not None else None,
        ref.decided_at,
        ref.version_id,
    )


def exam_references_in(
    session: Session, exam_ids: Iterable[int] | None = None
) -> dict[tuple[int, Eye], ExamReferenceState]:
    """The stored eye-level references (of ``exam_ids``, or all), by (exam id, eye)."""
    stmt = select(ExamReference)
    if exam_ids is not None:
        stmt = stmt.where(ExamReference.exam_id.in_(sorted(set(exam_ids))))
    names = _names(session)
    return {(r.exam_id, r.eye): _state(r, names) for r in session.scalars(stmt)}


# ---------------------------------------------------------------------------- the adjudicator's side
class ExamReferenceService:
    """What an adjudicator (or admin) does with the eye-level reference standard."""

    def __init__(self, study: Study, actor: Actor) -> None:
        self.study = study
        self.actor = current(study, actor, verb="work on the eye-level reference standard")
        self._seen: dict[tuple[int, Eye], int] = {}

    @guarded(Action.REFERENCE_READ)
    def queue(self, *, after: tuple[int, str] | None = None, limit: int | None = QUEUE_PAGE) -> list[ExamQueueItem]:
        """Exams whose eye-level votes need an adjudicator (no reference yet, the quorum reached),
        in exam order, the ``limit`` first after ``after`` ((exam id, eye value))."""
        return self._unsettled("needs_adjudication", after, limit)

    @guarded(Action.REFERENCE_READ)
    def insufficient(
        self, *, after: tuple[int, str] | None = None, limit: int | None = QUEUE_PAGE
    ) -> list[ExamQueueItem]:
        """Exams with fewer submitted eye-level grades than the quorum (no reference yet)."""
        return self._unsettled("insufficient", after, limit)

    def _unsettled(self, status: str, after: tuple[int, str] | None, limit: int | None) -> list[ExamQueueItem]:
        """One page: exams without a reference by their count of submitted eye-level grades (one
        grouped query over the ``exam_grades`` unique index), then each one's votes settled again
        for its reasons (only the page's)."""
        with self.study.session() as session:
            settings = _settings_in(session)
            votes_n = func.count(ExamGrade.id)
            stmt = (
                select(ExamGrade.exam_id, ExamGrade.eye, votes_n)
                .outerjoin(
                    ExamReference, and_(ExamReference.exam_id == ExamGrade.exam_id, ExamReference.eye == ExamGrade.eye)
                )
                .where(ExamGrade.submitted.is_(True), ExamReference.id.is_(None))
                .group_by(ExamGrade.exam_id, ExamGrade.eye)
                .order_by(ExamGrade.exam_id, ExamGrade.eye)
            )
            stmt = stmt.having(
                votes_n >= settings.quorum if status == "needs_adjudication" else votes_n < settings.quorum
            )
            if after is not None:
                stmt = stmt.where(
                    (ExamGrade.exam_id > after[0]) | and_(ExamGrade.exam_id == after[0], ExamGrade.eye > Eye(after[1]))
                )
            keys = [(e, eye) for e, eye, _n in session.execute(stmt.limit(limit))]
            votes = exam_votes(session, keys)
            hospital = _hospital(session, keys)
            headers = self._headers(session, keys)
        items = []
        for key in keys:
            outcome = settle_eye(votes.get(key, {}), settings, hospital.get(key))
            if outcome.status != status:
                continue  # settled by the votes but not stored (a confirm that could not see it): Recompute
            patient, when, images = headers[key]
            classes = Counter(classify(v).klass.value for v in votes.get(key, {}).values())
            items.append(
                ExamQueueItem(
                    key[0],
                    key[1],
                    patient,
                    when,
                    status,
                    len(votes.get(key, {})),
                    outcome.reasons,
                    images,
                    dict(outcome.tally),
                    dict(classes),
                )
            )
        return items

    @staticmethod
    def _headers(
        session: Session, keys: Sequence[tuple[int, Eye]]
    ) -> dict[tuple[int, Eye], tuple[str, date | None, tuple[int, ...]]]:
        if not keys:
            return {}
        exams = {
            e.id: (code, e.exam_date)
            for e, code in session.execute(
                select(Exam, Patient.code)
                .join(Patient, Patient.id == Exam.patient_id)
                .where(Exam.id.in_(sorted({k[0] for k in keys})))
            )
        }
        images: dict[tuple[int, Eye], list[int]] = defaultdict(list)
        for image_id, exam_id, eye in session.execute(
            select(Image.id, Image.exam_id, Image.eye)
            .where(Image.exam_id.in_(sorted({k[0] for k in keys})))
            .order_by(Image.original_name, Image.id)
        ):
            if eye is not None:  # an image without an eye belongs to no eye's visit
                images[(exam_id, eye)].append(image_id)
        return {k: (*exams[k[0]], tuple(images[k])) for k in keys}

    @guarded(Action.REFERENCE_READ)
    def case(self, exam_id: int, eye: Eye) -> ExamCase:
        """Every grader's submitted eye-level grade of the exam, the vote outcome and the reference."""
        key = (exam_id, eye)
        with self.study.session() as session:
            headers = self._headers(session, [key])
            if not headers[key][2]:
                raise ExamAdjudicationError("This exam has no images of that eye.")
            votes = exam_votes(session, [key]).get(key, {})
            outcome = settle_eye(votes, _settings_in(session), _hospital(session, [key]).get(key))
            reference = exam_references_in(session, [exam_id]).get(key)
            strip = self._strip(session, headers[key][2])
        patient, when, images = headers[key]
        case = ExamCase(exam_id, eye, patient, when, dict(sorted(votes.items())), outcome, reference, images, strip)
        self._seen[key] = case.version
        return case

    def _strip(self, session: Session, image_ids: Sequence[int]) -> tuple[CaseImage, ...]:
        """The exam's images in strip order, with their cached thumbnails."""
        rows = {i.id: i for i in session.scalars(select(Image).where(Image.id.in_(image_ids)))}
        return tuple(
            CaseImage(i, rows[i].original_name, self.study.cache_path(thumbnail_file(rows[i].sha256)))
            for i in image_ids
        )

    @guarded(Action.REFERENCE_DECIDE)
    def adjudicate(
        self, exam_id: int, eye: Eye, values: GradeValues, *, comment: str = "", expected_version: int | None = None
    ) -> ExamReferenceState:
        """Decide the exam's eye-level reference by hand. ``expected_version`` (default: the one
        :meth:`case` showed; 0 = none) guards against a decision made meanwhile elsewhere
        (:class:`ExamReferenceConflict`); a grade with errors is refused."""
        key = (exam_id, eye)
        errors = [i.message for i in check_eye_grade(values) if i.severity == "error"]
        if errors:
            raise ExamAdjudicationError("Cannot settle the eye-level reference: " + " ".join(errors))
        if comment:
            values = values.with_(comment=comment)
        expected = expected_version if expected_version is not None else self._seen.get(key)
        try:
            with self.study.session() as session:
                if not session.scalar(
                    select(func.count()).select_from(Image).where(Image.exam_id == exam_id, Image.eye == eye)
                ):
                    raise ExamAdjudicationError("This exam has no images of that eye.")
                names = _names(session)
                ref = session.scalar(
                    select(ExamReference).where(ExamReference.exam_id == exam_id, ExamReference.eye == eye)
                )
                before = _state(ref, names) if ref is not None else None
                if expected is not None and expected != (before.version if before else 0):
                    raise ExamReferenceConflict(
                        "The eye-level reference of this exam changed since you opened it; review it and decide again.",
                        before,
                    )
                votes = exam_votes(session, [key]).get(key, {})
                detail = {
                    "comment": comment,
                    "votes_at_decision": {n: v.as_dict() for n, v in votes.items()},
                    "vote_outcome": settle_eye(votes, _settings_in(session)).as_detail(),
                    "replaced": before.method if before else None,
                }
                ref = _write(session, key, values, "adjudicated", detail, self.actor.id, ref)
                state = _state(ref, names)
                repo.add_audit(
                    session,
                    "exam_reference",
                    ref.id,
                    "adjudicate",
                    grader=self.actor.id,
                    before=before.as_dict() if before else None,
                    after=state.as_dict(),
                )
        except (StaleDataError, IntegrityError):
            with self.study.session() as session:
                now = exam_references_in(session, [exam_id]).get(key)
            raise ExamReferenceConflict(
                "Another adjudicator settled this exam at the same moment; review their decision.", now
            ) from None
        self._seen[key] = state.version
        return state

    @guarded(Action.REFERENCE_DECIDE)
    def recompute(self) -> ExamSettleSummary:
        """Settle every exam again from its submitted eye-level grades (decisions are kept)."""
        return settle_exams(self.study, actor_id=self.actor.id)


__all__ = [
    "CaseImage",
    "ExamAdjudicationError",
    "ExamCase",
    "ExamQueueItem",
    "ExamReferenceConflict",
    "ExamReferenceService",
    "ExamReferenceState",
    "ExamSettleSummary",
    "exam_references_in",
    "exam_votes",
    "level_in",
    "may_settle",
    "settle_exams",
    "settle_exams_in",
    "settle_eye",
]
