"""The reference standard of a study: votes settle what they can, an adjudicator the rest.

* :func:`recompute_references` settles every image from its graders' *submitted* grades with
  :func:`~rop_desktop.domain.votes.settle_votes` and the study's :class:`VoteSettings`, and keeps
  the ``reference_standard`` rows in step: created, updated, or withdrawn when the votes no
  longer settle (a grade was amended). A human decision (method ``"adjudicated"`` or
  ``"imported"``) is never overwritten; when the votes under an adjudicated image have changed
  since it was decided, the image is reported. Every change is an audit event.
* Settling is incremental: a submit or amendment settles its own image (a few indexed reads and
  at most one write); a whole-study recompute (after the vote rules change) walks the study in
  steps of :data:`RECOMPUTE_STEP` images, one transaction each, reporting progress
  (:meth:`ReferenceService.recompute_steps`, run in a worker by the window).
* :class:`ReferenceService` is the adjudicator's desk: the queue, one case with every grader's
  grade and polygons, the consensus geometry, and :meth:`ReferenceService.adjudicate`.

The queue is a query, not a scan: the transaction that settles an image also stores where it
stands — ``images.queue_status``: "needs_adjudication" (quorum reached, the votes disagree),
"insufficient" (too few votes) or NULL (a reference settles it; a decision clears it through
``repo.set_reference``) — and a partial index holds only the open images (``store.repo.queue``).
A page of the queue, and its counts, cost the same at any study size; its tallies and reasons are
computed for the page's images only. (On PostgreSQL a grader's workstation stores the status
only where it may see the image's other votes, as for the reference itself; in a study that
never reveals them, "Recompute votes" brings the queue up to date.)

Concurrency: the reference row carries a version (``Reference.version_id``; 0 = no row). An
adjudication names the version it was decided on (by default the one :meth:`~ReferenceService.case`
showed); when another adjudicator settled the image meanwhile, :class:`ConflictError` carries the
current state instead of silently overwriting it. The database checks the version again on
write (SQLAlchemy's version counter), so two workstations racing on one image cannot both win.

Reference geometry: ``detail["geometry"]`` of an adjudicated reference is
``{"source": "grader", "grader": name}`` (that grader's polygons are the reference outline) or
``{"source": "consensus", "rule": "majority" | "union" | "intersection" | None}`` (None: the
export's default rule, as for vote references). :func:`geometry_choice` reads it back.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from typing import Any

from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from rop_desktop.domain.consensus import RULES, agreement_iou, consensus_geometry
from rop_desktop.domain.grades import GradeValues, check_grade
from rop_desktop.domain.labels import Eye, LesionType, Quality, Role, Stage
from rop_desktop.domain.shapes import Shape, as_ring
from rop_desktop.domain.votes import (
    METHODS,
    HospitalDiagnosis,
    VoteOutcome,
    VoteSettings,
    parse_hospital_diagnosis,
    settle_votes,
)
from rop_desktop.services.errors import ServiceError
from rop_desktop.store import Study, repo
from rop_desktop.store.repo import queue as queues
from rop_desktop.store.schema import Annotation, Grader, Image, Reference

from . import queue_tally
from .accounts import set_study_setting
from .outline_rows import shape_of
from .policy import Action, Actor, current, guarded, open_operation
from .vote_settings import VOTE_SETTINGS_KEY, vote_settings_in

#: Methods written by the votes; any other method (adjudicated, imported) is a human decision.
VOTE_METHODS: frozenset[str] = frozenset(METHODS)
#: Grade fields compared to tell whether the votes under an adjudicated image changed.
_FINGERPRINT = ("quality", "rop", "stage", "zone", "plus")
_REVIEWERS = (Role.ADJUDICATOR, Role.ADMIN)
#: Images settled per transaction (and per progress report) by a whole-study recompute.
RECOMPUTE_STEP = 500
#: Rows of a queue list the adjudication view shows at a time (a screenful is ~15; the
#: adjudicator works from the top, and settled images leave the list).
QUEUE_PAGE = 100
#: Queries a queue page may take to fill itself when images in it are stale (see ``_unsettled``).
_TOP_UPS = 4


class AdjudicationError(ServiceError):
    """An adjudication that cannot be done; ``reason`` is a sentence for the user."""


class ConflictError(AdjudicationError):
    """Someone else settled the image since this adjudicator opened it; ``current`` is the state now."""

    def __init__(self, reason: str, current: ReferenceState | None) -> None:
        super().__init__(reason)
        self.current = current


# ---------------------------------------------------------------------------- plain data
@dataclass(frozen=True)
class ReferenceState:
    """An image's reference standard as stored."""

    image_id: int
    values: GradeValues
    method: str
    detail: dict[str, Any]
    decided_by: str | None  # grader name; None = settled by the votes
    decided_at: datetime
    version: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (for audit events; ``image_id`` ties an event to its image even after the
        reference row it was written for has been withdrawn)."""
        return {
            "image_id": self.image_id,
            "values": self.values.as_dict(),
            "method": self.method,
            "decided_by": self.decided_by,
            "version": self.version,
            "geometry": self.detail.get("geometry"),
        }


@dataclass
class RecomputeSummary:
    """What :func:`recompute_references` did, as lists of image ids."""

    examined: int = 0
    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    withdrawn: list[int] = field(default_factory=list)  # vote references the votes no longer settle
    needs_adjudication: list[int] = field(default_factory=list)
    insufficient: list[int] = field(default_factory=list)
    kept_decisions: list[int] = field(default_factory=list)  # adjudicated / imported, left as they are
    votes_changed_under_decision: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class QueueItem:
    """One image the votes did not settle."""

    image_id: int
    original_name: str
    patient: str
    eye: Eye | None
    status: str  # "needs_adjudication" | "insufficient"
    n_votes: int
    reasons: tuple[str, ...]
    tally: dict[str, dict[str, int]]
    dissenters: tuple[str, ...]


@dataclass(frozen=True)
class QueueCounts:
    """How many images wait for an adjudicator, and how many for more votes."""

    to_decide: int
    too_few: int


@dataclass(frozen=True)
class AuditRecord:
    """One event of an image's history: who (None: the system), when, what, before and after."""

    at: datetime
    actor: str | None
    entity: str  # "grade" | "reference"
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True)
class GraderWork:
    """One grader's grade and outlines of the case's image."""

    grader_id: int
    name: str
    role: Role
    values: GradeValues | None
    submitted: bool
    submitted_at: datetime | None
    shapes: tuple[Shape, ...]


