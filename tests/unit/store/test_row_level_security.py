"""Row-level security of a shared study: each account's own PostgreSQL role, tried as an attacker.

Every test but the naming ones needs a real PostgreSQL server (``ROP_TEST_DB=postgresql``, see
``tests/unit/conftest.py``) and is skipped on SQLite. The study is made and its accounts are
created through the real services by its owner (the test server's superuser); then each test
connects *as an account's role* — the way a grader at a workstation with ``psql`` would — and
tries to read or write what blinding forbids, or drives the app's own grading service through
that connection to show it still works.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import LesionType, Quality, Role, RopPresence, Stage
from rop_desktop.domain.shapes import Shape, new_shape_id
from rop_desktop.domain.votes import VoteSettings
from rop_desktop.services import accounts, db_roles, policy, reference
from rop_desktop.services.changes import ChangeFeed
from rop_desktop.services.grading import GradingService
from rop_desktop.services.policy import AccessDenied, Actor
from rop_desktop.services.predictions import PredictionService
from rop_desktop.store import Study, pg_roles, repo
from rop_desktop.store.pg_roles import PgRoleError, account_role_name, group_names, study_key

PASSWORDS = {"Dr. A": "a-secret-of-dr-a", "Dr. B": "b-secret-of-dr-b", "Dr. C": "c-secret-of-dr-c",
             "Dr. Judge": "judge-secret-pw", "Admin": "correct horse battery"}

NO = GradeValues(rop=RopPresence.NO, stage=Stage.S0, quality=Quality.GRADABLE)
YES1 = GradeValues(rop=RopPresence.YES, stage=Stage.S1, quality=Quality.GRADABLE)


def ridge(stage: Stage = Stage.S1) -> Shape:
    return Shape(id=new_shape_id(), points=((5, 5), (40, 5), (40, 20), (5, 20)), lesion_type=LesionType.RIDGE,
                 stage=stage)


# ---------------------------------------------------------------------------- names (both backends)
def test_role_names_are_short_plain_identifiers_distinct_per_study_and_account() -> None:
    hostile = ['Dr. O\'Brien "x"; DROP ROLE postgres; --', "Ünïcödé Grader", "一个名字", "", "a" * 128]
    names = {account_role_name("rop_2026", n) for n in hostile}
    assert len(names) == len(hostile)
    for name in names | set(group_names("rop_2026").values()):
        assert len(name) <= pg_roles.MAX_ROLE_NAME and name.isascii()
        assert all(ch.isalnum() or ch == "_" for ch in name) and name == name.lower()
    assert account_role_name("rop_2026", "Dr. A") == account_role_name("rop_2026", "Dr. A")  # deterministic
    assert account_role_name("rop_2026", "Dr. A") != account_role_name("rop_2026", "dr. a")
    assert account_role_name("rop_2026", "Dr. A") != account_role_name("rop_2027", "Dr. A")
    assert account_role_name("rop_2026", "graders") not in group_names("rop_2026").values()
    # awkward database names get a hash, so two of them never share roles
    assert study_key("ROP 2026") != study_key("rop 2026") and study_key("x" * 60) != study_key("x" * 61)
    assert len(study_key("x" * 200)) <= 28


def test_the_url_of_an_account_replaces_whoever_the_server_url_named() -> None:
    url = pg_roles.account_url("postgresql+psycopg://owner:ownerpw@db.clinic/rop?sslmode=verify-full&user=x"
                               "&password=y", "rop_rop_dr_a_12345678", "pw")
    assert (url.username, url.password, url.host, url.database) == ("rop_rop_dr_a_12345678", "pw", "db.clinic", "rop")
    assert dict(url.query) == {"sslmode": "verify-full"}
    with pytest.raises(PgRoleError, match="only on a PostgreSQL"):
        pg_roles.account_url("sqlite+pysqlite:////tmp/x.sqlite", "r", "pw")


@pytest.mark.sqlite_only("a study on one workstation has no database roles")
def test_on_sqlite_every_role_operation_is_refused_with_a_reason(make_study: Callable[..., Study]) -> None:
    study = make_study(1)
    admin = study.test_admin
    for call in (lambda: db_roles.ensure_account_role(study, admin, admin.id, "pw-long-enough"),
                 lambda: db_roles.drop_study_roles(study, admin),
                 lambda: db_roles.open_as_account(study, admin, "pw"),
                 lambda: db_roles.set_own_role_password(study, admin, "pw-long-enough")):
        with pytest.raises(PgRoleError, match="only on a shared \\(PostgreSQL\\) study"):
            call()
    with study.session() as session:
        assert session.execute(text("SELECT db_role FROM graders")).scalars().all() == [None]


# ---------------------------------------------------------------------------- the shared study
@dataclass
class Shared:
    """A PostgreSQL study opened by its owner, with graders A, B, C, an adjudicator and the admin,
    each with a database role."""

    study: Study
    images: list[int]
    admin: Actor
    actors: dict[str, Actor]
    roles: dict[str, str]
    _opened: list[Study] = field(default_factory=list)
    _engines: list[Engine] = field(default_factory=list)

    def as_account(self, name: str) -> Study:
        """The study as the app opens it for the signed-in account (its own role)."""
        opened = db_roles.open_as_account(self.study, self.actors[name], PASSWORDS[name])
        self._opened.append(opened)
        return opened

    def psql(self, name: str) -> Engine:
        """A bare connection as the account's role: what someone with psql would have."""
        engine = create_engine(pg_roles.account_url(self.study.url, self.roles[name], PASSWORDS[name]),
                               poolclass=NullPool, isolation_level="AUTOCOMMIT")
        self._engines.append(engine)
        return engine

    def owner(self, sql: str, **params: Any) -> list[Any]:
        with self.study.engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return list(result.all()) if result.returns_rows else []

    def grading(self, name: str, study: Study | None = None) -> GradingService:
        return GradingService(study or self.study, self.actors[name])

    def close(self) -> None:
        for opened in self._opened:
            opened.close()
        for engine in self._engines:
            engine.dispose()


