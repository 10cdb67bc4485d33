"""A whole synthetic screening study: patients, exams, images, truth, hospital diagnoses and grades.

:func:`generate_demo` is deterministic in its seed and cheap: it computes every image's geometry
and truth but renders pixels only when :meth:`DemoImage.render` is called. Disease follows the
infant: a latent severity (higher for lower gestational age, shared by both eyes, rising a little
at the second exam) is ranked and cut into stages with fixed shares (:data:`STAGE_SHARES`), so
every stage appears in any study of at least four patients.

Serial screening: about half the infants are seen twice, a week or two apart, and a few of
those (:data:`FOLLOW_UP_SHARE`) a third time a week later, when the worse eye has progressed —
one stage up, the ridge more posterior, plus disease appearing — so that the progression view
and the *Needs attention* list have something to show on first start. Those third visits, and
every grader's landmarks (``demo.landmarks``), are drawn from random streams of their own: the
first two visits, their grades and outlines are the same with or without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from numbers import Integral

import numpy as np

from rop_desktop.domain.grades import GradeValues
from rop_desktop.domain.labels import Eye, Plus, Quality, RopPresence, Stage, Zone

from .fundus import check_size, fundus_truth, render_fundus
from .graders import DEFAULT_GRADERS, DemoGrade, GraderProfile, simulate_grades
from .landmarks import simulate_landmarks
from .spec import DemoError, FundusSpec, FundusTruth

#: Target share of eye-exams per stage.
STAGE_SHARES: dict[Stage, float] = {Stage.S0: 0.40, Stage.S1: 0.25, Stage.S2: 0.20, Stage.S3: 0.15}
#: (site, camera) pairs of the two demo hospitals.
SITES: tuple[tuple[str, str], ...] = (("Demo Children's Hospital", "RetCam 3"), ("Demo Regional NICU", "3nethra Neo"))
_ZONE_BY_STAGE: dict[Stage, tuple[tuple[Zone, ...], tuple[float, ...]]] = {
    Stage.S0: ((Zone.POSTERIOR_II, Zone.II, Zone.III), (0.1, 0.5, 0.4)),
    Stage.S1: ((Zone.POSTERIOR_II, Zone.II, Zone.III), (0.15, 0.6, 0.25)),
    Stage.S2: ((Zone.I, Zone.POSTERIOR_II, Zone.II, Zone.III), (0.05, 0.25, 0.6, 0.1)),
    Stage.S3: ((Zone.I, Zone.POSTERIOR_II, Zone.II), (0.15, 0.35, 0.5)),
}
_PLUS_BY_STAGE: dict[Stage, tuple[float, float]] = {  # P(pre-plus), P(plus)
    Stage.S0: (0.05, 0.0),
    Stage.S1: (0.15, 0.0),
    Stage.S2: (0.3, 0.15),
    Stage.S3: (0.3, 0.45),
}
_EXTENT_BY_STAGE: dict[Stage, tuple[int, int]] = {Stage.S1: (1, 4), Stage.S2: (2, 6), Stage.S3: (3, 8)}
_FIRST_BIRTH = date(2026, 1, 5)
HOSPITAL_AGREEMENT = 0.9
POOR_QUALITY_SHARE = 0.05
#: Share of the infants seen a third time (at least one in any study with a second visit to worsen).
FOLLOW_UP_SHARE = 0.1
_POSTERIOR: dict[Zone, Zone] = {
    Zone.III: Zone.II,
    Zone.II: Zone.POSTERIOR_II,
    Zone.POSTERIOR_II: Zone.I,
    Zone.I: Zone.I,
}


@dataclass(frozen=True)
class DemoPatient:
    code: str  # pseudonymous, "DEMO-001"
    gestational_age_weeks: float
    birth_weight_g: int
    birth_date: date
    site: str
    camera: str


@dataclass(frozen=True)
class DemoExam:
    patient: str  # patient code
    number: int  # 1, 2
    date: date
    pma_weeks: float  # post-menstrual age at the exam
    camera: str
    site: str


@dataclass(frozen=True, eq=False)
class DemoImage:
    """One image of the study; pixels are rendered on demand."""

    file_name: str
    patient: DemoPatient
    exam: DemoExam
    eye: Eye
    view: int
    spec: FundusSpec
    size: tuple[int, int]
    truth: FundusTruth
    hospital_diagnosis: GradeValues
    grades: tuple[DemoGrade, ...]

    def render(self) -> np.ndarray:
        """The RGB uint8 image (HxWx3), identical on every call."""
        return render_fundus(self.spec, self.size)[0]

    def grade_of(self, grader: str) -> DemoGrade:
        for grade in self.grades:
            if grade.grader == grader:
                return grade
        raise KeyError(f"{grader!r} did not grade {self.file_name}")


@dataclass(frozen=True, eq=False)
class DemoStudy:
    seed: int
    size: tuple[int, int]
    patients: tuple[DemoPatient, ...]
    exams: tuple[DemoExam, ...]
    images: tuple[DemoImage, ...]
    graders: tuple[GraderProfile, ...]


@dataclass(frozen=True)
class _Unit:
    """One eye at one exam: what the disease is there."""

    patient: DemoPatient
    exam: DemoExam
    eye: Eye
    latent: float


@dataclass(frozen=True)
class _Disease:
    stage: Stage
    zone: Zone
    plus: Plus
    extent: int
    mature: bool


def generate_demo(
    seed: int = 0,
    n_patients: int = 20,
    size: tuple[int, int] = (640, 480),
    graders: Sequence[GraderProfile] = DEFAULT_GRADERS,
) -> DemoStudy:
    """A reproducible synthetic study of ``n_patients`` infants (1–2 exams, both eyes, 1–2 views).

    ``graders`` are the simulated graders (four by default; with fewer than four there are no
    deliberate 2–2 splits). Raises :class:`DemoError` for a bad seed, count or size.
    """
    if isinstance(n_patients, bool) or not isinstance(n_patients, int) or n_patients < 1:
        raise DemoError(f"n_patients must be a positive integer (got {n_patients!r})")
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise DemoError(f"seed must be a non-negative integer (got {seed!r})")
    size = check_size(size)
    graders = tuple(graders)
    rng = np.random.default_rng([seed, 100])
    patients, exams, units = _cohort(n_patients, rng)
    diseases = _diseases(units, rng)
    disagree = set(rng.choice(len(units), size=round((1 - HOSPITAL_AGREEMENT) * len(units)), replace=False).tolist())
    rows: list[tuple[_Unit, FundusSpec, GradeValues]] = []
    for u, (unit, disease) in enumerate(zip(units, diseases, strict=True)):
        hospital = _hospital(disease, u in disagree, rng)
        for view in (1, 2) if rng.random() < 0.3 else (1,):
            image_seed = int(np.random.SeedSequence([seed, 200, len(rows)]).generate_state(1)[0])
            spec = FundusSpec(
                image_seed,
                unit.eye,
                disease.stage,
                disease.zone,
                disease.plus,
                disease.extent,
                disease.mature,
                view,
                unit.exam.camera,
            )
            rows.append((unit, spec, hospital))
    poor = rng.choice(len(rows), size=max(1, round(POOR_QUALITY_SHARE * len(rows))), replace=False)
    for i in poor.tolist():
        unit, spec, hospital = rows[i]
        rows[i] = (unit, replace(spec, poor_quality=True), hospital)
    truths = [fundus_truth(spec, size) for _, spec, _ in rows]
    grades = simulate_grades(truths, graders, size, rng) if graders else [()] * len(rows)
    follow_rows, follow_exams = _third_visits(units, diseases, n_patients, seed)
    if follow_rows:
        follow_truths = [fundus_truth(spec, size) for _, spec, _ in follow_rows]
        follow_rng = np.random.default_rng([seed, 400])
        follow_grades = (
            simulate_grades(follow_truths, graders, size, follow_rng) if graders else [()] * len(follow_rows)
        )
        rows, truths, grades = rows + follow_rows, truths + follow_truths, list(grades) + list(follow_grades)
        exams = exams + follow_exams
    images = tuple(
        DemoImage(
            f"{unit.patient.code}_{unit.eye.value}_{unit.exam.date.isoformat()}_{spec.view}.png",
            unit.patient,
            unit.exam,
            unit.eye,
            spec.view,
            spec,
            size,
            truth,
            hospital,
            _with_landmarks(row, truth, seed, k),
        )
        for k, ((unit, spec, hospital), truth, row) in enumerate(zip(rows, truths, grades, strict=True))
    )
    return DemoStudy(seed, size, tuple(patients), tuple(exams), images, graders)


def _with_landmarks(row: Sequence[DemoGrade], truth: FundusTruth, seed: int, k: int) -> tuple[DemoGrade, ...]:
    """Each grader's grade of image ``k`` with the landmarks they placed (own random stream)."""
    out = []
    for j, grade in enumerate(row):
        rng = np.random.default_rng([seed, 300, k, j])
        out.append(replace(grade, landmarks=simulate_landmarks(truth, grade.values.quality, rng)))
    return tuple(out)


