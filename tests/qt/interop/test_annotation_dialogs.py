"""The Interop dialogs with real widgets: the mapping table lists a hand-written VIA file's names,
the chosen mapping reaches the import, a broken file is refused with its reason, and the Interop
menu exports de-identified DICOM — as the study's admin. A grader's window offers neither the
import nor the DICOM export, a grader exports their own work only, and an import started anyway
is refused by the service with the reason shown."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow

from rop_desktop.domain.labels import LesionType, Stage
from rop_desktop.store import Study, repo
from rop_desktop.ui.annotation_dialogs import AnnotationExportDialog, AnnotationImportDialog
from rop_desktop.ui.controllers.interop_menu import install_interop_menu

TIMEOUT_MS = 20_000


@pytest.fixture
def study(make_study) -> Study:
    return make_study(2, (64, 48), prefix="img")


def _via(path: Path) -> Path:
    region = {"shape_attributes": {"name": "polygon", "all_points_x": [10, 40, 40, 10],
                                   "all_points_y": [8, 8, 30, 30]},
              "region_attributes": {"Finding": "Thick line", "Severity": "2"}}
    data = {"img0.png100": {"filename": "img0.png", "size": 100, "regions": [region],
                            "file_attributes": {"Diagnosis": "yes", "Reader note": "ok"}}}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _import(qtbot, dialog: AnnotationImportDialog):
    with qtbot.waitSignal(dialog.finishedWork, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def _stored(study: Study, grader: str) -> list[tuple[str, str | None, int]]:
    with study.session() as session:
        g = repo.get_or_create_grader(session, grader)
        return [(a.lesion_type.value, a.stage.value if a.stage else None, a.image_id)
                for i in repo.list_images(session) for a in repo.annotations_for(session, i.id, g)]


def test_mapping_table_lists_the_names_and_the_mapping_is_applied(qtbot, study: Study, tmp_path: Path,
                                                                 account) -> None:
    account(study, "Dr. Outside")  # an existing account to import into
    dialog = AnnotationImportDialog(study, study.test_admin)
    qtbot.addWidget(dialog)
    dialog.set_source("via", _via(tmp_path / "via.json"))
    assert dialog.names() == ["Diagnosis", "Reader note", "Finding", "Severity", "Thick line"]
    for name, target in {"Diagnosis": "rop", "Reader note": "ignore", "Finding": "lesion_type",
                         "Severity": "stage", "Thick line": "lesion_type=ridge"}.items():
        dialog.combo(name).setCurrentText(target)
    qtbot.keyClicks(dialog.grader, "Dr. Outside")

    summary = _import(qtbot, dialog)

    assert summary is not None and summary.grader == "Dr. Outside" and summary.annotations == 1
    assert not summary.warnings, summary.lines()
    [(lesion, stage, _image)] = _stored(study, "Dr. Outside")
    assert (lesion, stage) == (LesionType.RIDGE.value, Stage.S2.value)
    assert "annotations: 1" in dialog.log.toPlainText()


def test_without_mapping_the_tool_s_own_names_are_not_understood(qtbot, study: Study, tmp_path: Path) -> None:
    dialog = AnnotationImportDialog(study, study.test_admin)
    qtbot.addWidget(dialog)
    dialog.set_source("via", _via(tmp_path / "via.json"))
    summary = _import(qtbot, dialog)
    assert summary.grader == "imported: via.json"
    [(lesion, stage, _image)] = _stored(study, "imported: via.json")
    assert (lesion, stage) == (LesionType.DEMARCATION_LINE.value, None)  # the default lesion, no stage


def test_broken_json_shows_the_reason_and_imports_nothing(qtbot, study: Study, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"img0.png100": {"filename": "img0.png", "regions": [', encoding="utf-8")
    dialog = AnnotationImportDialog(study, study.test_admin)
    qtbot.addWidget(dialog)
    dialog.set_source("via", broken)
    assert dialog.names() == [] and "Cannot read the file" in dialog.status.text()

    assert _import(qtbot, dialog) is None

    assert "Nothing was done" in dialog.status.text() and "refused" in dialog.log.toPlainText()
    assert _stored(study, "imported: broken.json") == []


def test_export_dialog_writes_the_chosen_format(qtbot, study: Study, tmp_path: Path) -> None:
    dialog = AnnotationImportDialog(study, study.test_admin)
    qtbot.addWidget(dialog)
    dialog.set_source("via", _via(tmp_path / "via.json"))
    _import(qtbot, dialog)
    export = AnnotationExportDialog(study, study.test_admin)
    qtbot.addWidget(export)
    export.format.setCurrentText("coco")
    export.whose.setCurrentText("imported: via.json")
    export.folder.setText(str(tmp_path / "out"))
    with qtbot.waitSignal(export.finishedWork, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(export.run_button, Qt.MouseButton.LeftButton)
    written = Path(blocker.args[0])
    coco = json.loads(written.read_text(encoding="utf-8"))
    assert len(coco["annotations"]) == 1 and "img0.png" not in written.read_text(encoding="utf-8")


def test_interop_menu_exports_dicom(qtbot, study: Study, tmp_path: Path) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    refreshed: list[bool] = []
    menu = install_interop_menu(window, study, study.test_admin, lambda: refreshed.append(True))
    assert menu.import_action.isVisible() and menu.dicom_action.isVisible()
    titles = [a.text() for a in window.menuBar().actions()]
    assert "&Interop" in titles
    worker = menu.export_dicom(tmp_path / "dicom")
    with qtbot.waitSignal(worker.finished, timeout=TIMEOUT_MS):
        pass
    qtbot.waitUntil(lambda: menu.message is not None, timeout=TIMEOUT_MS)
    assert "written: 2" in menu.message.text()
    files = sorted((tmp_path / "dicom").glob("*.dcm"))
    assert len(files) == 2 and pydicom.dcmread(files[0]).PatientIdentityRemoved == "YES"
    dialog = menu.import_annotations()
    dialog.set_source("via", _via(tmp_path / "via.json"))
    _import(qtbot, dialog)
    assert refreshed == [True]


def test_interop_menu_exports_dicom_with_dates_shifted_per_patient(qtbot, study: Study, tmp_path: Path) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    menu = install_interop_menu(window, study, study.test_admin, lambda: None)
    assert menu.dicom_shift_action.isVisible()
    worker = menu.export_dicom(tmp_path / "shifted", dates="shift")
    with qtbot.waitSignal(worker.finished, timeout=TIMEOUT_MS):
        pass
    qtbot.waitUntil(lambda: menu.message is not None, timeout=TIMEOUT_MS)
    ds = pydicom.dcmread(sorted((tmp_path / "shifted").glob("*.dcm"))[0])
    assert ds.PatientIdentityRemoved == "YES" and ds.get("LongitudinalTemporalInformationModified") == "MODIFIED"
    codes = {item.CodeValue for item in ds.DeidentificationMethodCodeSequence}
    assert {"113100", "113107"} <= codes


def test_a_grader_exports_only_their_own_work_and_an_import_is_refused(qtbot, study: Study, tmp_path: Path,
                                                                       account) -> None:
    grader = account(study, "Dr. Own")
    window = QMainWindow()
    qtbot.addWidget(window)
    menu = install_interop_menu(window, study, grader, lambda: None)
    assert not menu.import_action.isVisible() and not menu.dicom_action.isVisible()
    assert not menu.dicom_shift_action.isVisible()
    assert menu.export_action.isVisible()

    export = menu.export_annotations()
    assert [export.whose.itemText(i) for i in range(export.whose.count())] == ["Dr. Own"]
    assert export.include_comments.isHidden()  # free text with names: an admin's choice only
    export.format.setCurrentText("grades_csv")
    export.folder.setText(str(tmp_path / "mine"))
    with qtbot.waitSignal(export.finishedWork, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(export.run_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] is not None and Path(blocker.args[0]).exists()
    export.close()

    dialog = menu.import_annotations()  # opened anyway: the import service refuses a grader
    dialog.set_source("via", _via(tmp_path / "via.json"))
    assert _import(qtbot, dialog) is None
    assert "Nothing was done" in dialog.status.text() and "only the admin role may" in dialog.status.text()
    with study.session() as session:
        assert not any(g.name.startswith("imported:") for g in repo.list_graders(session))
