"""Migration 0008 (issue 15): every image gets its place in the adjudication queue, filled in for a
study made before it exactly as the queue read it then — settled under a reference, "to decide"
with the quorum of submitted votes (the study's quorum), "too few votes" otherwise — and the
partial index that holds only the open images."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from rop_desktop.store import Study, migrate
from rop_desktop.store.db import make_engine

from .conftest import insert_legacy_images


def test_the_open_images_have_a_partial_index(study: Study) -> None:
    found = {i["name"]: i for i in inspect(study.engine).get_indexes("images")}
    index = found["ix_images_queue_status_id"]
    assert index["column_names"] == ["queue_status", "id"]
    with study.engine.connect() as conn:
        if study.backend == "sqlite":
            sql = conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'ix_images_queue_status_id'"))
        else:
            sql = conn.scalar(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_images_queue_status_id'"))
    assert "queue_status IS NOT NULL" in sql


def test_a_study_made_before_gets_the_status_the_queue_gave_its_images(study: Study) -> None:
    study.close()
    engine = make_engine(study.url)
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0007")
        insert_legacy_images(conn, 5)
        for g in (1, 2, 3):
            conn.execute(text("INSERT INTO graders (id, name, role, active, created_at, failed_sign_ins) "
                              "VALUES (:g, :n, 'grader', true, CURRENT_TIMESTAMP, 0)"), {"g": g, "n": f"Dr. {g}"})
        # image 1: two submitted votes and a reference; 2: two submitted votes, no reference;
        # 3: one submitted vote and a draft; 4: three drafts; 5: nothing
        grades = {1: {1: True, 2: True}, 2: {1: True, 3: True}, 3: {1: True, 2: False},
                  4: {1: False, 2: False, 3: False}}
        for image, by in grades.items():
            for grader, submitted in by.items():
                conn.execute(text("INSERT INTO grades (image_id, grader_id, submitted, comment, created_at, "
                                  "updated_at, version_id) VALUES (:i, :g, :s, '', CURRENT_TIMESTAMP, "
                                  "CURRENT_TIMESTAMP, 1)"), {"i": image, "g": grader, "s": submitted})
        conn.execute(text("INSERT INTO reference_standard (image_id, method, comment, decided_at, version_id) "
                          "VALUES (1, 'unanimous', '', CURRENT_TIMESTAMP, 1)"))
        conn.execute(text("INSERT INTO study_settings (key, value) VALUES ('votes.settings', "
                          "'{\"quorum\": 2, \"tie_rule\": \"none\"}')"))
    engine.dispose()
    migrate.upgrade(study.url)
    with Study.open(study.root) as again, again.engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT id, queue_status FROM images ORDER BY id")).all())
    assert stored == {1: None, 2: "needs_adjudication", 3: "insufficient", 4: "insufficient", 5: "insufficient"}
