"""Migration 0005 (issue 15): the indexes behind the worklist and the queue, and the numbers of
predictions cached before it copied out of their payload into the new columns."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from rop_desktop.store import Study, migrate
from rop_desktop.store.db import make_engine

from .conftest import insert_legacy_images


def test_the_indexes_of_every_interactive_query_exist(study: Study) -> None:
    found = inspect(study.engine)
    indexes = {(t, tuple(i["column_names"])) for t in ("grades", "images", "exams", "predictions")
               for i in found.get_indexes(t)}
    for wanted in (("grades", ("grader_id", "submitted", "image_id")), ("grades", ("image_id", "submitted")),
                   ("images", ("original_name", "id")), ("images", ("eye", "id")), ("exams", ("camera", "id")),
                   ("exams", ("exam_date", "id")), ("predictions", ("model_version_id", "uncertainty"))):
        assert wanted in indexes, wanted
    assert ("grades", ("grader_id",)) not in indexes  # made redundant by the first one


def test_predictions_cached_before_get_their_numbers_as_columns(study: Study) -> None:
    study.close()
    engine = make_engine(study.url)
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0004")
        insert_legacy_images(conn, 3)
        conn.execute(text("INSERT INTO model_versions (id, name, task, architecture, bundle_path, card, metrics, "
                          "active, created_at) VALUES (1, 'm', 'binary', 'tiny', 'm1', '{}', '{}', true, "
                          "CURRENT_TIMESTAMP)"))
        payloads = {1: '{"probability": 0.9, "threshold": 0.5, "predicted_class": "ROP"}',
                    2: '{"class_probabilities": {"0": 0.7, "1": 0.2, "2": 0.1}, "predicted_class": "0"}',
                    3: '{"timings": {}}'}
        for i, payload in payloads.items():
            conn.execute(text("INSERT INTO predictions (image_id, model_version_id, payload, created_at) "
                              "VALUES (:i, 1, :p, CURRENT_TIMESTAMP)"), {"i": i, "p": payload})
    engine.dispose()
    migrate.upgrade(study.url)
    with Study.open(study.root) as again, again.engine.connect() as conn:
        rows = {r[0]: r[1:] for r in conn.execute(text(
            "SELECT image_id, probability, uncertainty, predicted_class, mask_area FROM predictions"))}
    assert rows[1][0] == 0.9 and abs(rows[1][1] - 0.2) < 1e-9 and rows[1][2] == "ROP"  # 1 − 0.4 / 0.5
    assert rows[2][0] is None and abs(rows[2][1] - 0.3) < 1e-9 and rows[2][2] == "0"  # 1 − max p
    assert rows[3] == (None, None, None, None)