@pytest.fixture
def shared(_backend: str, make_study: Callable[..., Study]) -> Iterator[Shared]:
    if _backend != "postgresql":
        pytest.skip("PostgreSQL only: database roles and row-level security (ROP_TEST_DB=postgresql)")
    study = make_study(4)
    admin = study.test_admin
    actors = {"Admin": admin}
    for name, role in (("Dr. A", Role.GRADER), ("Dr. B", Role.GRADER), ("Dr. C", Role.GRADER),
                       ("Dr. Judge", Role.ADJUDICATOR)):
        account = accounts.create_account(study, admin, name, role, password=PASSWORDS[name])
        actors[name] = Actor(account.id, account.name, account.role)
    with study.session() as session:
        images = [row[0] for row in session.execute(text("SELECT id FROM images ORDER BY id"))]
    world = Shared(study, images, admin, actors, {})
    try:
        for name, actor in actors.items():
            world.roles[name] = db_roles.ensure_account_role(study, admin, actor.id, PASSWORDS[name]).role
        yield world
    finally:
        world.close()
        db_roles.drop_study_roles(study, admin)  # roles are server-wide: never leave one behind


def _rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def _rowcount(engine: Engine, sql: str, **params: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).rowcount


def _refused(engine: Engine, sql: str, **params: Any) -> str:
    """The server's refusal of ``sql`` (the test fails if it is accepted)."""
    with pytest.raises(DBAPIError) as caught, engine.connect() as conn:
        conn.execute(text(sql), params)
    return str(caught.value.orig)


# ---------------------------------------------------------------------------- blinding, as an attacker
def test_a_graders_role_can_neither_see_nor_touch_another_graders_draft(shared: Shared) -> None:
    image = shared.images[0]
    a = shared.grading("Dr. A")
    a.save_draft(image, YES1)
    a.save_shape(image, ridge())
    a_id, b_id = shared.actors["Dr. A"].id, shared.actors["Dr. B"].id
    b = shared.psql("Dr. B")

    assert _rows(b, "SELECT * FROM grades WHERE grader_id = :a", a=a_id) == []
    assert _rows(b, "SELECT * FROM annotations WHERE grader_id = :a", a=a_id) == []
    assert _rows(b, "SELECT count(*) FROM grades")[0][0] == 0  # not even that a row exists
    assert _rowcount(b, "UPDATE grades SET comment = 'overwritten' WHERE grader_id = :a", a=a_id) == 0
    assert _rowcount(b, "UPDATE annotations SET deleted = true WHERE grader_id = :a", a=a_id) == 0
    # outlines are only ever soft-deleted: no role but the owner deletes a row
    assert "permission denied" in _refused(b, "DELETE FROM annotations WHERE grader_id = :a", a=a_id)
    assert "row-level security" in _refused(
        b, "INSERT INTO annotations (uid, image_id, grader_id, geometry, lesion_type, source, deleted, created_at, "
           "updated_at, version_id) VALUES ('forged', :i, :a, '[]', 'ridge', 'drawn', false, now(), now(), 1)",
        i=image, a=a_id)
    assert "row-level security" in _refused(
        b, "INSERT INTO grades (image_id, grader_id, submitted, created_at, updated_at, version_id, comment) "
           "VALUES (:i, :a, true, now(), now(), 1, 'forged')", i=shared.images[1], a=a_id)
    # nor hand one's own row over to A
    b_grading = shared.grading("Dr. B", shared.as_account("Dr. B"))
    b_grading.save_draft(image, NO)
    assert "row-level security" in _refused(b, "UPDATE grades SET grader_id = :a WHERE grader_id = :b",
                                            a=a_id, b=b_id)
    # the helper functions answer nothing about A's work either
    assert _rows(b, "SELECT rop_work_visible(:i, :a), rop_others_visible(:i)", i=image, a=a_id) == [(False, False)]

    draft = shared.owner("SELECT comment, version_id FROM grades WHERE grader_id = :a", a=a_id)
    assert draft == [("", 1)]  # A's draft as A left it
    assert shared.owner("SELECT count(*) FROM annotations WHERE grader_id = :a AND NOT deleted", a=a_id) == [(1,)]
    assert shared.owner("SELECT count(*) FROM annotations WHERE uid = 'forged'") == [(0,)]


