"""Decode any supported input (JPEG, PNG, BMP, TIFF, WebP, DICOM) to an RGB ``uint8`` array.

The format is sniffed from the first bytes, never from the file name. Truncated files are
detected explicitly, because OpenCV happily returns a half-grey image for a cut JPEG or PNG.
Every failure raises :class:`ImageDecodeError` whose ``reason`` a clinician can read.

DICOM pixels and the DICOM tags the import needs (laterality, dates, camera, site) are read
here too, with pydicom, so that a single decode gives the image and its metadata.
``rop_desktop.interop.dicom`` keeps the *writing* side (de-identification for export).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pydicom
import pydicom.pixels

from rop_desktop.domain.labels import Eye

#: Images with a side shorter than this are refused (icons, broken exports).
MIN_SIDE = 16

#: ``DecodedImage.format`` values.
FORMATS = ("png", "jpeg", "bmp", "tiff", "dicom", "webp")

# OpenCV flags: keep 16-bit depth and grayscale, drop alpha, and (unlike IMREAD_UNCHANGED)
# honour the EXIF orientation of photographs taken with a phone or a handheld camera.
_CV_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR

_BMP_DIB_HEADER_SIZES = {12, 40, 52, 56, 64, 108, 124}
_PNG_IEND = b"IEND\xaeB`\x82"  # the IEND chunk type and its (constant) CRC


class ImageDecodeError(ValueError):
    """The bytes are not a usable image; ``reason`` says why in words for the user."""

    def __init__(self, reason: str, name: str = "") -> None:
        self.reason = reason
        self.name = name
        super().__init__(f"{name}: {reason}" if name else reason)


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """A decoded image: ``rgb`` is ``uint8`` HxWx3; ``meta`` holds DICOM tags (empty otherwise).

    DICOM ``meta`` keys, each present only when the file has it: ``laterality`` (:class:`Eye`),
    ``study_date``, ``acquisition_date``, ``content_date``, ``exam_date`` (the first of
    acquisition, content, study date), ``patient_birth_date`` (``datetime.date``), ``patient_id``,
    ``camera`` (manufacturer and model), ``site`` (institution), ``frames`` and ``note``
    (multi-frame files: the first frame is decoded).
    """

    rgb: np.ndarray
    format: str
    width: int
    height: int
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rgb.dtype != np.uint8 or self.rgb.shape != (self.height, self.width, 3):
            raise ValueError(f"rgb must be uint8 {self.height}x{self.width}x3, got {self.rgb.dtype} {self.rgb.shape}")


def decode_file(path: str | Path, *, min_side: int = MIN_SIDE) -> DecodedImage:
    """Read and decode a file; unreadable files raise :class:`ImageDecodeError` too."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageDecodeError(f"cannot read file ({exc.strerror or exc})", path.name) from exc
    return decode_image(data, path.name, min_side=min_side)


def decode_image(data: bytes, name: str = "", *, min_side: int = MIN_SIDE) -> DecodedImage:
    """Decode image bytes to RGB. ``name`` is only used in error messages and as a hint for
    DICOM files written without their 128-byte preamble (``.dcm``/``.dicom``)."""
    try:
        fmt = sniff_format(data)
        if fmt is None and Path(name).suffix.lower() in (".dcm", ".dicom"):
            fmt = "dicom"
        if fmt is None:
            raise ImageDecodeError("not an image (unknown format)")
        if fmt == "dicom":
            rgb, meta = _decode_dicom(data)
        else:
            _check_complete(data, fmt)
            rgb, meta = _decode_raster(data), {}
        h, w = rgb.shape[:2]
        if min(h, w) < min_side:
            raise ImageDecodeError(f"image too small ({w}x{h})")
        return DecodedImage(np.ascontiguousarray(rgb), fmt, w, h, meta)
    except ImageDecodeError as exc:
        if name and not exc.name:
            raise ImageDecodeError(exc.reason, name) from exc.__cause__
        raise


