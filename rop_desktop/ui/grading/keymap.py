"""The grading workspace's keyboard map: ONE table, used both to bind keys and to draw the F1 help.

Each :class:`ShortcutSpec` names its keys, what they do, where they work (:class:`Context`) and,
for the grade panel's own keys, the action (an edit operation or a :class:`Command`). Canvas and
window entries have no action here: the main window binds them by id
(:meth:`~.shortcuts.GradingShortcuts.bind`), or the canvas handles them itself while it has focus.

Key scheme (letters with a grade meaning are never reused by tools):

* stage: ``0``–``3``; ``4`` = 4A, again 4B; ``5`` = 5A, again 5B, 5C; ``X`` = not assessable
* ROP: ``Y`` present, ``N`` absent, ``Shift+N`` not assessable
* plus: ``P`` cycles normal → pre-plus → plus, ``Shift+P`` not assessable
* zone: ``Z`` cycles I → posterior II → II → III, ``Shift+Z`` not assessable
* ``A`` A-ROP, ``[`` / ``]`` extent −/+ 1 clock hour, ``Shift+Q`` ungradable ↔ gradable (never a
  bare letter: one stray key must not clear the grade and lock the clinical keys; while it is
  set the panel shows a banner that says how to clear it), ``Alt+1``–``Alt+5`` confidence, ``M`` comment, ``Enter`` submit and next, ``F1`` help
* canvas tools on letters without a grade meaning: ``V`` select, ``G`` polygon, ``T`` trace, ``H`` pan,
  ``D`` landmarks; in the Landmarks tool ``D`` / ``F`` place the optic disc / fovea at the pointer;
  ``R`` zone rings on / off; ``Alt+Z`` accepts the suggested zone
* images: ``Ctrl+→`` / ``PgDown`` next, ``Ctrl+←`` / ``PgUp`` previous; ``F5`` refreshes the
  worklist (until then a row that is done stays in its place, struck through)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from PySide6.QtCore import QKeyCombination, Qt
from PySide6.QtGui import QKeySequence

from rop_desktop.domain.errors import Refusal
from rop_desktop.domain.labels import Plus, Quality, RopPresence, Stage, Zone

from .editing import CycleField, EditOp, SetField, StepField, ToggleFlag


class ShortcutTableError(Refusal):
    """A keyboard table that cannot be bound (bad key, duplicate id, conflict); ``reason`` says which."""


class Scope(str, Enum):
    """The group an entry is listed under in the help overlay."""

    GRADING = "Grading"
    CANVAS = "Canvas"
    NAVIGATION = "Navigation"
    WINDOW = "Window"


class Context(str, Enum):
    """Where a key works, which decides what may conflict with what.

    ``WINDOW`` keys are window-wide shortcuts, suspended while a text field has focus.
    ``CANVAS`` keys are handled by the image canvas itself while it has focus, so they share one
    namespace with ``WINDOW`` keys. ``DRAWING`` keys apply while a polygon is being drawn: the
    canvas claims them first (``QEvent.ShortcutOverride``), so they may reuse window keys.
    ``LANDMARKS`` keys apply while the Landmarks tool is active and the canvas has the focus,
    claimed the same way (``F`` places the fovea there instead of fitting the image).
    """

    WINDOW = "window"
    CANVAS = "canvas"
    DRAWING = "drawing"
    LANDMARKS = "landmarks"


#: Contexts whose keys are live at the same time and so must not repeat a key.
_NAMESPACES: dict[Context, str] = {
    Context.WINDOW: "main",
    Context.CANVAS: "main",
    Context.DRAWING: "drawing",
    Context.LANDMARKS: "landmarks",
}


class Command(str, Enum):
    """Grading actions that are not edits of the grade."""

    SUBMIT = "submit"
    FOCUS_COMMENT = "focus_comment"
    HELP = "help"
    ACCEPT_ZONE = "accept_zone"


@dataclass(frozen=True)
class ShortcutSpec:
    """One row of the keyboard table.

    ``help_row``: consecutive entries with the same non-empty ``help_row`` are shown as one row
    of the help overlay with that text (e.g. the four digit keys of stages 0–3).
    """

    id: str
    keys: tuple[str, ...]
    description: str
    scope: Scope
    context: Context = Context.WINDOW
    action: EditOp | Command | None = None
    help_row: str = ""

    def sequences(self) -> list[QKeySequence]:
        return [QKeySequence(k) for k in self.keys]

    def key_texts(self) -> list[str]:
        """The keys as the platform writes them (``Ctrl+→``, ``⌘Z`` on macOS)."""
        return [_native(k) for k in self.keys]


def _native(key: str) -> str:
    return QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)


def _portable(key: str) -> str:
    return QKeySequence(key).toString(QKeySequence.SequenceFormat.PortableText)


def _grading(
    id_: str, keys: str | tuple[str, ...], description: str, action: EditOp | Command, help_row: str = ""
) -> ShortcutSpec:
    keys = (keys,) if isinstance(keys, str) else keys
    return ShortcutSpec(f"grade.{id_}", keys, description, Scope.GRADING, Context.WINDOW, action, help_row)


def _listed(
    id_: str, keys: str | tuple[str, ...], description: str, scope: Scope, context: Context = Context.WINDOW
) -> ShortcutSpec:
    keys = (keys,) if isinstance(keys, str) else keys
    return ShortcutSpec(id_, keys, description, scope, context)


_STAGE_ROW = "Stage 0 · 1 · 2 · 3"
_CONFIDENCE_ROW = "Confidence 1 (guess) … 5 (certain)"

SHORTCUTS: tuple[ShortcutSpec, ...] = (
    *(
        _grading(f"stage.{s.value}", s.value, s.label, SetField("stage", s), _STAGE_ROW)
        for s in (Stage.S0, Stage.S1, Stage.S2, Stage.S3)
    ),
    _grading("stage.4", "4", "Stage 4A; again: 4B", CycleField("stage", (Stage.S4A, Stage.S4B))),
    _grading("stage.5", "5", "Stage 5A; again: 5B, 5C", CycleField("stage", (Stage.S5A, Stage.S5B, Stage.S5C))),
    _grading("stage.na", "X", "Stage not assessable", SetField("stage", Stage.NA)),
    _grading("rop.yes", "Y", "ROP present", SetField("rop", RopPresence.YES)),
    _grading("rop.no", "N", "No ROP (sets stage 0 if unset)", SetField("rop", RopPresence.NO)),
    _grading("rop.na", "Shift+N", "ROP not assessable", SetField("rop", RopPresence.NA)),
    _grading(
        "zone.cycle",
        "Z",
        "Zone: I → posterior II → II → III",
        CycleField("zone", (Zone.I, Zone.POSTERIOR_II, Zone.II, Zone.III)),
    ),
    _grading("zone.na", "Shift+Z", "Zone not assessable", SetField("zone", Zone.NA)),
    _grading("zone.accept", "Alt+Z", "Accept the suggested zone (from the disc, fovea and ridge)", Command.ACCEPT_ZONE),
    _grading(
        "plus.cycle", "P", "Plus: normal → pre-plus → plus", CycleField("plus", (Plus.NORMAL, Plus.PRE_PLUS, Plus.PLUS))
    ),
    _grading("plus.na", "Shift+P", "Plus not assessable", SetField("plus", Plus.NA)),
    _grading("arop", "A", "A-ROP on / off", ToggleFlag("arop")),
    _grading("extent.less", "[", "Extent − 1 clock hour", StepField("extent_clock_hours", -1, 0, 12)),
    _grading("extent.more", "]", "Extent + 1 clock hour", StepField("extent_clock_hours", +1, 0, 12)),
    _grading(
        "quality",
        "Shift+Q",
        "Image ungradable ↔ gradable",
        CycleField("quality", (Quality.UNGRADABLE, Quality.GRADABLE)),
    ),
    *(
        _grading(f"confidence.{n}", f"Alt+{n}", f"Confidence {n}", SetField("confidence", n), _CONFIDENCE_ROW)
        for n in range(1, 6)
    ),
    _grading("comment", "M", "Write a comment (Enter or Esc leaves it)", Command.FOCUS_COMMENT),
    _grading("submit", ("Return", "Enter"), "Submit and go to the next image", Command.SUBMIT),
    _listed("canvas.tool.select", "V", "Select / edit tool", Scope.CANVAS),
    _listed("canvas.tool.polygon", "G", "Polygon tool (click vertices)", Scope.CANVAS),
    _listed("canvas.tool.trace", "T", "Trace tool (drag along the line)", Scope.CANVAS),
    _listed("canvas.tool.pan", "H", "Pan tool", Scope.CANVAS),
    _listed("canvas.tool.landmarks", "D", "Landmarks tool: optic disc and fovea", Scope.CANVAS),
    _listed("canvas.zones.toggle", "R", "Zone rings on / off", Scope.CANVAS),
    _listed("canvas.fit", "F", "Fit the image to the window", Scope.CANVAS),
    _listed("canvas.actual_size", "Ctrl+0", "Zoom 1:1", Scope.CANVAS),
    _listed("canvas.zoom_in", ("Ctrl++", "Ctrl+="), "Zoom in", Scope.CANVAS),
    _listed("canvas.zoom_out", "Ctrl+-", "Zoom out", Scope.CANVAS),
    _listed("canvas.undo", "Ctrl+Z", "Undo the last polygon edit", Scope.CANVAS),
    _listed("canvas.redo", ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo", Scope.CANVAS),
    _listed("canvas.display.cycle", "C", "Display: original → green → CLAHE", Scope.CANVAS),
    _listed("canvas.display.reset", "Shift+C", "Reset the display (original, neutral contrast)", Scope.CANVAS),
    _listed("canvas.pan.hold", "Space", "Hold and drag to pan", Scope.CANVAS, Context.CANVAS),
    _listed("canvas.delete", ("Delete", "Backspace"), "Delete the selected polygon", Scope.CANVAS, Context.CANVAS),
    _listed("canvas.deselect", "Escape", "Deselect", Scope.CANVAS, Context.CANVAS),
    _listed("canvas.drawing.finish", ("Return", "Enter"), "Close the polygon", Scope.CANVAS, Context.DRAWING),
    _listed("canvas.drawing.back", "Backspace", "Remove the last vertex", Scope.CANVAS, Context.DRAWING),
    _listed("canvas.drawing.cancel", "Escape", "Cancel the polygon", Scope.CANVAS, Context.DRAWING),
    _listed(
        "canvas.landmarks.disc",
        "D",
        "Optic disc at the pointer (or click; drag to its rim to measure it)",
        Scope.CANVAS,
        Context.LANDMARKS,
    ),
    _listed("canvas.landmarks.fovea", "F", "Fovea at the pointer (or click)", Scope.CANVAS, Context.LANDMARKS),
    _listed(
        "canvas.landmarks.remove", ("Delete", "Backspace"), "Remove the armed landmark", Scope.CANVAS, Context.LANDMARKS
    ),
    _listed("exam.show", "Ctrl+E", "Eye exam of this image ↔ the image's grade", Scope.GRADING),
    _listed("exam.confirm", "Ctrl+Return", "Confirm the eye-level grade", Scope.GRADING),
    _listed("nav.next", ("Ctrl+Right", "PgDown"), "Next image to grade", Scope.NAVIGATION),
    _listed("nav.previous", ("Ctrl+Left", "PgUp"), "Previous image", Scope.NAVIGATION),
    _listed("worklist.refresh", "F5", "Refresh the worklist (rows that are done leave it)", Scope.NAVIGATION),
    ShortcutSpec("window.help", ("F1",), "Show / hide this help", Scope.WINDOW, Context.WINDOW, Command.HELP),
    _listed("window.open", "Ctrl+O", "Open a study", Scope.WINDOW),
    _listed("window.fullscreen", "F11", "Full screen on / off", Scope.WINDOW),
    _listed("window.quit", "Ctrl+Q", "Quit", Scope.WINDOW),
)


def find_conflicts(table: Iterable[ShortcutSpec]) -> list[str]:
    """Keys bound twice where they are live at the same time, as readable sentences."""
    seen: dict[tuple[str, str], str] = {}
    problems: list[str] = []
    for spec in table:
        for key in spec.keys:
            slot = (_NAMESPACES[spec.context], _portable(key))
            if slot in seen and seen[slot] != spec.id:
                problems.append(f"key {key!r} is used by both {seen[slot]!r} and {spec.id!r}")
            seen.setdefault(slot, spec.id)
    return problems


def first_chord(sequence: QKeySequence) -> QKeyCombination:
    """The first key chord of a non-empty ``sequence`` (Qt's ``operator[]``)."""
    chord: QKeyCombination = sequence[0]  # type: ignore[index]  # PySide6's stubs lack QKeySequence.__getitem__
    return chord


def validate_table(table: Sequence[ShortcutSpec]) -> None:
    """Raise :class:`ShortcutTableError` unless every key parses to one chord, ids are unique and keys don't clash."""
    ids: set[str] = set()
    for spec in table:
        if spec.id in ids:
            raise ShortcutTableError(f"shortcut id {spec.id!r} appears twice")
        ids.add(spec.id)
        if not spec.keys:
            raise ShortcutTableError(f"shortcut {spec.id!r} has no key")
        for key in spec.keys:
            seq = QKeySequence(key)
            if seq.count() != 1 or first_chord(seq).key() == Qt.Key.Key_unknown:
                raise ShortcutTableError(f"shortcut {spec.id!r}: {key!r} is not a single key chord")
    problems = find_conflicts(table)
    if problems:
        raise ShortcutTableError("; ".join(problems))


def hint_for_value(field: str, value: object, table: Iterable[ShortcutSpec] = SHORTCUTS) -> str:
    """How to choose ``value`` of ``field`` from the keyboard, e.g. ``"4, twice"`` or ``"Z (cycles)"``; "" if no key."""
    for spec in table:
        op = spec.action
        if isinstance(op, SetField) and op.field == field and op.value == value:
            return " / ".join(spec.key_texts())
        if isinstance(op, CycleField) and op.field == field and value in op.values:
            key = " / ".join(spec.key_texts())
            if field == "quality" or len(op.values) > 3:
                return f"{key} (cycles)"
            presses = op.values.index(value) + 1
            return key if presses == 1 else f"{key} ×{presses}"
        if isinstance(op, ToggleFlag) and op.field == field:
            return " / ".join(spec.key_texts())
    return ""


def hint_for_field(field: str, table: Iterable[ShortcutSpec] = SHORTCUTS) -> str:
    """All keys that edit ``field``, compactly (``"0–5 X"``, ``"Alt+1–5"``, ``"[ ]"``)."""
    keys: list[str] = []
    for spec in table:
        op = spec.action
        if op is not None and not isinstance(op, Command) and op.field == field:
            keys.extend(spec.key_texts())
    return _compress(keys)


def hint_for_command(command: Command, table: Iterable[ShortcutSpec] = SHORTCUTS) -> str:
    """The keys of a grading command, e.g. ``"Return / Enter"``."""
    for spec in table:
        if spec.action is command:
            return " / ".join(spec.key_texts())
    return ""


def _compress(keys: list[str]) -> str:
    return " ".join(compress_keys(keys))


def compress_keys(keys: list[str]) -> list[str]:
    """Runs of three or more consecutive digits with one prefix become one ``prefix a–b`` item."""
    out: list[str] = []
    i = 0
    while i < len(keys):
        prefix, digit = _split_digit(keys[i])
        j = i
        while digit is not None and j + 1 < len(keys) and _split_digit(keys[j + 1]) == (prefix, digit + j + 1 - i):
            j += 1
        if j - i < 2:
            out.extend(keys[i : j + 1])
        else:
            out.append(f"{keys[i]}–{_split_digit(keys[j])[1]}")
        i = j + 1
    return out


def _split_digit(key: str) -> tuple[str, int | None]:
    if key and key[-1].isdigit() and (len(key) == 1 or key[-2] == "+"):
        return key[:-1], int(key[-1])
    return key, None
