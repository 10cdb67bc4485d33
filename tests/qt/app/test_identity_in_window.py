"""The patient's identity in the window: only where an admin turned the study setting on, and only
in an admin's window; a grader sees the pseudonymous code whatever the setting says."""

from __future__ import annotations

from pathlib import Path

from rop_desktop.app import build_window
from rop_desktop.services import accounts, identity
from rop_desktop.services.demo_study import DEMO_ADMIN, DEMO_GRADER
from rop_desktop.store import Study
from rop_desktop.store.schema import Identity


def _shown_label(qtbot, study: Study, actor) -> str:
    window = build_window(study, actor)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.wiring.workspace.imageShown, timeout=10_000):
        window.wiring.workspace.start()
    text = window.image_label.text()
    window.close()
    return text


def test_identity_only_for_admins_and_only_when_the_study_shows_it(qtbot, demo_study_dir: Path,
                                                                  demo_actor) -> None:
    with Study.open(demo_study_dir) as study:
        admin, grader = demo_actor(study, DEMO_ADMIN), demo_actor(study, DEMO_GRADER)
        with study.session() as session:
            hospital_ids = {row.value for row in session.query(Identity).filter(Identity.kind == "patient_id")}
        assert hospital_ids  # the demo manifest's hospital numbers live in the identity table
        hidden = _shown_label(qtbot, study, admin)
        assert not any(value in hidden for value in hospital_ids)  # off by default, even for an admin
        accounts.set_study_setting(study, admin, identity.SHOW_SETTING, True)
        shown = _shown_label(qtbot, study, admin)
        assert any(value in shown for value in hospital_ids)
        as_grader = _shown_label(qtbot, study, grader)
        assert not any(value in as_grader for value in hospital_ids)  # a grader never, setting or not
        assert as_grader.startswith("P0")  # the pseudonymous code instead
