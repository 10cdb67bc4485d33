"""README "Troubleshooting" quotes the Qt system packages CI installs, so the two cannot drift apart.

A user once followed the README's shorter list and Qt would not start (libxcb-icccm4 and
libxcb-keysyms1 were missing); `.ci/run` now reads `.ci/qt-packages.txt`, and this test holds the
README's `apt-get install` line to exactly that file.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _ci_packages() -> list[str]:
    lines = (REPO / ".ci" / "qt-packages.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _readme_packages() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    found = re.findall(r"`apt-get install ([^`]+)`", section)
    assert len(found) == 1, "README Troubleshooting should quote one `apt-get install …` line"
    return found[0].split()


def test_readme_lists_exactly_the_packages_ci_installs() -> None:
    assert _readme_packages() == _ci_packages()


def test_ci_installs_from_the_package_file() -> None:
    script = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert ".ci/qt-packages.txt" in script
    assert "libxcb-icccm4" not in script, "the list lives in .ci/qt-packages.txt only"


def test_the_packages_qt_needs_to_start_are_listed() -> None:
    assert {"libxcb-icccm4", "libxcb-keysyms1", "libxcb-cursor0"} <= set(_ci_packages())
