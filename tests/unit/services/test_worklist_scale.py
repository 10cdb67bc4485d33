"""Issue 15: the worklist, next to do and the adjudication queue are indexed queries over a page.

A study is filled in bulk (patients, exams, images, four graders' grades, a model's scores),
settled by the votes, then every list the window can ask for — each sort, both directions, each
status, a patient-code prefix, a camera — is compared, page by page and position by position,
with the same list computed in Python from the rows. NULLs (no eye, no exam date, no camera, no
score) sort where the database's indexes keep them (first on SQLite, last on PostgreSQL).

Then the SQL statements of next-to-do, a worklist page, an image put on screen, the queue's first
pages and counts, a submit (and its settlement) and "most uncertain next" are counted with an
SQLAlchemy event at two study sizes: the same number at 60 and at 600 images; and the database's
own plan of the queue's statements shows them reading the partial index of the open images only.
Last, the stored queue status of every image is checked against its votes and references through
every change that moves it: a submit, an amendment, a decision, new vote rules and a recompute,
and an import of grades.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, select

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Quality, Role, RopPresence, Stage
from rop_desktop.domain.votes import VoteSettings, settle_votes
from rop_desktop.services.annotation_io import import_annotations
from rop_desktop.services.grading import GradingService, WorklistQuery
from rop_desktop.services.policy import Actor
from rop_desktop.services.predictions import PredictionService
from rop_desktop.services.reference import (
    VOTE_SETTINGS_KEY,
    ReferenceService,
    get_vote_settings,
    set_vote_settings,
    settle_images,
)
from rop_desktop.services.reference import submitted_votes as reference_votes
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import Exam, Grade, Image, ModelVersion, Patient, Prediction, Reference
from rop_desktop.store.types import utcnow

from .conftest import HandStudy, grade

SORTS = ("order", "patient", "eye", "exam_date", "camera", "file", "status")
STAGES = ("0", "0", "0", "1", "2", "3")


@dataclass
class Bulk:
    """A study filled in bulk, and what was put in it (to compute the expected lists)."""

    study: Study
    graders: dict[str, Actor]  # "A".."D"
    judge: Actor
    images: dict[int, dict[str, Any]]  # id → original_name, eye, exam (id, date, camera), patient code
    grades: dict[tuple[int, int], bool]  # (image id, grader id) → submitted
    scores: dict[int, tuple[float, float]]  # image id → (probability, uncertainty) of the active model


def make_bulk(tmp_path: Path, account: Callable[..., Actor], n: int, *, seed: int = 5, name: str = "bulk") -> Bulk:
    """``n`` images of ``n // 4`` patients (two exams each: dates, cameras and eyes sometimes
    missing); Dr. A graded about half (some drafts), B everything, C and D most; a binary model
    version is active with a score for two images in three. Then the votes settle (quorum 3)."""
    rnd = random.Random(seed)
    study = Study.create(tmp_path / name)
    graders = {g: account(study, f"Dr. {g}") for g in "ABCD"}
    judge = account(study, "Dr. Judge", Role.ADJUDICATOR)
    now = utcnow()
    images: dict[int, dict[str, Any]] = {}
    grades: dict[tuple[int, int], bool] = {}
    scores: dict[int, tuple[float, float]] = {}
    with study.engine.begin() as conn:
        n_patients = max(1, n // 4)
        codes = [f"{'P' if p % 5 else 'X'}{p:05d}" for p in range(n_patients)]
        conn.execute(insert(Patient), [{"id": p + 1, "code": c, "created_at": now} for p, c in enumerate(codes)])
        exams = []
        for p in range(n_patients):
            for k in range(2):
                day = None if (p + k) % 7 == 0 else date(2025, 1, 1) + timedelta(days=rnd.randrange(40))
                exams.append({"id": len(exams) + 1, "patient_id": p + 1, "exam_date": day,
                              "camera": None if (p + k) % 6 == 0 else rnd.choice(["RetCam 3", "RetCam Shuttle"]),
                              "site": "Site A"})
        conn.execute(insert(Exam), exams)
        rows = []
        for i in range(1, n + 1):
            exam = exams[(i - 1) // 2]
            eye = None if i % 9 == 0 else ("OD" if i % 2 else "OS")
            name_ = f"img{rnd.randrange(10**6):06d}-{i}.png"  # file-name order is not import order
            images[i] = {"original_name": name_, "eye": eye, "exam_id": exam["id"], "exam_date": exam["exam_date"],
                         "camera": exam["camera"], "patient": codes[exam["patient_id"] - 1]}
            rows.append({"id": i, "exam_id": exam["id"], "eye": eye, "file": "aa/none.png", "original_name": name_,
                         "sha256": f"{i:064x}", "width": 64, "height": 48, "format": "png", "imported_at": now,
                         "bytes": 1})
        conn.execute(insert(Image), rows)
        grade_rows = []
        for i in range(1, n + 1):
            truth = rnd.choice(STAGES)
            for letter, share in (("A", 0.5), ("B", 1.0), ("C", 0.8), ("D", 0.7)):
                if rnd.random() >= share:
                    continue
                stage = truth if rnd.random() < 0.65 else rnd.choice(STAGES)
                submitted = not (letter == "A" and rnd.random() < 0.2)
                grades[(i, graders[letter].id)] = submitted
                grade_rows.append({"image_id": i, "grader_id": graders[letter].id, "stage": stage,
                                   "rop": "no" if stage == "0" else "yes", "quality": "gradable", "comment": "",
                                   "submitted": submitted,
                                   "submitted_at": now if submitted else None, "created_at": now, "updated_at": now,
                                   "version_id": 1})
        conn.execute(insert(Grade), grade_rows)
        version = conn.execute(insert(ModelVersion).values(
            name="bulk model", task="binary", architecture="tiny_cnn", bundle_path="bulk-model", card={}, metrics={},
            active=True, created_at=now)).inserted_primary_key[0]
        predictions = []
        for i in range(1, n + 1):
            if i % 3:
                p = round(rnd.random(), 4)
                u = round(1 - abs(p - 0.5) / 0.5, 6)
                scores[i] = (p, u)
                predictions.append({"image_id": i, "model_version_id": version, "payload": {"probability": p},
                                    "probability": p, "uncertainty": u, "created_at": now})
        conn.execute(insert(Prediction), predictions)
    with study.session() as session:  # three votes settle: images graded by three or four disagree sometimes
        repo.set_setting(session, VOTE_SETTINGS_KEY, VoteSettings(quorum=3).as_dict())
    settle_images(study)
    return Bulk(study, graders, judge, images, grades, scores)


@pytest.fixture
def bulk(tmp_path: Path, account) -> Iterator[Bulk]:
    made = make_bulk(tmp_path, account, 240)
    yield made
    made.study.close()


# ---------------------------------------------------------------------------- the expected lists
def _status(b: Bulk, grader: Actor, image_id: int) -> str:
    state = b.grades.get((image_id, grader.id))
    return "todo" if state is None else ("submitted" if state else "draft")


def expected(b: Bulk, grader: Actor, q: WorklistQuery, *, scores_visible: Callable[[int], bool]) -> list[int]:
    nulls_low = b.study.backend == "sqlite"

    def nullable(value: Any) -> tuple[int, Any]:
        return ((0 if nulls_low else 1), "") if value is None else ((1 if nulls_low else 0), value)

    ids = []
    for i, img in b.images.items():
        status = _status(b, grader, i)
        if (q.status == "todo" and status == "submitted") or (q.status in ("draft", "submitted") and status != q.status):
            continue
        if q.patient and not (img["patient"].startswith(q.patient) or img["patient"].startswith(q.patient.upper())):
            continue
        if q.camera and img["camera"] != q.camera:
            continue
        ids.append(i)

    def key(i: int) -> tuple[Any, ...]:
        img = b.images[i]
        segment = {"todo": 0, "draft": 1, "submitted": 2}[_status(b, grader, i)]
        score = b.scores.get(i) if scores_visible(i) else None
        return {"order": (i,), "patient": (img["patient"], img["exam_id"], i), "eye": (nullable(img["eye"]), i),
                "exam_date": (nullable(img["exam_date"]), img["exam_id"], i),
                "camera": (nullable(img["camera"]), img["exam_id"], i), "file": (img["original_name"], i),
                "status": (segment, i), "probability": (nullable(score[0] if score else None), i),
                "uncertainty": (nullable(score[1] if score else None), i)}[q.sort]

    ordered = sorted(ids, key=key)
    return list(reversed(ordered)) if q.descending else ordered


QUERIES = [WorklistQuery(status=s, patient=p, camera=c)
           for s, p, c in ((None, None, None), ("todo", None, None), ("draft", None, None), ("submitted", None, None),
                           (None, "P001", None), ("todo", "x00", None), (None, None, "RetCam Shuttle"),
                           ("todo", None, "RetCam 3"), ("submitted", "P00", "RetCam Shuttle"))]


def _check_list(b: Bulk, service: GradingService, grader: Actor, q: WorklistQuery,
                visible: Callable[[int], bool]) -> None:
    want = expected(b, grader, q, scores_visible=visible)
    kwargs = dict(sort=q.sort, descending=q.descending)
    got = [r.image_id for r in service.worklist(q.status, q.patient, q.camera, **kwargs)]
    assert got == want, q
    for offset, limit in ((0, 7), (5, 11), (len(want) - 3, 10)):
        page = service.worklist(q.status, q.patient, q.camera, offset=max(0, offset), limit=limit, **kwargs)
        assert [r.image_id for r in page] == want[max(0, offset):max(0, offset) + limit], (q, offset)
    summary = service.worklist_page(q, 0, 5, locate=want[len(want) // 2] if want else 1)
    assert summary.total == len(want) and [r.image_id for r in summary.rows] == want[:5]
    if want:
        assert summary.position == len(want) // 2
    for probe in want[:2] + want[-2:] + [i for i in (1, 9, 18, 27) if i in b.images]:
        assert service.worklist_position(q, probe) == (want.index(probe) if probe in want else None), (q, probe)


@pytest.mark.parametrize("sort", SORTS)
def test_every_list_the_window_can_ask_for_matches_the_rows(bulk: Bulk, sort: str) -> None:
    grader = bulk.graders["A"]
    service = GradingService(bulk.study, grader)
    mine = {i for (i, g), done in bulk.grades.items() if g == grader.id and done}
    for q in QUERIES:
        for descending in (False, True):
            _check_list(bulk, service, grader, WorklistQuery(q.status, q.patient, q.camera, sort, descending),
                        lambda i: i in mine)


@pytest.mark.parametrize("sort", ("order", "patient", "status"))
def test_a_prefix_matching_many_patients_is_checked_row_by_row_with_the_same_result(
        bulk: Bulk, sort: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from rop_desktop.store.repo import worklist

    monkeypatch.setattr(worklist, "BROAD_PREFIX", 3)  # "P001" (10 patients) and "P" are broad now
    grader = bulk.graders["A"]
    service = GradingService(bulk.study, grader)
    mine = {i for (i, g), done in bulk.grades.items() if g == grader.id and done}
    for status, patient in ((None, "P001"), ("todo", "p"), ("submitted", "X00"), (None, "P0")):
        for descending in (False, True):
            _check_list(bulk, service, grader, WorklistQuery(status, patient, None, sort, descending),
                        lambda i: i in mine)


@pytest.mark.parametrize("sort", ("probability", "uncertainty"))
def test_sorted_by_model_score_a_blinded_grader_learns_nothing_from_the_order(bulk: Bulk, sort: str) -> None:
    """A blinded grader's list sorted by P(ROP) orders only the images they submitted by score; the
    others sort as "no score" (in import order), as if the model had not predicted them."""
    grader = bulk.graders["A"]
    mine = {i for (i, g), done in bulk.grades.items() if g == grader.id and done}
    service = GradingService(bulk.study, grader)
    for q in QUERIES[:3]:
        for descending in (False, True):
            _check_list(bulk, service, grader, WorklistQuery(q.status, q.patient, q.camera, sort, descending),
                        lambda i: i in mine)
    rows = service.worklist(sort=sort)
    assert all(r.probability is None and r.scores_hidden for r in rows if r.image_id not in mine)
    assert all(r.probability == bulk.scores[r.image_id][0] for r in rows if r.image_id in mine and r.image_id in
               bulk.scores)
    judge = GradingService(bulk.study, bulk.judge)  # an adjudicator sees every score
    for descending in (False, True):
        _check_list(bulk, judge, bulk.judge, WorklistQuery(sort=sort, descending=descending), lambda _i: True)


@pytest.mark.parametrize("window", [256, 3])
def test_next_to_do_walks_on_wraps_around_and_knows_when_nothing_is_left(bulk: Bulk, window: int,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from rop_desktop.store.repo import worklist

    monkeypatch.setattr(worklist, "NEXT_WINDOW", window)  # the short look-ahead, and the long walk past it
    for letter in "ABCD":
        grader = bulk.graders[letter]
        service = GradingService(bulk.study, grader)
        todo = [i for i in sorted(bulk.images) if _status(bulk, grader, i) != "submitted"]
        for after in (None, 1, 50, 120, 239, 240, *todo[:3], *todo[-2:]):
            later = [i for i in todo if after is None or i > after]
            earlier = [i for i in todo if i != after]
            want = later[0] if later else (earlier[0] if earlier else None)
            assert service.next_todo(after) == want, (letter, after)
    assert GradingService(bulk.study, bulk.graders["B"]).next_todo(10) is None  # B submitted everything


def test_the_queue_lists_what_the_votes_leave_unsettled_page_by_page(bulk: Bulk) -> None:
    settings = get_vote_settings(bulk.study)
    judge = ReferenceService(bulk.study, bulk.judge)
    with bulk.study.session() as session:
        decided = set(session.scalars(select(Reference.image_id)))
        votes: dict[int, dict[str, GradeValues]] = {}
        for image_id, grader_id, rop, stage in session.execute(
                select(Grade.image_id, Grade.grader_id, Grade.rop, Grade.stage).where(Grade.submitted.is_(True))):
            votes.setdefault(image_id, {})[str(grader_id)] = GradeValues(rop=rop, stage=stage, quality=Quality.GRADABLE)
    status = {i: settle_votes(votes.get(i, {}), settings).status for i in bulk.images}
    to_decide = [i for i in sorted(bulk.images) if status[i] == "needs_adjudication" and i not in decided]
    too_few = [i for i in sorted(bulk.images) if status[i] == "insufficient" and i not in decided]
    assert to_decide and too_few
    assert [q.image_id for q in judge.queue(limit=None)] == to_decide
    assert [q.image_id for q in judge.insufficient(limit=None)] == too_few
    first, second = judge.queue(limit=4), judge.queue(after=to_decide[3], limit=4)
    assert [q.image_id for q in first + second] == to_decide[:8]
    assert all(q.n_votes >= settings.quorum and q.tally["rop"] for q in first)
    counts = judge.queue_counts()
    assert (counts.to_decide, counts.too_few) == (len(to_decide), len(too_few))
    # a decision takes an image out of the queue at once; a new vote settles its image only
    image = to_decide[0]
    judge.adjudicate(image, GradeValues(rop=RopPresence.NO, stage=Stage.S0, quality=Quality.GRADABLE),
                     expected_version=0)
    assert judge.queue(limit=1)[0].image_id == to_decide[1]
    assert judge.queue_counts().to_decide == len(to_decide) - 1


def test_rules_changed_without_a_recompute_never_list_an_image_its_votes_settle(bulk: Bulk) -> None:
    """The queue trusts the stored references; when the rules changed and the recompute did not run
    (cancelled), a page leaves out what the new rules settle and tops itself up from further on."""
    with bulk.study.session() as session:
        repo.set_setting(session, VOTE_SETTINGS_KEY, VoteSettings(quorum=2).as_dict())  # no recompute
    judge = ReferenceService(bulk.study, bulk.judge)
    page = judge.queue(limit=5)
    assert len(page) == 5 and all(item.status == "needs_adjudication" for item in page)
    with bulk.study.session() as session:
        votes = {i: {n: v for n, (_, v) in by.items()} for i, by in
                 reference_votes(session, [item.image_id for item in page]).items()}
    assert all(settle_votes(votes[item.image_id], VoteSettings(quorum=2)).status == "needs_adjudication"
               for item in page)
    for _step in judge.recompute_steps():
        pass
    assert judge.queue_counts().to_decide == len(judge.queue(limit=None))


def test_a_recompute_goes_step_by_step_and_stops_between_steps(bulk: Bulk) -> None:
    judge = ReferenceService(bulk.study, bulk.judge)
    steps = judge.recompute_steps()
    assert next(steps) == (min(500, 240), 240)
    rest = []  # then every eye's Needs attention, a step of patients at a time (the bar stays full)
    with pytest.raises(StopIteration) as finished:
        while True:
            rest.append(next(steps))
    assert rest and set(rest) == {(240, 240)}
    summary = finished.value.value
    assert summary.examined == 240 and not summary.created and not summary.withdrawn  # settled already

    from rop_desktop.services import reference

    reference.RECOMPUTE_STEP, saved = 50, reference.RECOMPUTE_STEP
    try:
        with bulk.study.session() as session:
            session.execute(Reference.__table__.delete())  # as if the votes were never settled
        steps = judge.recompute_steps()
        assert [next(steps), next(steps)] == [(50, 240), (100, 240)]
        steps.close()  # cancelled: the first two steps are stored, nothing after them
        with bulk.study.session() as session:
            settled = list(session.scalars(select(Reference.image_id)))
        assert settled and max(settled) <= 100
    finally:
        reference.RECOMPUTE_STEP = saved


# ---------------------------------------------------------------------------- statements per click
class Statements:
    """Counts the SQL statements sent through a study's engine."""

    def __init__(self, study: Study) -> None:
        self.count = 0
        self.engine = study.engine
        event.listen(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1

    def of(self, call: Callable[[], Any]) -> int:
        before = self.count
        call()
        return self.count - before

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


def _statements_per_click(b: Bulk) -> dict[str, int]:
    a = GradingService(b.study, b.graders["A"])
    judge = ReferenceService(b.study, b.judge)
    predictions = PredictionService(b.study, b.graders["A"], device="cpu")
    ids = sorted(b.images)
    todo = [i for i in ids if _status(b, b.graders["A"], i) != "submitted"]
    middle = todo[len(todo) // 2]
    counter = Statements(b.study)
    try:
        return {
            "next to do": counter.of(lambda: a.next_todo(middle)),
            "worklist page": counter.of(lambda: a.worklist("todo", offset=0, limit=50)),
            "worklist page sorted by patient": counter.of(lambda: a.worklist(sort="patient", offset=0, limit=50)),
            "worklist refresh (page, counts, position)": counter.of(  # the image further down: counted
                lambda: a.worklist_page(WorklistQuery(status="todo"), 0, 10, locate=middle)),
            "worklist refresh, the image on the first page": counter.of(
                lambda: a.worklist_page(WorklistQuery(status="todo"), 0, 10, locate=todo[2])),
            "image on screen": counter.of(lambda: a.show(middle)),
            "adjudication queue, first page": counter.of(lambda: judge.queue(limit=50)),
            "too few votes, first page": counter.of(lambda: judge.insufficient(limit=50)),
            "queue counts": counter.of(judge.queue_counts),
            "an image's history (adjudication view)": counter.of(lambda: judge.history(middle)),
            "submit (and its settlement)": counter.of(
                lambda: a.submit(middle, GradeValues(rop=RopPresence.NO, stage=Stage.S0, quality=Quality.GRADABLE))),
            "most uncertain next": counter.of(lambda: predictions.most_uncertain_first(a, limit=1)),
        }
    finally:
        counter.close()


def test_each_click_sends_the_same_statements_at_60_and_at_600_images(tmp_path: Path, account) -> None:
    small = make_bulk(tmp_path, account, 60, name="small")
    large = make_bulk(tmp_path, account, 600, name="large")
    try:
        few, many = _statements_per_click(small), _statements_per_click(large)
    finally:
        small.study.close()
        large.study.close()
    assert few == many
    # a policy check, a few reads, at most a write; the worklist refresh is the largest (page, counts,
    # the position of the image on screen, the page's treatment classes and the grader's study totals)
    assert max(n for click, n in many.items() if not click.startswith("submit")) <= 25, many
    # a submit also keeps the eye's Needs attention (services.attention): six statements over that
    # patient's images after the grade, six more after the settle that moved the reference
    assert many["submit (and its settlement)"] <= 32, many


# ---------------------------------------------------------------------------- the queue reads the open images only
def _statements_of(study: Study, call: Callable[[], Any]) -> list[tuple[str, Any]]:
    """The SQL text and parameters of every statement ``call`` sends."""
    seen: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        seen.append((statement, parameters))

    event.listen(study.engine, "before_cursor_execute", keep)
    try:
        call()
    finally:
        event.remove(study.engine, "before_cursor_execute", keep)
    return seen


def _plan(study: Study, statement: str, parameters: Any) -> str:
    """The database's plan of a statement. PostgreSQL would scan a 600-row table whatever its
    indexes, so it is asked for the plan it has without sequential scans: whether the index serves."""
    with study.engine.connect() as conn:
        if study.backend == "sqlite":
            return "\n".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement,
                                                                          parameters))
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        return "\n".join(str(row[0]) for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))


