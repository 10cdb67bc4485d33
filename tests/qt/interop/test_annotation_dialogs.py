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

from rop_desktop.domain.labels import LesionType, RopPresence, Stage
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


def _grade_of(study: Study, account: str, image_name: str) -> tuple[object, bool] | None:
    with study.session() as session:
        grader = next((g for g in repo.list_graders(session, active_only=False) if g.name == account), None)
        image = repo.list_images(session)[int(image_name.removeprefix("img").removesuffix(".png"))]  # import order
        row = repo.grade_for(session, image.id, grader.id) if grader is not None else None
        return (row.values, row.submitted) if row is not None else None


def test_a_wide_grades_csv_lists_its_graders_and_one_goes_to_an_existing_account(qtbot, study: Study,
                                                                               tmp_path: Path, account) -> None:
    """The window's --grader-map: each grader of the file is a row with the study's active accounts."""
    account(study, "Dr. Outside")
    file = tmp_path / "wide.csv"
    file.write_text("filename,G1_rop,G1_stage,G2_rop,G2_stage\nimg0.png,yes,2,no,0\n", encoding="utf-8")
    dialog = AnnotationImportDialog(study, study.test_admin)
    qtbot.addWidget(dialog)
    dialog.set_source("grades_csv", file)
    assert dialog.file_graders() == ["G1", "G2"] and dialog.graders_table.isVisibleTo(dialog)
    offered = [dialog.grader_combo("G1").itemText(i) for i in range(dialog.grader_combo("G1").count())]
    assert "Dr. Outside" in offered and not any(name.startswith("imported:") for name in offered)
    assert not dialog.empty_negative.isEnabled()  # a grades CSV has no outlines to be empty
    dialog.grader_combo("G1").setCurrentText("Dr. Outside")

    summary = _import(qtbot, dialog)

    assert summary is not None and not summary.errors, dialog.log.toPlainText()
    values, submitted = _grade_of(study, "Dr. Outside", "img0.png")
    assert values.rop is RopPresence.YES and values.stage is Stage.S2 and submitted
    assert _grade_of(study, "imported: G1", "img0.png") is None
    values, _ = _grade_of(study, "imported: G2", "img0.png")
    assert values.rop is RopPresence.NO


def test_the_graders_table_hides_for_a_file_of_one_unnamed_grader(qtbot, study: Study, tmp_path: Path) -> None:
    file = tmp_path / "one.csv"
    file.write_text("image,rop,stage\nimg0.png,yes,1\n", encoding="utf-8")
    dialog = AnnotationImportDialog(study, study.test_admin)
    qtbot.addWidget(dialog)
    dialog.set_source("grades_csv", file)
    assert dialog.file_graders() == [] and not dialog.graders_table.isVisibleTo(dialog)
    long = tmp_path / "long.csv"
    long.write_text("image,reader,rop\nimg0.png,Y,no\nimg1.png,X,yes\n", encoding="utf-8")
    dialog.set_source("grades_csv", long)
    assert dialog.file_graders() == ["X", "Y"]  # a long file's grader column


def test_empty_means_negative_follows_the_format_and_can_be_turned_off(qtbot, study: Study, tmp_path: Path) -> None:
    """A VIA file lists img1 without regions: "no ROP" by default, nothing when the box is cleared."""
    via = _via(tmp_path / "via.json")
    data = json.loads(via.read_text(encoding="utf-8"))
    data["img1.png100"] = {"filename": "img1.png", "size": 100, "regions": [], "file_attributes": {}}
    via.write_text(json.dumps(data), encoding="utf-8")
    dialog = AnnotationImportDialog(study, study.test_admin)
    qtbot.addWidget(dialog)
    dialog.set_source("masks", tmp_path)
    assert dialog.empty_negative.isEnabled() and not dialog.empty_negative.isChecked()
    dialog.set_source("via", via)
    assert dialog.empty_negative.isChecked()
    qtbot.mouseClick(dialog.empty_negative, Qt.MouseButton.LeftButton)
    assert not dialog.empty_negative.isChecked()
    _import(qtbot, dialog)
    assert _grade_of(study, "imported: via.json", "img1.png") is None

    dialog.set_source("via", via)  # default again: the listed image without outlines is "no ROP"
    assert dialog.empty_negative.isChecked()
    _import(qtbot, dialog)
    values, _ = _grade_of(study, "imported: via.json", "img1.png")
    assert values.rop is RopPresence.NO


def test_replace_lets_a_corrected_file_replace_an_earlier_import(qtbot, study: Study, tmp_path: Path) -> None:
    file = tmp_path / "grades.csv"
    file.write_text("image,rop,stage\nimg0.png,yes,1\n", encoding="utf-8")
    dialog = AnnotationImportDialog(study, study.test_admin)
    qtbot.addWidget(dialog)
    dialog.set_source("grades_csv", file)
    _import(qtbot, dialog)
    file.write_text("image,rop,stage\nimg0.png,yes,3\n", encoding="utf-8")  # the coordinator's correction
    dialog.set_source("grades_csv", file)
    summary = _import(qtbot, dialog)
    assert summary.conflicts and _grade_of(study, "imported: grades.csv", "img0.png")[0].stage is Stage.S1
    qtbot.mouseClick(dialog.replace, Qt.MouseButton.LeftButton)
    summary = _import(qtbot, dialog)
    assert not summary.conflicts, summary.lines()
    assert _grade_of(study, "imported: grades.csv", "img0.png")[0].stage is Stage.S3


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
