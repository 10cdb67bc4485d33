"""Agreement dashboard: figures on hand-made votes checked by hand and against training.metrics,
the model hook, the CSV export, and the demo study's leave-one-out acceptance test."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from rop_desktop.domain.labels import Zone
from rop_desktop.services.agreement import AgreementError, AgreementService
from rop_desktop.services.demo_study import TRUTH_FILE, build_demo_study, demo_admin
from rop_desktop.services.reference import settle_images
from rop_desktop.store import Study, repo
from training.metrics import cohen_kappa, fleiss_kappa, leave_one_out_performance

from .conftest import UNGRADABLE, HandStudy, grade

Y, N = grade("yes", "2"), grade("no")
#: rows: images 0-5; columns: graders A, B, C, D (D marks image 5 ungradable)
VOTES = [(Y, Y, Y, Y), (Y, Y, Y, N), (N, N, N, N), (N, N, Y, N), (Y, N, Y, Y), (Y, Y, N, UNGRADABLE)]
ROP = {"Dr. A": [1, 1, 0, 0, 1, 1], "Dr. B": [1, 1, 0, 0, 0, 1], "Dr. C": [1, 1, 0, 1, 1, 0],
       "Dr. D": [1, 0, 0, 0, 1, None]}


@pytest.fixture
def voted(hand: HandStudy) -> HandStudy:
    for image, votes in zip(hand.images, VOTES, strict=False):
        hand.votes(image, *votes)
    settle_images(hand.study)
    return hand


def test_pairwise_and_fleiss_figures(voted: HandStudy) -> None:
    report = AgreementService(voted.study, voted.admin).dashboard()
    assert report.graders == ["Dr. A", "Dr. B", "Dr. C", "Dr. D"] and report.n_images == 6
    rop = report.for_field("rop")
    ab = next(p for p in rop.pairs if (p.grader_a, p.grader_b) == ("Dr. A", "Dr. B"))
    assert (ab.n_items, ab.percent_agreement) == (6, pytest.approx(5 / 6))
    assert ab.kappa == pytest.approx(2 / 3)  # p_o 5/6, p_e 1/2, by hand
    assert ab.kappa_linear is None and not rop.ordinal  # weighted kappa only for ordinal fields
    ad = next(p for p in rop.pairs if (p.grader_a, p.grader_b) == ("Dr. A", "Dr. D"))
    assert ad.n_items == 5  # D's ungradable vote rates no ROP presence
    for p in rop.pairs:
        expected = cohen_kappa([_yn(v) for v in ROP[p.grader_a]], [_yn(v) for v in ROP[p.grader_b]], None,
                               ["no", "yes"])
        assert p.kappa == pytest.approx(expected) if expected is not None else p.kappa is None
    # Fleiss over the five images all four graders rated: by hand 0.195 / 0.495
    assert rop.fleiss_items == 5
    assert rop.fleiss_kappa == pytest.approx((0.7 - 0.505) / 0.495, abs=1e-5)  # torchmetrics: float32
    assert rop.fleiss_kappa == pytest.approx(fleiss_kappa([[0, 4], [1, 3], [4, 0], [3, 1], [1, 3]]))
    quality = report.for_field("quality")
    assert quality.fleiss_items == 6 and quality.categories == ["gradable", "ungradable"]
    stage = report.for_field("stage")
    assert stage.ordinal and stage.categories[:4] == ["0", "1", "2", "3"] and stage.categories[-1] == "5C"
    assert all(p.kappa_quadratic is not None for p in stage.pairs)
    assert report.references_by_method == dict(Counter(_methods(voted)))
    assert sum(report.references_by_method.values()) == 6
    json.dumps(report.to_dict())  # plain, JSON-able


def _yn(value: int | None) -> str | None:
    return None if value is None else ["no", "yes"][value]


def _methods(hand: HandStudy) -> list[str]:
    with hand.study.session() as session:
        return [r.method for r in repo.list_references(session)]


def test_leave_one_out_by_hand_and_tie_rule(voted: HandStudy) -> None:
    report = AgreementService(voted.study, voted.admin).dashboard()
    a, c, d = report.grader("Dr. A"), report.grader("Dr. C"), report.grader("Dr. D")
    assert (a.n_items, a.tp, a.tn, a.fp, a.fn) == (5, 3, 2, 0, 0)  # image 5: B yes vs C no, a tie: left out
    assert (c.tp, c.fp, c.tn, c.fn, c.sensitivity, c.specificity) == (3, 1, 1, 1, 0.75, 0.5)
    assert (d.n_items, d.sensitivity, d.specificity) == (5, pytest.approx(2 / 3), 1.0)
    severe = AgreementService(voted.study, voted.admin).dashboard(loo_ties="severe")
    assert severe.grader("Dr. A").tp == 4 and severe.loo_ties == "severe"

    def majority(others: list[int]) -> int | None:
        yes = sum(others)
        return None if not others or 2 * yes == len(others) else int(2 * yes > len(others))

    expected = leave_one_out_performance(ROP, majority)
    for g in report.leave_one_out:
        e = expected[g.grader]
        assert (g.n_items, g.tp, g.fp, g.tn, g.fn) == (e.n_items, e.tp, e.fp, e.tn, e.fn)
    with pytest.raises(AgreementError, match="loo_ties"):
        AgreementService(voted.study, voted.admin).dashboard(loo_ties="coin")


def test_ordinal_fields_use_the_clinical_order(hand: HandStudy) -> None:
    zones_a = [Zone.I, Zone.POSTERIOR_II, Zone.II, Zone.III, Zone.I]
    zones_b = [Zone.POSTERIOR_II, Zone.I, Zone.III, Zone.III, Zone.II]
    for image, za, zb in zip(hand.images, zones_a, zones_b, strict=False):
        hand.submit("A", image, grade("yes", "2", zone=za))
        hand.submit("B", image, grade("yes", "2", zone=zb))
    pair = AgreementService(hand.study, hand.adjudicator).dashboard().for_field("zone").pairs[0]
    a, b = [z.value for z in zones_a], [z.value for z in zones_b]
    clinical = ["III", "II", "posterior II", "I"]
    assert pair.kappa_linear == pytest.approx(cohen_kappa(a, b, "linear", clinical))
    assert pair.kappa_quadratic == pytest.approx(cohen_kappa(a, b, "quadratic", clinical))
    assert pair.kappa_quadratic != pytest.approx(cohen_kappa(a, b, "quadratic"))  # alphabetical order differs


def test_model_hook_and_error_reduction(voted: HandStudy) -> None:
    i = voted.images
    predictions = {i[0]: 0.9, i[1]: 0.8, i[2]: 0.1, i[3]: 0.6, i[4]: 0.4, i[5]: 0.7, i[6]: 0.3}  # i6: no reference
    model = AgreementService(voted.study, voted.admin).dashboard(predictions, threshold=0.5).model
    assert model is not None and model.n_images == 6
    assert (model.tp, model.fn, model.tn, model.fp) == (3, 1, 1, 1)
    assert (model.sensitivity, model.specificity) == (0.75, 0.5)
    assert model.model_error_rate == pytest.approx(2 / 6)
    assert model.error_reduction == {"Dr. A": None, "Dr. B": pytest.approx(-1.0), "Dr. C": pytest.approx(0.0),
                                     "Dr. D": pytest.approx(-1.0)}
    assert model.grader_error_rate["Dr. D"] == pytest.approx(1 / 5)
    assert model.mean_error_reduction == pytest.approx(-2 / 3)
    assert any("1 prediction(s) left out" in n for n in model.notes)
    with pytest.raises(AgreementError, match="no predicted image has a reference"):
        AgreementService(voted.study, voted.admin).dashboard({i[7]: 0.5})


def test_csv_export_of_the_tables(voted: HandStudy, tmp_path: Path) -> None:
    report = AgreementService(voted.study, voted.admin).dashboard({voted.images[0]: 0.9, voted.images[2]: 0.2})
    path = report.to_csv(tmp_path / "agreement.csv")
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert set(r["table"] for r in rows) == {"level", "pairwise", "fleiss", "leave_one_out", "references", "model",
                                             "error_reduction"}
    assert next(r for r in rows if r["table"] == "level")["value"] == "image"
    kappa = next(r for r in rows if r["table"] == "pairwise" and r["field"] == "rop" and r["statistic"] == "kappa"
                 and (r["grader_a"], r["grader_b"]) == ("Dr. A", "Dr. B"))
    assert float(kappa["value"]) == pytest.approx(2 / 3) and kappa["n"] == "6"
    assert not any(r["statistic"] == "kappa_linear" and r["field"] == "rop" for r in rows)
    assert any(r["statistic"] == "kappa_quadratic" and r["field"] == "stage" for r in rows)


def _loo_against_profiles(folder: Path) -> dict[str, tuple[float, float]]:
    profiles = {g["name"]: g["sensitivity"] for g in json.loads((folder / TRUTH_FILE).read_text())["graders"]}
    with Study.open(folder) as study:
        report = AgreementService(study, demo_admin(study)).dashboard()
    assert {g.grader for g in report.leave_one_out} == set(profiles)
    return {g.grader: (g.sensitivity, profiles[g.grader]) for g in report.leave_one_out}


def test_demo_graders_leave_one_out_sensitivity_matches_their_profiles(demo_study_dir: Path) -> None:
    """Acceptance test of the issue: each simulated grader within ±0.05 of its generating profile."""
    for grader, (measured, profile) in _loo_against_profiles(demo_study_dir).items():
        assert measured == pytest.approx(profile, abs=0.05), grader


def test_demo_leave_one_out_on_a_larger_study(tmp_path: Path) -> None:
    folder = build_demo_study(tmp_path / "demo20", n_patients=20, size=(96, 72), seed=3)
    for grader, (measured, profile) in _loo_against_profiles(folder).items():
        assert measured == pytest.approx(profile, abs=0.05), grader
