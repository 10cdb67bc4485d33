"""Fixtures of the demo generator tests: one default study, shared (generating it renders nothing)."""

from __future__ import annotations

import pytest

from rop_desktop.demo import DemoStudy, generate_demo


@pytest.fixture(scope="session")
def demo_study() -> DemoStudy:
    """The study ``rop-desktop --demo`` opens: seed 0, 20 patients, 640x480."""
    return generate_demo(seed=0)
