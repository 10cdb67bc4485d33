"""The names an annotation file uses, as the import dialog lists them: a grades CSV's graders are
the keys ``import_annotations(grader_map=...)`` matches, read the way the importer reads the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from rop_desktop.services.annotation_io import AnnotationIOError
from rop_desktop.services.annotation_io_attributes import list_attribute_names


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grades.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_wide_file_names_its_column_prefixes(tmp_path: Path) -> None:
    found = list_attribute_names("grades_csv", _csv(tmp_path, "filename,Dr X_stage,Dr X_rop,G2_rop_stage,notes\n"
                                                              "a.png,1,yes,2,\n"))
    assert found.graders == ["Dr X", "G2"]  # "G2_rop_stage" is G2's stage, not "G2_rop"'s
    assert found.image == ["Dr X_rop", "Dr X_stage", "G2_rop_stage", "notes"]


def test_a_long_file_names_its_grader_column_values(tmp_path: Path) -> None:
    found = list_attribute_names("grades_csv", _csv(tmp_path, "image,Rater,stage\na.png, Y ,1\nb.png,X,0\n"
                                                              "c.png,,0\nd.png,X,2\n"))
    assert found.graders == ["X", "Y"]


@pytest.mark.parametrize("text", [
    "image,stage\na.png,1\n",  # one unnamed grader
    "image,grader,G1_stage\na.png,X,1\n",  # both layouts: the importer refuses the header
    "picture,stage\na.png,1\n",  # no image column
])
def test_no_graders_where_the_file_names_none_or_the_importer_would_refuse_it(tmp_path: Path, text: str) -> None:
    assert list_attribute_names("grades_csv", _csv(tmp_path, text)).graders == []


def test_a_file_that_is_not_text_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "grades.csv"
    path.write_bytes(b"\xff\xfe\x00\x00binary")
    with pytest.raises(AnnotationIOError, match="not UTF-8"):
        list_attribute_names("grades_csv", path)
