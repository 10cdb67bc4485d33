"""Fixtures for the model features in the REAL main window (``build_window`` +
``install_model_features``) on a private copy of the demo study.

Tiny real models: bundles made once per session with ``training.models`` (a tiny CNN for ROP and
for stages, a tiny U-Net whose head bias makes it see the demarcation line everywhere — a
deterministic mask for the overlay and proposal tests); training runs use tiny_cnn / tiny_unet
at 48 px on the CPU with one thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from rop_desktop.app import build_window
from rop_desktop.services import accounts
from rop_desktop.services.demo_study import DEMO_ADMIN, DEMO_PASSWORDS
from rop_desktop.services.grading import list_graders
from rop_desktop.services.models import ModelService, ModelVersionInfo
from rop_desktop.services.policy import Actor
from rop_desktop.services.reference import recompute_references
from rop_desktop.store import Study, repo
from rop_desktop.ui.controllers.prediction import ModelController, install_model_features
from training.bundle import ModelCard, save_bundle
from training.models import create_model
from training.presets import get_preset

SHOWN_TIMEOUT_MS = 30_000
RUN_TIMEOUT_MS = 120_000
NEW_GRADER = "Me"


@pytest.fixture(scope="session")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny model bundles per app task: "binary", "stage", "segmentation" (line everywhere)."""
    root = tmp_path_factory.mktemp("bundles")
    torch.manual_seed(0)
    fast = get_preset("fast", image_size=48).to_dict()
    binary = create_model("tiny_cnn", num_classes=1, in_channels=3, pretrained=False)
    stage = create_model("tiny_cnn", num_classes=3, in_channels=3, pretrained=False)
    line = create_model("tiny_unet", num_classes=1, in_channels=3, pretrained=False)
    with torch.no_grad():
        line.head.weight.zero_()
        line.head.bias.fill_(8.0)
    cards = {
        "binary": (binary, ModelCard.for_model(binary, "tiny ROP", classes=["no ROP", "ROP"], threshold=0.5,
                                               preset=fast, config={"task": "binary"})),
        "stage": (stage, ModelCard.for_model(stage, "tiny stage", classes=["stage 1", "stage 2", "stage 3"],
                                             preset=fast, config={"task": "stage3"})),
        "segmentation": (line, ModelCard.for_model(line, "tiny line", classes=["line"],
                                                   preset=get_preset("segmentation", image_size=48).to_dict(),
                                                   config={"task": "segmentation"})),
    }
    return {task: save_bundle(root / task, model, card) for task, (model, card) in cards.items()}


class ModelWindow:
    """One account's window with the model features, and a second connection to check the store.

    ``admin`` is the demo admin, signed in on the second connection: the tests' set-up (model
    versions, study settings) and their checks go through the services as that admin."""

    def __init__(self, qtbot, folder: Path, grader: str, account) -> None:
        self.qtbot = qtbot
        self.folder = folder
        self.store = Study.open(folder)
        self.admin: Actor = accounts.sign_in(self.store, DEMO_ADMIN, DEMO_PASSWORDS[DEMO_ADMIN])
        recompute_references(self.store, self.admin)
        if grader not in {g.name for g in list_graders(self.store)}:
            account(self.store, grader)
        self.actor: Actor = accounts.sign_in(self.store, grader, DEMO_PASSWORDS.get(grader))
        self.grader_id = self.actor.id
        self.study = Study.open(folder)
        self.window = build_window(self.study, self.actor)
        self.controller: ModelController = install_model_features(self.window, self.study,
                                                                  self.window.wiring.grading,
                                                                  self.window.wiring.workspace, device="cpu")
        self.window.resize(1400, 900)
        with qtbot.waitActive(self.window):
            self.window.show()
            self.window.activateWindow()

    # ------------------------------------------------------------------ shortcuts
    @property
    def workspace(self):
        return self.window.wiring.workspace

    @property
    def canvas(self):
        return self.window.canvas

    @property
    def panel(self):
        return self.controller.prediction_panel

    def tab(self, widget) -> None:
        """Bring a side tab to the front, as a user clicking it."""
        self.window.side_tabs.setCurrentWidget(widget)

    def start(self) -> None:
        with self.qtbot.waitSignal(self.workspace.imageShown, timeout=SHOWN_TIMEOUT_MS):
            self.workspace.start()

    def show_image(self, image_id: int) -> None:
        if self.workspace.shown == image_id:
            self.controller.show_image(image_id)
            return
        with self.qtbot.waitSignal(self.workspace.imageShown, timeout=SHOWN_TIMEOUT_MS):
            self.workspace.open_image(image_id)

    def show_and_predict(self, image_id: int) -> None:
        """Show the image and wait until the model tab holds its output."""
        self.show_image(image_id)
        self.qtbot.waitUntil(lambda: self.controller.result is not None
                             and self.controller.result.image_id == image_id, timeout=SHOWN_TIMEOUT_MS)

    def register(self, bundle: Path, activate: bool = True) -> ModelVersionInfo:
        return ModelService(self.store, self.admin).register(bundle, activate=activate)

    def image_ids(self) -> list[int]:
        with self.store.session() as session:
            return [i.id for i in repo.list_images(session)]

    def close(self) -> None:
        if self.window is not None:
            self.window.close()
            self.window.deleteLater()
            self.window = None
        self.study.close()
        self.store.close()


@pytest.fixture
def open_window(qtbot, demo_study_dir: Path, account) -> Iterator:
    """``open_window(grader=...)``: a ModelWindow (references settled, not yet started) signed in as
    ``grader`` (a demo account, or a new grader account of that name)."""
    opened: list[ModelWindow] = []

    def make(grader: str = NEW_GRADER) -> ModelWindow:
        mw = ModelWindow(qtbot, demo_study_dir, grader, account)
        opened.append(mw)
        return mw

    yield make
    for mw in opened:
        mw.close()


@pytest.fixture
def demo_grader(demo_study_dir: Path) -> str:
    """A demo grader who submitted every image (so the model tab is visible)."""
    from rop_desktop.services.demo_study import DEMO_GRADER

    with Study.open(demo_study_dir) as study:
        return next(g.name for g in list_graders(study) if g.role.value == "grader" and g.name != DEMO_GRADER)