def test_the_queue_and_its_counts_read_the_index_of_the_open_images_only(bulk: Bulk) -> None:
    judge = ReferenceService(bulk.study, bulk.judge)
    for call in (lambda: judge.queue(limit=50), lambda: judge.insufficient(limit=50), judge.queue_counts):
        mine = [(sql, params) for sql, params in _statements_of(bulk.study, call) if "queue_status" in sql]
        assert mine
        for sql, params in mine:
            plan = _plan(bulk.study, sql, params)
            assert "ix_images_queue_status_id" in plan, (sql, plan)
            assert "TEMP B-TREE" not in plan, plan  # SQLite: read in id order, no sort


# ---------------------------------------------------------------------------- the stored status stays right
def _stored_status(study: Study) -> dict[int, str | None]:
    with study.session() as session:
        return {int(i): status for i, status in session.execute(select(Image.id, Image.queue_status))}


def _status_by_the_votes(study: Study) -> dict[int, str | None]:
    """What each image's queue status must be: None under a reference; else what its submitted
    votes say under the study's rules ("settled" here means a missing reference: a failure)."""
    settings = get_vote_settings(study)
    with study.session() as session:
        decided = set(session.scalars(select(Reference.image_id)))
        hospital = {int(i): h for i, h in session.execute(select(Image.id, Image.hospital_diagnosis))}
        votes = reference_votes(session)
    out: dict[int, str | None] = {}
    for image_id, diagnosis in hospital.items():
        mine = {name: values for name, (_, values) in votes.get(image_id, {}).items()}
        tie = diagnosis if settings.tie_rule == "hospital" else None
        out[image_id] = None if image_id in decided else settle_votes(mine, settings, tie).status
    return out


