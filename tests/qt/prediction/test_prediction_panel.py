"""The Model tab in the real window: the active models' output for the image on screen (computed
off the UI thread, stale results dropped), canvas overlays, feature maps, side-by-side
comparison, blinding and assist mode, outline proposals stored as polygons."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from rop_desktop.services.assist import assist_mode
from rop_desktop.services.demo_study import DEMO_ADMIN
from rop_desktop.services.predictions import PredictionService
from rop_desktop.ui.controllers.prediction import MASK_OVERLAY, PROPOSALS_LAYER, SALIENCY_OVERLAY
from rop_desktop.ui.prediction.prediction_panel import AGREE, BLINDED_MESSAGE, DISAGREE
from rop_desktop.workers.prediction_worker import PredictionResult


def test_after_activation_the_tab_shows_probability_overlays_and_feature_maps(
        qtbot, open_window, bundles, demo_grader) -> None:
    mw = open_window(demo_grader)
    for task in ("binary", "stage", "segmentation"):  # activated by the admin (activation in the window:
        mw.register(bundles[task], activate=True)  # test_versions_panel, as the adjudicator)
    mw.start()
    image = mw.workspace.shown
    assert not mw.panel.is_blinded()  # this grader submitted every image
    qtbot.waitUntil(lambda: mw.controller.result is not None and len(mw.controller.result.outputs) == 3,
                    timeout=60_000)
    result = mw.controller.result
    assert result.image_id == image and not result.errors
    binary = result.outputs["binary"]
    mw.tab(mw.panel)
    assert mw.panel.rop_bar.value() == binary.probability and mw.panel.rop_bar.threshold() == 0.5
    assert f"P(ROP) {binary.probability:.2f}" in mw.panel.rop_label.text()
    assert sorted(mw.panel.stage_bars) == ["stage 1", "stage 2", "stage 3"]
    assert mw.panel.timings.text()
    # overlays: the line mask and the Grad-CAM saliency, at the image's size
    backdrop = mw.canvas.backdrop
    assert set(backdrop.overlay_names()) == {MASK_OVERLAY, SALIENCY_OVERLAY}
    h, w = binary.saliency.shape
    assert (w, h) == mw.canvas.image_size()
    assert backdrop.overlay_item(SALIENCY_OVERLAY).pixmap().width() == w
    assert abs(backdrop.overlay_item(MASK_OVERLAY).opacity() - 0.55) < 1e-6
    mw.panel.mask_opacity.setValue(20)
    assert abs(backdrop.overlay_item(MASK_OVERLAY).opacity() - 0.20) < 1e-6
    mw.panel.mask_check.setChecked(False)
    assert backdrop.overlay_names() == [SALIENCY_OVERLAY]
    before = backdrop.overlay_item(SALIENCY_OVERLAY).pixmap().toImage()
    mw.panel.colormap_combo.setCurrentIndex(mw.panel.colormap_combo.findData("jet"))
    assert backdrop.overlay_item(SALIENCY_OVERLAY).pixmap().toImage() != before
    # feature maps: the default layer's grid, then another layer chosen in the dropdown
    grid = mw.panel.features.array()
    assert grid is not None and grid.dtype == np.uint8 and not mw.panel.features.pixmap().isNull()
    first_task, first_layer = mw.panel.selected_layer()
    assert first_task == "binary" and first_layer == binary.feature_layer
    layers = [mw.panel.layer_combo.itemData(i).split("\t") for i in range(mw.panel.layer_combo.count())]
    assert {t for t, _ in layers} == {"binary", "stage", "segmentation"}
    other = next(layer for task, layer in layers if task == "binary" and layer != first_layer)
    mw.panel.choose_layer("binary", other)
    qtbot.waitUntil(lambda: f"layer {other}:" in mw.panel.feature_caption.text(), timeout=60_000)
    assert mw.panel.features.array() is not None and not np.array_equal(mw.panel.features.array(), grid)
    # side by side: the grader's grade, the reference (unblinded) and the model, with marks
    cells = mw.panel.compare_cells
    assert cells[("binary", "you")].text() in ("yes", "no") and cells[("binary", "reference")].text() != "hidden"
    assert cells[("binary", "model")].text() == ("yes" if binary.positive else "no")
    assert cells[("binary", "agree")].text() in (AGREE, DISAGREE)
    assert cells[("segmentation", "model")].text() == "yes"  # this line model sees a line everywhere


def test_results_for_an_image_no_longer_shown_are_dropped(qtbot, open_window, bundles, demo_grader) -> None:
    mw = open_window(demo_grader)
    mw.register(bundles["binary"])
    mw.start()
    first = mw.workspace.shown
    second = next(i for i in mw.image_ids() if i != first)
    mw.show_image(second)  # the first image's prediction may still be on its way: it must not land
    qtbot.waitUntil(lambda: mw.controller.result is not None, timeout=60_000)
    assert mw.controller.result.image_id == second
    stale = PredictionResult(first, mw.controller.worker.token, mw.controller.result, {})
    mw.controller._on_result(stale)
    assert mw.controller.result.image_id == second


def test_a_blinded_grader_sees_nothing_before_submitting_and_the_output_after(
        qtbot, open_window, bundles) -> None:
    mw = open_window()  # "Me": a new grader who has submitted nothing
    mw.register(bundles["binary"])
    mw.register(bundles["segmentation"])
    mw.start()
    image = mw.workspace.shown
    mw.tab(mw.panel)
    assert mw.panel.is_blinded() and mw.panel.blinded_label.text() == BLINDED_MESSAGE
    assert mw.canvas.backdrop.overlay_names() == []
    assert mw.controller.worker.token == 0  # nothing was even asked for
    qtbot.wait(100)
    predictions = PredictionService(mw.store, mw.admin)
    assert predictions.cached(image, predictions.active_versions()["binary"]) is None
    mw.tab(mw.window.wiring.grade_panel)
    mw.canvas.setFocus()
    qtbot.keyClick(mw.canvas, "n")
    with qtbot.waitSignal(mw.workspace.gradeSubmitted, timeout=5000):
        qtbot.keyClick(mw.canvas, Qt.Key.Key_Return)
    assert mw.workspace.current != image  # on to the next image to do: blinded again
    qtbot.waitUntil(lambda: mw.workspace.shown == mw.workspace.current, timeout=60_000)
    assert mw.panel.is_blinded()
    mw.show_and_predict(image)  # back to the submitted image: the model's output is shown
    assert not mw.panel.is_blinded() and mw.panel.rop_bar.value() is not None
    assert MASK_OVERLAY in mw.canvas.backdrop.overlay_names()
    assert mw.panel.compare_cells[("binary", "you")].text() == "no"


def test_assist_mode_shows_the_model_while_grading(qtbot, open_window, bundles) -> None:
    admin_window = open_window(DEMO_ADMIN)  # the study setting is the admin's, in their window
    mw = open_window()
    mw.register(bundles["binary"])
    mw.start()
    assert mw.panel.is_blinded()
    admin_window.tab(admin_window.controller.versions_panel)
    assert admin_window.controller.versions_panel.assist_check.isVisibleTo(admin_window.controller.versions_panel)
    admin_window.controller.versions_panel.assist_check.setChecked(True)
    assert assist_mode(mw.store)
    other = next(i for i in mw.image_ids() if i != mw.workspace.shown)
    mw.show_image(other)  # the grader's next image: assist mode is on now
    qtbot.waitUntil(lambda: mw.controller.result is not None and mw.controller.result.image_id == other,
                    timeout=60_000)
    assert not mw.panel.is_blinded() and mw.panel.rop_bar.value() is not None
    assert mw.panel.compare_cells[("binary", "reference")].text() == "hidden"  # others' work stays blinded


def test_proposals_become_editable_polygons_stored_with_source_model(
        qtbot, open_window, bundles, demo_grader) -> None:
    mw = open_window(demo_grader)
    mw.register(bundles["segmentation"])
    mw.start()
    image = mw.workspace.shown
    qtbot.waitUntil(lambda: mw.controller.result is not None, timeout=60_000)
    mw.tab(mw.panel)
    before = {s.id for s in mw.window.wiring.workspace.service.my_shapes(image)}
    assert mw.panel.propose_button.isEnabled()
    qtbot.mouseClick(mw.panel.propose_button, Qt.MouseButton.LeftButton)
    proposals = mw.panel.proposals()
    assert len(proposals) == 1 and all(s.source == "model" for s in proposals)
    assert PROPOSALS_LAYER in mw.canvas.backdrop.reference_names()
    assert {s.id for s in mw.canvas.shapes()} == before  # proposed, not yet added
    qtbot.mouseClick(mw.panel.accept_button, Qt.MouseButton.LeftButton)
    stored = [s for s in mw.window.wiring.workspace.service.my_shapes(image) if s.id not in before]
    assert len(stored) == 1 and stored[0].source == "model"
    assert stored[0].id in {s.id for s in mw.canvas.shapes()}
    assert mw.panel.proposals() == [] and PROPOSALS_LAYER not in mw.canvas.backdrop.reference_names()
    # editable like a drawn polygon: undo removes it (one step), redo brings it back, both stored
    mw.canvas.undo_stack.undo()
    assert stored[0].id not in {s.id for s in mw.window.wiring.workspace.service.my_shapes(image)}
    mw.canvas.undo_stack.redo()
    assert stored[0].id in {s.id for s in mw.window.wiring.workspace.service.my_shapes(image)}
    # a rejected proposal leaves nothing behind
    qtbot.mouseClick(mw.panel.propose_button, Qt.MouseButton.LeftButton)
    assert mw.panel.proposals()
    qtbot.mouseClick(mw.panel.reject_button, Qt.MouseButton.LeftButton)
    assert mw.panel.proposals() == [] and PROPOSALS_LAYER not in mw.canvas.backdrop.reference_names()
    assert len(mw.window.wiring.workspace.service.my_shapes(image)) == len(before) + 1
