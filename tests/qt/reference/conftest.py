"""Fixtures for the Reference menu tests: a main window on a private copy of the demo study with
the Reference menu installed for one demo account (signed in through the accounts service with
the demo's published password), and a second connection to check the store.

The small demo study (six patients) has no deliberate 2–2 split (one comes per ~35 gradable
images), so :func:`make_two_two_split` makes one the way it happens in a study: a grader who
said "ROP" on a 3–1 image amends the grade to "no ROP" and removes the outline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Quality, RopPresence, Stage
from rop_desktop.services import accounts
from rop_desktop.services.demo_study import DEMO_ADJUDICATOR, DEMO_PASSWORDS
from rop_desktop.services.grading import GradingService, list_graders
from rop_desktop.services.policy import Actor
from rop_desktop.services.reference import ReferenceService, recompute_references
from rop_desktop.store import Study
from rop_desktop.ui.controllers.reference import ReferenceController, install_reference_features
from rop_desktop.ui.main_window import MainWindow

SHOWN_TIMEOUT_MS = 10_000


@dataclass
class Desk:
    """One account's main window with the Reference menu, and an independent connection (``store``)."""

    folder: Path
    study: Study
    store: Study
    window: MainWindow
    controller: ReferenceController
    actor: Actor

    def grader_id(self, name: str) -> int:
        return next(g.id for g in list_graders(self.store) if g.name == name)


def demo_sign_in(study: Study, name: str) -> Actor:
    """The demo account ``name`` signed in (elevated accounts with their published password)."""
    return accounts.sign_in(study, name, DEMO_PASSWORDS.get(name))


def make_two_two_split(study: Study) -> int:
    """Turn the first 3–1 ROP image of the adjudication queue into a 2–2 split; returns its id."""
    adjudicator = demo_sign_in(study, DEMO_ADJUDICATOR)
    recompute_references(study, adjudicator)
    service = ReferenceService(study, adjudicator)
    item = next(i for i in service.queue() if i.tally["rop"] == {"no": 1, "yes": 3})
    case = service.case(item.image_id)
    turncoat = next(g for g in case.graders if g.values is not None and g.values.rop is RopPresence.YES)
    grading = GradingService(study, demo_sign_in(study, turncoat.name))
    for shape in grading.my_shapes(item.image_id):
        grading.delete_shape(item.image_id, shape.id)
    # the submit settles the image's votes again (the grading service does it)
    grading.submit(item.image_id, GradeValues(quality=Quality.GRADABLE, rop=RopPresence.NO, stage=Stage.S0))
    return item.image_id


@pytest.fixture
def desk_factory(qtbot, demo_study_dir: Path) -> Iterator[Callable[[str], Desk]]:
    """``open_desk(name)``: a shown main window signed in as the demo account ``name``."""
    opened: list[Desk] = []
    store = Study.open(demo_study_dir)

    def open_desk(name: str) -> Desk:
        study = Study.open(demo_study_dir)
        actor = demo_sign_in(study, name)
        window = MainWindow(study.name)
        qtbot.addWidget(window)
        controller = install_reference_features(window, study, GradingService(study, actor))
        window.resize(900, 600)
        window.show()
        qtbot.waitExposed(window)
        desk = Desk(demo_study_dir, study, store, window, controller, actor)
        opened.append(desk)
        return desk

    yield open_desk
    for desk in opened:
        desk.window.close()  # closes the adjudication view and the dashboard, waits for their threads
        desk.study.close()
    store.close()


@pytest.fixture
def adjudicator_desk(desk_factory: Callable[[str], Desk]) -> Desk:
    return desk_factory(DEMO_ADJUDICATOR)
