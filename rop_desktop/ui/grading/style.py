"""Colours and wording of the grade panel: a severity ramp per field and ICROP3 tooltips."""

from __future__ import annotations

from PySide6.QtGui import QColor

from rop_desktop.domain.labels import Plus, Quality, RopPresence, Stage, Zone

NOT_ASSESSABLE = "#78909c"
ERROR = "#d32f2f"
WARNING = "#c77800"
MISSING = "#7a7f87"
OK = "#2e7d32"
#: Background of a banner or notice while a refused key draws the eye to it.
FLASH_BACKGROUND = "#ffe082"


def banner_css(*, flash: bool) -> str:
    """The ungradable banner: brown like the Ungradable button, brighter while flashing."""
    background = FLASH_BACKGROUND if flash else "#efebe9"
    return (
        f"background: {background}; color: #4e342e; border: 1px solid #6d4c41; border-radius: 3px;"
        " padding: 3px 5px; font-weight: bold;"
    )


#: Fill of the selected button, from benign (green) to severe (red / purple).
STAGE_COLORS: dict[Stage, str] = {
    Stage.S0: "#2e7d32",
    Stage.S1: "#9e9d24",
    Stage.S2: "#f9a825",
    Stage.S3: "#ef6c00",
    Stage.S4A: "#e64a19",
    Stage.S4B: "#c62828",
    Stage.S5A: "#ad1457",
    Stage.S5B: "#880e4f",
    Stage.S5C: "#5e1a8c",
    Stage.NA: NOT_ASSESSABLE,
}
ZONE_COLORS: dict[Zone, str] = {
    Zone.I: "#c62828",
    Zone.POSTERIOR_II: "#ef6c00",
    Zone.II: "#f9a825",
    Zone.III: "#2e7d32",
    Zone.NA: NOT_ASSESSABLE,
}
PLUS_COLORS: dict[Plus, str] = {
    Plus.NORMAL: "#2e7d32",
    Plus.PRE_PLUS: "#f9a825",
    Plus.PLUS: "#c62828",
    Plus.NA: NOT_ASSESSABLE,
}
ROP_COLORS: dict[RopPresence, str] = {
    RopPresence.NO: "#2e7d32",
    RopPresence.YES: "#c62828",
    RopPresence.NA: NOT_ASSESSABLE,
}
QUALITY_COLORS: dict[Quality, str] = {Quality.GRADABLE: "#2e7d32", Quality.UNGRADABLE: "#6d4c41"}
CONFIDENCE_COLORS: dict[int, str] = {1: "#90a4ae", 2: "#64b5f6", 3: "#42a5f5", 4: "#1e88e5", 5: "#1565c0"}

STAGE_HELP: dict[Stage, str] = {
    Stage.S0: "No ROP stage: immature or normal vascularisation",
    Stage.S1: "Demarcation line: flat white line between vascular and avascular retina",
    Stage.S2: "Ridge: the line has height and width",
    Stage.S3: "Extraretinal neovascular proliferation from the ridge",
    Stage.S4A: "Partial retinal detachment, fovea attached",
    Stage.S4B: "Partial retinal detachment involving the fovea",
    Stage.S5A: "Total detachment, open funnel: optic disc visible",
    Stage.S5B: "Total detachment, closed funnel: retrolental tissue hides the disc",
    Stage.S5C: "Stage 5B with anterior segment changes",
    Stage.NA: "The stage cannot be judged on this image",
}
ZONE_HELP: dict[Zone, str] = {
    Zone.I: "Circle around the disc, radius twice the disc–fovea distance",
    Zone.POSTERIOR_II: "The first two disc diameters of zone II beyond zone I",
    Zone.II: "From zone I to the nasal ora serrata",
    Zone.III: "The remaining temporal crescent",
    Zone.NA: "The zone cannot be judged on this image",
}
PLUS_HELP: dict[Plus, str] = {
    Plus.NORMAL: "Posterior pole vessels normal",
    Plus.PRE_PLUS: "Abnormal dilation / tortuosity, not enough for plus",
    Plus.PLUS: "Marked dilation and tortuosity of posterior pole vessels",
    Plus.NA: "Plus disease cannot be judged on this image",
}


def text_color_on(fill: str) -> str:
    """Black or white, whichever reads better on ``fill``."""
    c = QColor(fill)
    luminance = 0.299 * c.red() + 0.587 * c.green() + 0.114 * c.blue()
    return "#111111" if luminance > 150 else "#ffffff"


def choice_button_css(fill: str) -> str:
    """Style of one checkable choice button: neutral with a coloured foot, filled when selected."""
    border = QColor(fill).darker(130).name()
    return (  # noqa: UP031 - %-style keeps the CSS braces literal (f-string/format would double them)
        "QToolButton { border: 1px solid palette(mid); border-bottom: 3px solid %(fill)s; border-radius: 4px;"
        " padding: 3px 1px; background: palette(button); color: palette(button-text); }"
        " QToolButton:hover { border-color: palette(highlight); border-bottom-color: %(fill)s; }"
        " QToolButton:checked { background: %(fill)s; color: %(text)s; border: 1px solid %(border)s;"
        " border-bottom: 3px solid %(border)s; font-weight: bold; }"
        " QToolButton:disabled { color: palette(mid); border-bottom-color: palette(mid); }"
        " QToolButton:checked:disabled { background: palette(midlight); color: palette(dark); }"
    ) % {"fill": fill, "text": text_color_on(fill), "border": border}