def _third_visits(
    units: Sequence[_Unit], diseases: Sequence[_Disease], n_patients: int, seed: int
) -> tuple[list[tuple[_Unit, FundusSpec, GradeValues]], list[DemoExam]]:
    """A third visit, a week after the second, for the infants whose second visit shows stage 1–2
    in an eye (the most severe first): that eye one stage worse, more posterior, with plus
    disease; the other eye as it was. One view per eye."""
    second = [(u, d) for u, d in zip(units, diseases, strict=True) if u.exam.number == 2]
    candidates: dict[str, float] = {}
    for unit, disease in second:
        if disease.stage in (Stage.S1, Stage.S2) and not disease.mature:
            candidates[unit.patient.code] = max(candidates.get(unit.patient.code, -np.inf), unit.latent)
    chosen = sorted(candidates, key=lambda code: -candidates[code])[: max(1, round(FOLLOW_UP_SHARE * n_patients))]
    rows: list[tuple[_Unit, FundusSpec, GradeValues]] = []
    exams: list[DemoExam] = []
    for code in sorted(chosen):
        pair = [(u, d) for u, d in second if u.patient.code == code]
        acute = [(u, d) for u, d in pair if d.stage in (Stage.S1, Stage.S2) and not d.mature]
        worse_eye = max(acute, key=lambda ud: (ud[1].stage.severity or 0, ud[0].latent))[0].eye
        before = pair[0][0].exam
        exam = DemoExam(
            code, 3, before.date + timedelta(days=7), round(before.pma_weeks + 1, 1), before.camera, before.site
        )
        exams.append(exam)
        for unit, disease in pair:
            if unit.eye is worse_eye:
                stage = Stage.S2 if disease.stage is Stage.S1 else Stage.S3
                disease = _Disease(stage, _POSTERIOR[disease.zone], Plus.PLUS, min(12, disease.extent + 2), False)
            image_seed = int(np.random.SeedSequence([seed, 500, len(rows)]).generate_state(1)[0])
            spec = FundusSpec(
                image_seed,
                unit.eye,
                disease.stage,
                disease.zone,
                disease.plus,
                disease.extent,
                disease.mature,
                1,
                exam.camera,
            )
            visit = _Unit(unit.patient, exam, unit.eye, unit.latent + 0.3)
            rows.append((visit, spec, _hospital(disease, False, np.random.default_rng([seed, 600, len(rows)]))))
    return rows, exams


