"""Model assistance for graders: when model output may be shown, outline proposals, comparisons.

* Blinding: a grader sees the active models' output for an image only once they may see other
  graders' work (:meth:`GradingService.others_visible`: submitted, unblinded study, adjudicator
  or admin) — or when the study's *assist mode* (setting ``grading.assist_mode``) is on, in which
  case the model helps while grading. The reference standard stays blinded either way.
* Proposals: the predicted demarcation-line mask traced into simplified polygons
  (:func:`training.formats.masks.mask_to_polygons`), as :class:`Shape` values with source
  ``"model"`` in the app's pixel-corner convention, ready for the canvas.
* Comparisons: the grader's grade, the reference standard and a model output side by side
  (:func:`grade_comparison`, :func:`agreement`).

Nothing here touches Qt; the window receives plain data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rop_desktop.domain.coordinates import ring_to_corners
from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import LesionType, RopPresence, Stage
from rop_desktop.domain.shapes import Shape, new_shape_id
from rop_desktop.services.errors import ServiceError
from rop_desktop.store import Study, repo
from training.formats.masks import mask_to_polygons, polygon_rings

from .accounts import set_study_setting
from .grading import GradingService
from .policy import ASSIST_SETTING, Action, Actor, allowed, guarded, open_operation
from .predictions import ModelOutput, PredictionError, PredictionService
from .reference import ReferenceService

#: Proposals smaller than this (px², between pixel centres) are specks, not lines.
MIN_PROPOSAL_AREA = 20.0
#: Douglas-Peucker tolerance (px) of proposal outlines: few vertices, still on the line.
PROPOSAL_TOLERANCE = 1.5
MAX_PROPOSALS = 20


class AssistError(ServiceError):
    """Model assistance that cannot be given; ``reason`` is a sentence for the user."""


# ---------------------------------------------------------------------------- assist mode and blinding
@open_operation("whether assist mode is on: every account's window needs to know")
def assist_mode(study: Study) -> bool:
    """Whether graders see model output before submitting (off by default)."""
    with study.session() as session:
        return bool(repo.get_setting(session, ASSIST_SETTING, False))


@guarded(Action.SETTINGS_WRITE)
def set_assist_mode(study: Study, actor: Actor, on: bool) -> None:
    """Turn assist mode on or off (admins only, audited)."""
    set_study_setting(study, actor, ASSIST_SETTING, bool(on))


def model_output_visible(grading: GradingService, image_id: int) -> bool:
    """May this grader see the models' output for the image now (the policy: blinding, assist mode)?"""
    return allowed(grading.study, grading.actor, Action.MODEL_OUTPUT_READ, image_id=image_id)


# ---------------------------------------------------------------------------- proposals
def propose_outlines(
    mask: np.ndarray | None,
    *,
    lesion_type: LesionType = LesionType.DEMARCATION_LINE,
    stage: Stage | None = None,
    min_area: float = MIN_PROPOSAL_AREA,
    tolerance: float = PROPOSAL_TOLERANCE,
    max_proposals: int = MAX_PROPOSALS,
) -> list[Shape]:
    """The predicted line mask as outline proposals (largest first), source ``"model"``.

    ``mask`` is HxW (0/255, 0/1 or bool) at the image's size; an empty mask gives no proposal.
    Vertices are moved from pixel centres (the mask tracer's convention) to the app's pixel
    corners, so an accepted proposal covers the same pixels as the mask.
    """
    if mask is None:
        raise AssistError("There is no predicted line mask: activate a line-segmentation model first.")
    array = np.asarray(mask)
    if array.ndim != 2:
        raise AssistError(f"A line mask must be a 2-D array, not shape {array.shape}.")
    polygons = sorted(mask_to_polygons(array, min_area=min_area, tolerance=tolerance), key=lambda p: -p.area)
    shapes = []
    for polygon in polygons[:max_proposals]:
        rings = [ring_to_corners(ring) for ring in polygon_rings(polygon)]
        if len(rings[0]) < 3:
            continue
        shapes.append(
            Shape(
                id=new_shape_id(),
                points=tuple(rings[0]),
                holes=tuple(tuple(r) for r in rings[1:]),
                lesion_type=lesion_type,
                stage=stage,
                source="model",
            )
        )
    return shapes


