"""Migration 0012 (issue 15): each audit event about one image's work gets that image's id, filled
in for a study made before it from what the event names — the grade's, outline's or landmarks
row's image, the ``image_id`` a reference event's values carry (else its reference row's), the
image of a manifest event — and study-wide events none; an image's history then reads one index."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from rop_desktop.store import Study, migrate
from rop_desktop.store.db import make_engine

from .conftest import insert_legacy_images

_EVENT = ("INSERT INTO audit_events (id, at, entity, entity_id, action, before, after) "
          "VALUES (:id, CURRENT_TIMESTAMP, :entity, :entity_id, :action, :before, :after)")


def test_events_made_before_get_the_image_they_are_about(study: Study) -> None:
    study.close()
    engine = make_engine(study.url)
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0011")
        insert_legacy_images(conn, 3)
        conn.execute(text("INSERT INTO graders (id, name, role, active, created_at, failed_sign_ins) "
                          "VALUES (1, 'Dr. A', 'grader', true, CURRENT_TIMESTAMP, 0)"))
        conn.execute(text("INSERT INTO grades (id, image_id, grader_id, submitted, comment, created_at, updated_at, "
                          "version_id) VALUES (7, 2, 1, true, '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)"))
        conn.execute(text("INSERT INTO reference_standard (id, image_id, method, comment, decided_at, version_id) "
                          "VALUES (5, 3, 'unanimous', '', CURRENT_TIMESTAMP, 1)"))
        events = [
            (1, "grade", 7, "submit", None, '{"rop": "yes"}'),  # grade 7 is image 2's
            (2, "reference", 99, "withdraw", '{"image_id": 1, "method": "majority"}', None),  # row gone: its values
            (3, "reference", 5, "create", None, '{"method": "unanimous"}'),  # values without an image: its row
            (4, "image", 3, "manifest", '{"eye": null}', '{"eye": "OD"}'),
            (5, "setting", 0, "update", None, '{"key": "votes.settings"}'),  # study-wide: no image
            (6, "grade", 404, "submit", None, '{"rop": "no"}'),  # a grade row that is gone: no image
        ]
        for id_, entity, entity_id, action, before, after in events:
            conn.execute(text(_EVENT), {"id": id_, "entity": entity, "entity_id": entity_id, "action": action,
                                        "before": before, "after": after})
    engine.dispose()
    migrate.upgrade(study.url)
    with Study.open(study.root) as again, again.engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT id, image_id FROM audit_events WHERE id <= 6 ORDER BY id")).all())
        indexes = {i["name"]: i["column_names"] for i in inspect(again.engine).get_indexes("audit_events")}
    assert stored == {1: 2, 2: 1, 3: 3, 4: 3, 5: None, 6: None}
    assert indexes["ix_audit_events_image_id_at"] == ["image_id", "at"]


def test_the_migration_goes_down_and_up_again(study: Study) -> None:
    study.close()
    engine = make_engine(study.url)
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0011")
        assert "image_id" not in {c["name"] for c in inspect(conn).get_columns("audit_events")}
    engine.dispose()
    migrate.upgrade(study.url)
    with Study.open(study.root) as again:
        assert "image_id" in {c["name"] for c in inspect(again.engine).get_columns("audit_events")}
