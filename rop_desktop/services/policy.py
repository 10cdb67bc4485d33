"""Who may do what: the one access policy of the app, as one table of rules.

Every public service operation that reads or writes grades, outlines, references, predictions,
model versions, study settings, accounts or exports takes the acting account (an :class:`Actor`,
made at sign-in by :func:`rop_desktop.services.accounts.sign_in`) and is guarded by one
:class:`Action` of :data:`RULES`. The window and the command line only *ask*; the services
decide. A refused call raises :class:`AccessDenied`, whose ``reason`` is a sentence a clinician
understands; the window shows it, a command prints it and exits 2.

The actor's role and state are read again from the study on every check, so an actor made
before an admin demoted or deactivated the account carries no power it lost.

Roles (``domain.labels.Role``):

* grader — their own grades, outlines and drafts; another grader's work, the hospital diagnosis
  and the models' output for an image only after submitting their own grade of it, and only
  where the study allows (setting ``grading.blinded`` off, or ``grading.reveal_after_submit``
  on, the default); model output before submitting only in the study's assist mode.
* adjudicator — everything a grader may, plus every grade and outline, the adjudication queue,
  reference decisions, the agreement dashboard, exports, training and model versions.
* admin — everything, plus accounts, study settings, imports (of images and of other people's
  annotations) and the identity of studies.
"""

from __future__ import annotations

import enum
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from rop_desktop.domain.labels import Role
from rop_desktop.services.errors import ServiceError
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import Grade, Grader

BLINDED_SETTING = "grading.blinded"
REVEAL_SETTING = "grading.reveal_after_submit"
ASSIST_SETTING = "grading.assist_mode"

F = TypeVar("F", bound=Callable[..., Any])


class AccessDenied(ServiceError):
    """The acting account may not do this; ``reason`` is a sentence for the user."""


@dataclass(frozen=True)
class Actor:
    """The signed-in account a service acts for (made at sign-in; see ``accounts.sign_in``).

    ``role`` is what sign-in found; the policy re-reads role and state from the study on every
    check, so this object cannot carry more power than the account has now.
    """

    id: int
    name: str
    role: Role

    @property
    def elevated(self) -> bool:
        return self.role in (Role.ADJUDICATOR, Role.ADMIN)


class Action(enum.StrEnum):
    """Everything the policy decides; each public service operation names one."""

    # own work (the grader the service acts for)
    OWN_WORK_READ = "own work: read"
    OWN_WORK_WRITE = "own work: write"
    STUDY_BROWSE = "study: browse the worklist"  # images, patients codes, cameras, account names
    # one image: other graders' work, hospital diagnosis, model output
    OTHERS_WORK_READ = "others' work on an image: read"
    MODEL_OUTPUT_READ = "model output on an image: read"
    # whole study
    REFERENCE_READ = "adjudication: queue, cases with every grader's work, history"
    REFERENCE_DECIDE = "reference standard: decide and recompute"
    AGREEMENT_READ = "agreement statistics: read"
    EXPORT_OWN = "export: own work"
    EXPORT_ALL = "export: everyone's work and the reference standard"
    MODELS_READ = "model versions: read"
    MODELS_MANAGE = "model versions: train, register, activate, delete, import, export"
    PREDICT_ALL = "model output: predict the whole study"
    SETTINGS_WRITE = "study settings: change"
    ACCOUNTS_MANAGE = "accounts: add, change role, reset password, deactivate"
    OWN_PASSWORD = "accounts: change own password"
    IMPORT_IMAGES = "import: images"
    IMPORT_ANNOTATIONS = "import: annotations under other names"
    STUDY_COPY = "study: copy whole"
    IDENTITY = "identity: see or export who the patients are"


class Blinding(enum.Enum):
    """The extra condition a grader (not an adjudicator or admin) must meet for an image."""

    NONE = "none"
    AFTER_SUBMIT = "after submitting own grade, where the study allows"
    AFTER_SUBMIT_OR_ASSIST = "after submitting own grade, or in assist mode"