def test_after_submitting_a_grader_sees_submitted_work_but_never_a_draft(shared: Shared) -> None:
    image = shared.images[0]
    a, c = shared.grading("Dr. A"), shared.grading("Dr. C")
    a.save_shape(image, ridge())
    a.submit(image, YES1)
    c.save_shape(image, ridge())
    c.save_draft(image, YES1)  # C has not submitted
    ids = {n: shared.actors[n].id for n in ("Dr. A", "Dr. B", "Dr. C")}
    b = shared.psql("Dr. B")
    assert _rows(b, "SELECT grader_id FROM grades") == []

    b_grading = shared.grading("Dr. B", shared.as_account("Dr. B"))
    b_grading.submit(image, NO)

    assert sorted(r[0] for r in _rows(b, "SELECT grader_id FROM grades")) == sorted([ids["Dr. A"], ids["Dr. B"]])
    assert {r[0] for r in _rows(b, "SELECT grader_id FROM annotations")} == {ids["Dr. A"]}
    assert _rows(b, "SELECT * FROM grades WHERE grader_id = :c", c=ids["Dr. C"]) == []
    # the app, connected as B, shows what the server lets through: A's submitted grade only
    assert set(b_grading.other_grades(image)) == {"Dr. A"}
    # another image B has not submitted stays dark
    a.submit(shared.images[1], NO)
    assert _rows(b, "SELECT * FROM grades WHERE image_id = :i", i=shared.images[1]) == []


def test_a_study_that_never_reveals_keeps_others_hidden_and_an_unblinded_one_shows_submitted_work(
        shared: Shared) -> None:
    image, other = shared.images[0], shared.images[1]
    for img in (image, other):
        shared.grading("Dr. A").submit(img, NO)
    shared.grading("Dr. C").save_draft(other, NO)
    accounts.set_study_setting(shared.study, shared.admin, policy.REVEAL_SETTING, False)
    shared.grading("Dr. B", shared.as_account("Dr. B")).submit(image, NO)
    b, a_id, c_id = shared.psql("Dr. B"), shared.actors["Dr. A"].id, shared.actors["Dr. C"].id
    assert _rows(b, "SELECT * FROM grades WHERE grader_id = :a", a=a_id) == []

    accounts.set_study_setting(shared.study, shared.admin, policy.BLINDED_SETTING, False)
    seen = _rows(b, "SELECT image_id, grader_id FROM grades WHERE grader_id <> :b", b=shared.actors["Dr. B"].id)
    assert sorted(seen) == sorted([(image, a_id), (other, a_id)])  # submitted work, even before B grades it
    assert (other, c_id) not in seen  # never C's draft


def test_model_output_is_hidden_from_a_blinded_grader_until_submit_or_assist_mode(shared: Shared) -> None:
    image = shared.images[0]
    model = shared.owner("INSERT INTO model_versions (name, task, architecture, bundle_path, card, metrics, active, "
                         "created_at) VALUES ('m', 'binary', 'tiny', 'm1', '{}', '{}', true, now()) RETURNING id")[0][0]
    shared.owner("INSERT INTO predictions (image_id, model_version_id, payload, created_at) "
                 "VALUES (:i, :m, '{\"probability\": 0.9}', now())", i=image, m=model)
    b = shared.psql("Dr. B")
    assert _rows(b, "SELECT * FROM predictions") == []
    assert "row-level security" in _refused(b, "INSERT INTO predictions (image_id, model_version_id, payload, "
                                               "created_at) VALUES (:i, :m, '{}', now())", i=shared.images[1], m=model)
    predictions = PredictionService(shared.as_account("Dr. B"), shared.actors["Dr. B"], device="cpu")
    assert predictions.probabilities() == {}  # the worklist column, through B's role
    accounts.set_study_setting(shared.study, shared.admin, policy.ASSIST_SETTING, True)
    assert len(_rows(b, "SELECT * FROM predictions")) == 1
    assert predictions.probabilities()[image][0] == pytest.approx(0.9)