@dataclass(frozen=True)
class AdjudicationCase:
    """Everything the adjudication view shows for one image (plain data)."""

    image_id: int
    original_name: str
    patient: str
    eye: Eye | None
    exam_date: date | None
    width: int
    height: int
    graders: tuple[GraderWork, ...]
    outcome: VoteOutcome
    settings: VoteSettings
    hospital_text: str | None
    hospital: HospitalDiagnosis
    reference: ReferenceState | None
    #: Pairwise IoU of the voting graders' outlines, grader → grader → IoU.
    outline_iou: dict[str, dict[str, float]]

    @property
    def version(self) -> int:
        """The reference version this case was read at (0: no reference yet)."""
        return self.reference.version if self.reference is not None else 0


# ---------------------------------------------------------------------------- settings
@open_operation("the vote rules are shown to every account (they are not graders' work)")
def get_vote_settings(study: Study) -> VoteSettings:
    """The study's vote settings (defaults when never set). A damaged value raises VoteError."""
    with study.session() as session:
        return vote_settings_in(session)


@guarded(Action.SETTINGS_WRITE)
def set_vote_settings(study: Study, actor: Actor, settings: VoteSettings) -> None:
    """Store the vote settings (admins only; audited). Run :func:`recompute_references` after."""
    set_study_setting(study, actor, VOTE_SETTINGS_KEY, settings.as_dict())


# ---------------------------------------------------------------------------- votes
def submitted_votes(
    session: Session, image_ids: Iterable[int] | None = None
) -> dict[int, dict[str, tuple[int, GradeValues]]]:
    """image id → grader name → (grader id, submitted grade); one query."""
    votes = queues.submitted_votes(session, None if image_ids is None else list(image_ids))
    return defaultdict(dict, votes)


