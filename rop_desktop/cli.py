"""Command line of the app (filled in by the foundation work)."""

from __future__ import annotations


def run(argv: list[str]) -> int:
    raise SystemExit("not yet wired")