def test_the_queue_status_follows_every_change_of_the_votes_and_decisions(hand: HandStudy, tmp_path: Path) -> None:
    study, i = hand.study, hand.images
    judge = ReferenceService(study, hand.adjudicator)

    def status(image: int) -> str | None:
        stored = _stored_status(study)
        assert stored == _status_by_the_votes(study)
        counts = judge.queue_counts()
        assert (counts.to_decide, counts.too_few) == (list(stored.values()).count("needs_adjudication"),
                                                      list(stored.values()).count("insufficient"))
        assert [q.image_id for q in judge.queue(limit=None)] == sorted(
            k for k, v in stored.items() if v == "needs_adjudication")
        return stored[image]

    assert status(i[0]) == "insufficient" and set(_stored_status(study).values()) == {"insufficient"}  # new images
    set_vote_settings(study, hand.admin, VoteSettings(quorum=2))
    hand.submit("A", i[0], grade("no"))
    assert status(i[0]) == "insufficient"  # one vote of two
    hand.submit("B", i[0], grade("no"))
    assert status(i[0]) is None  # the votes agree: settled
    GradingService(study, hand.graders["B"]).save_draft(i[0], grade("yes", "2"))  # an amendment splits them
    assert status(i[0]) == "needs_adjudication"
    judge.case(i[0])
    judge.adjudicate(i[0], grade("yes", "2"))
    assert status(i[0]) is None  # decided
    hand.submit("C", i[0], grade("no"))
    assert status(i[0]) is None  # a later vote never reopens a decision
    hand.submit("A", i[1], grade("no"))
    hand.submit("B", i[1], grade("yes", "1"))
    assert status(i[1]) == "needs_adjudication"
    set_vote_settings(study, hand.admin, VoteSettings(quorum=3))
    for _step in judge.recompute_steps():  # new rules, then "Recompute votes"
        pass
    assert status(i[1]) == "insufficient"
    file = tmp_path / "theirs.csv"
    file.write_text("image,rop,stage,quality\n" + "".join(
        f"{hand.name_of(k)},{rop},{stage},gradable\n" for k, rop, stage in ((i[1], "yes", "3"), (i[2], "no", "0"))),
        encoding="utf-8")
    summary = import_annotations(study, hand.admin, "grades_csv", file)  # a third vote, from another tool
    assert summary.images == [i[1], i[2]]
    # quorum reached on i[1], three stages (0, 1, 3): the adjudicator's; i[2] has one vote of three
    assert status(i[1]) == "needs_adjudication" and status(i[2]) == "insufficient"