def voter_shapes(session: Session, image_ids: Iterable[int] | None = None) -> dict[int, dict[str, list[Shape]]]:
    """image id → grader name → Shapes, for the graders who submitted the image as gradable.

    Every such grader is present, also one who drew nothing (so majorities count them)."""
    votes = submitted_votes(session, image_ids)
    out: dict[int, dict[str, list[Shape]]] = {
        i: {name: [] for name, (_, g) in by.items() if g.quality is not Quality.UNGRADABLE} for i, by in votes.items()
    }
    stmt = (
        select(Annotation, Grader.name)
        .join(Annotation.grader)
        .where(Annotation.deleted.is_(False))
        .order_by(Annotation.id)
    )
    if image_ids is not None:
        stmt = stmt.where(Annotation.image_id.in_(list(votes)))
    for annotation, name in session.execute(stmt):
        if name in out.get(annotation.image_id, {}):
            out[annotation.image_id][name].append(shape_of(annotation))
    return out


def geometry_choice(detail: dict[str, Any] | None, default_rule: str = "majority") -> tuple[str | None, str]:
    """(grader whose polygons are the reference or None, consensus rule) from a reference's detail.

    A vote reference, or an adjudication that chose no geometry, takes ``default_rule``."""
    geometry = (detail or {}).get("geometry") or {}
    if geometry.get("source") == "grader" and geometry.get("grader"):
        return str(geometry["grader"]), "union"
    return None, str(geometry.get("rule") or default_rule)


def commonest_kind(shapes: Sequence[Shape]) -> tuple[LesionType | None, Stage | None]:
    """The most frequent lesion type and polygon stage among ``shapes`` (None when there are none)."""
    kinds = Counter(s.lesion_type for s in shapes)
    stages = Counter(s.stage for s in shapes if s.stage is not None)
    return (kinds.most_common(1)[0][0] if kinds else None, stages.most_common(1)[0][0] if stages else None)


def _fingerprint(votes: dict[str, tuple[int, GradeValues]]) -> dict[str, dict[str, Any]]:
    """The voted fields of every vote, to tell later whether the votes changed."""
    plain = {name: values.as_dict() for name, (_, values) in votes.items()}
    return {name: {f: grade[f] for f in _FINGERPRINT} for name, grade in plain.items()}


def _settle(
    hospital_diagnosis: str | None, votes: dict[str, tuple[int, GradeValues]], settings: VoteSettings
) -> VoteOutcome:
    hospital = hospital_diagnosis if settings.tie_rule == "hospital" else None
    return settle_votes({name: v for name, (_, v) in votes.items()}, settings, hospital)


@guarded(Action.REFERENCE_DECIDE)
def recompute_references(study: Study, actor: Actor, image_ids: Sequence[int] | None = None) -> RecomputeSummary:
    """Settle the images (all, or ``image_ids``) from the submitted votes, as ``actor``."""
    return settle_images(study, image_ids, actor_id=actor.id)


@open_operation(
    "the system settles images from their submitted votes under the study's rules: what "
    "a submit triggers anyway; it never touches a human decision"
)
def settle_images(
    study: Study, image_ids: Sequence[int] | None = None, *, actor_id: int | None = None
) -> RecomputeSummary:
    """Settle the images (all, or ``image_ids``) from the submitted votes; see the module doc.

    Not a public operation: the system runs it after a submit (``actor_id`` None) and for
    :func:`recompute_references`; ``actor_id`` is recorded in the audit events.
    """
    steps = _settle_steps(study, image_ids, actor_id)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def _settle_steps(
    study: Study, image_ids: Sequence[int] | None, actor_id: int | None, step: int | None = None
) -> Generator[tuple[int, int], None, RecomputeSummary]:
    """Settle in steps of ``step`` images (:data:`RECOMPUTE_STEP`), one transaction each; yields
    (done, total) after each.

    Stopping between two steps (closing the generator) leaves every finished step stored and
    the others as they were: each image is settled whole or not at all."""
    step = step or RECOMPUTE_STEP
    summary = RecomputeSummary()
    if image_ids is not None and len(set(image_ids)) <= step:  # a submit's image: one transaction
        ids = sorted(set(image_ids))
        _in_one_transaction(
            study,
            lambda session, part: _settle_batch(
                session, queues.settle_rows_of(session, ids), vote_settings_in(session), actor_id, part
            ),
            summary,
        )
        yield len(ids), len(ids)
        return summary
    settings = get_vote_settings(study)
    if image_ids is not None:
        wanted = sorted(set(image_ids))
        total = len(wanted)
    else:
        with study.session() as session:
            total = repo.count_images(session)
    done, last = 0, 0
    while True:
        with study.session() as session:
            if image_ids is not None:
                batch = queues.settle_rows_of(session, wanted[done : done + step]) if done < total else []
            else:
                batch = queues.settle_rows_after(session, last, step)
        if not batch:
            break
        _in_one_transaction(study, partial(_settle_batch_into, batch, settings, actor_id), summary)
        done += step if image_ids is not None else len(batch)
        last = batch[-1][0]
        yield min(done, total), total
        if image_ids is not None and done >= total:
            break
    if image_ids is None:  # a whole-study recompute: the eye-level votes too, where the study votes per eye
        from .attention import rebuild_attention_steps
        from .exam_reference import settle_exams

        settle_exams(study, actor_id=actor_id)
        for _needs in rebuild_attention_steps(study):  # and every eye's Needs attention, step by step
            yield total, total
    return summary


