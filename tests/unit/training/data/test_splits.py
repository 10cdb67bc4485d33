"""Patient-grouped, stratified splits: no patient in two splits, ratios met, deterministic."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from training.data.augment import oversample_stage1
from training.snapshot import SnapshotRecord
from training.splits import SplitError, apply_splits, grouped_split, split_counts


def random_records(seed: int, n_patients: int = 60, positive_rate: float = 0.3) -> list[SnapshotRecord]:
    """Patients with 1–6 images (both eyes, several exams); a patient's images mostly share a label."""
    rng = np.random.default_rng(seed)
    records = []
    for p in range(n_patients):
        sick = rng.random() < positive_rate
        for k in range(int(rng.integers(1, 7))):
            label = int(sick and rng.random() < 0.8)
            records.append(SnapshotRecord(id=f"p{p}-{k}", image=f"images/p{p}-{k}.png", patient=f"p{p}",
                                          eye="OD" if k % 2 else "OS", label_binary=label))
    return records


@pytest.mark.parametrize("seed", range(25))
def test_no_patient_is_ever_in_two_splits(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    records = random_records(seed, n_patients=int(rng.integers(3, 40)), positive_rate=float(rng.uniform(0.05, 0.9)))
    # some fixed splits (whole patients), a few records without a patient, augmented copies
    fixed = {r.patient for r in records if rng.random() < 0.1}
    records = [r.replace(split="test") if r.patient in fixed else r for r in records]
    records += [SnapshotRecord(id=f"solo{k}", image="images/solo.png", label_binary=k % 2) for k in range(3)]
    records += [r.replace(id=f"{r.id}~aug", parent=r.id) for r in records[:5]]
    ratios = tuple(rng.dirichlet([2, 2, 2]))
    assignment = grouped_split(records, ratios=ratios, seed=seed)

    assert set(assignment) == {r.id for r in records}
    assert set(assignment.values()) <= {"train", "test", "val"}
    splits_of_patient = defaultdict(set)
    for r in records:
        if r.patient is not None:
            splits_of_patient[r.patient].add(assignment[r.id])
    assert all(len(s) == 1 for s in splits_of_patient.values())
    assert all(assignment[r.id] == "test" for r in records if r.patient in fixed)
    assert all(assignment[r.id] == assignment[r.parent] for r in records if r.parent)


def test_ratios_and_strata_are_met_approximately() -> None:
    records = random_records(0, n_patients=300)
    assignment = grouped_split(records, ratios=(0.6, 0.3, 0.1), seed=0)
    counts = split_counts(apply_splits(records, assignment))
    total = Counter(r.label_binary for r in records)
    for split, ratio in (("train", 0.6), ("test", 0.3), ("val", 0.1)):
        size = sum(counts[split].values())
        assert size / len(records) == pytest.approx(ratio, abs=0.03), split
        for label in (0, 1):
            assert counts[split][label] / total[label] == pytest.approx(ratio, abs=0.04), (split, label)


def test_deterministic_by_seed() -> None:
    records = random_records(3)
    assert grouped_split(records, seed=7) == grouped_split(list(reversed(records)), seed=7)
    assert grouped_split(records, seed=7) != grouped_split(records, seed=8)


def test_ratio_forms_and_errors() -> None:
    records = random_records(4, n_patients=30)
    no_val = grouped_split(records, ratios={"train": 0.7, "test": 0.3})
    assert set(no_val.values()) == {"train", "test"}
    by_size = grouped_split(records, stratify_by=None, ratios=(1, 1, 0))
    assert abs(Counter(by_size.values())["train"] - Counter(by_size.values())["test"]) <= 6
    conflict = [records[0].replace(split="train"), records[0].replace(id="other", split="val")]
    with pytest.raises(SplitError, match="fixed in different splits"):
        grouped_split(conflict)
    with pytest.raises(SplitError, match="parent 'ghost' is not among the records"):
        grouped_split([records[0].replace(parent="ghost")])
    with pytest.raises(SplitError, match=r"ratios must be \(train, test, val\)"):
        grouped_split(records, ratios=(0.5, 0.5))


def test_stage1_copies_follow_their_parent() -> None:
    records = [SnapshotRecord(id=f"r{i}", image=f"images/r{i}.png", patient=f"p{i // 3}", stage=str(1 + i % 3))
               for i in range(30)]
    with_copies = oversample_stage1(records, factor=5, seed=0)
    assignment = grouped_split(with_copies, stratify_by="stage3", seed=1)
    for r in with_copies:
        if r.parent:
            assert assignment[r.id] == assignment[r.parent]
    # copies do not count towards the strata: the originals alone are stratified
    counts = split_counts(apply_splits(with_copies, assignment), "stage3")
    assert sum(sum(c.values()) for c in counts.values()) == 30
