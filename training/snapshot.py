"""Dataset snapshots: the one folder format that the app exports and training reads.

A snapshot is a folder::

    manifest.json      {"format": "rop-snapshot", "version": 1, "created", "hash", "classes", "records"}
    images/            the images (copied or hard-linked)
    masks/             uint8 PNG masks, 255 = demarcation line / ridge

Every path in the manifest is relative to the folder, with forward slashes. The layout and
every field are documented in ``training/README.md`` ("Dataset snapshot format").

:class:`Snapshot` loads and validates a folder (:class:`SnapshotError` lists every problem
with its record number); :class:`SnapshotWriter` builds one; :meth:`Snapshot.content_hash`
identifies its content for model cards.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from training.data.records import (
    AUGMENT_KEYS,
    DEFAULT_CLASSES,
    EYES,
    PLUS_VALUES,
    QUALITIES,
    RECORD_FIELDS,
    SPLITS,
    STAGE3_OF,
    STAGES,
    TASKS,
    SnapshotError,
    SnapshotPolygon,
    SnapshotRecord,
    check_relations,
    parse_polygon,
    parse_record,
    stage3_of,
)

__all__ = [
    "AUGMENT_KEYS",
    "DEFAULT_CLASSES",
    "EYES",
    "FORMAT",
    "MANIFEST",
    "PLUS_VALUES",
    "QUALITIES",
    "SPLITS",
    "STAGE3_OF",
    "STAGES",
    "TASKS",
    "VERSION",
    "LinkMode",
    "Snapshot",
    "SnapshotError",
    "SnapshotPolygon",
    "SnapshotRecord",
    "SnapshotWriter",
    "canonical_json",
    "stage3_of",
]

FORMAT = "rop-snapshot"
VERSION = 1
MANIFEST = "manifest.json"
_TOP_KEYS = frozenset({"format", "version", "created", "hash", "generator", "description", "classes", "records"})
_NOT_HASHED = ("created", "hash", "generator")


def canonical_json(obj: Any) -> str:
    """The JSON text that is hashed: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _file_digest(path: Path) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.digest()