def _in_one_transaction(
    study: Study, settle: Callable[[Session, RecomputeSummary], None], summary: RecomputeSummary
) -> None:
    """One step in one transaction, added to ``summary`` once stored. When a submit settled one
    of its images at the same moment (the reference row's version moved, or two rows raced), the
    step is read and settled again."""
    for attempt in (1, 2):
        part = RecomputeSummary()
        try:
            with study.session() as session:
                settle(session, part)
        except (StaleDataError, IntegrityError):
            if attempt == 2:
                raise
            continue
        for name, value in vars(part).items():
            if isinstance(value, list):
                getattr(summary, name).extend(value)
        summary.examined += part.examined
        return


def _settle_batch_into(
    batch: list[queues.SettleRow],
    settings: VoteSettings,
    actor_id: int | None,
    session: Session,
    summary: RecomputeSummary,
) -> None:
    """:func:`_settle_batch` with the batch first, as :func:`_in_one_transaction` calls it."""
    _settle_batch(session, batch, settings, actor_id, summary)


def _settle_batch(
    session: Session,
    batch: list[queues.SettleRow],
    settings: VoteSettings,
    actor_id: int | None,
    summary: RecomputeSummary,
) -> None:
    """Settle ``batch`` in ``session``: the references, their audit events and the images' queue
    statuses (written only where they change: usually no write at all)."""
    ids = [row.image_id for row in batch]
    votes = queues.submitted_votes(session, ids)
    refs = {r.image_id: r for r in session.scalars(select(Reference).where(Reference.image_id.in_(ids)))}
    names = _grader_names(session) if refs or votes else {}
    stored = {row.image_id: row.queue_status for row in batch}
    status: dict[int, str | None] = {}  # image id → its queue status once settled
    open_outcomes: dict[int, VoteOutcome] = {}  # what the queue shows of the images left open
    for image_id, hospital, _stored in batch:
        mine = votes.get(image_id, {})
        ref = refs.get(image_id)
        summary.examined += 1
        status[image_id] = None
        if ref is not None and ref.method not in VOTE_METHODS:
            summary.kept_decisions.append(image_id)
            at_decision = (ref.detail or {}).get("votes_at_decision")
            if ref.method == "adjudicated" and at_decision is not None and at_decision != _fingerprint(mine):
                summary.votes_changed_under_decision.append(image_id)
            continue
        outcome = _settle(hospital, mine, settings)
        if not outcome.settled:
            status[image_id] = outcome.status
            open_outcomes[image_id] = outcome
            (summary.needs_adjudication if outcome.status == "needs_adjudication" else summary.insufficient).append(
                image_id
            )
            if ref is not None:
                withdrawn = _state(ref, names).as_dict()
                session.delete(ref)
                session.flush()
                repo.add_audit(
                    session, "reference", ref.id, "withdraw", grader=actor_id, before=withdrawn, image_id=image_id
                )
                summary.withdrawn.append(image_id)
            continue
        assert outcome.reference is not None and outcome.method is not None  # a settled outcome has both
        settled = (outcome.reference, outcome.method, outcome.as_detail())
        if ref is not None and (ref.values, ref.method, ref.detail) == settled:
            summary.unchanged.append(image_id)
            continue
        before = _state(ref, names).as_dict() if ref is not None else None
        ref = repo.set_reference(session, image_id, settled[0], settled[1], detail=settled[2], leave_queue=False)
        repo.add_audit(
            session,
            "reference",
            ref.id,
            "update" if before else "create",
            grader=actor_id,
            before=before,
            after=_state(ref, names).as_dict(),
            image_id=image_id,
        )
        (summary.updated if before else summary.created).append(image_id)
    changed = {image_id: new for image_id, new in status.items() if stored[image_id] != new}
    if changed:
        queues.set_queue_statuses(session, changed)
    queue_tally.keep(session, batch, open_outcomes, settings)


