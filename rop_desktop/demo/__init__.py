"""Synthetic RetCam-like study of premature-infant fundus images, for the demo and the tests.

Deterministic in its seed; returns plain data and writes plain files (no database):

- :func:`render_fundus` paints one image from a :class:`FundusSpec` and returns its :class:`FundusTruth`;
- :func:`generate_demo` composes a :class:`DemoStudy` (patients, exams, lazily rendered images,
  truth, hospital diagnoses, four simulated graders' grades and outlines);
- :func:`write_demo_files` writes the PNGs, ``manifest.csv`` and ``demo_truth.json``.
"""

from __future__ import annotations

from .files import MANIFEST_COLUMNS, DemoFiles, truth_document, write_demo_files
from .fundus import fundus_truth, render_fundus
from .graders import DEFAULT_GRADERS, DemoGrade, GraderProfile
from .spec import CAMERAS, DemoError, FundusSpec, FundusTruth, LesionPolygon
from .study import DemoExam, DemoImage, DemoPatient, DemoStudy, diagnosis_text, generate_demo

__all__ = [
    "CAMERAS",
    "DEFAULT_GRADERS",
    "MANIFEST_COLUMNS",
    "DemoError",
    "DemoExam",
    "DemoFiles",
    "DemoGrade",
    "DemoImage",
    "DemoPatient",
    "DemoStudy",
    "FundusSpec",
    "FundusTruth",
    "GraderProfile",
    "LesionPolygon",
    "diagnosis_text",
    "fundus_truth",
    "generate_demo",
    "render_fundus",
    "truth_document",
    "write_demo_files",
]