def _cohort(n_patients: int, rng: np.random.Generator) -> tuple[list[DemoPatient], list[DemoExam], list[_Unit]]:
    patients, exams, units = [], [], []
    for k in range(n_patients):
        ga = round(23 + 9 * rng.beta(1.6, 2.0), 1)
        weight = (650 + (ga - 24) * 131) * rng.lognormal(0.0, 0.12)
        site, camera = SITES[int(rng.integers(len(SITES)))]
        born = _FIRST_BIRTH + timedelta(days=int(rng.integers(0, 50)))
        patient = DemoPatient(f"DEMO-{k + 1:03d}", ga, int(round(np.clip(weight, 450, 1800), -1)), born, site, camera)
        patients.append(patient)
        severity = -(ga - 23) / 9 + rng.normal(0.0, 0.35)
        pma = max(31.0, ga + 4) + rng.uniform(0.0, 1.5)
        for number in range(1, 3 if rng.random() < 0.5 else 2):
            if number == 2:
                pma += int(rng.choice((1, 2)))
            day = born + timedelta(days=int(round((pma - ga) * 7)))
            exam = DemoExam(patient.code, number, day, round(pma, 1), camera, site)
            exams.append(exam)
            for eye in (Eye.OD, Eye.OS):
                units.append(_Unit(patient, exam, eye, severity + 0.15 * (number - 1) + rng.normal(0.0, 0.1)))
    return patients, exams, units


