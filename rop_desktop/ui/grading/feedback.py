"""Wording of the grade panel's feedback: the issue list and the status line (pure functions)."""

from __future__ import annotations

import html
from datetime import datetime

from rop_desktop.domain.grades import GradeValues, Issue

from . import style

#: Fields whose "not set" error is shown as a neutral to-do until the grader first tries to submit.
REQUIRED_FIELDS: tuple[str, ...] = ("quality", "rop", "stage")


def is_missing(issue: Issue, values: GradeValues) -> bool:
    """True for "X is not set" errors of a required field that simply has not been answered yet."""
    return issue.severity == "error" and issue.field in REQUIRED_FIELDS and getattr(values, issue.field) is None


def display_severity(issue: Issue, values: GradeValues, *, strict: bool) -> str:
    """``"error"``, ``"warning"`` or ``"todo"`` (an unanswered required field, before a submit attempt)."""
    if not strict and is_missing(issue, values):
        return "todo"
    return "error" if issue.severity == "error" else "warning"


_MARKS = {"error": ("✖", style.ERROR), "warning": ("⚠", style.WARNING), "todo": ("○", style.MISSING)}


def issues_html(issues: list[Issue], values: GradeValues, *, strict: bool) -> str:
    """The issue list as rich text, errors first; ``""`` when the grade is consistent."""
    order = {"error": 0, "warning": 1, "todo": 2}
    shown = sorted(((display_severity(i, values, strict=strict), i) for i in issues), key=lambda p: order[p[0]])
    lines = []
    for severity, issue in shown:
        mark, color = _MARKS[severity]
        lines.append(f'<span style="color:{color}">{mark}&nbsp;{html.escape(issue.message)}</span>')
    return "<br>".join(lines)


def status_text(
    *,
    started: bool,
    submitted: bool,
    edited: bool,
    read_only: bool,
    submitted_at: datetime | None,
    now: datetime | None = None,
) -> tuple[str, str]:
    """(text, colour) of the status line."""
    if submitted:
        when = ""
        if submitted_at is not None:
            now = now or datetime.now(submitted_at.tzinfo)
            fmt = "%H:%M" if submitted_at.date() == now.date() else "%d %b %Y %H:%M"
            when = " " + submitted_at.strftime(fmt)
        if edited and not read_only:
            return f"Submitted{when} — edited, Enter re-submits", style.WARNING
        return f"Submitted{when}" + (" — read-only" if read_only else ""), style.OK
    if read_only:
        return "Not submitted — read-only", style.MISSING
    if not started:
        return "Not started", style.MISSING
    return "Draft — saved", style.MISSING
