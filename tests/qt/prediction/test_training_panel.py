"""The Train tab in the real window (signed in as the demo adjudicator: training is theirs): a run
started with the Start button trains in the background (progress, curves, log), registers a
version that the Models tab lists; Pause / Resume / Cancel act within one batch; failing runs
leave the window usable with their reason."""

from __future__ import annotations

from PySide6.QtCore import Qt

from rop_desktop.services.demo_study import DEMO_ADJUDICATOR
from rop_desktop.services.models import ModelService
from rop_desktop.services.training_runs import TrainingService

RUN_TIMEOUT_MS = 120_000


def fill_form(panel, task: str = "binary", arch: str = "tiny_cnn", epochs: int = 2) -> None:
    panel.set_task(task)
    panel.set_architecture(arch)
    panel.epochs.setValue(epochs)
    panel.batch_size.setValue(8)
    panel.image_size.setValue(48)
    panel.device_combo.setCurrentIndex(panel.device_combo.findData("cpu"))


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_start_trains_in_the_background_and_the_version_appears(qtbot, open_window) -> None:
    mw = open_window(DEMO_ADJUDICATOR)
    mw.start()
    panel, training = mw.controller.training_panel, mw.controller.training
    mw.tab(panel)
    assert panel.init_combo.currentData() == "random"  # no active version, no ImageNet file cached
    fill_form(panel)
    progress, epochs, outcomes = [], [], []
    training.runEnded.connect(outcomes.append)
    click(qtbot, panel.start_button)
    worker = training.worker
    assert worker is not None and not panel.start_button.isEnabled() and panel.cancel_button.isEnabled()
    worker.progress.connect(progress.append)
    worker.epochEnded.connect(epochs.append)
    qtbot.waitUntil(lambda: bool(outcomes), timeout=RUN_TIMEOUT_MS)

    outcome = outcomes[0]
    assert outcome.status == "finished", outcome
    assert progress and progress[-1].epoch == 2 and progress[-1].batch == progress[-1].batches
    assert [e.epoch for e in epochs] == [1, 2]
    assert panel.progress.value() == 1000 and panel.start_button.isEnabled()
    assert len(panel.curves.train_loss) == 2 and panel.curves.batch_loss
    assert f"#{outcome.version.id}" in panel.result.text() and "AUROC" in panel.result.text()
    assert "epoch 2/2" in panel.log.toPlainText()
    versions = mw.controller.versions_panel.versions()
    assert [v.id for v in versions] == [outcome.version.id] and versions[0].task == "binary"
    assert mw.controller.versions_panel.table.rowCount() == 1
    assert TrainingService(mw.store, mw.admin).runs()[0]["status"] == "finished"
    # nothing was asked: the version is registered, not activated; the panel offers it
    assert not versions[0].active and panel.activate_button.isVisibleTo(panel)
    click(qtbot, panel.activate_button)
    assert ModelService(mw.store, mw.admin).active("binary").id == outcome.version.id
    assert panel.init_combo.currentData() == "finetune"  # the default once an active version exists


def test_pause_resume_and_cancel_act_within_a_batch(qtbot, open_window) -> None:
    mw = open_window(DEMO_ADJUDICATOR)
    mw.start()
    panel, training = mw.controller.training_panel, mw.controller.training
    mw.tab(panel)
    fill_form(panel, epochs=500)
    outcomes = []
    training.runEnded.connect(outcomes.append)
    click(qtbot, panel.start_button)
    worker = training.worker
    with qtbot.waitSignal(worker.progress, timeout=RUN_TIMEOUT_MS):
        pass
    with qtbot.waitSignal(worker.pausedChanged, timeout=RUN_TIMEOUT_MS, check_params_cb=lambda p: p):
        click(qtbot, panel.pause_button)
    assert panel.pause_button.text() == "Resume" and worker.paused
    seen = []
    worker.progress.connect(seen.append)
    qtbot.wait(150)
    assert seen == []  # paused: no batch runs
    click(qtbot, panel.pause_button)  # resume
    qtbot.waitUntil(lambda: len(seen) >= 1, timeout=RUN_TIMEOUT_MS)
    click(qtbot, panel.cancel_button)
    qtbot.waitUntil(lambda: bool(outcomes), timeout=RUN_TIMEOUT_MS)
    assert outcomes[0].status == "cancelled"
    assert "Cancelled" in panel.status.text() and panel.start_button.isEnabled()
    assert ModelService(mw.store, mw.admin).versions() == []
    assert TrainingService(mw.store, mw.admin).runs()[0]["status"] == "cancelled"