# --------------------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class Snapshot:
    """A loaded snapshot: its folder and validated records (a sequence of :class:`SnapshotRecord`)."""

    root: Path
    records: tuple[SnapshotRecord, ...]
    classes: dict[str, list[str]] = field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_CLASSES.items()})
    created: str | None = None
    stored_hash: str | None = None
    description: str | None = None

    # -- loading ------------------------------------------------------------------------
    @classmethod
    def load(cls, folder: str | Path, *, check_files: bool = True) -> Snapshot:
        """Load and validate ``folder/manifest.json`` (or the manifest path itself).

        Raises :class:`SnapshotError` listing every problem: JSON syntax (with line and column),
        wrong format or version, invalid records (``manifest.json record N (id ...): ...``)
        and, with ``check_files``, every missing image or mask file.
        """
        path = Path(folder)
        root, manifest = (path.parent, path) if path.suffix.lower() == ".json" else (path, path / MANIFEST)
        if not manifest.is_file():
            raise SnapshotError(f"{manifest}: not found (a snapshot is a folder with {MANIFEST})")
        name = manifest.name
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise SnapshotError(f"{name} line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}") from exc
        except UnicodeDecodeError as exc:
            raise SnapshotError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        snap = cls.from_manifest(data, root, name=name)
        if check_files:
            missing = snap.missing_files()
            if missing:
                raise SnapshotError(missing)
        return snap

    @classmethod
    def from_manifest(cls, data: Any, root: str | Path, *, name: str = MANIFEST) -> Snapshot:
        """Validate a parsed manifest (no file checks)."""
        if not isinstance(data, Mapping):
            raise SnapshotError(f"{name}: the top level must be an object, got {type(data).__name__}")
        if data.get("format") != FORMAT:
            raise SnapshotError(f"{name}: format must be {FORMAT!r}, got {data.get('format')!r}")
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise SnapshotError(f"{name}: version must be a positive integer, got {version!r}")
        if version > VERSION:
            raise SnapshotError(
                f"{name}: version {version} is newer than this library reads ({VERSION}); update the training package"
            )
        problems: list[str] = []
        unknown = set(data) - _TOP_KEYS
        if unknown:
            problems.append(f"{name}: unknown top-level keys {sorted(unknown)}")
        classes = data.get("classes", DEFAULT_CLASSES)
        if not isinstance(classes, Mapping) or not all(
            isinstance(v, list) and all(isinstance(c, str) for c in v) for v in classes.values()
        ):
            problems.append(f"{name}: classes must map task names to lists of class names")
            classes = DEFAULT_CLASSES
        items = data.get("records")
        if not isinstance(items, list):
            raise SnapshotError([*problems, f"{name}: records must be a list, got {type(items).__name__}"])
        records: list[SnapshotRecord] = []
        for n, item in enumerate(items):
            record, record_problems = parse_record(item, f"{name} record {n}")
            problems.extend(record_problems)
            if record is not None:
                records.append(record)
        problems.extend(check_relations(records, name))
        if problems:
            raise SnapshotError(problems)
        stored = data.get("hash")
        return cls(
            root=Path(root),
            records=tuple(records),
            classes={k: list(v) for k, v in classes.items()},
            created=data.get("created") if isinstance(data.get("created"), str) else None,
            stored_hash=stored if isinstance(stored, str) else None,
            description=data.get("description") if isinstance(data.get("description"), str) else None,
        )

    def missing_files(self) -> list[str]:
        """One message per referenced image or mask that is not a file in the folder."""
        out = []
        for n, r in enumerate(self.records):
            for key in ("image", "mask"):
                rel = getattr(r, key)
                if rel and not (self.root / rel).is_file():
                    out.append(f"{MANIFEST} record {n} (id {r.id!r}): {key} file {rel} is missing")
        return out

    # -- sequence -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[SnapshotRecord]:
        return iter(self.records)

    def __getitem__(self, index: int) -> SnapshotRecord:
        return self.records[index]

    def by_id(self) -> dict[str, SnapshotRecord]:
        return {r.id: r for r in self.records}

    def path(self, relative: str) -> Path:
        """Absolute path of a manifest path."""
        return self.root / relative

    def image_path(self, record: SnapshotRecord) -> Path:
        return self.root / record.image

    def mask_path(self, record: SnapshotRecord) -> Path | None:
        return self.root / record.mask if record.mask else None

    # -- views --------------------------------------------------------------------------
    def with_records(self, records: Iterable[SnapshotRecord]) -> Snapshot:
        """The same folder and classes with other records (validated: ids, parents, splits)."""
        recs = tuple(records)
        problems = check_relations(recs, "records")
        if problems:
            raise SnapshotError(problems)
        return dataclasses.replace(self, records=recs, stored_hash=None)

    def _subset(self, keep: Iterable[SnapshotRecord]) -> Snapshot:
        return dataclasses.replace(self, records=tuple(keep), stored_hash=None)

    def for_task(self, task: str) -> Snapshot:
        """Records usable for ``task``: "binary" (label_binary set), "stage3" / "hybrid" (stage 1–3),
        "segmentation" (a mask or polygons). Ungradable images are left out of every task."""
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
        usable = [r for r in self.records if r.quality != "ungradable"]
        if task == "segmentation":
            return self._subset(r for r in usable if r.mask or r.polygons)
        return self._subset(r for r in usable if r.target(task) is not None)

    def split(self, name: str | None) -> Snapshot:
        """Records of one split ("train" / "val" / "test"; None = not assigned)."""
        if name is not None and name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)} or None")
        return self._subset(r for r in self.records if r.split == name)

    def targets(self, task: str) -> list[int | None]:
        return [r.target(task) for r in self.records]

    # -- hashing and saving ---------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        """The manifest as a JSON-ready dict (without ``hash``)."""
        out: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "created": self.created,
            "classes": self.classes,
            "records": [r.to_dict() for r in self.records],
        }
        if self.description is not None:
            out["description"] = self.description
        return out

    def referenced_files(self) -> list[str]:
        """Every image and mask path, sorted, each once."""
        return sorted({p for r in self.records for p in (r.image, r.mask) if p})

    def content_hash(self) -> str:
        """SHA-256 (hex) over the manifest's canonical JSON and every referenced file's bytes.

        ``created``, ``hash`` and ``generator`` are not hashed: the same content written twice gives
        the same hash; any change of a label, a record or a file's bytes changes it.
        """
        body = {k: v for k, v in self.manifest().items() if k not in _NOT_HASHED}
        h = hashlib.sha256(canonical_json(body).encode("utf-8"))
        for rel in self.referenced_files():
            h.update(b"\0" + rel.encode("utf-8") + b"\0")
            try:
                h.update(_file_digest(self.root / rel))
            except OSError as exc:
                raise SnapshotError(f"{rel}: cannot be read for hashing ({exc.strerror or exc})") from exc
        return h.hexdigest()

    def verify(self) -> str:
        """Recompute the hash; raises :class:`SnapshotError` when it differs from the stored one."""
        actual = self.content_hash()
        if self.stored_hash is not None and actual != self.stored_hash:
            raise SnapshotError(
                f"{MANIFEST}: content hash {actual[:12]}… differs from the stored "
                f"{self.stored_hash[:12]}…: a file or the manifest was changed after writing"
            )
        return actual

    def save(self) -> Snapshot:
        """Write this snapshot's manifest (e.g. after assigning splits) into its folder, hashed."""
        missing = self.missing_files()
        if missing:
            raise SnapshotError(missing)
        snap = dataclasses.replace(self, created=self.created or _now())
        digest = snap.content_hash()
        data = snap.manifest()
        data["hash"] = digest
        data["generator"] = _generator()
        _atomic_write_text(self.root / MANIFEST, _manifest_text(data))
        return dataclasses.replace(snap, stored_hash=digest)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def _generator() -> str:
    from training import __version__

    return f"rop training {__version__}"


