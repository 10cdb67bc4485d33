"""The image files that leave a study in an export: the pixels graders saw, and nothing else.

A stored image is the file as imported: a DICOM original holds the patient's name and hospital
number in its tags, a PNG or JPEG may hold them in its metadata. So an export never copies or
links the stored file; it writes

* PNG and JPEG with their metadata stripped (:mod:`rop_desktop.interop.image_metadata`), the
  compressed data untouched and not even decoded — or the stored file itself where it holds no
  metadata (:attr:`CleanImage.path`: a snapshot links it, as big studies need) — unless the
  metadata rotates the image when decoded (EXIF orientation), then the decoded pixels as PNG;
* BMP as stored (the format has no metadata);
* everything else (DICOM, TIFF, WebP) as the decoded pixels, PNG.

De-identified DICOM is :mod:`rop_desktop.services.dicom_export`'s job.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rop_desktop.imaging.decode import ImageDecodeError, decode_image
from rop_desktop.interop.image_metadata import MetadataError, exif_orientation, has_png_exif, strip_jpeg, strip_png
from training.data.io import write_png


@dataclass(frozen=True)
class CleanImage:
    """One image ready to leave, with ``suffix``: the stored file as it is (``path``: nothing in it
    to remove), file bytes with the metadata removed (``data``), or decoded pixels (``rgb``, PNG)."""

    suffix: str
    path: Path | None = None
    data: bytes | None = None
    rgb: np.ndarray | None = None

    def write(self, stem: Path) -> Path:
        """Write to ``stem`` + suffix; the path written."""
        target = stem.with_name(stem.name + self.suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.path is not None:
            shutil.copyfile(self.path, target)
        elif self.data is not None:
            target.write_bytes(self.data)
        else:
            assert self.rgb is not None
            write_png(target, self.rgb)
        return target


def clean_image(path: Path, fmt: str) -> CleanImage:
    """The stored image at ``path`` (format ``fmt``, as the study recorded it) ready to leave.

    Raises :class:`ImageDecodeError` when the stored file cannot be read or decoded."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageDecodeError(f"cannot read the stored image ({exc.strerror or exc})", path.name) from exc
    try:
        if fmt == "bmp":
            return CleanImage(".bmp", path=path)
        if fmt == "png" and not has_png_exif(data):
            return _as_is_or(path, data, strip_png(data), ".png")
        if fmt == "jpeg" and exif_orientation(data) in (None, 1):
            return _as_is_or(path, data, strip_jpeg(data), ".jpg")
    except MetadataError:
        pass  # not what the study recorded: its decoded pixels, then
    return CleanImage(".png", rgb=decode_image(data, path.name).rgb)


def _as_is_or(path: Path, data: bytes, stripped: bytes, suffix: str) -> CleanImage:
    return CleanImage(suffix, path=path) if stripped == data else CleanImage(suffix, data=stripped)