@dataclass(frozen=True)
class Rule:
    roles: frozenset[Role]
    grader_blinding: Blinding = Blinding.NONE
    #: what the refusal says the account tried ("see other graders' grades of this image")
    verb: str = "do this"


_ALL = frozenset(Role)
_ELEVATED = frozenset({Role.ADJUDICATOR, Role.ADMIN})
_ADMIN = frozenset({Role.ADMIN})

#: The one table: which roles may do what, and when blinding holds a grader back.
RULES: dict[Action, Rule] = {
    Action.OWN_WORK_READ: Rule(_ALL, verb="see their own work"),
    Action.OWN_WORK_WRITE: Rule(_ALL, verb="grade or outline images"),
    Action.STUDY_BROWSE: Rule(_ALL, verb="browse the study"),
    Action.OTHERS_WORK_READ: Rule(
        _ALL, Blinding.AFTER_SUBMIT, verb="see other graders' work or the hospital diagnosis of this image"
    ),
    Action.MODEL_OUTPUT_READ: Rule(_ALL, Blinding.AFTER_SUBMIT_OR_ASSIST, verb="see the models' output for this image"),
    Action.REFERENCE_READ: Rule(_ELEVATED, verb="see the reference standard"),
    Action.REFERENCE_DECIDE: Rule(_ELEVATED, verb="adjudicate or recompute the reference standard"),
    Action.AGREEMENT_READ: Rule(_ELEVATED, verb="see the agreement statistics"),
    Action.EXPORT_OWN: Rule(_ALL, verb="export their own work"),
    Action.EXPORT_ALL: Rule(_ELEVATED, verb="export other graders' work or the reference standard"),
    Action.MODELS_READ: Rule(_ALL, verb="list model versions"),
    Action.MODELS_MANAGE: Rule(_ELEVATED, verb="train or manage model versions"),
    Action.PREDICT_ALL: Rule(_ELEVATED, verb="run the models over the whole study"),
    Action.SETTINGS_WRITE: Rule(_ADMIN, verb="change study settings (blinding, assist mode, vote rules)"),
    Action.ACCOUNTS_MANAGE: Rule(_ADMIN, verb="manage accounts"),
    Action.OWN_PASSWORD: Rule(_ALL, verb="change their password"),
    Action.IMPORT_IMAGES: Rule(_ADMIN, verb="import images"),
    Action.IMPORT_ANNOTATIONS: Rule(_ADMIN, verb="import annotations"),
    Action.STUDY_COPY: Rule(_ADMIN, verb="copy the whole study"),
    Action.IDENTITY: Rule(_ADMIN, verb="see or export who the patients are (names, hospital numbers, file names)"),
}


# ---------------------------------------------------------------------------- checks
def current(study: Study, actor: Actor | None, *, verb: str = "do this") -> Actor:
    """The actor as the study knows them now (role and state re-read); refused when unknown/inactive."""
    with study.session() as session:
        return _current(session, actor, verb)


def _current(session: Session, actor: Actor | None, verb: str) -> Actor:
    if not isinstance(actor, Actor):
        raise AccessDenied(f"Sign in to {verb}.")
    grader = session.get(Grader, actor.id)
    if grader is None or grader.name != actor.name:
        raise AccessDenied(f"There is no account {actor.name!r} in this study: sign in again to {verb}.")
    if not grader.active:
        raise AccessDenied(f"The account of {grader.name} is deactivated: it cannot {verb}.")
    return Actor(grader.id, grader.name, grader.role)


def check(study: Study, actor: Actor | None, action: Action, *, image_id: int | None = None) -> Actor:
    """The fresh actor when ``RULES[action]`` allows it (for ``image_id`` where blinding applies),
    else :class:`AccessDenied` with the reason. One short read transaction."""
    rule = RULES[action]
    with study.session() as session:
        now = _current(session, actor, rule.verb)
        if now.role not in rule.roles:
            needed = " or ".join(r.label.lower() for r in Role if r in rule.roles)
            raise AccessDenied(
                f"{now.name} is signed in as {now.role.label.lower()}; only the {needed} role may {rule.verb}."
            )
        if now.role is not Role.GRADER or rule.grader_blinding is Blinding.NONE:
            return now
        if image_id is None:
            raise AccessDenied(f"Blinded grading: a grader may {rule.verb} only image by image.")
        view = _blinding_view(session, now.id, image_id)
    if view.may_see(assist=rule.grader_blinding is Blinding.AFTER_SUBMIT_OR_ASSIST):
        return now
    closed = " (this study does not reveal other graders' work)." if view.submitted and not view.reveal else "."
    raise AccessDenied("Blinded grading: submit your own grade of this image first" + closed)