def sniff_format(data: bytes) -> str | None:
    """The format from the magic bytes (one of :data:`FORMATS`), or None.

    Known but unsupported image formats (GIF, HEIC, JPEG 2000) raise :class:`ImageDecodeError`.
    """
    if not data:
        raise ImageDecodeError("empty file")
    head = data[:16]
    if data[128:132] == b"DICM":  # first: a DICOM preamble may itself look like a TIFF header
        return "dicom"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:2] == b"BM" and len(data) >= 18 and struct.unpack_from("<I", data, 14)[0] in _BMP_DIB_HEADER_SIZES:
        return "bmp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        raise ImageDecodeError("unsupported image format: GIF (convert it to PNG)")
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        raise ImageDecodeError("unsupported image format: HEIC/AVIF (convert it to PNG or JPEG)")
    if head.startswith((b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")):
        raise ImageDecodeError("unsupported image format: JPEG 2000 (convert it to PNG)")
    return None


def _check_complete(data: bytes, fmt: str) -> None:
    """Refuse files cut short, which OpenCV would decode partially without complaint."""
    if fmt == "jpeg":
        # Entropy-coded data never contains FF D9, so a complete file has an end-of-image
        # marker after its last start-of-scan (an EXIF thumbnail's EOI comes before it).
        last_sos, last_eoi = data.rfind(b"\xff\xda"), data.rfind(b"\xff\xd9")
        if last_eoi < 0 or last_eoi < last_sos:
            raise ImageDecodeError("truncated JPEG (no end-of-image marker)")
    elif fmt == "png":
        if data.rfind(_PNG_IEND, 8) < 0:
            raise ImageDecodeError("truncated PNG (no IEND chunk)")
    elif fmt == "bmp":
        declared = struct.unpack_from("<I", data, 2)[0]
        if declared and len(data) < declared:
            raise ImageDecodeError(f"truncated BMP ({len(data)} of {declared} bytes)")
    elif fmt == "webp":
        declared = struct.unpack_from("<I", data, 4)[0] + 8
        if len(data) < declared:
            raise ImageDecodeError(f"truncated WebP ({len(data)} of {declared} bytes)")


def _decode_raster(data: bytes) -> np.ndarray:
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), _CV_FLAGS)
    except cv2.error as exc:  # e.g. dimensions beyond OpenCV's safety limit
        raise ImageDecodeError(f"cannot decode image ({exc.err or exc})") from exc
    if image is None or image.size == 0:
        raise ImageDecodeError("corrupt image data")
    image = to_uint8(image)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def to_uint8(image: np.ndarray, bits: int | None = None) -> np.ndarray:
    """Scale an integer image to ``uint8`` by its container range (``bits`` if given, e.g. 12 for
    12-bit data in 16-bit words): 65535 → 255, 257 → 1. Float images in [0, 1] are multiplied
    by 255; other float images are stretched from their minimum to their maximum."""
    if image.dtype == np.uint8:
        return image
    if np.issubdtype(image.dtype, np.floating):
        lo, hi = float(np.nanmin(image)), float(np.nanmax(image))
        if lo >= 0.0 and hi <= 1.0:
            return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return _stretch(image)
    if np.issubdtype(image.dtype, np.signedinteger):
        return _stretch(image)
    top = float(2 ** (bits or image.dtype.itemsize * 8) - 1)
    scaled = image.astype(np.float32) * (255.0 / top) + 0.5
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _stretch(values: np.ndarray) -> np.ndarray:
    """Min–max stretch to 0..255 (used when no range is known)."""
    x = np.nan_to_num(values.astype(np.float32))
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return np.zeros(x.shape, np.uint8)
    return np.clip((x - lo) * (255.0 / (hi - lo)) + 0.5, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------- DICOM


def _decode_dicom(data: bytes) -> tuple[np.ndarray, dict[str, Any]]:
    forced = data[128:132] != b"DICM"  # no preamble: only the file name said DICOM
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=forced)
    except Exception as exc:  # pydicom raises many types on damaged input; all mean "corrupt"
        raise ImageDecodeError(f"corrupt DICOM file ({_first_line(exc)})") from exc
    if forced and "SOPClassUID" not in ds and "Rows" not in ds:
        raise ImageDecodeError("not a DICOM file (no DICOM header)")
    if "PixelData" not in ds:
        raise ImageDecodeError("DICOM without pixel data")
    _check_transfer_syntax(ds)
    meta = dicom_meta(ds)
    frames = int(ds.get("NumberOfFrames") or 1)
    if frames > 1:
        meta["frames"] = frames
        meta["note"] = f"multi-frame DICOM ({frames} frames): the first frame is shown"
    try:
        # pydicom converts YBR_FULL / YBR_FULL_422 (and JPEG's YCbCr) to RGB with its
        # convert_color_space; index=0 decodes only the first frame.
        arr = pydicom.pixels.pixel_array(ds, index=0)
    except Exception as exc:  # as above: damaged pixel data surfaces as many exception types
        if "less than expected" in str(exc):
            raise ImageDecodeError("truncated DICOM pixel data") from exc
        raise ImageDecodeError(f"corrupt DICOM pixel data ({_first_line(exc)})") from exc
    return _dicom_rgb(arr, ds), meta


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _check_transfer_syntax(ds: pydicom.Dataset) -> None:
    if "TransferSyntaxUID" not in ds.file_meta:  # a bare dataset read with force=True
        implicit, little = ds.original_encoding
        ds.file_meta.TransferSyntaxUID = (
            pydicom.uid.ImplicitVRLittleEndian
            if implicit and little
            else pydicom.uid.ExplicitVRLittleEndian
            if little
            else pydicom.uid.ExplicitVRBigEndian
        )
    uid = ds.file_meta.TransferSyntaxUID
    try:
        decoder = pydicom.pixels.get_decoder(uid)
    except NotImplementedError as exc:
        raise ImageDecodeError(f"unsupported DICOM transfer syntax: {uid.name}") from exc
    if not decoder.is_available:
        raise ImageDecodeError(
            f"unsupported DICOM transfer syntax: {uid.name} (no decoder installed; pylibjpeg or GDCM can read it)"
        )


