"""Which account receives imported annotations: never the importer pretending to be someone.

By default a file's items land under an account of their own, ``imported: <file name>`` (a
grades CSV's ``grader`` column gives ``imported: <that grader>``): grader role, no password and
*inactive*, so that nobody can sign in as it, while its submitted grades vote like any
grader's. Such an account is reused by a later import of the same name only if an import made
it; a name already taken by any other account refuses the whole import, so a person's work is
never overwritten because their account happens to carry that name.

``into_grader`` names an existing account instead; :mod:`.importing` then keeps everything that
account submitted and lists what differs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rop_desktop.domain.labels import Role
from rop_desktop.store import repo
from rop_desktop.store.schema import AuditEvent, Grader

from ..policy import Actor
from .common import AnnotationIOError

IMPORT_PREFIX = "imported: "
#: The ``how`` an import writes in the audit event that creates its account.
HOW_IMPORT = "import"
_MAX_NAME = 128


@dataclass(frozen=True)
class Target:
    """The account items are written under; ``protected``: it is someone's, keep their submitted work."""

    id: int
    name: str
    protected: bool
    created: bool = False  #: made by this import


def import_account_name(label: str) -> str:
    """``imported: <label>``, cut to the longest account name the study stores."""
    return f"{IMPORT_PREFIX}{label.strip()}"[:_MAX_NAME].strip()


def existing_account(session: Session, name: str) -> Target:
    """The account ``into_grader`` names; :class:`AnnotationIOError` when the study has none."""
    grader = session.scalar(select(Grader).where(Grader.name == name.strip()))
    if grader is None:
        raise AnnotationIOError(
            f"There is no account called {name.strip()!r} in this study: add it first "
            "(rop-desktop graders add), or import without naming an account."
        )
    return Target(grader.id, grader.name, protected=True)


def import_accounts(session: Session, actor: Actor, names: Iterable[str], source: str) -> dict[str, Target]:
    """The import accounts ``names``, created (audited, by ``actor``) where missing, in the caller's
    transaction. Refuses (:class:`AnnotationIOError`, which rolls the transaction back) when a name
    belongs to an account an import did not make.
    """
    out: dict[str, Target] = {}
    for name in dict.fromkeys(names):
        grader = session.scalar(select(Grader).where(Grader.name == name))
        created = grader is None
        if grader is None:
            grader = _create(session, actor, name, source)
        elif not made_by_import(session, grader):
            raise AnnotationIOError(
                f"There is already an account called {name!r} that no import made: its work is not "
                "overwritten. Rename the file, or name the receiving account explicitly (--into-grader)."
            )
        out[name] = Target(grader.id, grader.name, protected=False, created=created)
    return out


def made_by_import(session: Session, grader: Grader) -> bool:
    """Whether an annotation import made this account (so a new import of that name may reuse it).

    Accounts carry the way they were made in their ``create`` audit event. Studies from before
    that event existed: the account counts as an import's only if it never acted itself (every
    audit event in its name is an import) and cannot sign in with a password.
    """
    created = session.scalar(
        select(AuditEvent)
        .where(AuditEvent.entity == "grader", AuditEvent.entity_id == grader.id, AuditEvent.action == "create")
        .order_by(AuditEvent.id)
        .limit(1)
    )
    if created is not None:
        return isinstance(created.after, dict) and created.after.get("how") == HOW_IMPORT
    acted = session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.grader_id == grader.id, AuditEvent.action != HOW_IMPORT)
    )
    return not acted and grader.password_hash is None and grader.role is Role.GRADER


def _create(session: Session, actor: Actor, name: str, source: str) -> Grader:
    grader = repo.get_or_create_grader(session, name, Role.GRADER)
    grader.active = False  # nobody signs in as an import; its submitted grades still vote
    session.flush()
    repo.add_audit(
        session,
        "grader",
        grader.id,
        "create",
        grader=actor.id,
        after={
            "name": name,
            "role": Role.GRADER.value,
            "password": False,
            "active": False,
            "how": HOW_IMPORT,
            "source": source,
        },
    )
    return grader
