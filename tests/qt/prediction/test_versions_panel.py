"""The Models tab: versions side by side, activate / delete / export / import (a bad bundle is
refused with its reason and nothing is registered), batch prediction with progress and cancel
(signed in as the demo adjudicator: managing models is theirs), and for a blinded grader the
worklist's model columns and "most uncertain next"."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

from PySide6.QtCore import Qt

from rop_desktop.services.assist import set_assist_mode
from rop_desktop.services.demo_study import DEMO_ADJUDICATOR
from rop_desktop.services.models import ModelService
from rop_desktop.services.predictions import PredictionService
from rop_desktop.ui.prediction.worklist_columns import HEADERS, HIDDEN


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_activate_delete_export_and_import(qtbot, open_window, bundles, tmp_path: Path) -> None:
    mw = open_window(DEMO_ADJUDICATOR)
    mw.start()
    panel = mw.controller.versions_panel
    mw.tab(panel)
    first = mw.register(bundles["binary"], activate=False)
    line = mw.register(bundles["segmentation"], activate=False)
    mw.controller.versions.refresh()
    assert [v.id for v in panel.versions()] == [line.id, first.id]  # newest first
    assert panel.table.horizontalHeaderItem(1).text() == "●"

    panel.select(first.id)
    click(qtbot, panel.activate_button)
    assert ModelService(mw.store, mw.admin).active("binary").id == first.id
    assert panel.table.item(1, 1).text() == "●" and panel.activate_button.text() == "Deactivate"
    qtbot.waitUntil(lambda: mw.controller.result is not None and "binary" in mw.controller.result.outputs,
                    timeout=60_000)  # activation took effect for the image on screen at once

    panel.ask_directory = lambda _title: str(tmp_path / "exported")
    click(qtbot, panel.export_button)
    assert (tmp_path / "exported" / "card.json").is_file() and "exported to" in panel.message.text()

    panel.ask_directory = lambda _title: str(tmp_path / "exported")
    click(qtbot, panel.import_button)
    imported = panel.versions()[0]
    assert imported.id not in (first.id, line.id) and imported.task == "binary" and not imported.active
    assert panel.selected_id() == imported.id and "Imported" in panel.message.text()

    panel.confirm = lambda _text: False
    click(qtbot, panel.delete_button)
    assert len(panel.versions()) == 3  # not confirmed: nothing happens
    panel.confirm = lambda _text: True
    panel.select(first.id)
    click(qtbot, panel.delete_button)
    assert first.id not in [v.id for v in ModelService(mw.store, mw.admin).versions()]
    assert not first.bundle_dir.exists()
    qtbot.waitUntil(lambda: mw.controller.result is not None and not mw.controller.result.outputs,
                    timeout=60_000)  # the deleted model no longer predicts


def test_a_bad_bundle_is_refused_with_the_reason_and_nothing_registered(qtbot, open_window, tmp_path: Path) -> None:
    mw = open_window(DEMO_ADJUDICATOR)
    panel = mw.controller.versions_panel
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "card.json").write_text(json.dumps({"format_version": 1, "name": "x"}), encoding="utf-8")
    (bad / "weights.pt").write_bytes(pickle.dumps({"not": "weights"}))
    for folder in (bad, tmp_path / "missing"):
        panel.ask_directory = lambda _title, f=folder: str(f)
        click(qtbot, panel.import_button)
        assert panel.message.text().startswith("Not imported:") and len(panel.message.text()) > 20
        assert ModelService(mw.store, mw.admin).versions() == [] and panel.table.rowCount() == 0
    models = mw.folder / "models"
    assert not models.exists() or not any(models.iterdir())


def test_batch_prediction_shows_progress_and_fills_the_worklist_columns(qtbot, open_window, bundles) -> None:
    mw = open_window(DEMO_ADJUDICATOR)
    mw.register(bundles["binary"])
    mw.start()
    panel, versions = mw.controller.versions_panel, mw.controller.versions
    mw.tab(panel)
    progress = []
    click(qtbot, panel.predict_all_button)
    worker = versions.batch
    worker.yielded.connect(progress.append)
    assert panel.batch_progress.isVisibleTo(panel) and not panel.predict_all_button.isEnabled()
    with qtbot.waitSignal(worker.returned, timeout=60_000):
        pass
    qtbot.waitUntil(lambda: panel.predict_all_button.isEnabled(), timeout=5000)
    n = len(mw.image_ids())
    assert progress[-1] == (n, n) and "Predicted" in panel.message.text()

    proxy = mw.controller.worklist_columns
    source = mw.window.worklist.model
    assert proxy.columnCount() == source.columnCount() + 2
    assert [proxy.headerData(source.columnCount() + k, Qt.Orientation.Horizontal) for k in (0, 1)] == list(HEADERS)
    p_col = source.columnCount()
    scores = PredictionService(mw.store, mw.admin).probabilities()
    row = source.row_of(mw.workspace.shown)
    p, u = scores[mw.workspace.shown]
    assert proxy.index(row, p_col).data() == f"{p:.2f}" and proxy.index(row, p_col + 1).data() == f"{u:.2f}"


def test_a_blinded_grader_sees_a_score_after_submitting_and_in_assist_mode_the_most_uncertain_next(
        qtbot, open_window, bundles) -> None:
    mw = open_window()  # "Me", a blinded grader: the columns say "hidden" until an image is submitted
    mw.register(bundles["binary"])
    for _progress in PredictionService(mw.store, mw.admin, device="cpu").predict_all():  # as the admin would
        pass
    mw.controller.refresh_worklist_scores()
    mw.start()
    panel = mw.controller.versions_panel
    proxy = mw.controller.worklist_columns
    source = mw.window.worklist.model
    p_col = source.columnCount()
    assert {proxy.index(r, p_col).data() for r in range(proxy.rowCount())} == {HIDDEN}
    image = mw.workspace.shown
    mw.tab(mw.window.wiring.grade_panel)
    mw.canvas.setFocus()
    qtbot.keyClick(mw.canvas, "n")
    with qtbot.waitSignal(mw.workspace.gradeSubmitted, timeout=5000):
        qtbot.keyClick(mw.canvas, Qt.Key.Key_Return)
    row = source.row_of(image)
    assert row is not None, "the submitted image left the to-do list: show all images"
    p, u = PredictionService(mw.store, mw.actor).probabilities()[image]
    assert proxy.index(row, p_col).data() == f"{p:.2f}" and proxy.index(row, p_col + 1).data() == f"{u:.2f}"
    others = [proxy.index(r, p_col).data() for r in range(proxy.rowCount()) if r != row]
    assert set(others) == {HIDDEN}  # every image not submitted stays blinded

    set_assist_mode(mw.store, mw.admin, True)  # the admin lets graders see the model while grading
    mw.controller.refresh_worklist_scores()
    assert HIDDEN not in {proxy.index(r, p_col).data() for r in range(proxy.rowCount())}
    qtbot.waitUntil(lambda: mw.workspace.shown == mw.workspace.current, timeout=60_000)
    order = PredictionService(mw.store, mw.actor).most_uncertain_first(mw.window.wiring.workspace.service)
    assert image not in order
    scores = PredictionService(mw.store, mw.admin).probabilities()
    assert [scores[i][1] for i in order] == sorted((scores[i][1] for i in order), reverse=True)
    expected = next(i for i in order if i != mw.workspace.shown)
    mw.tab(panel)
    with qtbot.waitSignal(mw.workspace.imageShown, timeout=60_000) as shown:
        click(qtbot, panel.uncertain_button)
    assert shown.args == [expected]


def test_batch_prediction_can_be_cancelled(qtbot, open_window, bundles) -> None:
    mw = open_window(DEMO_ADJUDICATOR)
    mw.register(bundles["binary"])
    versions = mw.controller.versions
    aborted = []

    def attach(worker) -> None:
        # cancel from inside the first yield (one image done): deterministic whatever the speed
        worker.yielded.connect(lambda _p: versions.cancel_predict_all(), Qt.ConnectionType.DirectConnection)
        worker.aborted.connect(lambda: aborted.append(True))

    versions.batchStarting.connect(attach)
    mw.tab(versions.panel)
    click(qtbot, versions.panel.predict_all_button)
    click(qtbot, versions.panel.cancel_batch_button)  # the button, as well: harmless when already stopping
    qtbot.waitUntil(lambda: bool(aborted), timeout=30_000)
    qtbot.waitUntil(lambda: versions.panel.predict_all_button.isEnabled(), timeout=5000)
    assert "cancelled" in versions.panel.message.text()
    assert len(PredictionService(mw.store, mw.admin).probabilities()) < len(mw.image_ids())