def _dicom_rgb(arr: np.ndarray, ds: pydicom.Dataset) -> np.ndarray:
    """One frame as RGB uint8: palette, rescale and window (VOI) applied, MONOCHROME1 inverted."""
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    bits = int(ds.get("BitsStored") or ds.get("BitsAllocated") or 8)
    if photometric == "PALETTE COLOR":
        arr = pydicom.pixels.apply_color_lut(arr, ds)
        bits = arr.dtype.itemsize * 8
    if arr.ndim == 3 and arr.shape[-1] == 3:  # RGB, or YBR already converted by pydicom
        return to_uint8(arr, bits if arr.dtype != np.uint8 else None)
    if arr.ndim != 2:
        raise ImageDecodeError(f"unsupported DICOM pixel layout {arr.shape}")
    if bits > 8 or np.issubdtype(arr.dtype, np.signedinteger):
        arr = pydicom.pixels.apply_rescale(arr, ds)
        has_voi = "WindowCenter" in ds or "VOILUTSequence" in ds
        arr = pydicom.pixels.apply_voi_lut(arr, ds, index=0) if has_voi else arr
        gray = _stretch(arr)  # the window (when given) clips; this maps it to 0..255
    else:
        gray = arr.astype(np.uint8)
    if photometric == "MONOCHROME1":
        gray = 255 - gray
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)


def dicom_meta(ds: pydicom.Dataset) -> dict[str, Any]:
    """The tags the import uses (see :class:`DecodedImage`); absent tags are simply absent."""
    meta: dict[str, Any] = {}
    side = str(ds.get("ImageLaterality") or ds.get("Laterality") or "").strip().upper()
    if side in ("R", "L"):
        meta["laterality"] = Eye.OD if side == "R" else Eye.OS
    for key, keyword in (
        ("study_date", "StudyDate"),
        ("acquisition_date", "AcquisitionDate"),
        ("content_date", "ContentDate"),
        ("patient_birth_date", "PatientBirthDate"),
    ):
        value = _dicom_date(ds.get(keyword))
        if value is not None:
            meta[key] = value
    for key in ("acquisition_date", "content_date", "study_date"):
        if key in meta:
            meta["exam_date"] = meta[key]
            break
    patient_id = str(ds.get("PatientID") or "").strip()
    if patient_id:
        meta["patient_id"] = patient_id
    camera = " ".join(str(ds.get(k) or "").strip() for k in ("Manufacturer", "ManufacturerModelName")).strip()
    if camera:
        meta["camera"] = camera
    site = str(ds.get("InstitutionName") or "").strip()
    if site:
        meta["site"] = site
    return meta


def _dicom_date(value: object) -> date | None:
    """A DICOM DA value (``YYYYMMDD``; old ``YYYY.MM.DD`` too) as a date; None when empty or invalid."""
    text = str(value or "").strip().replace(".", "")[:8]
    try:
        return datetime.strptime(text, "%Y%m%d").date() if len(text) == 8 else None
    except ValueError:
        return None