def allowed(study: Study, actor: Actor | None, action: Action, *, image_id: int | None = None) -> bool:
    try:
        check(study, actor, action, image_id=image_id)
    except AccessDenied:
        return False
    return True


@dataclass(frozen=True)
class _BlindingView:
    blinded: bool
    reveal: bool
    assist: bool
    submitted: bool

    def may_see(self, *, assist: bool) -> bool:
        return not self.blinded or (assist and self.assist) or (self.submitted and self.reveal)


def _blinding_view(session: Session, grader_id: int, image_id: int) -> _BlindingView:
    return _BlindingView(
        bool(repo.get_setting(session, BLINDED_SETTING, True)),
        bool(repo.get_setting(session, REVEAL_SETTING, True)),
        bool(repo.get_setting(session, ASSIST_SETTING, False)),
        bool(session.scalar(select(Grade.submitted).where(Grade.image_id == image_id, Grade.grader_id == grader_id))),
    )


def grader_may_see(study: Study, actor: Actor, image_id: int, *, assist: bool = False) -> bool:
    """Blinding for one grader and one image: study unblinded, or submitted (where revealing is allowed);
    with ``assist``, also the study's assist mode (model output only)."""
    with study.session() as session:
        return _blinding_view(session, actor.id, image_id).may_see(assist=assist)


# ---------------------------------------------------------------------------- the guard
def guarded(action: Action, *, image: str | None = None) -> Callable[[F], F]:
    """Decorate a public service operation with its policy ``action``.

    For a method of a service object the actor is ``self.actor`` and the study ``self.study``;
    for a function they are its ``study`` and ``actor`` arguments. ``image`` names the argument
    holding the image id where the rule's blinding depends on the image. The decorated callable
    carries ``__policy_action__`` (the policy test enumerates them).
    """

    def wrap(fn: F) -> F:
        signature = inspect.signature(fn)
        names = list(signature.parameters)
        is_method = bool(names) and names[0] == "self"

        @functools.wraps(fn)
        def guard(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind_partial(*args, **kwargs)
            if is_method:
                owner = bound.arguments["self"]
                study, actor = owner.study, owner.actor
            else:
                study, actor = bound.arguments.get("study"), bound.arguments.get("actor")
            image_id = bound.arguments.get(image) if image else None
            check(study, actor, action, image_id=image_id)
            return fn(*args, **kwargs)

        guard.__policy_action__ = action  # type: ignore[attr-defined]
        return guard  # type: ignore[return-value]

    return wrap


def open_operation(reason: str) -> Callable[[F], F]:
    """Mark a public service callable that needs no actor (pure computation, or sign-in itself);
    ``reason`` says why. The policy test accepts such callables and nothing else unguarded."""

    def wrap(fn: F) -> F:
        fn.__policy_open__ = reason  # type: ignore[attr-defined]
        return fn

    return wrap


def rules_markdown() -> str:
    """:data:`RULES` as the Markdown table the README shows (a test keeps the two equal)."""
    marks = {
        Blinding.NONE: "yes",
        Blinding.AFTER_SUBMIT: "after submitting the image",
        Blinding.AFTER_SUBMIT_OR_ASSIST: "after submitting the image, or in assist mode",
    }
    lines = ["| what | grader | adjudicator | admin |", "|---|---|---|---|"]
    for action, rule in RULES.items():
        cells = [
            (marks[rule.grader_blinding] if role is Role.GRADER else "yes") if role in rule.roles else "—"
            for role in (Role.GRADER, Role.ADJUDICATOR, Role.ADMIN)
        ]
        lines.append(f"| {action.value} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
