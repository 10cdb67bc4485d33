"""PNG and JPEG metadata stripped, pixels byte-for-byte the same; damaged files refused."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from rop_desktop.interop.image_metadata import MetadataError, exif_orientation, has_png_exif, strip_jpeg, strip_png

SECRET = b"DOE BABY MRN-00123456"


def _image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def test_png_text_exif_and_time_chunks_go() -> None:
    png = cv2.imencode(".png", _image())[1].tobytes()
    extra = (_chunk(b"tEXt", b"Author\0" + SECRET) + _chunk(b"zTXt", b"Comment\0\0" + zlib.compress(SECRET))
             + _chunk(b"iTXt", b"Title\0\0\0\0\0" + SECRET) + _chunk(b"eXIf", b"MM\0*" + SECRET)
             + _chunk(b"tIME", b"\x07\xea\x02\x01\x00\x00\x00"))
    dirty = png[:33] + extra + png[33:]
    clean = strip_png(dirty)
    assert SECRET not in clean and zlib.compress(SECRET) not in clean and has_png_exif(dirty)
    assert clean == png  # OpenCV's own file had nothing to remove
    np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(clean, np.uint8), cv2.IMREAD_COLOR), _image())
    with pytest.raises(MetadataError, match="damaged"):
        strip_png(dirty[:40] + b"X" + dirty[41:])


@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_app_and_comment_segments_go_pixels_stay(progressive: bool) -> None:
    jpeg = cv2.imencode(".jpg", _image(), [cv2.IMWRITE_JPEG_PROGRESSIVE, int(progressive)])[1].tobytes()
    dirty = (jpeg[:2] + _segment(0xE1, b"Exif\0\0II*\0" + SECRET) + _segment(0xFE, SECRET)
             + _segment(0xED, b"Photoshop 3.0\0" + SECRET) + jpeg[2:])
    clean = strip_jpeg(dirty)
    assert SECRET not in clean and clean.startswith(b"\xff\xd8") and clean.endswith(b"\xff\xd9")
    before = cv2.imdecode(np.frombuffer(dirty, np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(clean, np.uint8), cv2.IMREAD_COLOR), before)
    assert b"JFIF\0" in clean  # how the pixels decode stays said


def test_exif_orientation_is_read() -> None:
    jpeg = cv2.imencode(".jpg", _image())[1].tobytes()
    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, 6, 0) + struct.pack("<I", 0)
    rotated = jpeg[:2] + _segment(0xE1, b"Exif\0\0II*\0" + struct.pack("<I", 8) + ifd) + jpeg[2:]
    assert exif_orientation(rotated) == 6 and exif_orientation(jpeg) is None
    with pytest.raises(MetadataError):
        strip_jpeg(b"\xff\xd8\xff\xe1\x00")
