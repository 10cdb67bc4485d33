"""The Reference menu's other actions: vote settings (admins only), recompute, the reference CSV
and the training snapshot (adjudicators and admins); and the active model in both views."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QFileDialog

from rop_desktop.services.agreement import AgreementService
from rop_desktop.services.demo_study import DEMO_ADJUDICATOR, DEMO_ADMIN
from rop_desktop.services.models import ModelService
from rop_desktop.services.predictions import PredictionService
from rop_desktop.services.reference import ReferenceService, get_vote_settings, recompute_references
from rop_desktop.store import repo
from rop_desktop.ui.agreement.data import fmt_percent
from training.bundle import ModelCard, save_bundle
from training.models import create_model
from training.presets import get_preset

from .conftest import SHOWN_TIMEOUT_MS, Desk


def references(desk: Desk) -> dict[int, str]:
    with desk.store.session() as session:
        return {r.image_id: r.method for r in repo.list_references(session)}


def test_vote_settings_are_the_admins_and_saving_recomputes(qtbot, desk_factory) -> None:
    for name in ("Dr. Avery", DEMO_ADJUDICATOR):  # a grader, an adjudicator: not shown, and refused
        desk = desk_factory(name)
        assert not desk.controller.settings_action.isVisible()
        desk.controller.settings_action.trigger()
        assert "only the admin role may change study settings" in desk.controller.last_notice.text()
        desk.controller.last_notice.close()
    before = get_vote_settings(desk.store)

    desk = desk_factory(DEMO_ADMIN)
    recompute_references(desk.store, desk.actor)
    assert references(desk)
    assert desk.controller.settings_action.isVisible()
    dialog = desk.controller.open_vote_settings()
    assert dialog is not None and dialog.isVisible()
    dialog.tie_rule.setCurrentIndex(dialog.tie_rule.findData("severe"))
    dialog.quorum.setValue(20)  # more votes than the study's accounts can give
    assert "no image can be settled" in dialog.explain.text()
    assert get_vote_settings(desk.store) == before  # nothing stored before Save
    with qtbot.waitSignal(desk.controller.recomputeEnded, timeout=60_000):  # settled again in a worker
        qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Save), Qt.MouseButton.LeftButton)
    settings = get_vote_settings(desk.store)
    assert (settings.quorum, settings.tie_rule) == (20, "severe")
    assert references(desk) == {}  # saving recomputed: every vote reference withdrawn
    assert "tie rule “severe”" in desk.controller.last_notice.text()
    assert "withdrawn" in desk.controller.last_notice.text()
    desk.controller.last_notice.close()


def test_recompute_and_exports_need_an_adjudicator(qtbot, desk_factory, tmp_path: Path,
                                                   monkeypatch) -> None:
    grader = desk_factory("Dr. Diaz")
    controller = grader.controller
    assert not controller.menu.menuAction().isVisible()  # a grader has no Reference menu at all
    before = references(grader)
    controller.recompute_action.trigger()  # triggered anyway: the service refuses, the reason is shown
    assert "Dr. Diaz is signed in as grader" in controller.last_notice.text()
    assert "adjudicator" in controller.last_notice.text()
    controller.last_notice.close()
    assert controller.export_reference_csv(tmp_path / "no.csv") is None and not (tmp_path / "no.csv").exists()
    assert "adjudicator" in controller.last_notice.text()
    controller.last_notice.close()
    asked = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: asked.append(a) or str(tmp_path))
    controller.snapshot_action.trigger()
    assert asked == []  # refused before a folder is even asked for
    assert "adjudicator" in controller.last_notice.text()
    controller.last_notice.close()
    assert references(grader) == before

    desk = desk_factory(DEMO_ADJUDICATOR)
    done: list = []
    desk.controller.recomputed.connect(done.append)
    with qtbot.waitSignal(desk.controller.recomputeEnded, timeout=60_000):  # in a worker, with progress
        assert desk.controller.recompute() is not None
    summary = done[0]
    assert summary.needs_adjudication
    assert f"{len(summary.needs_adjudication)} to adjudicate" in desk.controller.last_notice.text()
    desk.controller.last_notice.close()

    target = tmp_path / "reference.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "CSV (*.csv)"))
    desk.controller.csv_action.trigger()
    with target.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(references(desk)) and {r["method"] for r in rows} <= {"majority", "unanimous",
                                                                                   "ungradable_majority"}

    folder = tmp_path / "snapshot"
    folder.mkdir()
    (folder / "something.txt").write_text("not empty", encoding="utf-8")  # the snapshot goes into a new folder
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    with qtbot.waitSignal(desk.controller.snapshotExported, timeout=60_000) as exported:
        desk.controller.snapshot_action.trigger()
    snapshot = exported.args[0]
    assert snapshot.root.parent == folder and len(snapshot) == len(rows)
    assert (snapshot.root / "manifest.json").is_file()


def _tiny_binary_bundle(folder: Path) -> Path:
    torch.manual_seed(0)
    model = create_model("tiny_cnn", num_classes=1, in_channels=3, pretrained=False)
    card = ModelCard.for_model(model, name="tiny binary", task="binary", classes=["no ROP", "ROP"], threshold=0.5,
                               preset=get_preset("fast", image_size=48).to_dict(), config={"task": "binary"})
    return save_bundle(folder, model, card)


def test_the_active_model_in_the_adjudication_view_and_the_dashboard(qtbot, adjudicator_desk: Desk,
                                                                     tmp_path: Path) -> None:
    desk = adjudicator_desk
    torch.set_num_threads(1)
    ModelService(desk.store, desk.actor).register(_tiny_binary_bundle(tmp_path / "bundle"), activate=True)
    summary = ReferenceService(desk.store, desk.actor).recompute()
    predictions = PredictionService(desk.store, desk.actor, device="cpu")
    settled = summary.created + summary.updated + summary.unchanged  # the demo ships with references
    for image_id in settled[:8]:
        predictions.predict_image(image_id, saliency=False)

    view = desk.controller.open_adjudication()
    qtbot.waitUntil(lambda: "P(ROP) = " in view.info.model.text(), timeout=60_000)
    probability = predictions.predict_image(view.case.image_id, saliency=False).outputs["binary"].probability
    assert f"P(ROP) = {probability:.2f}" in view.info.model.text()

    dashboard = desk.controller.open_dashboard()
    qtbot.waitUntil(lambda: dashboard.data is not None, timeout=SHOWN_TIMEOUT_MS * 3)
    model = dashboard.data.report.model
    cached = {i: p for i, (p, _) in predictions.probabilities().items()}
    expected = AgreementService(desk.store, desk.actor).dashboard(cached, 0.5).model
    assert model is not None and model.n_images == expected.n_images
    assert dashboard.model_table.isVisible()
    rows = {row[0]: row for row in dashboard.model_table.texts()}
    for grader, value in expected.error_reduction.items():
        assert rows[grader][3] == fmt_percent(value)
    assert "tiny binary" in dashboard.model_label.text()
    assert json.dumps(dashboard.data.report.to_dict())  # plain data all the way