def test_an_adjudicators_role_sees_every_grade_outline_and_audit_value(shared: Shared) -> None:
    image = shared.images[0]
    a = shared.grading("Dr. A")
    a.save_draft(image, YES1)
    a.save_shape(image, ridge())
    judge = shared.psql("Dr. Judge")
    assert len(_rows(judge, "SELECT * FROM grades WHERE NOT submitted")) == 1
    assert len(_rows(judge, "SELECT * FROM annotations")) == 1
    assert any(r[0] is not None for r in _rows(judge, "SELECT after FROM audit_events WHERE entity = 'grade'"))
    # …but writes no grade under a grader's name
    assert _rowcount(judge, "UPDATE grades SET comment = 'judged' WHERE grader_id = :a",
                     a=shared.actors["Dr. A"].id) == 0


# ---------------------------------------------------------------------------- the app, as a grader's role
def test_the_app_grades_through_a_graders_own_role(shared: Shared) -> None:
    image, second = shared.images[0], shared.images[1]
    reference.set_vote_settings(shared.study, shared.admin, VoteSettings(quorum=2))
    shared.grading("Dr. A").submit(image, NO)
    as_b = shared.as_account("Dr. B")
    assert as_b.url.username == shared.roles["Dr. B"]
    feed = ChangeFeed(as_b)
    try:
        b = shared.grading("Dr. B", as_b)
        assert [row.status for row in b.worklist()] == ["todo"] * 4
        assert b.next_todo() == image
        shape = ridge()
        b.save_shape(image, shape)
        assert [s.id for s in b.my_shapes(image)] == [shape.id]
        b.delete_shape(image, shape.id)
        b.save_shape(image, shape)  # undo of the delete
        draft = b.save_draft(image, YES1)
        assert b.my_grade(image).values == YES1 and not draft.submitted
        b.save_draft(image, NO, expected_version=draft.version)
        mine = b.submit(image, NO)
        assert mine.submitted
        # B's submit settled the image's reference through B's own role (2 of 2 votes agree)
        assert shared.owner("SELECT method, decided_by FROM reference_standard WHERE image_id = :i", i=image) == [
            ("unanimous", None)]
        b.save_draft(image, YES1, expected_version=mine.version)  # an amendment: the votes split again
        assert shared.owner("SELECT count(*) FROM reference_standard WHERE image_id = :i", i=image) == [(0,)]
        assert b.others_visible(image) and set(b.other_grades(image)) == {"Dr. A"}
        b.remember_image(second)
        assert b.last_image() == second
        b.save_display_settings({"gamma": 1.2})
        assert b.display_settings() == {"gamma": 1.2}
        assert {r.status for r in b.worklist()} == {"submitted", "todo"}
        shared.grading("Dr. A").save_draft(second, YES1)  # another workstation's edit reaches B's feed
        a_grade = shared.owner("SELECT id FROM grades WHERE image_id = :i", i=second)[0][0]
        seen: list[Any] = []
        for _ in range(50):  # the feed drains what has arrived; B's own edits came first
            seen += feed.poll(timeout=2)
            if any(c.entity == "grade" and c.entity_id == a_grade for c in seen):
                break
        assert any(c.entity == "grade" and c.entity_id == a_grade for c in seen)
    finally:
        feed.close()


def test_an_adjudicator_and_an_admin_work_through_their_own_roles(shared: Shared) -> None:
    image = shared.images[0]
    shared.grading("Dr. A").save_shape(image, ridge())
    shared.grading("Dr. A").submit(image, YES1)
    shared.grading("Dr. C").submit(image, NO)
    desk = reference.ReferenceService(shared.as_account("Dr. Judge"), shared.actors["Dr. Judge"])
    case = desk.case(image)
    assert {work.name for work in case.graders} == {"Dr. A", "Dr. C"}
    decided = desk.adjudicate(image, YES1, polygons_from="Dr. A")
    assert decided.method == "adjudicated" and decided.decided_by == "Dr. Judge"
    assert [(e.entity, e.action, e.actor) for e in desk.history(image)] == [
        ("grade", "submit", "Dr. A"), ("grade", "submit", "Dr. C"), ("reference", "adjudicate", "Dr. Judge")]

    as_admin = shared.as_account("Admin")
    made = accounts.create_account(as_admin, shared.admin, "Dr. D", password="d-password-1")
    accounts.set_study_setting(as_admin, shared.admin, policy.ASSIST_SETTING, True)
    assert shared.owner("SELECT name FROM graders WHERE id = :i", i=made.id) == [("Dr. D",)]
    # a grader's settle after a submit never overwrites the adjudicator's decision
    shared.grading("Dr. B", shared.as_account("Dr. B")).submit(image, NO)
    assert shared.owner("SELECT method FROM reference_standard WHERE image_id = :i", i=image) == [("adjudicated",)]