def test_a_diverging_run_shows_its_reason_and_the_window_stays_usable(qtbot, open_window) -> None:
    mw = open_window(DEMO_ADJUDICATOR)
    mw.start()
    panel, training = mw.controller.training_panel, mw.controller.training
    mw.tab(panel)
    fill_form(panel)
    panel.advanced.setChecked(True)
    panel.optimizer_combo.setCurrentIndex(panel.optimizer_combo.findData("sgd"))
    qtbot.keyClicks(panel.lr_edit, "1e12")
    assert panel.request().overrides == {"optimizer": "sgd", "lr": 1e12}
    outcomes = []
    training.runEnded.connect(outcomes.append)
    click(qtbot, panel.start_button)
    qtbot.waitUntil(lambda: bool(outcomes), timeout=RUN_TIMEOUT_MS)
    assert outcomes[0].status == "failed" and outcomes[0].category == "diverged"
    assert "diverged" in panel.status.text() and "learning rate" in panel.status.text()
    assert panel.start_button.isEnabled() and ModelService(mw.store, mw.admin).versions() == []
    # the window goes on: another image opens, and a sound run starts and finishes
    other = next(i for i in mw.image_ids() if i != mw.workspace.shown)
    mw.show_image(other)
    assert mw.workspace.shown == other
    panel.advanced.setChecked(False)
    click(qtbot, panel.start_button)
    qtbot.waitUntil(lambda: len(outcomes) == 2, timeout=RUN_TIMEOUT_MS)
    assert outcomes[1].status == "finished"


def test_no_reference_standard_refuses_with_the_reason(qtbot, open_window) -> None:
    mw = open_window(DEMO_ADJUDICATOR)
    with mw.store.session() as session:  # a study whose reference standard is empty
        from rop_desktop.store.schema import Reference

        session.query(Reference).delete()
    panel, training = mw.controller.training_panel, mw.controller.training
    mw.tab(panel)
    fill_form(panel, task="segmentation", arch="tiny_unet")
    outcomes = []
    training.runEnded.connect(outcomes.append)
    click(qtbot, panel.start_button)
    qtbot.waitUntil(lambda: bool(outcomes), timeout=RUN_TIMEOUT_MS)
    assert outcomes[0].status == "failed" and outcomes[0].category == "setup"
    assert "reference label" in panel.status.text() and panel.start_button.isEnabled()


def test_auto_update_starts_a_run_after_enough_new_reference_labels(qtbot, open_window) -> None:
    mw = open_window(DEMO_ADJUDICATOR)
    mw.start()
    panel, training = mw.controller.training_panel, mw.controller.training
    mw.tab(panel)
    fill_form(panel)
    panel.auto_check.setChecked(True)
    panel.auto_every.setValue(3)
    assert TrainingService(mw.store, mw.admin).auto_update_every() == 3
    outcomes = []
    training.runEnded.connect(outcomes.append)
    # the settled references are all new (no run finished yet): the next submit triggers the run
    mw.tab(mw.window.wiring.grade_panel)
    mw.canvas.setFocus()
    qtbot.keyClick(mw.canvas, "n")
    with qtbot.waitSignal(mw.workspace.gradeSubmitted, timeout=5000):
        qtbot.keyClick(mw.canvas, Qt.Key.Key_Return)
    assert training.running()
    assert "auto-update" in panel.log.toPlainText()
    qtbot.waitUntil(lambda: bool(outcomes), timeout=RUN_TIMEOUT_MS)
    assert outcomes[0].status == "finished"
    assert not TrainingService(mw.store, mw.admin).auto_update_due("binary")  # counted from this run on


def test_the_time_budget_reaches_the_training_config(qtbot, open_window) -> None:
    """The Train tab's budget is the CLI's --minutes: it arrives in the run's TrainConfig."""
    mw = open_window(DEMO_ADJUDICATOR)
    mw.start()
    panel, training = mw.controller.training_panel, mw.controller.training
    mw.tab(panel)
    fill_form(panel)
    assert panel.minutes.text() == "no limit" and panel.request().plan_kwargs().get("max_minutes") is None
    panel.minutes.setFocus()
    panel.minutes.selectAll()
    qtbot.keyClicks(panel.minutes, "3")
    request = panel.request()
    assert request.minutes == 3 and request.plan_kwargs()["max_minutes"] == 3.0
    kwargs = request.plan_kwargs()
    config = training.service.config_for(request.task, request.architecture,
                                         **{k: v for k, v in kwargs.items() if k != "fine_tune"})
    assert config.max_minutes == 3.0