def _stage_ladder(n: int) -> np.ndarray:
    """Stage index per severity rank: target shares by largest remainder, each stage once when n >= 4."""
    raw = np.array(list(STAGE_SHARES.values())) * n
    counts = np.floor(raw).astype(int)
    for k in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[k] += 1
    while n >= len(counts) and (counts == 0).any():
        counts[int(np.argmax(counts))] -= 1
        counts[int(np.argmin(counts))] += 1
    return np.repeat(np.arange(len(counts)), counts)


def _diseases(units: Sequence[_Unit], rng: np.random.Generator) -> list[_Disease]:
    order = np.argsort([u.latent for u in units], kind="stable")
    stage_list = list(STAGE_SHARES)
    stages: list[Stage] = [Stage.S0] * len(units)
    for rank, index in zip(_stage_ladder(len(units)), order, strict=True):
        stages[int(index)] = stage_list[int(rank)]
    out = []
    for unit, stage in zip(units, stages, strict=True):
        zones, p = _ZONE_BY_STAGE[stage]
        zone = zones[int(rng.choice(len(zones), p=p))]
        pre, plus = _PLUS_BY_STAGE[stage]
        draw = rng.random()
        level = Plus.PLUS if draw < plus else Plus.PRE_PLUS if draw < plus + pre else Plus.NORMAL
        p_mature = float(np.clip(0.15 + 0.1 * (unit.exam.pma_weeks - 32), 0.1, 0.6))
        mature = stage is Stage.S0 and rng.random() < p_mature
        lo, hi = _EXTENT_BY_STAGE.get(stage, (0, 0))
        extent = int(rng.integers(lo, hi + 1))
        if mature:  # vessels reach the periphery: zone III, no plus
            zone, level = Zone.III, Plus.NORMAL
        out.append(_Disease(stage, zone, level, extent, mature))
    # every study with stage 2-3 disease shows plus and pre-plus at least once, on its most severe eyes
    severe = [int(i) for i in order[::-1] if stages[int(i)] in (Stage.S2, Stage.S3)]
    for level in (Plus.PLUS, Plus.PRE_PLUS):
        if severe and not any(d.plus is level for d in out):
            pick = next((i for i in severe if out[i].plus is Plus.NORMAL), severe[0])
            out[pick] = replace(out[pick], plus=level)
    return out


def _hospital(disease: _Disease, disagree: bool, rng: np.random.Generator) -> GradeValues:
    """The referring hospital's diagnosis of one eye at one exam: the truth, or one stage off."""
    stage = disease.stage
    if disagree:
        options = {
            Stage.S0: (Stage.S1,),
            Stage.S1: (Stage.S0, Stage.S2),
            Stage.S2: (Stage.S1, Stage.S3),
            Stage.S3: (Stage.S2,),
        }[stage]
        stage = options[int(rng.integers(len(options)))]
    rop = RopPresence.NO if stage is Stage.S0 else RopPresence.YES
    return GradeValues(rop=rop, stage=stage, zone=disease.zone, plus=disease.plus, quality=Quality.GRADABLE)


def diagnosis_text(values: GradeValues) -> str:
    """A short clinical phrase: "No ROP" or "ROP stage 2, zone II, pre-plus"."""
    if values.rop is not RopPresence.YES or values.stage in (None, Stage.S0):
        return "No ROP"
    parts = [f"ROP stage {values.stage.value}"]
    if values.zone is Zone.POSTERIOR_II:
        parts.append("posterior zone II")
    elif values.zone not in (None, Zone.NA):
        parts.append(f"zone {values.zone.value}")
    if values.plus in (Plus.PRE_PLUS, Plus.PLUS):
        parts.append(values.plus.value)
    return ", ".join(parts)