def test_a_graders_role_moves_an_image_in_the_queue_only_where_its_own_submit_settles_it(shared: Shared) -> None:
    """``images.queue_status`` (0008): a grader's role may write that one column, and only of an
    image it submitted and may see the other votes of — what the settling after its submit does."""
    image, other = shared.images[0], shared.images[1]
    b = shared.psql("Dr. B")
    assert "permission denied" in _refused(b, "UPDATE images SET original_name = 'x' WHERE id = :i", i=image)
    assert _rowcount(b, "UPDATE images SET queue_status = NULL WHERE id = :i", i=image) == 0  # not B's vote
    reference.set_vote_settings(shared.study, shared.admin, VoteSettings(quorum=2))
    shared.grading("Dr. A").submit(image, NO)
    shared.grading("Dr. B", shared.as_account("Dr. B")).submit(image, YES1)  # the votes split, through B's role
    assert shared.owner("SELECT queue_status FROM images WHERE id = :i", i=image) == [("needs_adjudication",)]
    # a study that never reveals: B's workstation cannot see the other votes, so its submit leaves
    # the image where it is (it would have put it under "too few votes")
    accounts.set_study_setting(shared.study, shared.admin, policy.REVEAL_SETTING, False)
    shared.grading("Dr. A").submit(other, NO)
    shared.grading("Dr. C").submit(other, YES1)
    yes2 = GradeValues(rop=RopPresence.YES, stage=Stage.S2, quality=Quality.GRADABLE)
    shared.grading("Dr. B", shared.as_account("Dr. B")).submit(other, yes2)
    assert shared.owner("SELECT queue_status FROM images WHERE id = :i", i=other) == [("needs_adjudication",)]
    assert _rowcount(b, "UPDATE images SET queue_status = NULL WHERE id = :i", i=other) == 0


def test_the_queues_kept_tallies_stay_as_blind_as_the_votes_they_count(shared: Shared) -> None:
    """``queue_tallies`` (0010) holds every grader's votes of an open image together: a grader's
    role reads it only where it may see the other votes, writes it only where its own submit
    settles the image, and a submit that may not write it still goes through."""
    image, other = shared.images[0], shared.images[1]
    b = shared.psql("Dr. B")
    shared.grading("Dr. A").submit(image, YES1)  # one vote: the image waits for more, its tally kept
    assert shared.owner("SELECT votes FROM queue_tallies WHERE image_id = :i", i=image) == [(1,)]
    assert _rows(b, "SELECT * FROM queue_tallies") == []  # B has not graded it: A's vote stays hidden
    assert _rowcount(b, "DELETE FROM queue_tallies WHERE image_id = :i", i=image) == 0
    assert "row-level security" in _refused(
        b, "INSERT INTO queue_tallies (image_id, votes, mark, rules, detail) VALUES (:i, 9, 0, 'x', '{}')", i=other)
    shared.grading("Dr. B", shared.as_account("Dr. B")).submit(image, NO)  # settled through B's own role
    assert [r[0] for r in _rows(b, "SELECT votes FROM queue_tallies WHERE image_id = :i", i=image)] == [2]
    # a study that never reveals: B's submit cannot see A's vote, so it leaves A's tally alone
    accounts.set_study_setting(shared.study, shared.admin, policy.REVEAL_SETTING, False)
    shared.grading("Dr. A").submit(other, YES1)
    shared.grading("Dr. B", shared.as_account("Dr. B")).submit(other, NO)
    assert shared.owner("SELECT votes FROM queue_tallies WHERE image_id = :i", i=other) == [(1,)]
    assert _rows(b, "SELECT * FROM queue_tallies WHERE image_id = :i", i=other) == []
    judge = reference.ReferenceService(shared.study, shared.actors["Dr. Judge"])
    [listed] = [q for q in judge.insufficient(limit=None) if q.image_id == other]
    assert listed.n_votes == 2  # the adjudicator's page works the stale row out again


