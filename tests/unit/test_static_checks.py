"""Lint, format and type checks of rop_desktop and training, as part of the test run.

The README's test command (``pytest``) is what CI runs, so the static checks live here: ruff
(lint rules and the formatter) and mypy, each with its settings from pyproject.toml
(``[tool.ruff]``, ``[tool.mypy]``). The tools come with the ``dev`` extra; a checkout without
them skips these tests and says so, CI never does (it installs ``.[dev]``).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("rop_desktop", "training")


def _run(tool: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec(tool) is None:
        pytest.skip(f"{tool} is not installed: pip install -e '.[dev]' (CI does)")
    return subprocess.run([sys.executable, "-m", tool, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _explain(done: subprocess.CompletedProcess[str], fix: str) -> str:
    return f"{' '.join(done.args[1:])} failed ({fix}):\n{done.stdout[-8000:]}{done.stderr[-2000:]}"


def test_ruff_lint() -> None:
    # the whole repository: the packages, the tests, the benchmarks and the docs' scripts
    done = _run("ruff", "check", "--no-cache", "--output-format", "concise", ".", timeout=120)
    assert done.returncode == 0, _explain(done, "fix the code, or `ruff check --fix` for the safe ones")


def test_ruff_format() -> None:
    done = _run("ruff", "format", "--no-cache", "--check", *PACKAGES, timeout=120)
    assert done.returncode == 0, _explain(done, "run `ruff format rop_desktop training`")


@pytest.mark.slow
def test_mypy() -> None:
    done = _run("mypy", "--no-error-summary", "--hide-error-context", *PACKAGES, timeout=600)
    assert done.returncode == 0, _explain(done, "fix the types; a `# type: ignore[code]` needs a reason beside it")
