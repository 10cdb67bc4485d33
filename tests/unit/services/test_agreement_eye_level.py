"""Agreement at eye level: when the study votes per eye, the dashboard's field figures compare the
graders' confirmed eye-level grades, one rating per grader per exam, not their image grades.
Kappas worked out by hand below."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Eye, Plus, Quality, RopPresence, Stage, Zone
from rop_desktop.services import exams
from rop_desktop.services.agreement import AgreementService
from rop_desktop.services.exams import ExamKey, ExamService
from rop_desktop.store.schema import Image

from .conftest import HandStudy, grade

#: Eye-level stages of exams 1–4 (the hand study's first four images, one exam each), per grader.
STAGES = {"A": "2100", "B": "2000", "C": "2100", "D": "2110"}


def eye(stage: str) -> GradeValues:
    s = Stage.parse(stage)
    rop = RopPresence.NO if s is Stage.S0 else RopPresence.YES
    return GradeValues(quality=Quality.GRADABLE, rop=rop, stage=s, zone=Zone.II, plus=Plus.NORMAL)


def _keys(hand: HandStudy) -> list[ExamKey]:
    with hand.study.session() as session:
        rows = session.execute(select(Image.exam_id, Image.eye).where(Image.id.in_(hand.images[:4])).order_by(Image.id))
        return [ExamKey(exam_id, Eye(e)) for exam_id, e in rows]


@pytest.fixture
def eye_votes(hand: HandStudy) -> HandStudy:
    """Every grader says "ROP stage 3" on every image, then confirms the eye-level grades of STAGES:
    at image level they would agree perfectly; at eye level they do not."""
    keys = _keys(hand)
    for name, stages in STAGES.items():
        for image, key, stage in zip(hand.images[:4], keys, stages, strict=True):
            hand.submit(name, image, grade("yes", "3"))
            ExamService(hand.study, hand.graders[name]).submit(key, eye(stage))
    return hand


def test_at_eye_level_the_figures_compare_eye_grades(eye_votes: HandStudy) -> None:
    hand = eye_votes
    image_level = AgreementService(hand.study, hand.admin).dashboard()
    assert image_level.level == "image"
    assert {p.percent_agreement for p in image_level.for_field("stage").pairs} == {1.0}  # all said stage 3

    exams.set_vote_level(hand.study, hand.admin, "eye")
    report = AgreementService(hand.study, hand.adjudicator).dashboard()
    assert report.level == "eye" and report.n_images == 4  # four exams, one rating per grader each
    rop = report.for_field("rop")
    ab = next(p for p in rop.pairs if (p.grader_a, p.grader_b) == ("Dr. A", "Dr. B"))
    # A: yes yes no no, B: yes no no no → p_o 3/4; p_e 1/2·1/4 + 1/2·3/4 = 1/2; κ = (3/4 − 1/2)/(1/2)
    assert (ab.n_items, ab.percent_agreement, ab.kappa) == (4, pytest.approx(0.75), pytest.approx(0.5))
    ac = next(p for p in rop.pairs if (p.grader_a, p.grader_b) == ("Dr. A", "Dr. C"))
    assert ac.kappa == pytest.approx(1.0)
    # Fleiss: exams [no, yes] = [0,4] [1,3] [3,1] [4,0] → P̄ = (1 + ½ + ½ + 1)/4 = ¾, P_e = ½ → κ = ½
    assert rop.fleiss_items == 4 and rop.fleiss_kappa == pytest.approx(0.5, abs=1e-4)  # torchmetrics: float32, with an epsilon
    stage = report.for_field("stage")
    ab_stage = next(p for p in stage.pairs if (p.grader_a, p.grader_b) == ("Dr. A", "Dr. B"))
    # A: 2 1 0 0, B: 2 0 0 0 → p_o 3/4; p_e = 2/4·3/4 + 1/4·0 + 1/4·1/4 = 7/16; κ = (12/16 − 7/16)/(9/16) = 5/9
    assert ab_stage.kappa == pytest.approx(5 / 9)
    assert report.references_by_method == {"unanimous": 2, "majority": 2}  # the exams' references
    rows = report.rows()
    assert rows[0] == {"table": "level", "field": "", "grader_a": "", "grader_b": "", "statistic": "level",
                       "value": "eye", "n": 4}


def test_eye_labels_are_one_rating_per_grader_per_exam(eye_votes: HandStudy) -> None:
    keys, table = AgreementService(eye_votes.study, eye_votes.admin).eye_labels()
    assert [ExamKey(*k) for k in keys] == _keys(eye_votes)
    assert table["stage"]["Dr. D"] == ["2", "1", "1", "0"] and table["rop"]["Dr. B"] == ["yes", "no", "no", "no"]
