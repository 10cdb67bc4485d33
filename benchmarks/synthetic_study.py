"""A synthetic screening study as a training snapshot, for the training benchmarks.

Rendered by the demo study generator (``rop_desktop.demo``): RetCam-like 640x480 images of
premature infants, both eyes, one or two visits, one or two near-duplicate views per eye and
visit, the lesion outlines of stages 1-3 as line masks. Patients are drawn (whole, in a seeded
order) until the study holds ``n_images`` images with about ``rop_share`` ROP images, so the
splits can keep every infant in one split.

    .venv/bin/python benchmarks/synthetic_study.py OUT [--images 300] [--rop-share 0.3] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rop_desktop.demo import generate_demo  # noqa: E402
from training.snapshot import Snapshot, SnapshotWriter  # noqa: E402


def synthetic_snapshot(out: str | Path, n_images: int = 300, rop_share: float = 0.3, seed: int = 0,
                       size: tuple[int, int] = (640, 480)) -> Snapshot:
    """Write (or reuse, when already there) the snapshot of a synthetic study; see the module docstring."""
    out = Path(out)
    if (out / "manifest.json").is_file():
        return Snapshot.load(out)
    study = generate_demo(seed=seed, n_patients=max(40, n_images), size=size)
    by_patient = defaultdict(list)
    for image in study.images:
        by_patient[image.patient.code].append(image)
    order = np.random.default_rng(seed).permutation(sorted(by_patient))
    want_pos = round(n_images * rop_share)
    want_neg = n_images - want_pos
    chosen, pos, neg = [], 0, 0
    for code in order:
        images = by_patient[code]
        p = sum(1 for im in images if im.truth.stage.value != "0")
        n = len(images) - p
        if pos + p > want_pos + 2 or neg + n > want_neg + 2:
            continue
        chosen.append(code)
        pos, neg = pos + p, neg + n
        if pos + neg >= n_images:
            break
    with SnapshotWriter(out) as writer:
        for code in chosen:
            for image in by_patient[code]:
                rgb = image.render()
                mask = np.zeros(rgb.shape[:2], np.uint8)
                for lesion in image.truth.lesions:
                    ring = np.round(np.asarray(lesion.ring, np.float64)).astype(np.int32)
                    cv2.fillPoly(mask, [ring], 255)
                stage = image.truth.stage.value
                writer.add(rgb, id=Path(image.file_name).stem, patient=code, eye=image.eye.value,
                           exam_date=image.exam.date.isoformat(), camera=image.exam.camera, stage=stage,
                           mask=mask if stage != "0" else None)
    return Snapshot.load(out)


def describe(snap: Snapshot) -> str:
    stages: dict[str, int] = defaultdict(int)
    for r in snap:
        stages[r.stage or "?"] += 1
    patients = len({r.patient for r in snap})
    rop = sum(v for k, v in stages.items() if k != "0")
    return (f"{len(snap)} images of {patients} patients, {rop / len(snap):.0%} ROP "
            f"(stages: {', '.join(f'{k}: {v}' for k, v in sorted(stages.items()))})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--rop-share", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    snap = synthetic_snapshot(args.out, args.images, args.rop_share, args.seed)
    print(f"{snap.root}: {describe(snap)}; hash {snap.stored_hash}")


if __name__ == "__main__":
    main()
