"""The built-in models in the window: the Model, Train and Models tabs and what connects them.

``install_model_features(window, study, grading, workspace)`` adds the tabs and returns the
:class:`ModelController`, which

* asks the :class:`PredictionWorker` for the active models' output as soon as an image is shown —
  unless the grader is blinded to it (:func:`rop_desktop.services.assist.model_output_visible`),
  in which case nothing is computed and the tab says why; results for an image no longer on
  screen are dropped;
* paints the predicted line mask and the Grad-CAM saliency as canvas overlays and fills the tab
  (probabilities, grade / reference / model side by side, feature maps, timings);
* turns the line mask into outline proposals the grader accepts (editable polygons, stored like
  drawn ones with source "model") or rejects;
* re-requests the prediction when a version is activated; refreshes the worklist's model
  columns (:attr:`ModelController.worklist_columns`, installed by the worklist) after a batch
  prediction and after a submit; starts an auto-update training run when it is due after a submit;
* shuts every worker down when the window closes.

Training and model management are for the accounts the policy allows (``Action.MODELS_MANAGE``):
for anyone else the Train tab is not built (no training service calls at all) and the Models
tab shows the versions without the buttons that change them; the services refuse those
accounts all the same. What the worklist and the Model tab show is what the prediction service
returns for the signed-in account: it applies blinding and assist mode itself.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer

from rop_desktop.domain.shapes import Shape
from rop_desktop.services import assist, policy
from rop_desktop.services.grading import GradingService
from rop_desktop.services.models import ModelService
from rop_desktop.services.policy import AccessDenied, Action
from rop_desktop.services.predictions import ImagePrediction, PredictionService
from rop_desktop.services.studies import Study
from rop_desktop.services.training_runs import TrainingService
from rop_desktop.ui.controllers.training import TrainingController
from rop_desktop.ui.controllers.versions import VersionsController
from rop_desktop.ui.controllers.workspace import WorkspaceController
from rop_desktop.ui.main_window import MainWindow
from rop_desktop.ui.prediction.colormap import heatmap_rgba, mask_rgba
from rop_desktop.ui.prediction.prediction_panel import PredictionPanel
from rop_desktop.ui.prediction.training_panel import TrainingPanel
from rop_desktop.ui.prediction.versions_panel import VersionsPanel
from rop_desktop.ui.prediction.weights_menu import WeightsMenu
from rop_desktop.ui.prediction.worklist_columns import ModelColumnsProxy
from rop_desktop.workers.prediction_worker import FeatureResult, PredictionResult, PredictionWorker

MASK_OVERLAY = "model-line"
SALIENCY_OVERLAY = "model-saliency"
PROPOSALS_LAYER = "model-proposals"
PROPOSAL_COLOR = "#00e6ff"


class ModelController(QObject):
    def __init__(
        self,
        window: MainWindow,
        study: Study,
        grading: GradingService,
        workspace: WorkspaceController,
        *,
        device: str = "auto",
    ) -> None:
        super().__init__(window)
        self.window = window
        self.workspace = workspace
        self.study = study
        self.grading = grading
        actor = grading.actor
        self.models = ModelService(study, actor)
        self.predictions = PredictionService(study, actor, device=device)

        self.prediction_panel = PredictionPanel()
        self.versions_panel = VersionsPanel()
        window.add_side_panel(self.prediction_panel, "Model")
        #: The Train tab and its controller: only for an account that may train (else None).
        self.training_service: TrainingService | None = None
        self.training_panel: TrainingPanel | None = None
        self.training: TrainingController | None = None
        if policy.allowed(study, actor, Action.MODELS_MANAGE):
            self.training_service = TrainingService(study, actor)
            self.training_panel = TrainingPanel()
            window.add_side_panel(self.training_panel, "Train")
            self.training = TrainingController(self.training_panel, self.training_service, self)
        window.add_side_panel(self.versions_panel, "Models")

        self.versions = VersionsController(
            self.versions_panel,
            self.models,
            self.predictions,
            grading,
            workspace.open_image,
            lambda: workspace.shown,
            self,
        )
        self.worker = PredictionWorker(self.predictions, lambda image_id: grading.load_image(image_id).rgb, self)
        self.worklist_columns = ModelColumnsProxy(self)
        #: *Models → Import pretrained weights…* (installed by :func:`install_model_features`).
        self.weights_menu: WeightsMenu | None = None
        self.worklist_columns.setSourceModel(window.worklist.model)

        self.image_id: int | None = None  # the image whose output is (or will be) shown
        self.result: ImagePrediction | None = None
        self._pending = 0  # token of the awaited full prediction
        self._feature_token = 0
        self._overlay_cache: dict[tuple[str, int], np.ndarray] = {}

        self.worker.done.connect(self._on_result)
        panel = self.prediction_panel
        panel.overlaysChanged.connect(self.render_overlays)
        panel.featureLayerRequested.connect(self.request_features)
        panel.proposeRequested.connect(self.propose)
        panel.acceptProposalsRequested.connect(self.accept_proposals)
        panel.rejectProposalsRequested.connect(self.reject_proposals)
        if self.training is not None:
            self.training.runEnded.connect(lambda _outcome: self.versions.refresh())
            self.training.versionActivated.connect(lambda _v: self._models_changed())
        self.versions.modelsChanged.connect(self._models_changed)
        self.versions.scoresChanged.connect(self.refresh_worklist_scores)
        self.versions.assistChanged.connect(self._assist_changed)
        workspace.imageShown.connect(self.show_image)
        workspace.gradeSubmitted.connect(self._on_submitted)
        window.on_shutdown(self.shutdown)
        self.refresh_worklist_scores()
        if workspace.shown is not None:
            self.show_image(workspace.shown)

    # ------------------------------------------------------------------ the image on screen
    def visible(self, image_id: int) -> bool:
        """May the grader see model output for the image (blinding, assist mode)?"""
        return assist.model_output_visible(self.grading, image_id)

    def show_image(self, image_id: int) -> None:
        """The workspace shows a new image: ask for its prediction unless the grader is blinded."""
        self.image_id = image_id
        self.result = None
        self._overlay_cache.clear()
        self.prediction_panel.set_proposals([])
        self._clear_canvas_layers()
        if not self.visible(image_id):
            self._pending = 0
            self.prediction_panel.clear()
            self.prediction_panel.set_blinded(True)
            return
        self.prediction_panel.set_blinded(False)
        self.prediction_panel.clear("Computing the model's output …")
        self._pending = self.worker.request(image_id)

    def _assist_changed(self, _on: bool) -> None:
        """Assist mode switched: what the worklist and the Model tab may show changed."""
        self.refresh_worklist_scores()
        self._reshow()

    def _reshow(self) -> None:
        if self.workspace.shown is not None:
            self.show_image(self.workspace.shown)

    def _models_changed(self) -> None:
        if self.training is not None:
            self.training.refresh_choices()
        self.versions.refresh()
        self.refresh_worklist_scores()
        self._reshow()

    def _on_result(self, result: PredictionResult | FeatureResult) -> None:
        if result.image_id != self.image_id or result.image_id != self.workspace.shown:
            return  # the grader has moved on
        if isinstance(result, FeatureResult):
            if result.token == self._feature_token:
                self.prediction_panel.show_feature_grid(result.task, result.layer, result.grid, result.error)
            return
        if result.token != self._pending:
            return
        self._pending = 0
        if result.prediction is None:
            self.prediction_panel.clear(f"The model output could not be computed: {result.error}")
            return
        self.result = result.prediction
        comparison = assist.grade_comparison(self.grading, result.image_id)
        self.prediction_panel.show_prediction(result.prediction, comparison, result.layers)
        self.render_overlays()

    def request_features(self, task: str, layer: str) -> None:
        if self.image_id is not None and self.result is not None:
            self._feature_token = self.worker.request_features(self.image_id, task, layer)

    # ------------------------------------------------------------------ overlays
    def render_overlays(self) -> None:
        """Paint (or remove) the line-mask and saliency overlays as the panel's switches say."""
        canvas = self.window.canvas
        outputs = self.result.outputs if self.result is not None else {}
        line = outputs.get("segmentation")
        shown, opacity = self.prediction_panel.mask_overlay()
        mask = line.line_mask if line is not None else None
        canvas.set_overlay(MASK_OVERLAY, self._cached("mask", mask) if shown and mask is not None else None, opacity)
        source = outputs.get("binary") or outputs.get("stage")
        saliency = source.saliency if source is not None else None
        shown, opacity = self.prediction_panel.saliency_overlay()
        cmap = self.prediction_panel.colormap()
        canvas.set_overlay(
            SALIENCY_OVERLAY, self._cached(cmap, saliency) if shown and saliency is not None else None, opacity
        )

    def _cached(self, kind: str, array: np.ndarray) -> np.ndarray:
        key = (kind, id(array))
        if key not in self._overlay_cache:
            self._overlay_cache[key] = mask_rgba(array) if kind == "mask" else heatmap_rgba(array, kind)
        return self._overlay_cache[key]

    def _clear_canvas_layers(self) -> None:
        canvas = self.window.canvas
        for name in (MASK_OVERLAY, SALIENCY_OVERLAY):
            canvas.set_overlay(name, None)
        canvas.set_reference_shapes(PROPOSALS_LAYER, [])

    # ------------------------------------------------------------------ proposals
    def propose(self) -> list[Shape]:
        """Outline proposals from the predicted line mask, shown dashed on the canvas."""
        line = self.result.outputs.get("segmentation") if self.result is not None else None
        if line is None or self.image_id is None or not self.visible(self.image_id):
            return []
        try:
            shapes = assist.propose_outlines(
                line.line_mask,
                lesion_type=self.window.lesion_combo.currentData(),
                stage=self.window.stage_combo.currentData(),
            )
        except assist.AssistError as exc:
            self.prediction_panel.show_status(exc.reason)
            return []
        if not shapes:
            self.prediction_panel.show_status("The model found no line to outline on this image.")
        self._set_proposals(shapes)
        return shapes

    def _set_proposals(self, shapes: list[Shape]) -> None:
        self.prediction_panel.set_proposals(shapes)
        self.window.canvas.set_reference_shapes(PROPOSALS_LAYER, shapes, PROPOSAL_COLOR)

    def accept_proposals(self, shapes: list[Shape]) -> list[Shape]:
        """The proposals become editable polygons (one undo step), stored like drawn ones."""
        canvas = self.window.canvas
        added = []
        canvas.undo_stack.beginMacro("Accept model outlines")
        try:
            for shape in shapes:
                stored = canvas.add_shape(shape)
                if stored is not None:
                    added.append(stored)
        finally:
            canvas.undo_stack.endMacro()
        accepted = {s.id for s in shapes}
        self._set_proposals([s for s in self.prediction_panel.proposals() if s.id not in accepted])
        self.prediction_panel.show_status(f"{len(added)} model outline(s) added: edit them like your own.")
        return added

    def reject_proposals(self) -> None:
        self._set_proposals([])

    # ------------------------------------------------------------------ after a submit
    def _on_submitted(self, image_id: int) -> None:
        # the submit may have unblinded the image's score: the workspace has read that row again
        # the workspace opens the next image to do right after this signal; if it stays (nothing
        # left to do), the submitted image is now unblinded: show the model's output for it
        QTimer.singleShot(0, lambda: self._reshow() if self.workspace.current == image_id else None)
        if self.training is not None and self.training_service is not None:
            try:
                if self.training_service.auto_update_every():
                    self.training.auto_update_if_due()
            except AccessDenied as exc:  # the account lost its role since sign-in
                self.window.statusBar().showMessage(exc.reason, 10_000)

    # ------------------------------------------------------------------ worklist columns
    def refresh_worklist_scores(self) -> None:
        """Show the P(ROP) / uncertainty columns as they are now (after a batch prediction, an
        activation, assist mode): the worklist rows carry the scores this account may see (the
        grading service applies blinding and assist mode), so the rows on screen are read again
        — never the whole study's predictions."""
        self.workspace.reload_worklist_rows()
        version = self.models.active("binary")
        self.worklist_columns.set_threshold(
            version.threshold if version is not None and version.threshold is not None else (0.5 if version else None),
            version.threshold_label() if version is not None else "",
        )

    # ------------------------------------------------------------------ closing
    def shutdown(self) -> None:
        self.worker.shutdown()
        if self.training is not None:
            self.training.shutdown()
        self.versions.shutdown()


def install_model_features(
    window: MainWindow,
    study: Study,
    grading_service: GradingService,
    workspace: WorkspaceController,
    *,
    device: str = "auto",
) -> ModelController:
    """Add the Model, Train and Models tabs to ``window`` (built by ``app.build_window``), following
    the images ``workspace`` shows."""
    from rop_desktop.ui.prediction.report_export import add_report_button

    controller = ModelController(window, study, grading_service, workspace, device=device)
    controller.weights_menu = WeightsMenu(window, controller.models, controller.versions_panel.show_message)
    if policy.allowed(study, grading_service.actor, Action.MODELS_MANAGE):  # reports evaluate on the reference
        add_report_button(controller)
    return controller
