"""The "Model" tab: the active models' output for the image on screen, beside the grader's grade.

A view. It shows P(ROP) against the operating threshold, the stage probabilities, the grader's
grade / the reference standard / the model side by side with agreement marks, overlay switches
(line mask, Grad-CAM saliency: the controller paints them on the canvas), a feature-map grid
for a chosen layer, outline proposals, and the timings. While the grader is blinded the content
is replaced by a message (and nothing is computed).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from rop_desktop.domain.shapes import Shape
from rop_desktop.services.assist import GradeComparison, agreement, grade_says, model_says
from rop_desktop.services.predictions import ImagePrediction, ModelOutput
from rop_desktop.ui.prediction.colormap import COLORMAPS
from rop_desktop.ui.prediction.widgets import ArrayLabel, ProbabilityBar

BLINDED_MESSAGE = "Model output appears after you submit this image."
TASK_NAMES = {"binary": "ROP", "stage": "Stage", "segmentation": "Line"}
ROWS = (("binary", "ROP"), ("stage", "Stage"), ("segmentation", "Line"))
AGREE, DISAGREE = "✓", "✗"
SHAPE_ROLE = Qt.ItemDataRole.UserRole + 1


def _small(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setStyleSheet("color: #9aa4ad; font-size: 8pt;")
    label.setWordWrap(True)
    return label


def _slider(value: int) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(0, 100)
    slider.setValue(value)
    slider.setMaximumWidth(120)
    return slider


def _answer(task: str, value: str | None) -> str:
    if value is None:
        return "–"
    if task in ("binary", "segmentation"):
        return {"yes": "yes", "no": "no"}.get(value, value)
    return f"stage {value}"


def empty_output_notes(outputs: dict[str, ModelOutput]) -> list[str]:
    """Say when an overlay is empty, so that an empty canvas is not mistaken for a broken one: a
    line model that found no line, a saliency map with nothing in it."""
    notes = []
    line = outputs.get("segmentation")
    if line is not None and line.line_mask is not None and not np.any(line.line_mask):
        notes.append("Line mask: the model found no line on this image.")
    source = outputs.get("binary") or outputs.get("stage")
    if source is not None and source.saliency is not None:
        saliency = np.asarray(source.saliency, dtype=np.float32)
        if saliency.size == 0 or not np.all(np.isfinite(saliency)) or float(np.ptp(saliency)) < 1e-6:
            notes.append("Saliency is flat (model output saturated): Grad-CAM has nothing to show for this image.")
    return notes


class PredictionPanel(QWidget):
    overlaysChanged = Signal()
    featureLayerRequested = Signal(str, str)  # task, layer
    proposeRequested = Signal()
    acceptProposalsRequested = Signal(list)  # the checked proposals (Shapes)
    rejectProposalsRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("predictionPanel")
        self.blinded_label = QLabel(BLINDED_MESSAGE)
        self.blinded_label.setObjectName("blindedMessage")
        self.blinded_label.setWordWrap(True)
        self.blinded_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setObjectName("predictionStatus")

        self.rop_label = QLabel("P(ROP) –")
        self.rop_label.setObjectName("ropProbability")
        self.rop_bar = ProbabilityBar()
        self.threshold_label = _small()
        self.threshold_label.setObjectName("operatingThreshold")
        self.stage_bars: dict[str, QProgressBar] = {}
        self.stage_box = QGroupBox("Stage probabilities")
        self.stage_layout = QVBoxLayout(self.stage_box)

        self.compare_box = QGroupBox("You · reference · model")
        self.compare_grid = QGridLayout(self.compare_box)
        self.compare_cells: dict[tuple[str, str], QLabel] = {}
        for col, header in enumerate(("", "You", "Reference", "Model", "")):
            self.compare_grid.addWidget(_small(header), 0, col)
        for row, (task, label) in enumerate(ROWS, start=1):
            self.compare_grid.addWidget(QLabel(label), row, 0)
            for col, key in enumerate(("you", "reference", "model", "agree"), start=1):
                cell = QLabel("–")
                self.compare_cells[(task, key)] = cell
                self.compare_grid.addWidget(cell, row, col)

        self.mask_check = QCheckBox("Line mask")
        self.mask_check.setChecked(True)
        self.mask_opacity = _slider(55)
        self.saliency_check = QCheckBox("Saliency (Grad-CAM)")
        self.saliency_check.setChecked(True)
        self.saliency_opacity = _slider(60)
        self.colormap_combo = QComboBox()
        for name in COLORMAPS:
            self.colormap_combo.addItem(name, name)
        overlays = QGroupBox("Overlays on the image")
        grid = QGridLayout(overlays)
        grid.addWidget(self.mask_check, 0, 0)
        grid.addWidget(self.mask_opacity, 0, 1)
        grid.addWidget(self.saliency_check, 1, 0)
        grid.addWidget(self.saliency_opacity, 1, 1)
        grid.addWidget(QLabel("Colour map"), 2, 0)
        grid.addWidget(self.colormap_combo, 2, 1)
        self.overlay_note = _small()
        self.overlay_note.setObjectName("overlayNote")
        grid.addWidget(self.overlay_note, 3, 0, 1, 2)

        self.layer_combo = QComboBox()
        self.layer_combo.setObjectName("featureLayer")
        self.features = ArrayLabel()
        self.features.setObjectName("featureMaps")
        self.feature_caption = _small()
        features = QGroupBox("Feature maps")
        fl = QVBoxLayout(features)
        fl.addWidget(self.layer_combo)
        fl.addWidget(self.features)
        fl.addWidget(self.feature_caption)

        self.propose_button = QPushButton("Propose outlines")
        self.propose_button.setToolTip("Turn the predicted line mask into polygons you can accept and edit")
        self.proposal_list = QListWidget()
        self.proposal_list.setMaximumHeight(90)
        self.accept_button = QPushButton("Accept checked")
        self.reject_button = QPushButton("Reject")
        proposals = QGroupBox("Model-assisted outlines")
        pl = QVBoxLayout(proposals)
        pl.addWidget(self.propose_button)
        pl.addWidget(self.proposal_list)
        choices = QHBoxLayout()
        choices.addWidget(self.accept_button)
        choices.addWidget(self.reject_button)
        pl.addLayout(choices)
        self.timings = _small()
        self.timings.setObjectName("predictionTimings")

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.status)
        layout.addWidget(self.rop_label)
        layout.addWidget(self.rop_bar)
        layout.addWidget(self.threshold_label)
        layout.addWidget(self.stage_box)
        layout.addWidget(self.compare_box)
        layout.addWidget(overlays)
        layout.addWidget(features)
        layout.addWidget(proposals)
        layout.addWidget(self.timings)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)
        self.content = scroll
        self.stack = QStackedWidget()
        self.stack.addWidget(self.blinded_label)
        self.stack.addWidget(self.content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.stack)

        for widget in (self.mask_check, self.saliency_check):
            widget.toggled.connect(lambda _on: self.overlaysChanged.emit())
        for slider in (self.mask_opacity, self.saliency_opacity):
            slider.valueChanged.connect(lambda _v: self.overlaysChanged.emit())
        self.colormap_combo.currentIndexChanged.connect(lambda _i: self.overlaysChanged.emit())
        self.layer_combo.activated.connect(self._on_layer)
        self.propose_button.clicked.connect(self.proposeRequested)
        self.accept_button.clicked.connect(lambda: self.acceptProposalsRequested.emit(self.checked_proposals()))
        self.reject_button.clicked.connect(self.rejectProposalsRequested)
        self.set_proposals([])
        self.clear()

    # ------------------------------------------------------------------ blinding
    def set_blinded(self, blinded: bool) -> None:
        self.stack.setCurrentWidget(self.blinded_label if blinded else self.content)

    def is_blinded(self) -> bool:
        return self.stack.currentWidget() is self.blinded_label

    # ------------------------------------------------------------------ overlay settings
    def mask_overlay(self) -> tuple[bool, float]:
        return self.mask_check.isChecked(), self.mask_opacity.value() / 100.0

    def saliency_overlay(self) -> tuple[bool, float]:
        return self.saliency_check.isChecked(), self.saliency_opacity.value() / 100.0

    def colormap(self) -> str:
        return self.colormap_combo.currentData()

    # ------------------------------------------------------------------ results
    def clear(self, status: str = "") -> None:
        self.status.setText(status)
        self.rop_label.setText("P(ROP) –")
        self.rop_bar.set_value(None)
        self.threshold_label.clear()
        self._set_overlay_note("")
        self._set_stage_bars({})
        for cell in self.compare_cells.values():
            cell.setText("–")
            cell.setStyleSheet("")
        self.layer_combo.clear()
        self.features.set_array(None)
        self.feature_caption.clear()
        self.timings.clear()
        self.propose_button.setEnabled(False)

    def show_status(self, text: str) -> None:
        self.status.setText(text)

    def show_prediction(
        self, prediction: ImagePrediction, comparison: GradeComparison | None, layers: dict[str, list[str]]
    ) -> None:
        outputs = prediction.outputs
        if not outputs:
            self.clear("No model is active: train one in the Train tab or activate one in the Models tab.")
            return
        names = ", ".join(f"{TASK_NAMES[t]}: {o.version_name}" for t, o in outputs.items())
        errors = "; ".join(f"{TASK_NAMES.get(t, t)} model: {e}" for t, e in prediction.errors.items())
        self.status.setText(names + (f"\n⚠ {errors}" if errors else ""))
        binary = outputs.get("binary")
        if binary is not None and binary.probability is not None:
            verdict = "ROP" if binary.positive else "no ROP"
            side = "≥" if binary.positive else "<"
            self.rop_label.setText(f"P(ROP) {binary.probability:.2f} {side} {binary.threshold:.2f} → {verdict}")
            self.rop_bar.set_value(binary.probability, binary.threshold)
            label = binary.threshold_label()
            self.threshold_label.setText(label[0].upper() + label[1:] + ".")
        else:
            self.rop_label.setText("P(ROP) – (no active ROP model)")
            self.rop_bar.set_value(None)
            self.threshold_label.clear()
        stage = outputs.get("stage")
        self._set_stage_bars(stage.class_probabilities or {} if stage is not None else {})
        self._set_comparison(outputs, comparison)
        self._set_layers(outputs, layers)
        line = outputs.get("segmentation")
        self._set_overlay_note(" ".join(empty_output_notes(outputs)))
        self.propose_button.setEnabled(line is not None and line.line_mask is not None)
        self.timings.setText(
            "  ".join(
                f"{TASK_NAMES[t]} {o.timings.get('total', 0.0):.0f} ms" + (" (cached)" if o.cached else "")
                for t, o in outputs.items()
            )
        )

    def _set_overlay_note(self, text: str) -> None:
        self.overlay_note.setText(text)
        self.overlay_note.setVisible(bool(text))

    def _set_stage_bars(self, probabilities: dict[str, float]) -> None:
        for bar in self.stage_bars.values():
            self.stage_layout.removeWidget(bar)
            bar.deleteLater()
        self.stage_bars = {}
        for name, p in probabilities.items():
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setValue(int(round(p * 1000)))
            bar.setFormat(f"{name}  {p:.2f}")
            bar.setMaximumHeight(18)
            self.stage_layout.addWidget(bar)
            self.stage_bars[name] = bar
        self.stage_box.setVisible(bool(probabilities))

    def _set_comparison(self, outputs: dict[str, ModelOutput], comparison: GradeComparison | None) -> None:
        for task, _label in ROWS:
            output = outputs.get(task)
            mine = comparison.mine if comparison else None
            outlines = comparison.n_my_outlines if comparison else None
            you = _answer(task, grade_says(task, mine, outlines))
            if comparison and not comparison.mine_submitted and mine is not None:
                you += " (draft)"
            if comparison is not None and comparison.reference_visible:
                ref = _answer(task, grade_says(task, comparison.reference)) if task != "segmentation" else "–"
            else:
                ref = "hidden"
            model = _answer(task, model_says(task, output)) if output is not None else "–"
            agree = agreement(task, mine, output, outlines) if output is not None else None
            self.compare_cells[(task, "you")].setText(you)
            self.compare_cells[(task, "reference")].setText(ref)
            self.compare_cells[(task, "model")].setText(model)
            mark = self.compare_cells[(task, "agree")]
            mark.setText({True: AGREE, False: DISAGREE, None: ""}[agree])
            mark.setStyleSheet(
                {True: "color: #5cc971; font-weight: bold;", False: "color: #ef5350; font-weight: bold;", None: ""}[
                    agree
                ]
            )
            mark.setToolTip(
                {True: "the model agrees with your grade", False: "the model disagrees with your grade", None: ""}[
                    agree
                ]
            )

    def _set_layers(self, outputs: dict[str, ModelOutput], layers: dict[str, list[str]]) -> None:
        self.layer_combo.clear()
        shown = next(
            (
                o
                for o in (outputs.get("binary"), outputs.get("stage"), outputs.get("segmentation"))
                if o is not None and o.feature_grid is not None
            ),
            None,
        )
        for task, names in layers.items():
            for name in names:
                self.layer_combo.addItem(f"{TASK_NAMES.get(task, task)} · {name}", f"{task}\t{name}")
        if shown is not None:
            index = self.layer_combo.findData(f"{shown.task}\t{shown.feature_layer}")
            if index >= 0:
                self.layer_combo.setCurrentIndex(index)
            self.show_feature_grid(shown.task, shown.feature_layer or "", shown.feature_grid)
        else:
            self.features.set_array(None)

    def _on_layer(self, index: int) -> None:
        data = self.layer_combo.itemData(index)
        if data:
            task, layer = data.split("\t", 1)
            self.feature_caption.setText(f"computing {layer} …")
            self.featureLayerRequested.emit(task, layer)

    def show_feature_grid(self, task: str, layer: str, grid: np.ndarray | None, error: str | None = None) -> None:
        self.features.set_array(grid)
        if error:
            self.feature_caption.setText(error)
        else:
            self.feature_caption.setText(f"{TASK_NAMES.get(task, task)} model, layer {layer}: the strongest channels")

    def selected_layer(self) -> tuple[str, str] | None:
        data = self.layer_combo.currentData()
        if not data:
            return None
        task, layer = data.split("\t", 1)
        return task, layer

    def choose_layer(self, task: str, layer: str) -> None:
        """Pick a layer as the user would (the grid is requested)."""
        index = self.layer_combo.findData(f"{task}\t{layer}")
        if index < 0:
            raise KeyError(f"no layer {layer!r} of the {task} model in the list")
        self.layer_combo.setCurrentIndex(index)
        self.layer_combo.activated.emit(index)

    # ------------------------------------------------------------------ proposals
    def set_proposals(self, shapes: Sequence[Shape]) -> None:
        self.proposal_list.clear()
        for k, shape in enumerate(shapes, start=1):
            item = QListWidgetItem(f"Outline {k} · {len(shape.points)} vertices")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            item.setData(SHAPE_ROLE, shape)
            self.proposal_list.addItem(item)
        has = bool(shapes)
        self.proposal_list.setVisible(has)
        self.accept_button.setEnabled(has)
        self.reject_button.setEnabled(has)

    def proposals(self) -> list[Shape]:
        return [self.proposal_list.item(i).data(SHAPE_ROLE) for i in range(self.proposal_list.count())]

    def checked_proposals(self) -> list[Shape]:
        return [
            self.proposal_list.item(i).data(SHAPE_ROLE)
            for i in range(self.proposal_list.count())
            if self.proposal_list.item(i).checkState() == Qt.CheckState.Checked
        ]
