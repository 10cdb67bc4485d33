"""The parts under the model tabs: outline proposals and assist mode (services.assist), colour
maps, the BatchProgress throttle, the worklist's model columns."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableView

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Eye, RopPresence, Stage
from rop_desktop.services.assist import (
    AssistError,
    agreement,
    assist_mode,
    model_output_visible,
    propose_outlines,
    set_assist_mode,
)
from rop_desktop.services.demo_study import DEMO_ADJUDICATOR, DEMO_ADMIN
from rop_desktop.services.grading import GradingService, WorklistRow
from rop_desktop.services.policy import AccessDenied
from rop_desktop.services.predictions import ModelOutput
from rop_desktop.store import Study, repo
from rop_desktop.ui.prediction.colormap import ColormapError, heatmap_rgba, lookup_table, mask_rgba
from rop_desktop.ui.prediction.worklist_columns import HIDDEN, VALUE_ROLE, ModelColumnsProxy
from rop_desktop.ui.worklist import ROW_ID_ROLE, WorklistModel
from rop_desktop.workers.training_worker import TrainRequest, throttled
from training.events import BatchProgress, EpochEnd, Log


# ---------------------------------------------------------------------------- proposals
def test_proposals_trace_the_mask_in_pixel_corner_coordinates() -> None:
    mask = np.zeros((60, 80), np.uint8)
    mask[10:20, 5:45] = 255  # a 40x10 band ...
    cv2.circle(mask, (65, 45), 6, 255, -1)  # ... and a smaller blob
    mask[2, 2] = 255  # a speck: no proposal
    shapes = propose_outlines(mask, stage=Stage.S2)
    assert len(shapes) == 2 and all(s.source == "model" and s.stage is Stage.S2 for s in shapes)
    band = shapes[0]  # largest first
    xs, ys = [p[0] for p in band.points], [p[1] for p in band.points]
    assert (min(xs), max(xs), min(ys), max(ys)) == (5.5, 44.5, 10.5, 19.5)  # pixel centres + 0.5
    assert len(band.points) == 4 and len({s.id for s in shapes}) == 2
    assert propose_outlines(np.zeros((10, 10), np.uint8)) == []
    with pytest.raises(AssistError, match="line-segmentation"):
        propose_outlines(None)
    with pytest.raises(AssistError, match="2-D"):
        propose_outlines(np.zeros((4, 4, 3), np.uint8))


def test_agreement_compares_the_grade_with_the_model() -> None:
    out = ModelOutput(1, "m", "binary", "tiny_cnn", probability=0.8, threshold=0.5, positive=True)
    assert agreement("binary", GradeValues(rop=RopPresence.YES), out) is True
    assert agreement("binary", GradeValues(rop=RopPresence.NO), out) is False
    assert agreement("binary", GradeValues(rop=RopPresence.NA), out) is None
    assert agreement("binary", None, out) is None
    stage = ModelOutput(2, "s", "stage", "tiny_cnn", class_probabilities={"stage 2": 0.7}, predicted_class="stage 2")
    assert agreement("stage", GradeValues(stage=Stage.S2), stage) is True
    assert agreement("stage", GradeValues(stage=Stage.S3), stage) is False
    line = ModelOutput(3, "l", "segmentation", "tiny_unet", line_mask=np.zeros((4, 4), np.uint8))
    assert agreement("segmentation", GradeValues(), line, n_outlines=0) is True
    assert agreement("segmentation", GradeValues(), line, n_outlines=2) is False


def test_assist_mode_is_an_admin_setting_and_unblinds_model_output(demo_study_dir: Path, account,
                                                                  demo_actor) -> None:
    with Study.open(demo_study_dir) as study:
        me = account(study, "Me")
        grading = GradingService(study, me)
        with study.session() as session:
            image = repo.list_images(session)[0].id
        assert not assist_mode(study) and not model_output_visible(grading, image)
        for not_admin in (me, demo_actor(study, DEMO_ADJUDICATOR)):
            with pytest.raises(AccessDenied, match="only the admin role"):
                set_assist_mode(study, not_admin, True)
        assert not assist_mode(study) and not model_output_visible(grading, image)
        admin = demo_actor(study, DEMO_ADMIN)
        set_assist_mode(study, admin, True)
        assert assist_mode(study) and model_output_visible(grading, image)
        set_assist_mode(study, admin, False)
        assert not model_output_visible(grading, image)


# ---------------------------------------------------------------------------- colour maps
def test_colour_maps() -> None:
    jet, inferno = lookup_table("jet"), lookup_table("inferno")
    assert jet.shape == inferno.shape == (256, 3) and jet.dtype == np.uint8
    assert tuple(jet[0]) == (0, 0, 128) and tuple(jet[255]) == (128, 0, 0) and tuple(jet[128])[1] == 255
    assert tuple(inferno[0]) == (0, 0, 4) and tuple(inferno[255]) == (252, 255, 164)
    luminance = inferno.astype(float) @ (0.299, 0.587, 0.114)
    assert np.all(np.diff(luminance) >= -1e-9)  # inferno brightens monotonically
    rgba = heatmap_rgba(np.array([[0.0, 0.5], [1.0, np.nan]], np.float32), "jet")
    assert rgba.shape == (2, 2, 4) and rgba[0, 0, 3] == 0 and rgba[1, 0, 3] == 255 and rgba[1, 1, 3] == 0
    assert rgba[0, 1, 3] == round(255 * 0.5 ** 0.5)  # alpha: the square root of the value
    m = mask_rgba(np.array([[0, 255]], np.uint8), (1, 2, 3))
    assert m[0, 0].tolist() == [0, 0, 0, 0] and m[0, 1].tolist() == [1, 2, 3, 255]
    with pytest.raises(ColormapError):
        lookup_table("viridis")
    with pytest.raises(ColormapError):
        heatmap_rgba(np.zeros((2, 2, 2)))


# ---------------------------------------------------------------------------- throttle, requests
def test_batch_progress_is_thinned_but_epoch_ends_and_other_events_pass() -> None:
    now = [0.0]

    def events():  # 10 batches per epoch, 1 ms apart
        for epoch in (1, 2):
            for batch in range(1, 11):
                now[0] += 0.001
                yield BatchProgress(epoch, batch, 10, 1.0, 1.0, 1.0)
            yield EpochEnd(epoch, 2, 1.0, 1.0)
        yield Log("done")
        return "result"

    out = []
    gen = throttled(events(), hz=20.0, clock=lambda: now[0])
    while True:
        try:
            out.append(next(gen))
        except StopIteration as stop:
            assert stop.value == "result"
            break
    batches = [(e.epoch, e.batch) for e in out if isinstance(e, BatchProgress)]
    assert batches == [(1, 1), (1, 10), (2, 10)]
    assert [type(e).__name__ for e in out if not isinstance(e, BatchProgress)] == ["EpochEnd", "EpochEnd", "Log"]


def test_a_train_request_maps_to_the_service_plan() -> None:
    request = TrainRequest("binary", "tiny_cnn", 3, 8, 48, "cpu", "random", {"lr": 0.5})
    assert request.plan_kwargs() == {"fine_tune": False, "epochs": 3, "batch_size": 8, "device": "cpu",
                                     "init": "random", "lr": 0.5, "preset_overrides": {"image_size": 48}}
    assert TrainRequest("binary", "tiny_cnn", 3, 8, None, init="finetune").plan_kwargs()["fine_tune"] is True
    assert TrainRequest("binary", "tiny_cnn", 3, 8, None, init="imagenet").plan_kwargs()["init"] == "auto"


# ---------------------------------------------------------------------------- worklist columns
def _row(image_id: int, status: str) -> WorklistRow:
    return WorklistRow(image_id, f"{image_id}.png", "P1", Eye.OD, date(2026, 1, 1), "RetCam", None, 64, 48, None,
                       status)


def test_model_columns_extend_the_worklist(qtbot) -> None:
    source = WorklistModel()
    source.set_rows([_row(1, "submitted"), _row(2, "todo"), _row(3, "todo")])
    proxy = ModelColumnsProxy()
    proxy.setSourceModel(source)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(proxy)
    n = source.columnCount()
    assert proxy.columnCount() == n + 2 and proxy.rowCount() == 3
    assert proxy.index(1, 1).data() == source.index(1, 1).data()  # source columns untouched
    assert proxy.index(2, n).data(ROW_ID_ROLE) == 3 and not proxy.mapToSource(proxy.index(0, n)).isValid()
    assert proxy.index(0, n).data() == "–"
    changed = []
    proxy.dataChanged.connect(lambda a, b, _roles: changed.append((a.column(), b.column())))
    proxy.set_scores({1: (0.91, 0.2), 2: (0.55, 0.9)}, visible=lambda image_id: image_id != 2)
    assert changed == [(n, n + 1)]
    assert [proxy.index(0, n + k).data() for k in (0, 1)] == ["0.91", "0.20"]
    assert proxy.index(0, n).data(VALUE_ROLE) == pytest.approx(0.91)
    assert proxy.index(1, n).data() == HIDDEN and proxy.index(1, n).data(VALUE_ROLE) is None  # blinded
    assert proxy.index(2, n).data() == "–"  # not predicted
    proxy.set_scores({}, visible=lambda image_id: False)
    assert proxy.index(2, n).data() == HIDDEN  # blinded: whether a prediction exists is not shown either
    proxy.set_scores({1: (0.91, 0.2), 2: (0.55, 0.9)}, visible=lambda image_id: image_id != 2)
    view.selectRow(1)  # selecting a row still names the source's image
    assert view.selectionModel().selectedRows()[0].data(ROW_ID_ROLE) == 2
    source.update_status(2, "submitted")
    assert proxy.index(1, 5).data() == "Submitted"
    source.set_rows([_row(7, "todo")])
    assert proxy.rowCount() == 1 and proxy.index(0, n).data() == "–"
    assert proxy.headerData(n, Qt.Orientation.Horizontal) == "P(ROP)"