# ---------------------------------------------------------------------------- the adjudicator's desk
class ReferenceService:
    """What an adjudicator (or admin) does with the reference standard of one study."""

    def __init__(self, study: Study, actor: Actor) -> None:
        self.study = study
        self.actor = current(study, actor, verb="work on the reference standard")
        self.actor_id = self.actor.id
        self._seen: dict[int, int] = {}  # image id → reference version shown by case()

    @guarded(Action.REFERENCE_DECIDE)
    def recompute(self, image_ids: Sequence[int] | None = None) -> RecomputeSummary:
        """:func:`recompute_references`, recorded as this adjudicator's action."""
        return settle_images(self.study, image_ids, actor_id=self.actor.id)

    @guarded(Action.REFERENCE_DECIDE)
    def recompute_steps(
        self, image_ids: Sequence[int] | None = None
    ) -> Generator[tuple[int, int], None, RecomputeSummary]:
        """:meth:`recompute` in steps: yields (images done, total) after each transaction of
        :data:`RECOMPUTE_STEP` images and returns the summary; closing it stops between steps
        (what was settled stays). The window runs it in a worker with progress and cancel."""
        return _settle_steps(self.study, image_ids, self.actor.id)

    @guarded(Action.REFERENCE_READ)
    def queue(self, *, after: int | None = None, limit: int | None = QUEUE_PAGE) -> list[QueueItem]:
        """Images whose votes need an adjudicator (no human decision yet), in image order: the
        ``limit`` first after image ``after`` (None: every one — a walk over the study)."""
        return self._unsettled("needs_adjudication", after, limit)

    @guarded(Action.REFERENCE_READ)
    def insufficient(self, *, after: int | None = None, limit: int | None = QUEUE_PAGE) -> list[QueueItem]:
        """Images with fewer submitted votes than the quorum (no human decision yet), as :meth:`queue`."""
        return self._unsettled("insufficient", after, limit)

    @guarded(Action.REFERENCE_READ)
    def queue_counts(self) -> QueueCounts:
        """How many images each queue list holds: one index-only count over the images no reference
        settles (as stored; see :meth:`_unsettled` for a study whose rules changed meanwhile)."""
        with self.study.session() as session:
            counts = queues.count_unsettled(session)
        return QueueCounts(counts["needs_adjudication"], counts["insufficient"])

    def _unsettled(self, status: str, after: int | None, limit: int | None) -> list[QueueItem]:
        """One page of a queue list: the images of that queue status (one range of an index), with
        the tally, reasons and dissenters their last settle kept (``services.queue_tally``; worked
        out again only where the votes or rules changed since). An image whose stored
        status no longer matches its votes (settled by the old rules of a recompute not run to the
        end) is left out, and the page is topped up from further on — a few rounds at most:
        "Recompute votes" puts such a study right."""
        settings = get_vote_settings(self.study)
        items: list[QueueItem] = []
        for _round in range(_TOP_UPS):
            want = None if limit is None else limit - len(items)
            with self.study.session() as session:
                ids = queues.unsettled_ids(session, status, after=after, limit=want)
                headers = queues.image_headers(session, ids)
                rows = queue_tally.read_page(session, ids, status, headers, settings, _settle)
            for image_id in ids:
                if image_id not in rows:
                    continue
                header, (n_votes, detail) = headers[image_id], rows[image_id]
                items.append(
                    QueueItem(
                        image_id,
                        header.original_name,
                        header.patient,
                        header.eye,
                        status,
                        n_votes,
                        tuple(detail["reasons"]),
                        detail["tally"],
                        tuple(detail["dissenters"]),
                    )
                )
            if want is None or len(ids) < want or len(items) >= limit:  # type: ignore[operator]
                break
            after = ids[-1]
        return items

    @guarded(Action.REFERENCE_READ)
    def case(self, image_id: int) -> AdjudicationCase:
        """Every grader's grade and polygons of the image, the vote outcome and the reference."""
        settings = get_vote_settings(self.study)
        with self.study.session() as session:
            image = _image(session, image_id)
            names = _grader_names(session)
            grades = repo.grades_for_image(session, image_id)
            shapes: dict[int, list[Shape]] = defaultdict(list)
            for annotation in repo.annotations_for(session, image_id):
                shapes[annotation.grader_id].append(shape_of(annotation))
            work = [
                GraderWork(
                    g.grader_id,
                    g.grader.name,
                    g.grader.role,
                    g.values,
                    g.submitted,
                    g.submitted_at,
                    tuple(shapes.pop(g.grader_id, [])),
                )
                for g in grades
            ]
            for grader_id, drawn in shapes.items():  # polygons without a grade
                grader = session.get_one(Grader, grader_id)  # annotations.grader_id is a foreign key
                work.append(GraderWork(grader_id, grader.name, grader.role, None, False, None, tuple(drawn)))
            votes = submitted_votes(session, [image_id]).get(image_id, {})
            outcome = _settle(image.hospital_diagnosis, votes, settings)
            ref = repo.reference_for(session, image_id)
            reference = _state(ref, names) if ref is not None else None
            voters = voter_shapes(session, [image_id]).get(image_id, {})
            case = AdjudicationCase(
                image.id,
                image.original_name,
                image.exam.patient.code,
                image.eye,
                image.exam.exam_date,
                image.width,
                image.height,
                tuple(work),
                outcome,
                settings,
                image.hospital_diagnosis,
                parse_hospital_diagnosis(image.hospital_diagnosis),
                reference,
                agreement_iou(voters).as_dict() if voters else {},
            )
        self._seen[image_id] = case.version
        return case

    @guarded(Action.REFERENCE_READ)
    def consensus_shapes(self, image_id: int, rule: str = "majority") -> list[Shape]:
        """The consensus outline of the voting graders (``rule`` as in domain.consensus) as Shapes."""
        if rule not in RULES:
            raise AdjudicationError(f"consensus rule {rule!r} is not one of {', '.join(RULES)}")
        with self.study.session() as session:
            _image(session, image_id)
            voters = voter_shapes(session, [image_id]).get(image_id, {})
        if not voters:
            return []
        return shapes_of(consensus_geometry(voters, rule), [s for drawn in voters.values() for s in drawn])

    @guarded(Action.REFERENCE_DECIDE)
    def adjudicate(
        self,
        image_id: int,
        values: GradeValues,
        *,
        polygons_from: str | None = None,
        consensus_rule: str | None = None,
        comment: str = "",
        expected_version: int | None = None,
    ) -> ReferenceState:
        """Settle the image's reference standard by hand (adjudicators and admins only).

        ``polygons_from`` names the grader whose polygons become the reference outline, or
        ``consensus_rule`` picks the consensus (default majority). ``expected_version`` is the
        reference version the decision was made on (default: the one :meth:`case` showed; 0 = no
        reference); a different current version raises :class:`ConflictError`. Grades that
        :func:`~rop_desktop.domain.grades.check_grade` refuses raise :class:`AdjudicationError`.
        """
        actor = self.actor
        if polygons_from is not None and consensus_rule is not None:
            raise AdjudicationError("Choose either one grader's polygons or a consensus rule, not both.")
        if consensus_rule is not None and consensus_rule not in RULES:
            raise AdjudicationError(f"consensus rule {consensus_rule!r} is not one of {', '.join(RULES)}")
        if comment:
            values = values.with_(comment=comment)
        expected = expected_version if expected_version is not None else self._seen.get(image_id)
        try:
            with self.study.session() as session:
                state = self._write(session, actor, image_id, values, polygons_from, consensus_rule, comment, expected)
        except (StaleDataError, IntegrityError):
            raise ConflictError(
                "Another adjudicator settled this image at the same moment; review their decision.",
                self.current(image_id),
            ) from None
        self._seen[image_id] = state.version
        return state

    def _write(
        self,
        session: Session,
        actor: Actor,
        image_id: int,
        values: GradeValues,
        polygons_from: str | None,
        consensus_rule: str | None,
        comment: str,
        expected: int | None,
    ) -> ReferenceState:
        image = _image(session, image_id)
        names = _grader_names(session)
        if polygons_from is not None:
            drawn = [
                shape_of(a) for a in repo.annotations_for(session, image_id) if names.get(a.grader_id) == polygons_from
            ]
            if not drawn:
                raise AdjudicationError(
                    f"{polygons_from} drew no polygon on this image: their outline cannot be the reference."
                )
            geometry: dict[str, Any] = {"source": "grader", "grader": polygons_from}
        else:
            voters = voter_shapes(session, [image_id]).get(image_id, {})
            drawn = [s for shapes in voters.values() for s in shapes]
            geometry = {"source": "consensus", "rule": consensus_rule}  # None: the export's default rule
        if values.quality is Quality.UNGRADABLE:
            geometry = {"source": "none"}
        errors = [
            i.message
            for i in check_grade(values, [s.stage for s in drawn if s.stage is not None])
            if i.severity == "error"
        ]
        if errors:
            raise AdjudicationError("Cannot settle the reference: " + " ".join(errors))
        ref = repo.reference_for(session, image_id)
        current = _state(ref, names) if ref is not None else None
        if expected is not None and expected != (current.version if current else 0):
            who = (current.decided_by or "the votes") if current else "nobody"
            raise ConflictError(
                f"The reference of {image.original_name} changed since you opened it (now "
                f"{current.method if current else 'none'}, by {who}); review it and decide again.",
                current,
            )
        votes = submitted_votes(session, [image_id]).get(image_id, {})
        detail = {
            "geometry": geometry,
            "comment": comment,
            "votes_at_decision": _fingerprint(votes),
            "vote_outcome": _settle(image.hospital_diagnosis, votes, vote_settings_in(session)).as_detail(),
            "replaced": current.method if current else None,
        }
        ref = repo.set_reference(session, image, values, "adjudicated", detail=detail, decided_by=actor.id)
        after = _state(ref, names)
        repo.add_audit(
            session,
            "reference",
            ref.id,
            "adjudicate",
            grader=actor.id,
            before=current.as_dict() if current else None,
            after=after.as_dict(),
            image_id=image_id,
        )
        return after

    @guarded(Action.REFERENCE_READ)
    def history(self, image_id: int) -> list[AuditRecord]:
        """The image's audit trail, oldest first: every grade event (draft, submit, amend) and every
        reference event (create, update, withdraw, adjudicate)."""
        with self.study.session() as session:
            _image(session, image_id)
            names = _grader_names(session)
            return [
                AuditRecord(
                    event.at,
                    names.get(event.grader_id) if event.grader_id else None,
                    event.entity,
                    event.action,
                    event.before,
                    event.after,
                )
                for event in repo.image_history(session, image_id, ("grade", "reference"))
            ]

    @guarded(Action.OTHERS_WORK_READ, image="image_id")
    def current(self, image_id: int) -> ReferenceState | None:
        """The image's reference standard as stored now (a grader: only once unblinded on the image)."""
        with self.study.session() as session:
            ref = repo.reference_for(session, image_id)
            return _state(ref, _grader_names(session)) if ref is not None else None


