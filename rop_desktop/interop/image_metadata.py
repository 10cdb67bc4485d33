"""PNG and JPEG files without their metadata: same pixels, no text that could name a patient.

Why: cameras and hospital systems write the patient's name, hospital number or the operator
into image metadata (PNG ``tEXt``/``iTXt``/``zTXt``/``eXIf`` chunks, JPEG EXIF/XMP ``APP1``,
``COM`` comments, vendor ``APPn`` segments), and a copy of the stored file would carry them out
of the study. Stripping keeps the compressed image data byte for byte, so the pixels are the
ones graders saw (nothing is re-encoded):

* PNG keeps only the chunks that define the pixels (:data:`PNG_KEPT`);
* JPEG keeps every marker segment except ``COM`` and ``APPn``, bar the two that change how the
  pixels decode (``APP0`` JFIF without its thumbnail, ``APP14`` Adobe colour transform).

An EXIF orientation goes with EXIF, and decoders apply it: callers check :func:`exif_orientation`
(JPEG) and :func:`has_png_exif` first and write the decoded pixels where it would matter (see
``rop_desktop.services.export_images``).
"""

from __future__ import annotations

import struct
import zlib

from rop_desktop.domain.errors import Refusal

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Chunks that define the pixels (and their physical size); every other — text, EXIF, time, the
#: ICC profile (whose name is free text), vendor chunks — is dropped.
PNG_KEPT = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"pHYs"})


class MetadataError(Refusal):
    """The bytes are not a well-formed PNG or JPEG; ``reason`` says where."""


def strip_png(data: bytes) -> bytes:
    """``data`` with only the :data:`PNG_KEPT` chunks (CRCs checked on the way)."""
    if not data.startswith(PNG_SIGNATURE):
        raise MetadataError("not a PNG file")
    out, pos = [PNG_SIGNATURE], len(PNG_SIGNATURE)
    while pos < len(data):
        if pos + 12 > len(data):
            raise MetadataError(f"truncated PNG chunk at byte {pos}")
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > len(data) or zlib.crc32(data[pos + 4 : end - 4]) != struct.unpack_from(">I", data, end - 4)[0]:
            raise MetadataError(f"damaged PNG chunk {kind!r} at byte {pos}")
        if kind in PNG_KEPT:
            out.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            break
    return b"".join(out)


def strip_jpeg(data: bytes) -> bytes:
    """``data`` without ``COM`` and ``APPn`` segments (bar JFIF, thumbnail-less, and Adobe)."""
    if not data.startswith(b"\xff\xd8"):
        raise MetadataError("not a JPEG file")
    out, pos = [b"\xff\xd8"], 2
    while pos < len(data):
        if data[pos] != 0xFF:
            raise MetadataError(f"JPEG marker expected at byte {pos}")
        marker = data[pos + 1] if pos + 1 < len(data) else 0xD9
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # end of image
            out.append(b"\xff\xd9")
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            out.append(data[pos : pos + 2])
            pos += 2
            continue
        if pos + 4 > len(data):
            raise MetadataError(f"truncated JPEG segment at byte {pos}")
        length = struct.unpack_from(">H", data, pos + 2)[0]
        segment = data[pos : pos + 2 + length]
        if len(segment) < 2 + length or length < 2:
            raise MetadataError(f"truncated JPEG segment at byte {pos}")
        kept = _jpeg_segment(marker, segment)
        if kept is not None:
            out.append(kept)
        pos += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next real marker
            start = pos
            while pos + 1 < len(data) and not (data[pos] == 0xFF and data[pos + 1] not in _IN_SCAN):
                pos += 1
            out.append(data[start:pos])
    return b"".join(out)


#: After FF inside entropy-coded data: stuffed zero and restart markers do not end the scan.
_IN_SCAN = frozenset({0x00, *range(0xD0, 0xD8), 0xFF})


def _jpeg_segment(marker: int, segment: bytes) -> bytes | None:
    if marker == 0xFE:  # COM
        return None
    if marker == 0xE0 and segment[4:9] == b"JFIF\x00" and len(segment) >= 18:
        header = bytearray(segment[:18])  # version, units, density; thumbnail size 0, no thumbnail
        header[2:4] = struct.pack(">H", 16)
        header[16] = header[17] = 0
        return bytes(header)
    if marker == 0xEE and segment[4:9] == b"Adobe":
        return segment
    if 0xE0 <= marker <= 0xEF:
        return None
    return segment


def has_png_exif(data: bytes) -> bool:
    """Whether a PNG carries an ``eXIf`` chunk (which may rotate it when decoded)."""
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"eXIf":
            return True
        if kind in (b"IDAT", b"IEND"):  # eXIf must come before the image data
            return False
        pos += 12 + length
    return False


def exif_orientation(data: bytes) -> int | None:
    """The EXIF orientation (1–8) of a JPEG, or None when it has none (or unreadable EXIF)."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (0xDA, 0xD9):
            return None
        length = struct.unpack_from(">H", data, pos + 2)[0]
        segment = data[pos + 4 : pos + 2 + length]
        if marker == 0xE1 and segment.startswith(b"Exif\x00\x00"):
            return _tiff_orientation(segment[6:])
        pos += 2 + length
    return None


def _tiff_orientation(tiff: bytes) -> int | None:
    try:
        order = {b"II": "<", b"MM": ">"}[tiff[:2]]
        (ifd,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, ifd)
        for k in range(count):
            tag, _, _, value = struct.unpack_from(order + "HHIH", tiff, ifd + 2 + 12 * k)
            if tag == 0x0112:
                return int(value)
    except (KeyError, struct.error):
        return None
    return None