# ---------------------------------------------------------------------------- feature maps of one layer
def feature_grid_for(predictions: PredictionService, task: str, layer: str, rgb: np.ndarray) -> np.ndarray:
    """The active ``task`` model's feature-map grid of ``layer`` for an image (uint8; not cached).

    Raises :class:`AssistError` when no model is active for the task or the layer is unknown.
    """
    version = predictions.active_versions().get(task)
    if version is None:
        raise AssistError(f"No {task} model is active.")
    try:
        predictor = predictions.predictor(version)
        if layer not in predictor.layers():
            raise AssistError(f"The {task} model {version.name} has no layer {layer!r}.")
        line_mask = None
        if predictor.needs_line_mask:
            line_version = predictions.active_versions().get("segmentation")
            if line_version is None:
                raise AssistError("A hybrid model (image + line mask) needs an active line-segmentation model.")
            line_mask = predictions.predictor(line_version).line_mask(rgb)
        grid = predictor.predict(rgb, saliency=False, feature_layer=layer, line_mask=line_mask).feature_maps
    except (PredictionError, ValueError, RuntimeError) as exc:
        if isinstance(exc, AssistError):
            raise
        raise AssistError(f"The feature maps of {layer} could not be computed: {exc}") from exc
    if grid is None:
        raise AssistError(f"The {task} model returned no feature maps for {layer}.")
    return grid


# ---------------------------------------------------------------------------- side by side
@dataclass(frozen=True)
class GradeComparison:
    """The grader's own grade and, once unblinded, the reference standard of an image."""

    image_id: int
    mine: GradeValues | None
    mine_submitted: bool
    n_my_outlines: int
    reference: GradeValues | None
    reference_method: str | None
    reference_visible: bool


def grade_comparison(grading: GradingService, image_id: int) -> GradeComparison:
    """What the model is compared with; the reference only when the grader is unblinded."""
    mine = grading.my_grade(image_id)
    outlines = len(grading.my_shapes(image_id))
    visible = grading.others_visible(image_id)
    reference = ReferenceService(grading.study, grading.actor).current(image_id) if visible else None
    return GradeComparison(
        image_id,
        mine.values if mine.exists else None,
        mine.submitted,
        outlines,
        reference.values if reference else None,
        reference.method if reference else None,
        visible,
    )


def model_says(task: str, output: ModelOutput) -> str | None:
    """The model's answer as the grade's vocabulary: "yes"/"no" (binary), "0".."3" (stage),
    "yes"/"no" for "a line was found" (segmentation); None when it gave none."""
    if task == "binary" and output.positive is not None:
        return RopPresence.YES.value if output.positive else RopPresence.NO.value
    if task == "stage" and output.predicted_class:
        digits = [c for c in output.predicted_class if c.isdigit()]
        return digits[0] if digits else None
    if task == "segmentation" and output.line_mask is not None:
        return "yes" if bool(np.any(output.line_mask)) else "no"
    return None


def grade_says(task: str, values: GradeValues | None, n_outlines: int | None = None) -> str | None:
    """A grade's answer to the model's question (see :func:`model_says`); None when not given."""
    if values is None:
        return None
    if task == "binary":
        return values.rop.value if values.rop in (RopPresence.YES, RopPresence.NO) else None
    if task == "stage":
        major = values.stage.major if values.stage is not None else None
        return None if major is None else str(major)
    if task == "segmentation" and n_outlines is not None:
        return "yes" if n_outlines > 0 else "no"
    return None


def agreement(task: str, values: GradeValues | None, output: ModelOutput, n_outlines: int | None = None) -> bool | None:
    """True/False when both the grade and the model answer the task's question; else None."""
    theirs, model = grade_says(task, values, n_outlines), model_says(task, output)
    if theirs is None or model is None:
        return None
    return theirs == model