# ---------------------------------------------------------------------------- helpers
def shapes_of(geometry: Polygon | MultiPolygon, contributing: Sequence[Shape]) -> list[Shape]:
    """Consensus geometry as Shapes; lesion type and stage are the commonest among ``contributing``."""
    parts = [] if geometry.is_empty else list(getattr(geometry, "geoms", [geometry]))
    kind, stage = commonest_kind(contributing)
    kwargs: dict[str, Any] = {"stage": stage} if kind is None else {"stage": stage, "lesion_type": kind}
    out = []
    for part in parts:
        out.append(
            Shape(
                points=as_ring(list(part.exterior.coords)[:-1]),
                holes=tuple(as_ring(list(r.coords)[:-1]) for r in part.interiors),
                **kwargs,
            )
        )
    return out


def _image(session: Session, image_id: int) -> Image:
    image = session.get(Image, image_id)
    if image is None:
        raise AdjudicationError(f"Image {image_id} is not in this study.")
    return image


def _grader_names(session: Session) -> dict[int, str]:
    return {grader_id: name for grader_id, name in session.execute(select(Grader.id, Grader.name))}


def _state(ref: Reference, names: dict[int, str]) -> ReferenceState:
    return ReferenceState(
        ref.image_id,
        ref.values,
        ref.method,
        dict(ref.detail or {}),
        names.get(ref.decided_by) if ref.decided_by is not None else None,
        ref.decided_at,
        ref.version_id,
    )
