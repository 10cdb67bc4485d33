"""``rop-desktop reference recompute``: the Reference menu's "Recompute votes", headless.

Settles every image of the study from its graders' submitted votes under the study's vote rules
(:func:`rop_desktop.services.reference.recompute_references`), as an adjudicator or admin; a
decision made by hand (adjudicated, imported) is never changed. Prints how many images the votes
settled and how many of them changed, so a script can tell whether the reference standard moved.
"""

from __future__ import annotations

import argparse

from rop_desktop.cli_auth import EXIT_OK, add_study_arguments, exit_codes, run_command, signed_in
from rop_desktop.services.reference import RecomputeSummary, recompute_references

PROG = "rop-desktop reference"
WHO = "an adjudicator or admin of the study"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="The study's reference standard.")
    sub = p.add_subparsers(dest="action", required=True)
    recompute = sub.add_parser(
        "recompute",
        help="settle every image from its submitted votes (adjudicators, admins)",
        description="Settle every image from its graders' submitted votes under the study's vote rules "
        "(quorum, majority, tie rule), as the Reference menu's 'Recompute votes' does. Decisions "
        "made by hand (adjudicated or imported) are kept. Prints how many images were settled, "
        "how many changed, and how many wait for adjudication or for more votes.",
        epilog=exit_codes(None),
    )
    add_study_arguments(recompute, WHO)
    return p


def summary_lines(summary: RecomputeSummary) -> list[str]:
    """What a recompute did, one fact a line; the first says how many images changed."""
    settled = len(summary.created) + len(summary.updated) + len(summary.unchanged)
    changed = len(summary.created) + len(summary.updated) + len(summary.withdrawn)
    first = (
        f"changed: {changed} image(s) ({len(summary.created)} newly settled, {len(summary.updated)} "
        f"settled differently, {len(summary.withdrawn)} no longer settled by the votes)"
    )
    lines = [
        first,
        f"examined: {summary.examined}",
        f"settled by the votes: {settled}",
        f"to adjudicate: {len(summary.needs_adjudication)}",
        f"too few votes: {len(summary.insufficient)}",
        f"decided by hand, kept: {len(summary.kept_decisions)}",
    ]
    if summary.votes_changed_under_decision:
        lines.append(
            f"votes changed under {len(summary.votes_changed_under_decision)} decided image(s): "
            "review them in the adjudication queue"
        )
    return lines


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    return run_command(f"{PROG} {args.action}", lambda: _recompute(args))


def _recompute(args: argparse.Namespace) -> int:
    with signed_in(args.study, args.as_name, WHO, db_url=args.db_url) as (study, actor):
        summary = recompute_references(study, actor)
    print("\n".join(summary_lines(summary)))
    return EXIT_OK