# ---------------------------------------------------------------------------- no way up
def test_a_graders_role_cannot_raise_itself_unblind_the_study_or_read_secrets(shared: Shared) -> None:
    b, me = shared.psql("Dr. B"), shared.actors["Dr. B"].id
    shared.owner("INSERT INTO study_settings (key, value) VALUES ('dicom_export_salt', '\"s3cret-salt\"')")
    shared.grading("Dr. A").save_draft(shared.images[0], YES1)  # an audit event with A's draft values

    assert "permission denied" in _refused(b, "UPDATE graders SET role = 'admin' WHERE id = :me", me=me)
    assert "permission denied" in _refused(b, "UPDATE graders SET db_role = NULL WHERE id = :me", me=me)
    assert "permission denied" in _refused(b, "UPDATE graders SET active = true")
    assert _rowcount(b, "UPDATE graders SET password_hash = 'x' WHERE id <> :me", me=me) == 0
    assert "permission denied" in _refused(b, f"SET ROLE {group_names(shared.study.url.database)[Role.ADJUDICATOR]}")
    assert "admin option" in _refused(b, f"GRANT {group_names(shared.study.url.database)[Role.ADMIN]} "
                                         f"TO {shared.roles['Dr. B']}")
    assert _rowcount(b, "UPDATE study_settings SET value = 'false' WHERE key = 'grading.blinded'") == 0
    assert "row-level security" in _refused(b, "INSERT INTO study_settings (key, value) "
                                               "VALUES ('grading.blinded', 'false')")
    assert _rows(b, "SELECT * FROM study_settings WHERE key = 'dicom_export_salt'") == []
    assert _rows(b, "SELECT rop_grading_setting('dicom_export_salt', false)") == [(False,)]
    assert "permission denied" in _refused(b, "SELECT before, after FROM audit_events")
    assert "row-level security" in _refused(b, "INSERT INTO audit_events (at, grader_id, entity, entity_id, action) "
                                               "VALUES (now(), :a, 'grade', 1, 'submit')",
                                            a=shared.actors["Dr. A"].id)
    assert "permission denied" in _refused(b, "DELETE FROM audit_events")
    assert "row-level security" in _refused(
        b, "INSERT INTO reference_standard (image_id, method, decided_by, decided_at, version_id, comment) "
           "VALUES (:i, 'adjudicated', :me, now(), 1, '')", i=shared.images[0], me=me)
    assert "permission denied" in _refused(b, "DELETE FROM images")
    assert "permission denied" in _refused(b, "CREATE TABLE mine (x int)")
    assert "must be owner" in _refused(b, "ALTER TABLE grades DISABLE ROW LEVEL SECURITY")
    # own things stay writable: a setting of one's own, one's own display settings
    assert _rowcount(b, "INSERT INTO study_settings (key, value) VALUES (:k, '1')", k=f"grader.{me}.x") == 1
    assert _rowcount(b, "UPDATE graders SET display_settings = '{}' WHERE id = :me", me=me) == 1
    # no account's role owns anything, nor holds a power that escapes the policies
    powers = shared.owner("SELECT rolname FROM pg_roles WHERE rolname = ANY(:r) AND (rolsuper OR rolcreaterole "
                          "OR rolcreatedb OR rolbypassrls OR rolreplication)", r=list(shared.roles.values()))
    owners = shared.owner("SELECT c.relname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
                          "WHERE r.rolname = ANY(:r)", r=list(shared.roles.values()))
    assert powers == [] and owners == []


def test_a_deactivated_account_is_nobody_even_on_an_open_connection(shared: Shared) -> None:
    image = shared.images[0]
    as_b = shared.as_account("Dr. B")
    shared.grading("Dr. B", as_b).save_draft(image, NO)
    b = shared.psql("Dr. B")
    with b.connect() as still_open:
        accounts.set_active(shared.study, shared.admin, shared.actors["Dr. B"].id, False)
        assert not db_roles.ensure_account_role(shared.study, shared.admin, shared.actors["Dr. B"].id).can_log_in
        assert still_open.execute(text("SELECT * FROM grades")).all() == []
        assert still_open.execute(text("UPDATE grades SET comment = 'late'")).rowcount == 0
    assert shared.owner("SELECT rolcanlogin FROM pg_roles WHERE rolname = :r", r=shared.roles["Dr. B"]) == [(False,)]
    with pytest.raises(AccessDenied):
        shared.grading("Dr. B", as_b)


