"""Every public service operation, called as every kind of account, against the one policy table.

The study holds another grader's draft (with an outline) and submitted work. Each operation is
called by five personas — a grader before submitting the image, the same grader after
submitting another image, an adjudicator, an admin and a deactivated account — and must be
refused with :class:`AccessDenied` exactly where ``policy.RULES`` says so. An operation that
raises any other error (a missing model version, an empty plan…) has passed the policy: that is
what is checked here; what the operation then does is its own module's tests' business.

The operations are found by walking ``rop_desktop.services``: every module-level function whose
first parameter is ``study`` and every public method of a class built from ``(study, actor)``.
Each must be guarded by a policy action or explicitly open (``open_operation``), and each guarded
one must have a row in :data:`CALLS` below — a new service operation without a policy entry, or
without a row here, fails this test.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import rop_desktop.services as services_pkg
from rop_desktop.domain.labels import LesionType, Role, Stage, Zone
from rop_desktop.domain.shapes import Shape, new_shape_id
from rop_desktop.domain.votes import VoteSettings
from rop_desktop.domain.zones import Landmarks
from rop_desktop.services import (
    accounts,
    assist,
    attention,
    db_roles,
    dicom_export,
    exam_reference,
    exams,
    export,
    grading,
    identity,
    importer,
    landmarks,
    manifest_update,
    outline_drafts,
    reference,
    study_copy,
)
from rop_desktop.services.agreement import AgreementService
from rop_desktop.services.grading import GradingService, WorklistQuery
from rop_desktop.services.models import ModelService
from rop_desktop.services.policy import RULES, AccessDenied, Action, Actor, Blinding
from rop_desktop.services.predictions import PredictionService
from rop_desktop.services.reference import ReferenceService
from rop_desktop.services.reports import ReportService
from rop_desktop.services.training_runs import TrainingService
from rop_desktop.store import Study, repo
from rop_desktop.store.schema import Image

from .conftest import PASSWORD, HandStudy, grade, rect

#: Callables that need no actor, and why that is safe: changing this set is a security decision.
OPEN = {
    "accounts.has_admin", "accounts.grader_password_required", "accounts.self_registration_allowed",
    "accounts.create_first_admin", "accounts.register_grader", "accounts.sign_in", "accounts.authenticate",
    "accounts.needs_password", "accounts.sign_in_choices", "accounts.has_no_accounts", "assist.assist_mode", "grading.list_graders",
    "grading.GradingService.others_visible", "reference.get_vote_settings", "reference.settle_images",
    "attention.rebuild_attention_steps",
    "demo_study.demo_admin", "changes.ChangeFeed", "exam_reference.settle_exams",
}


@dataclass
class Ctx:
    study: Study
    actor: Actor
    image: int  #: the image the persona acts on
    other_image: int
    extra: int  #: an account that account operations may change
    tmp: Path

    def grading(self) -> GradingService:
        return GradingService(self.study, self.actor)


def _reference(c: Ctx) -> ReferenceService:
    return ReferenceService(c.study, c.actor)


def _models(c: Ctx) -> ModelService:
    return ModelService(c.study, c.actor)


def _predictions(c: Ctx) -> PredictionService:
    return PredictionService(c.study, c.actor, device="cpu")


def _training(c: Ctx) -> TrainingService:
    return TrainingService(c.study, c.actor)


def _exams(c: Ctx) -> exams.ExamService:
    return exams.ExamService(c.study, c.actor)


def _landmarks(c: Ctx) -> landmarks.LandmarkService:
    return landmarks.LandmarkService(c.study, c.actor)


def _exam_refs(c: Ctx) -> exam_reference.ExamReferenceService:
    return exam_reference.ExamReferenceService(c.study, c.actor)


def _exam_pair(study: Study, image_id: int) -> tuple[int, Any]:
    key = _exam_key(study, image_id)
    return key.exam_id, key.eye


def _exam_key(study: Study, image_id: int) -> exams.ExamKey:
    with study.session() as session:
        image = session.get(Image, image_id)
        return exams.ExamKey(image.exam_id, image.eye)


def _shape() -> Shape:
    return Shape(id=new_shape_id(), points=((5, 5), (20, 5), (20, 15)), lesion_type=LesionType.RIDGE, stage=Stage.S1)


def _annotation_io() -> tuple[Callable[..., Any], Callable[..., Any]]:
    from rop_desktop.services.annotation_io import export_annotations, import_annotations

    return import_annotations, export_annotations


def _grades_csv(c: Ctx) -> Path:
    path = c.tmp / f"grades-{c.actor.id}.csv"
    path.write_text("image,rop,stage\nimg3.png,yes,1\n", encoding="utf-8")
    return path


def _manifest(c: Ctx) -> Path:
    path = c.tmp / f"manifest-{c.actor.id}.csv"
    path.write_text("file,hospital_diagnosis\nimg3.png,stage 3 (by manifest update)\n", encoding="utf-8")
    return path


#: operation → (the action whose rule decides it, how to call it). Operations with a finer rule
#: inside (e.g. exports: own work vs everyone's) have one row per case, keyed "<op> [case]".
CALLS: dict[str, tuple[Action, Callable[[Ctx], Any]]] = {
    # accounts
    "accounts.list_accounts": (Action.STUDY_BROWSE, lambda c: accounts.list_accounts(c.study, c.actor)),
    "accounts.create_account": (Action.ACCOUNTS_MANAGE,
                                lambda c: accounts.create_account(c.study, c.actor, f"New {c.actor.id}")),
    "accounts.set_active": (Action.ACCOUNTS_MANAGE, lambda c: accounts.set_active(c.study, c.actor, c.extra, True)),
    "accounts.set_role": (Action.ACCOUNTS_MANAGE,
                          lambda c: accounts.set_role(c.study, c.actor, c.extra, Role.GRADER)),
    "accounts.set_study_setting": (Action.SETTINGS_WRITE,
                                   lambda c: accounts.set_study_setting(c.study, c.actor, "x.test", 1)),
    "accounts.change_own_password": (Action.OWN_PASSWORD,
                                     lambda c: accounts.change_own_password(c.study, c.actor, "wrong-guess", "x")),
    "accounts.set_password": (Action.ACCOUNTS_MANAGE,
                              lambda c: accounts.set_password(c.study, c.actor, c.extra, None)),
    # database roles of a shared study (on SQLite each refuses, after the policy, with PgRoleError)
    "db_roles.ensure_account_role": (Action.ACCOUNTS_MANAGE,
                                     lambda c: db_roles.ensure_account_role(c.study, c.actor, 999_999, None)),
    "db_roles.drop_study_roles": (Action.ACCOUNTS_MANAGE, lambda c: db_roles.drop_study_roles(c.study, c.actor)),
    "db_roles.open_as_account": (Action.STUDY_BROWSE,
                                 lambda c: db_roles.open_as_account(c.study, c.actor, "wrong-guess")),
    "db_roles.connect_signed_in": (Action.STUDY_BROWSE,
                                   lambda c: db_roles.connect_signed_in(c.study, c.actor, "wrong-guess")),
    "db_roles.set_own_role_password": (Action.OWN_PASSWORD,
                                       lambda c: db_roles.set_own_role_password(c.study, c.actor, "not-changed")),
    # agreement
    "agreement.AgreementService.labels": (Action.AGREEMENT_READ,
                                          lambda c: AgreementService(c.study, c.actor).labels()),
    "agreement.AgreementService.dashboard": (Action.AGREEMENT_READ,
                                             lambda c: AgreementService(c.study, c.actor).dashboard()),
    "agreement.AgreementService.eye_labels": (Action.AGREEMENT_READ,
                                              lambda c: AgreementService(c.study, c.actor).eye_labels()),
    # assist
    "assist.set_assist_mode": (Action.SETTINGS_WRITE, lambda c: assist.set_assist_mode(c.study, c.actor, False)),
    # exports
    "dicom_export.export_salt": (Action.EXPORT_ALL, lambda c: dicom_export.export_salt(c.study, c.actor)),
    "dicom_export.iter_export_dicom": (Action.EXPORT_ALL,
                                       lambda c: dicom_export.iter_export_dicom(c.study, c.actor, c.tmp / "dcm")),
    "dicom_export.export_dicom": (Action.EXPORT_ALL, lambda c: dicom_export.export_dicom(c.study, c.actor,
                                                                                          c.tmp / "dcm2")),
    "export.export_reference_csv": (Action.EXPORT_ALL,
                                    lambda c: export.export_reference_csv(c.study, c.actor, c.tmp / "ref.csv")),
    "export.export_snapshot": (Action.EXPORT_ALL, lambda c: export.export_snapshot(c.study, c.actor, c.tmp / "snap",
                                                                                    overwrite=True)),
    "exporting.export_annotations [own work]": (
        Action.EXPORT_OWN, lambda c: _annotation_io()[1](c.study, c.actor, "grades_csv", c.tmp / "own")),
    "exporting.export_annotations [another grader's]": (
        Action.EXPORT_ALL, lambda c: _annotation_io()[1](c.study, c.actor, "grades_csv", c.tmp / "theirs",
                                                         graders=["Dr. A"])),
    "exporting.export_annotations [reference]": (
        Action.EXPORT_ALL, lambda c: _annotation_io()[1](c.study, c.actor, "grades_csv", c.tmp / "ref",
                                                         graders="reference")),
    "importing.import_annotations": (
        Action.IMPORT_ANNOTATIONS, lambda c: _annotation_io()[0](c.study, c.actor, "grades_csv", _grades_csv(c))),
    # whole studies
    "study_copy.copy_study": (Action.STUDY_COPY, lambda c: study_copy.copy_study(c.study, c.actor, c.tmp / f"copy-{c.actor.id}")),
    # who the patients are
    "identity.identity_shown": (Action.IDENTITY, lambda c: identity.identity_shown(c.study, c.actor)),
    "identity.shown_identity": (Action.IDENTITY, lambda c: identity.shown_identity(c.study, c.actor, c.image)),
    "identity.export_mapping": (Action.IDENTITY, lambda c: identity.export_mapping(c.study, c.actor,
                                                                                   c.tmp / f"identity-{c.actor.id}.csv")),
    # eye-level exams (services.exams) and landmarks (services.landmarks)
    "exams.ExamService.state": (Action.OWN_WORK_READ, lambda c: _exams(c).state(c.image)),
    "exams.ExamService.exam_state": (Action.OWN_WORK_READ,
                                     lambda c: _exams(c).exam_state(_exam_key(c.study, c.image))),
    "exams.ExamService.issues": (Action.OWN_WORK_READ, lambda c: _exams(c).issues(grade("yes", "2"))),
    "exams.ExamService.save_draft": (Action.OWN_WORK_WRITE, lambda c: _exams(c).save_draft(
        _exam_key(c.study, c.other_image), grade("yes", "1"))),
    "exams.ExamService.submit": (Action.OWN_WORK_WRITE, lambda c: _exams(c).submit(
        _exam_key(c.study, c.other_image), grade("yes", "1"))),
    "exams.ExamService.others": (Action.OTHERS_WORK_READ, lambda c: _exams(c).others(c.image)),
    "exams.ExamService.progression": (Action.OWN_WORK_READ, lambda c: _exams(c).progression(c.image)),
    "exams.ExamService.reference_progression": (Action.REFERENCE_READ,
                                                lambda c: _exams(c).reference_progression(c.image)),
    "exams.ExamService.needs_attention": (Action.OWN_WORK_READ, lambda c: _exams(c).needs_attention()),
    "exams.ExamService.reference_needs_attention": (Action.REFERENCE_READ,
                                                    lambda c: _exams(c).reference_needs_attention()),
    "exams.ExamService.model_summary": (Action.MODEL_OUTPUT_READ, lambda c: _exams(c).model_summary(c.image)),
    "exam_reference.ExamReferenceService.queue": (Action.REFERENCE_READ, lambda c: _exam_refs(c).queue()),
    "exam_reference.ExamReferenceService.insufficient": (Action.REFERENCE_READ,
                                                         lambda c: _exam_refs(c).insufficient()),
    "exam_reference.ExamReferenceService.case": (Action.REFERENCE_READ, lambda c: _exam_refs(c).case(
        *_exam_pair(c.study, c.image))),
    "exam_reference.ExamReferenceService.adjudicate": (Action.REFERENCE_DECIDE, lambda c: _exam_refs(c).adjudicate(
        *_exam_pair(c.study, c.other_image), grade("no"), expected_version=0)),
    "exam_reference.ExamReferenceService.recompute": (Action.REFERENCE_DECIDE, lambda c: _exam_refs(c).recompute()),
    "exams.vote_level": (Action.STUDY_BROWSE, lambda c: exams.vote_level(c.study, c.actor)),
    "attention.rebuild_attention": (Action.REFERENCE_DECIDE,
                                    lambda c: attention.rebuild_attention(c.study, c.actor)),
    "exams.treatment_agreement": (Action.AGREEMENT_READ, lambda c: exams.treatment_agreement(c.study, c.actor)),
    "exams.treatment_report_section": (Action.AGREEMENT_READ,
                                       lambda c: exams.treatment_report_section(c.study, c.actor)),
    "exams.set_vote_level": (Action.SETTINGS_WRITE, lambda c: exams.set_vote_level(c.study, c.actor, "image")),
    "exams.export_exam_grades_csv": (Action.EXPORT_ALL, lambda c: exams.export_exam_grades_csv(
        c.study, c.actor, c.tmp / f"exams-{c.actor.id}.csv")),
    "landmarks.LandmarkService.my_landmarks": (Action.OWN_WORK_READ, lambda c: _landmarks(c).my_landmarks(c.image)),
    "landmarks.LandmarkService.show": (Action.OWN_WORK_READ, lambda c: _landmarks(c).show(c.image)),
    "landmarks.LandmarkService.save_landmarks": (Action.OWN_WORK_WRITE, lambda c: _landmarks(c).save_landmarks(
        c.other_image, Landmarks(disc=(30, 24), fovea=(20, 24)))),
    "landmarks.LandmarkService.zone_suggestion": (Action.OWN_WORK_READ,
                                                  lambda c: _landmarks(c).zone_suggestion(c.image)),
    "landmarks.LandmarkService.decide_zone": (Action.OWN_WORK_WRITE,
                                              lambda c: _landmarks(c).decide_zone(c.other_image, Zone.I)),
    "landmarks.LandmarkService.others_landmarks": (Action.OTHERS_WORK_READ,
                                                   lambda c: _landmarks(c).others_landmarks(c.image)),
    "landmarks.export_landmarks_csv": (Action.EXPORT_ALL, lambda c: landmarks.export_landmarks_csv(
        c.study, c.actor, c.tmp / f"landmarks-{c.actor.id}.csv")),
    # grading
    "grading.GradingService.worklist": (Action.STUDY_BROWSE, lambda c: c.grading().worklist()),
    "grading.GradingService.worklist_page": (Action.STUDY_BROWSE,
                                             lambda c: c.grading().worklist_page(WorklistQuery(), locate=c.image)),
    "grading.GradingService.worklist_position": (Action.STUDY_BROWSE,
                                                 lambda c: c.grading().worklist_position(WorklistQuery(), c.image)),
    "grading.GradingService.worklist_rows": (Action.STUDY_BROWSE, lambda c: c.grading().worklist_rows([c.image])),
    "grading.GradingService.rows_of_grades": (Action.OWN_WORK_READ, lambda c: c.grading().rows_of_grades([1, 2, 3])),
    "grading.GradingService.show": (Action.OWN_WORK_WRITE, lambda c: c.grading().show(c.image)),
    "grading.GradingService.next_todo": (Action.OWN_WORK_READ, lambda c: c.grading().next_todo()),
    "grading.GradingService.cameras": (Action.STUDY_BROWSE, lambda c: c.grading().cameras()),
    "grading.GradingService.patients": (Action.STUDY_BROWSE, lambda c: c.grading().patients()),
    "grading.GradingService.load_image": (Action.STUDY_BROWSE, lambda c: c.grading().load_image(c.image)),
    "grading.GradingService.my_grade": (Action.OWN_WORK_READ, lambda c: c.grading().my_grade(c.image)),
    "grading.GradingService.save_draft": (Action.OWN_WORK_WRITE,
                                          lambda c: c.grading().save_draft(c.other_image, grade("yes", "1"))),
    "grading.GradingService.issues": (Action.OWN_WORK_READ, lambda c: c.grading().issues(c.image, grade("no"))),
    "grading.GradingService.submit": (Action.OWN_WORK_WRITE,
                                      lambda c: c.grading().submit(c.other_image, grade("yes", "1"))),
    "grading.GradingService.my_shapes": (Action.OWN_WORK_READ, lambda c: c.grading().my_shapes(c.image)),
    "grading.GradingService.save_shape": (Action.OWN_WORK_WRITE,
                                          lambda c: c.grading().save_shape(c.other_image, _shape())),
    "grading.GradingService.delete_shape": (Action.OWN_WORK_WRITE,
                                            lambda c: c.grading().delete_shape(c.other_image, "no-such-shape")),
    "grading.GradingService.blinded": (Action.STUDY_BROWSE, lambda c: c.grading().blinded()),
    "grading.GradingService.hospital_diagnosis": (Action.OTHERS_WORK_READ,
                                                  lambda c: c.grading().hospital_diagnosis(c.image)),
    "grading.GradingService.other_grades": (Action.OTHERS_WORK_READ, lambda c: c.grading().other_grades(c.image)),
    "grading.GradingService.remember_image": (Action.OWN_WORK_WRITE, lambda c: c.grading().remember_image(c.image)),
    "grading.GradingService.last_image": (Action.OWN_WORK_READ, lambda c: c.grading().last_image()),
    "grading.GradingService.my_totals": (Action.OWN_WORK_READ, lambda c: c.grading().my_totals()),
    "outline_drafts.save_outline_draft": (Action.OWN_WORK_WRITE, lambda c: outline_drafts.save_outline_draft(
        c.study, c.actor, outline_drafts.OutlineDraft(c.image, ((1.0, 1.0), (5.0, 1.0))))),
    "outline_drafts.discard_outline_draft": (Action.OWN_WORK_WRITE,
                                             lambda c: outline_drafts.discard_outline_draft(c.study, c.actor)),
    "outline_drafts.outline_draft": (Action.OWN_WORK_READ, lambda c: outline_drafts.outline_draft(c.study, c.actor)),
    "grading.GradingService.display_settings": (Action.OWN_WORK_READ, lambda c: c.grading().display_settings()),
    "grading.GradingService.save_display_settings": (Action.OWN_WORK_WRITE,
                                                     lambda c: c.grading().save_display_settings({"gamma": 1.0})),
    "grading.image_ids": (Action.STUDY_BROWSE, lambda c: grading.image_ids(c.study, c.actor)),
    # imports
    "importer.import_images": (Action.IMPORT_IMAGES, lambda c: importer.import_images(c.study, c.actor, [])),
    "importer.run_import": (Action.IMPORT_IMAGES, lambda c: importer.run_import(c.study, c.actor, [])),
    "manifest_update.update_from_manifest": (Action.IMPORT_IMAGES,
                                             lambda c: manifest_update.update_from_manifest(c.study, c.actor,
                                                                                            _manifest(c))),
    # model versions
    "models.ModelService.versions": (Action.MODELS_READ, lambda c: _models(c).versions()),
    "models.ModelService.active": (Action.MODELS_READ, lambda c: _models(c).active("binary")),
    "models.ModelService.register": (Action.MODELS_MANAGE, lambda c: _models(c).register(c.tmp / "no-bundle")),
    "models.ModelService.activate": (Action.MODELS_MANAGE, lambda c: _models(c).activate(999)),
    "models.ModelService.deactivate": (Action.MODELS_MANAGE, lambda c: _models(c).deactivate(999)),
    "models.ModelService.delete": (Action.MODELS_MANAGE, lambda c: _models(c).delete(999)),
    "models.ModelService.export": (Action.MODELS_MANAGE, lambda c: _models(c).export(999, c.tmp / "bundle")),
    "models.ModelService.import_pretrained": (Action.MODELS_MANAGE,
                                              lambda c: _models(c).import_pretrained(c.tmp / "no-weights.pth")),
    "models.ModelService.import_bundle": (Action.MODELS_MANAGE,
                                          lambda c: _models(c).import_bundle(c.tmp / "no-bundle")),
    # predictions
    "predictions.PredictionService.active_versions": (Action.MODELS_READ, lambda c: _predictions(c).active_versions()),
    "predictions.PredictionService.predictor": (Action.MODELS_READ, lambda c: _predictions(c).predictor(None)),
    "predictions.PredictionService.layers": (Action.MODELS_READ, lambda c: _predictions(c).layers("binary")),
    "predictions.PredictionService.cached": (Action.MODEL_OUTPUT_READ,
                                             lambda c: _predictions(c).cached(c.image, None)),
    "predictions.PredictionService.predict_image": (Action.MODEL_OUTPUT_READ,
                                                    lambda c: _predictions(c).predict_image(c.image)),
    "predictions.PredictionService.predict_all": (Action.PREDICT_ALL, lambda c: _predictions(c).predict_all()),
    "predictions.PredictionService.probabilities": (Action.MODELS_READ, lambda c: _predictions(c).probabilities()),
    "predictions.PredictionService.most_uncertain_first": (
        Action.OWN_WORK_READ, lambda c: _predictions(c).most_uncertain_first(c.grading())),
    # reference standard
    "reference.set_vote_settings": (Action.SETTINGS_WRITE,
                                    lambda c: reference.set_vote_settings(c.study, c.actor, VoteSettings())),
    "reference.recompute_references": (Action.REFERENCE_DECIDE,
                                       lambda c: reference.recompute_references(c.study, c.actor, [c.image])),
    "reference.ReferenceService.recompute": (Action.REFERENCE_DECIDE, lambda c: _reference(c).recompute([c.image])),
    "reference.ReferenceService.recompute_steps": (Action.REFERENCE_DECIDE,
                                                   lambda c: _reference(c).recompute_steps([c.image])),
    "reference.ReferenceService.queue": (Action.REFERENCE_READ, lambda c: _reference(c).queue()),
    "reference.ReferenceService.queue_counts": (Action.REFERENCE_READ, lambda c: _reference(c).queue_counts()),
    "reference.ReferenceService.insufficient": (Action.REFERENCE_READ, lambda c: _reference(c).insufficient()),
    "reference.ReferenceService.case": (Action.REFERENCE_READ, lambda c: _reference(c).case(c.image)),
    "reference.ReferenceService.consensus_shapes": (Action.REFERENCE_READ,
                                                    lambda c: _reference(c).consensus_shapes(c.image)),
    "reference.ReferenceService.adjudicate": (Action.REFERENCE_DECIDE,
                                              lambda c: _reference(c).adjudicate(c.image, grade("yes", "2"),
                                                                                 expected_version=-1)),
    "reference.ReferenceService.history": (Action.REFERENCE_READ, lambda c: _reference(c).history(c.image)),
    "reference.ReferenceService.current": (Action.OTHERS_WORK_READ, lambda c: _reference(c).current(c.image)),
    # reports and training
    "reports.ReportService.reports_dir": (Action.MODELS_MANAGE,
                                          lambda c: ReportService(c.study, c.actor).reports_dir()),
    "reports.ReportService.write": (Action.MODELS_MANAGE, lambda c: ReportService(c.study, c.actor).write(999)),
    "training_runs.TrainingService.config_for": (Action.MODELS_MANAGE,
                                                 lambda c: _training(c).config_for("binary", "tiny_cnn")),
    "training_runs.TrainingService.plan": (Action.MODELS_MANAGE, lambda c: _training(c).plan("nope", "tiny_cnn")),
    "training_runs.TrainingService.run": (Action.MODELS_MANAGE, lambda c: _training(c).run(None)),
    "training_runs.TrainingService.runs": (Action.MODELS_READ, lambda c: _training(c).runs()),
    "training_runs.TrainingService.auto_update_every": (Action.MODELS_READ,
                                                        lambda c: _training(c).auto_update_every()),
    "training_runs.TrainingService.set_auto_update_every": (Action.MODELS_MANAGE,
                                                            lambda c: _training(c).set_auto_update_every(None)),
    "training_runs.TrainingService.new_labels_since_last_run": (
        Action.MODELS_MANAGE, lambda c: _training(c).new_labels_since_last_run("binary")),
    "training_runs.TrainingService.auto_update_due": (Action.MODELS_MANAGE,
                                                      lambda c: _training(c).auto_update_due("binary")),
}


# ---------------------------------------------------------------------------- finding the operations
def service_operations() -> dict[str, Callable[..., Any]]:
    """Every public service operation: ``"<module>.<function>"`` or ``"<module>.<Class>.<method>"``."""
    found: dict[str, Callable[..., Any]] = {}
    for info in pkgutil.walk_packages(services_pkg.__path__, services_pkg.__name__ + "."):
        module = importlib.import_module(info.name)
        short = info.name.rsplit(".", 1)[-1]
        if short == "policy":
            continue
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj) and list(inspect.signature(obj).parameters)[:1] == ["study"]:
                found[f"{short}.{name}"] = obj
            elif inspect.isclass(obj) and "__init__" in vars(obj):
                params = list(inspect.signature(obj.__init__).parameters)
                if "study" not in params:
                    continue
                if "actor" not in params:
                    found[f"{short}.{name}"] = obj  # a class over a study without an actor: must be open
                    continue
                for method_name, method in vars(obj).items():
                    if not method_name.startswith("_") and inspect.isfunction(method):
                        found[f"{short}.{name}.{method_name}"] = method
    return found


def test_every_service_operation_has_a_policy_entry_and_a_row_here() -> None:
    ops = service_operations()
    unguarded = sorted(name for name, fn in ops.items()
                       if not hasattr(fn, "__policy_action__") and not hasattr(fn, "__policy_open__"))
    assert not unguarded, f"service operations without a policy entry: {unguarded}"
    opened = {name for name, fn in ops.items() if hasattr(fn, "__policy_open__")}
    assert opened == OPEN, f"open (actor-less) operations changed: added {opened - OPEN}, removed {OPEN - opened}"
    guarded = {name for name, fn in ops.items() if hasattr(fn, "__policy_action__")}
    rows = {key.split(" [")[0] for key in CALLS}
    assert guarded == rows, f"no row in CALLS for {sorted(guarded - rows)}; stale rows {sorted(rows - guarded)}"
    for key, (action, _) in CALLS.items():
        declared = ops[key.split(" [")[0]].__policy_action__
        assert declared is action or " [" in key, f"{key}: guarded by {declared}, the table says {action}"
    assert set(RULES) == set(Action), "every action has exactly one rule"


# ---------------------------------------------------------------------------- the personas
PERSONAS = ("grader before submitting", "grader after submitting", "adjudicator", "admin", "deactivated")


def expected_allowed(action: Action, persona: str) -> bool:
    rule = RULES[action]
    if persona == "deactivated":
        return False
    role = {"adjudicator": Role.ADJUDICATOR, "admin": Role.ADMIN}.get(persona, Role.GRADER)
    if role not in rule.roles:
        return False
    if role is Role.GRADER and rule.grader_blinding is not Blinding.NONE:
        return persona == "grader after submitting"
    return True


@pytest.fixture
def world(hand: HandStudy, tmp_path: Path) -> dict[str, Ctx]:
    """Image 0: A's draft and outline, C's submitted grade; B has done nothing there. Image 1: A, B
    and D submitted (B also its eye-level exam); then D is deactivated. Image 2 is B's to grade in
    write operations."""
    study = hand.study
    blind, open_, spare = hand.images[0], hand.images[1], hand.images[2]
    a = GradingService(study, hand.graders["A"])
    a.save_draft(blind, grade("yes", "2"))
    a.save_shape(blind, rect(10, 10, 30, 20))
    hand.submit("C", blind, grade("yes", "1"))
    for name in "ABD":
        hand.submit(name, open_, grade("no"))
    # B's eye-level grade of the open image's exam (its only image): others' eye-level grades open to B there
    exams.ExamService(study, hand.graders["B"]).submit(_exam_key(study, open_), grade("no"))
    accounts.set_active(study, hand.admin, hand.graders["D"].id, False)
    extra = accounts.create_account(study, hand.admin, "Dr. Extra").id
    return {
        "grader before submitting": Ctx(study, hand.graders["B"], blind, spare, extra, tmp_path),
        "grader after submitting": Ctx(study, hand.graders["B"], open_, spare, extra, tmp_path),
        "adjudicator": Ctx(study, hand.adjudicator, blind, spare, extra, tmp_path),
        "admin": Ctx(study, hand.admin, blind, spare, extra, tmp_path),
        "deactivated": Ctx(study, hand.graders["D"], open_, spare, extra, tmp_path),
    }


def _attempt(call: Callable[[Ctx], Any], ctx: Ctx) -> AccessDenied | None:
    try:
        result = call(ctx)
        if inspect.isgenerator(result):
            result.close()  # the guard ran when the generator was made
    except AccessDenied as refusal:
        return refusal
    except Exception:  # noqa: BLE001 - past the policy; the operation's own errors are not this test's
        return None
    return None


@pytest.mark.parametrize("operation", sorted(CALLS))
def test_each_operation_allows_and_refuses_exactly_as_the_policy_table_says(operation: str,
                                                                           world: dict[str, Ctx]) -> None:
    action, call = CALLS[operation]
    outcome = {}
    for persona in PERSONAS:
        refusal = _attempt(call, world[persona])
        outcome[persona] = refusal is None
        if refusal is not None:
            assert refusal.reason and refusal.reason[0].isupper() and "Traceback" not in refusal.reason
    expected = {persona: expected_allowed(action, persona) for persona in PERSONAS}
    assert outcome == expected, f"{operation} ({action.value})"


def test_a_refused_grader_changes_nothing_and_sees_nothing(world: dict[str, Ctx]) -> None:
    """The attacker's view: a blinded grader B tries everything against A's draft and fails quietly."""
    b = world["grader before submitting"]
    with b.study.session() as session:
        before = [(e.entity, e.action, e.before, e.after) for e in repo.audit_trail(session)]
    for operation, (action, call) in CALLS.items():
        if not expected_allowed(action, "grader before submitting"):
            assert _attempt(call, b) is not None, operation
    with b.study.session() as session:
        after = [(e.entity, e.action, e.before, e.after) for e in repo.audit_trail(session)]
        settings = {key: repo.get_setting(session, key) for key in ("grading.blinded", "grading.assist_mode",
                                                                    "votes.settings", "x.test")}
    assert after == before  # not one audited change
    assert settings["grading.blinded"] in (None, True) and not settings["grading.assist_mode"]
    assert settings["x.test"] is None
    with pytest.raises(AccessDenied, match="Blinded grading"):
        b.grading().other_grades(b.image)
    assert PASSWORD  # the admin's password never appears in any refusal (it is not known to them)


def test_the_readme_shows_the_policy_table_as_it_is() -> None:
    from rop_desktop.services.policy import rules_markdown

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    assert rules_markdown() in readme, "README's roles table differs from policy.RULES: paste rules_markdown()"