def _manifest_text(data: Mapping[str, Any]) -> str:
    """Readable JSON: one top-level key per line, one record per line (so errors point at records)."""
    lines = []
    for key, value in data.items():
        if key == "records":
            body = ",\n".join("  " + json.dumps(r, ensure_ascii=False, allow_nan=False) for r in value)
            lines.append(f' "records": [\n{body}\n ]' if value else ' "records": []')
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False, allow_nan=False)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --------------------------------------------------------------------------- writer

LinkMode = Literal["copy", "hardlink", "auto"]
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class SnapshotWriter:
    """Build a snapshot folder: ``add`` images with their labels, then ``close`` (or use ``with``).

    The manifest is written last (atomically), so a folder without ``manifest.json`` is an
    unfinished snapshot. Images are hard-linked when ``link`` allows and the file system can
    (same volume), copied otherwise; arrays are written as PNG.
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        link: LinkMode = "auto",
        classes: Mapping[str, Sequence[str]] | None = None,
        description: str | None = None,
        overwrite: bool = False,
    ) -> None:
        if link not in ("copy", "hardlink", "auto"):
            raise ValueError(f"link must be 'copy', 'hardlink' or 'auto', got {link!r}")
        self.root = Path(folder)
        if self.root.exists() and any(self.root.iterdir()) and not overwrite:
            raise SnapshotError(f"{self.root}: folder is not empty (pass overwrite=True to replace a snapshot)")
        if overwrite and self.root.exists():
            for sub in ("images", "masks"):
                shutil.rmtree(self.root / sub, ignore_errors=True)
            (self.root / MANIFEST).unlink(missing_ok=True)
        (self.root / "images").mkdir(parents=True, exist_ok=True)
        (self.root / "masks").mkdir(parents=True, exist_ok=True)
        self.link = link
        self.classes = {k: list(v) for k, v in (classes or DEFAULT_CLASSES).items()}
        self.description = description
        self.records: list[SnapshotRecord] = []
        self._ids: set[str] = set()
        self._names: set[str] = set()
        self._closed = False

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None and not self._closed:
            self.close()

    def _new_id(self, wanted: str | None, stem: str) -> str:
        if wanted is not None:
            if wanted in self._ids:
                raise SnapshotError(f"record id {wanted!r} is already in this snapshot")
            return wanted
        rid, n = stem, 2
        while rid in self._ids:
            rid, n = f"{stem}-{n}", n + 1
        return rid

    def _file_name(self, rid: str) -> str:
        """A free file stem for ``rid`` (safe characters, unique case-insensitively)."""
        base = _SAFE.sub("_", rid).strip("._") or "image"
        name, n = base, 2
        while name.lower() in self._names:
            name, n = f"{base}-{n}", n + 1
        return name

    def _place(self, src: Path, dst: Path) -> None:
        if self.link != "copy":
            try:
                os.link(src, dst)
                return
            except OSError:
                if self.link == "hardlink":
                    raise
        shutil.copy2(src, dst)

    def add(
        self,
        image: str | Path | np.ndarray,
        *,
        id: str | None = None,  # `id` shadows the builtin on purpose: the record field
        mask: str | Path | np.ndarray | None = None,
        polygons: Iterable[SnapshotPolygon | Mapping[str, Any]] = (),
        mask_from_polygons: bool = True,
        **fields: Any,
    ) -> SnapshotRecord:
        """Add one image with its labels (any :class:`SnapshotRecord` field as a keyword).

        ``image`` is a file (linked or copied) or an RGB array (written as PNG). ``mask`` is a file
        or array in any 0/255, 0/1 or bool form, binarised to 0/255; without a mask, non-empty
        ``polygons`` are rasterised into one when ``mask_from_polygons``. ``stage3`` and
        ``label_binary`` follow from ``stage`` when not given. Raises :class:`SnapshotError` for
        invalid input, and then leaves the folder as it was.
        """
        from training.data.io import image_hw, read_mask, write_mask, write_png

        if self._closed:
            raise SnapshotError("the snapshot writer is closed")
        unknown = set(fields) - (RECORD_FIELDS - {"id", "image", "mask", "polygons"})
        if unknown:
            raise SnapshotError(f"unknown record fields {sorted(unknown)}")
        if isinstance(image, np.ndarray):
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise SnapshotError(f"an image array must be RGB uint8 HxWx3, got {image.dtype} {image.shape}")
            rid, suffix, hw = self._new_id(id, "image"), ".png", image.shape[:2]
        else:
            src = Path(image)
            if not src.is_file():
                raise SnapshotError(f"{src}: image file not found")
            rid, suffix = self._new_id(id, src.stem), (src.suffix or ".png").lower()
            fields.setdefault("source", str(src))
            try:
                hw = image_hw(src)
            except OSError as exc:
                raise SnapshotError(str(exc)) from exc
        stem = self._file_name(rid)
        polys = [p if isinstance(p, SnapshotPolygon) else _polygon_from_mapping(p, rid) for p in polygons]
        record_dict = {**fields, "id": rid, "image": f"images/{stem}{suffix}", "polygons": [p.to_dict() for p in polys]}
        record = SnapshotRecord.from_dict(record_dict, f"record {len(self.records)}")
        others = check_relations([*self.records, record], "snapshot")
        if others:
            raise SnapshotError(others)
        mask_array: np.ndarray | None = None
        if isinstance(mask, np.ndarray):
            mask_array = mask
        elif mask is not None:
            try:
                mask_array = read_mask(mask)
            except OSError as exc:
                raise SnapshotError(f"record {rid!r}: {exc}") from exc
        elif polys and mask_from_polygons:
            from training.formats.masks import polygons_to_mask

            mask_array = polygons_to_mask(polys, hw)
        if mask_array is not None:
            if tuple(mask_array.shape[:2]) != tuple(hw):
                raise SnapshotError(
                    f"record {rid!r}: mask is {mask_array.shape[1]}x{mask_array.shape[0]} "
                    f"but the image is {hw[1]}x{hw[0]}"
                )
            record = record.replace(mask=f"masks/{stem}.png")
        written: list[Path] = []
        try:
            target = self.root / record.image
            written.append(target)
            if isinstance(image, np.ndarray):
                write_png(target, image)
            else:
                self._place(Path(image), target)
            if mask_array is not None and record.mask:
                written.append(self.root / record.mask)
                write_mask(self.root / record.mask, mask_array)
        except OSError as exc:
            for path in written:
                path.unlink(missing_ok=True)
            raise SnapshotError(f"record {rid!r}: cannot write its files ({exc})") from exc
        self._names.add(stem.lower())
        self.records.append(record)
        self._ids.add(rid)
        return record

    def add_record(self, record: SnapshotRecord) -> SnapshotRecord:
        """Add a record whose files are already in the folder (e.g. an augmented copy of a record)."""
        if record.id in self._ids:
            raise SnapshotError(f"record id {record.id!r} is already in this snapshot")
        checked = SnapshotRecord.from_dict(record.to_dict(), f"record {len(self.records)}")
        problems = check_relations([*self.records, checked], "snapshot")
        for key in ("image", "mask"):
            rel = getattr(checked, key)
            if rel and not (self.root / rel).is_file():
                problems.append(f"record {checked.id!r}: {key} file {rel} is not in the snapshot folder")
        if problems:
            raise SnapshotError(problems)
        self.records.append(checked)
        self._ids.add(checked.id)
        return checked

    def close(self) -> Snapshot:
        """Write ``manifest.json`` with its content hash and return the loaded :class:`Snapshot`."""
        if self._closed:
            raise SnapshotError("the snapshot writer is already closed")
        snap = Snapshot(
            root=self.root,
            records=tuple(self.records),
            classes=self.classes,
            created=_now(),
            description=self.description,
        ).save()
        self._closed = True
        return snap


def _polygon_from_mapping(obj: Mapping[str, Any], rid: str) -> SnapshotPolygon:
    problems: list[str] = []
    poly = parse_polygon(obj, f"record {rid!r}: polygon", problems)
    if problems or poly is None:
        raise SnapshotError(problems)
    return poly