def test_a_promotion_moves_the_role_to_the_reviewers_and_back(shared: Shared) -> None:
    image = shared.images[0]
    shared.grading("Dr. A").save_draft(image, YES1)
    b_id, groups = shared.actors["Dr. B"].id, group_names(shared.study.url.database)
    b = shared.psql("Dr. B")
    accounts.set_role(shared.study, shared.admin, b_id, Role.ADJUDICATOR)
    assert db_roles.ensure_account_role(shared.study, shared.admin, b_id).group == groups[Role.ADJUDICATOR]
    assert len(_rows(b, "SELECT * FROM grades")) == 1  # A's draft, for the adjudicator
    accounts.set_role(shared.study, shared.admin, b_id, Role.GRADER)
    db_roles.ensure_account_role(shared.study, shared.admin, b_id)
    assert _rows(b, "SELECT * FROM grades") == []
    member_of = shared.owner("SELECT g.rolname FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid "
                             "JOIN pg_roles m ON m.oid = a.member WHERE m.rolname = :r", r=shared.roles["Dr. B"])
    assert member_of == [(groups[Role.GRADER],)]


# ---------------------------------------------------------------------------- passwords and set-up
def _scram_matches(verifier: str, password: str) -> bool:
    """Whether a stored ``SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`` is ``password``'s (RFC 5802)."""
    scheme, iter_salt, keys = verifier.split("$")
    iterations, salt = iter_salt.split(":")
    stored_key, _server_key = keys.split(":")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return scheme == "SCRAM-SHA-256" and hashlib.sha256(client_key).digest() == base64.b64decode(stored_key)


def test_the_roles_password_is_the_accounts_stored_as_a_scram_verifier(shared: Shared) -> None:
    role = shared.roles["Dr. B"]

    def stored() -> str:
        return shared.owner("SELECT rolpassword FROM pg_authid WHERE rolname = :r", r=role)[0][0]

    assert _scram_matches(stored(), PASSWORDS["Dr. B"]) and not _scram_matches(stored(), PASSWORDS["Dr. A"])
    as_b = shared.as_account("Dr. B")
    db_roles.set_own_role_password(as_b, shared.actors["Dr. B"], "b-brand-new-pw")
    assert _scram_matches(stored(), "b-brand-new-pw")
    with pytest.raises(PgRoleError, match=r"not Dr. A's own database role"):
        db_roles.set_own_role_password(as_b, shared.actors["Dr. A"], "hijacked-pw")
    db_roles.ensure_account_role(shared.study, shared.admin, shared.actors["Dr. B"].id, "b-reset-by-admin")
    assert _scram_matches(stored(), "b-reset-by-admin")


def test_hostile_names_and_lookalike_roles_are_handled_safely(shared: Shared) -> None:
    evil = 'Dr. X"; DROP ROLE rop_test; --'
    account = accounts.create_account(shared.study, shared.admin, evil, password="evil-but-long")
    made = db_roles.ensure_account_role(shared.study, shared.admin, account.id, "evil-but-long")
    assert made.role == account_role_name(shared.study.url.database, evil)
    assert shared.owner("SELECT count(*) FROM pg_roles WHERE rolname = 'rop_test'") == [(1,)]

    # somebody made a powerful role under the name the next account would get
    victim = accounts.create_account(shared.study, shared.admin, "Dr. Y", password="y-password-1")
    lookalike = account_role_name(shared.study.url.database, "Dr. Y")
    shared.owner(f'CREATE ROLE "{lookalike}" LOGIN BYPASSRLS')
    try:
        with pytest.raises(PgRoleError, match="BYPASSRLS"):
            db_roles.ensure_account_role(shared.study, shared.admin, victim.id, "y-password-1")
        assert shared.owner("SELECT db_role FROM graders WHERE id = :i", i=victim.id) == [(None,)]
    finally:
        shared.owner(f'DROP ROLE "{lookalike}"')


def test_only_an_admin_through_the_owner_connection_manages_roles(shared: Shared) -> None:
    with pytest.raises(AccessDenied):
        db_roles.ensure_account_role(shared.study, shared.actors["Dr. Judge"], shared.actors["Dr. B"].id, "x" * 10)
    as_admin = shared.as_account("Admin")  # the admin's own role: privileges, but no CREATEROLE
    with pytest.raises(PgRoleError, match="may not create roles"):
        db_roles.ensure_account_role(as_admin, shared.admin, shared.actors["Dr. B"].id, "x" * 10)
    newcomer = accounts.create_account(shared.study, shared.admin, "Dr. New", password="new-password")
    with pytest.raises(PgRoleError, match="has no database role"):
        db_roles.open_as_account(shared.study, Actor(newcomer.id, newcomer.name, newcomer.role), "new-password")
    with pytest.raises(PgRoleError, match="needs a password"):
        db_roles.ensure_account_role(shared.study, shared.admin, newcomer.id)


