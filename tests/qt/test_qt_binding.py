"""Guards against a known-bad Qt binding: PySide6 6.12.0 on CPython 3.11 drops a reference to
``None`` on every void method call, and the process dies with "none_dealloc" after a few
thousand calls. pyproject pins PySide6 below 6.12; this test fails if that pin is lost."""

from __future__ import annotations

import sys

from PySide6.QtCore import QPointF


def test_void_methods_do_not_leak_references_to_none() -> None:
    point = QPointF(1.0, 2.0)
    before = sys.getrefcount(None)
    for _ in range(500):
        point.setX(3.0)
    assert sys.getrefcount(None) >= before - 50
