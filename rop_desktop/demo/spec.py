"""What one synthetic fundus image shows (:class:`FundusSpec`) and what is true about it (:class:`FundusTruth`).

Plain, frozen data: the renderer reads a spec, the study composer builds specs, and the truth
(image-level grade plus lesion outlines in pixel coordinates) travels to files and tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral

from shapely.geometry import Polygon

from rop_desktop.domain.errors import Refusal
from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Eye, LesionType, Plus, Quality, RopPresence, Stage, Zone

#: Cameras the demo imitates (each has its own colour cast).
CAMERAS: tuple[str, ...] = ("RetCam 3", "3nethra Neo")
#: Stages the renderer can draw (acute ROP without detachment).
RENDERABLE_STAGES: tuple[Stage, ...] = (Stage.S0, Stage.S1, Stage.S2, Stage.S3)
#: Views: 1 = posterior pole centred, 2 = aimed temporally (the disc near the nasal edge).
VIEWS: tuple[int, ...] = (1, 2)

Point = tuple[float, float]


class DemoError(Refusal):
    """A demo generator input is out of range; ``reason`` says which and why."""


@dataclass(frozen=True)
class FundusSpec:
    """The recipe of one synthetic image; together with the output size it fixes every pixel.

    ``zone`` is where the vascular/avascular border lies (for a stage-0 retina too);
    ``mature`` (stage 0 only) draws vessels out to the edge of the field instead.
    """

    seed: int
    eye: Eye = Eye.OD
    stage: Stage = Stage.S0
    zone: Zone = Zone.II
    plus: Plus = Plus.NORMAL
    extent_clock_hours: int = 0
    mature: bool = False
    view: int = 1
    camera: str = CAMERAS[0]
    poor_quality: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, Integral) or self.seed < 0:
            raise DemoError(f"seed must be a non-negative integer (got {self.seed!r})")
        if self.stage not in RENDERABLE_STAGES:
            raise DemoError(f"stage {self.stage.value!r} cannot be rendered: expected one of 0, 1, 2, 3")
        if self.zone is Zone.NA:
            raise DemoError("zone must be I, posterior II, II or III, not 'na'")
        if self.plus is Plus.NA:
            raise DemoError("plus must be normal, pre-plus or plus, not 'na'")
        if self.stage is Stage.S0 and self.extent_clock_hours != 0:
            raise DemoError(f"stage 0 has no lesion, so extent must be 0 (got {self.extent_clock_hours})")
        if self.stage is not Stage.S0 and not 1 <= self.extent_clock_hours <= 12:
            raise DemoError(f"extent must be 1–12 clock hours for {self.stage.label} (got {self.extent_clock_hours})")
        if self.mature and self.stage is not Stage.S0:
            raise DemoError("only a stage-0 retina can be fully vascularised (mature)")
        if self.view not in VIEWS:
            raise DemoError(f"view must be one of {VIEWS} (got {self.view})")
        if self.camera not in CAMERAS:
            raise DemoError(f"camera {self.camera!r} is not simulated: expected one of {', '.join(CAMERAS)}")


@dataclass(frozen=True)
class LesionPolygon:
    """One outlined lesion: a simple polygon (exterior ring, pixel coordinates, no closing point)."""

    kind: LesionType
    stage: Stage
    ring: tuple[Point, ...]

    def polygon(self) -> Polygon:
        return Polygon(self.ring)

    def as_dict(self) -> dict[str, object]:
        return {
            "type": self.kind.value,
            "stage": self.stage.value,
            "points": [[round(x, 2), round(y, 2)] for x, y in self.ring],
        }


def lesion_kind(stage: Stage) -> LesionType:
    """Stage 1 is a flat demarcation line; stages 2 and 3 a ridge."""
    return LesionType.DEMARCATION_LINE if stage is Stage.S1 else LesionType.RIDGE


@dataclass(frozen=True)
class FundusTruth:
    """Ground truth of a rendered image.

    ``zone`` is the zone of the vascular border (zone III for a mature retina); ``lesions`` the
    visible parts of the line/ridge (empty for stage 0); ``vascular_border`` the visible parts of
    the vascular/avascular junction as polylines (empty when mature); ``fov`` and ``disc`` are
    circles ``(cx, cy, r)`` in pixels; ``fovea`` the fovea's centre ``(x, y)`` (it may lie outside
    the aperture on an image aimed at the periphery). ``poor_quality`` images are blurred and dark,
    the disease underneath is still the truth.
    """

    stage: Stage
    zone: Zone
    plus: Plus
    extent_clock_hours: int
    lesions: tuple[LesionPolygon, ...]
    fov: tuple[float, float, float]
    disc: tuple[float, float, float]
    vascular_border: tuple[tuple[Point, ...], ...] = field(default=())
    poor_quality: bool = False
    mature: bool = False
    arop: bool = False
    fovea: tuple[float, float] | None = None

    @property
    def rop(self) -> RopPresence:
        return RopPresence.NO if self.stage is Stage.S0 else RopPresence.YES

    def grade(self) -> GradeValues:
        """The truth as an image-level grade (always gradable: the disease is known)."""
        return GradeValues(
            rop=self.rop,
            stage=self.stage,
            zone=self.zone,
            plus=self.plus,
            arop=self.arop,
            extent_clock_hours=self.extent_clock_hours,
            quality=Quality.GRADABLE,
        )

    def as_dict(self) -> dict[str, object]:
        return {
            **self.grade().as_dict(),
            "poor_quality": self.poor_quality,
            "mature": self.mature,
            "fov": [round(v, 2) for v in self.fov],
            "disc": [round(v, 2) for v in self.disc],
            "fovea": None if self.fovea is None else [round(v, 2) for v in self.fovea],
            "lesions": [lesion.as_dict() for lesion in self.lesions],
        }