def test_dropping_the_study_roles_leaves_none_behind(shared: Shared) -> None:
    database = shared.study.url.database
    dropped = db_roles.drop_study_roles(shared.study, shared.admin)
    assert set(shared.roles.values()) | set(group_names(database).values()) == set(dropped)
    assert shared.owner("SELECT rolname FROM pg_roles WHERE rolname LIKE :p", p=f"rop_{study_key(database)}_%") == []
    assert shared.owner("SELECT count(*) FROM graders WHERE db_role IS NOT NULL") == [(0,)]


def test_a_study_owner_without_superuser_rights_sets_up_and_drops_the_roles(
        _backend: str, tmp_path: Path, fast_hashes: None, request: pytest.FixtureRequest) -> None:
    """What a clinic runs: the study's owner is a plain role with CREATEROLE, not a superuser."""
    if _backend != "postgresql":
        pytest.skip("PostgreSQL only: database roles and row-level security (ROP_TEST_DB=postgresql)")
    server = request.getfixturevalue("pg_server")
    owner = f"rop_owner_{uuid.uuid4().hex[:12]}"
    database = f"{owner}_db"
    server._execute(f'CREATE ROLE "{owner}" LOGIN CREATEROLE')
    server._execute(f'CREATE DATABASE "{database}" OWNER "{owner}"')
    url = server.admin_url.set(username=owner, database=database)
    try:
        with Study.create(tmp_path / "clinic", url=url) as study:
            admin = accounts.create_first_admin(study, "Admin", PASSWORDS["Admin"])
            graders = {n: accounts.create_account(study, admin, n, password=PASSWORDS[n]) for n in ("Dr. A", "Dr. B")}
            for name, account in graders.items():
                db_roles.ensure_account_role(study, admin, account.id, PASSWORDS[name])
            image = _owner_adds_an_image(study)
            GradingService(study, Actor(graders["Dr. A"].id, "Dr. A", Role.GRADER)).save_draft(image, YES1)
            b = Actor(graders["Dr. B"].id, "Dr. B", Role.GRADER)
            with db_roles.open_as_account(study, b, PASSWORDS["Dr. B"]) as as_b:
                GradingService(as_b, b).save_draft(image, NO)
                with as_b.engine.connect() as conn:
                    assert conn.execute(text("SELECT grader_id FROM grades")).scalars().all() == [b.id]
            dropped = db_roles.drop_study_roles(study, admin)
            assert len(dropped) == 2 + 3
    finally:
        server.drop(database)
        server._execute(f'DROP ROLE IF EXISTS "{owner}"')


def _owner_adds_an_image(study: Study) -> int:
    with study.session() as session:
        exam = repo.get_or_create_exam(session, repo.get_or_create_patient(session, "P1"))
        return repo.add_image(session, exam=exam, file="ab/x.png", original_name="x.png", sha256="ab" * 32,
                              width=64, height=48, format="png", bytes=1).id


def test_signing_in_connects_as_the_accounts_own_role_or_warns_when_it_has_none(shared: Shared) -> None:
    """What the window does after the sign-in dialog: the study as the account's role, never silently
    the workstation's connection."""
    b = shared.actors["Dr. B"]
    connected, note = db_roles.connect_signed_in(shared.study, b, PASSWORDS["Dr. B"])
    try:
        assert connected is not shared.study and note is None
        assert connected.url.username == shared.roles["Dr. B"]
    finally:
        connected.close()
    # (the test server trusts loopback logins: a wrong password is refused by a real server's
    # pg_hba "scram-sha-256" line, which docs/shared-study.md sets up)
    newcomer = accounts.create_account(shared.study, shared.admin, "Dr. New", password="new-secret-pw")
    same, note = db_roles.connect_signed_in(shared.study, Actor(newcomer.id, newcomer.name, newcomer.role),
                                            "new-secret-pw")
    assert same is shared.study and "no database role" in (note or "")


def test_a_wrong_password_on_another_accounts_connection_is_still_refused(shared: Shared) -> None:
    """File → Switch grader on a grader's own connection: the counters of another account cannot be
    written there (row-level security), but the sign-in is refused all the same."""
    as_b = shared.as_account("Dr. B")
    with pytest.raises(accounts.AuthenticationError):
        accounts.sign_in(as_b, "Dr. A", "not-the-password")
    assert accounts.sign_in(as_b, "Dr. A", PASSWORDS["Dr. A"]) == shared.actors["Dr. A"]
