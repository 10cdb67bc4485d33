"""decode_image / decode_file: every supported format, precise errors, DICOM pixels and tags."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import convert_color_space
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

from rop_desktop.domain.labels import Eye
from rop_desktop.imaging.decode import DecodedImage, ImageDecodeError, decode_file, decode_image, to_uint8


def _colour_image(h: int = 48, w: int = 64) -> np.ndarray:
    """RGB with distinct channels (catches BGR/RGB swaps) and a gradient (catches flips)."""
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[..., 0] = 200
    rgb[..., 1] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    rgb[..., 2] = 30
    return rgb


def _encode(ext: str, image: np.ndarray, params: list[int] | None = None) -> bytes:
    """``image`` in OpenCV's channel order (BGR/BGRA), as a file would hold it."""
    ok, buf = cv2.imencode(ext, image, params or [])
    assert ok
    return buf.tobytes()


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


@pytest.mark.parametrize(("ext", "fmt", "tolerance"), [
    (".png", "png", 0), (".bmp", "bmp", 0), (".tiff", "tiff", 0),
    (".jpg", "jpeg", 6), (".webp", "webp", 6),
])
def test_colour_formats_decode_to_rgb(ext: str, fmt: str, tolerance: int) -> None:
    rgb = _colour_image()
    decoded = decode_image(_encode(ext, _bgr(rgb)))
    assert decoded.format == fmt
    assert (decoded.width, decoded.height) == (64, 48)
    assert decoded.rgb.dtype == np.uint8 and decoded.rgb.shape == (48, 64, 3)
    assert np.abs(decoded.rgb.astype(int) - rgb).max() <= tolerance
    assert decoded.meta == {}


@pytest.mark.parametrize("ext", [".png", ".tiff"])
def test_16_bit_is_scaled_by_its_range(ext: str) -> None:
    gray16 = np.zeros((32, 32), np.uint16)
    gray16[:, :8], gray16[:, 8:16], gray16[:, 16:] = 0, 257 * 100, 65535
    decoded = decode_image(_encode(ext, gray16))
    assert decoded.rgb.shape == (32, 32, 3)
    assert decoded.rgb[0, 0].tolist() == [0, 0, 0]
    assert decoded.rgb[0, 10].tolist() == [100, 100, 100]
    assert decoded.rgb[0, 20].tolist() == [255, 255, 255]


def test_16_bit_colour_tiff_keeps_channel_order() -> None:
    rgb16 = _colour_image().astype(np.uint16) * 257
    decoded = decode_image(_encode(".tiff", cv2.cvtColor(rgb16, cv2.COLOR_RGB2BGR)))
    assert np.array_equal(decoded.rgb, _colour_image())


def test_grayscale_becomes_three_equal_channels() -> None:
    gray = np.tile(np.arange(64, dtype=np.uint8) * 4, (32, 1))
    decoded = decode_image(_encode(".png", gray))
    assert np.array_equal(decoded.rgb[..., 0], gray)
    assert np.array_equal(decoded.rgb[..., 1], gray) and np.array_equal(decoded.rgb[..., 2], gray)


@pytest.mark.parametrize("ext", [".png", ".tiff"])
def test_alpha_is_dropped_and_colours_kept(ext: str) -> None:
    rgb = _colour_image()
    bgra = cv2.cvtColor(_bgr(rgb), cv2.COLOR_BGR2BGRA)
    bgra[:10, :, 3] = 0  # transparent rows keep their colour values
    decoded = decode_image(_encode(ext, bgra))
    assert np.array_equal(decoded.rgb, rgb)


def test_palette_png() -> None:
    image_module = pytest.importorskip("PIL.Image")
    im = image_module.new("P", (40, 20))
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.paste(1, (20, 0, 40, 20))  # right half is palette entry 1 (blue)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    decoded = decode_image(buf.getvalue())
    assert decoded.rgb[5, 5].tolist() == [255, 0, 0]
    assert decoded.rgb[5, 30].tolist() == [0, 0, 255]


def test_jpeg_exif_orientation_is_applied() -> None:
    image_module = pytest.importorskip("PIL.Image")
    im = image_module.new("RGB", (64, 32), (200, 30, 30))
    exif = image_module.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif)
    decoded = decode_image(buf.getvalue())
    assert (decoded.width, decoded.height) == (32, 64)


def test_format_is_sniffed_not_taken_from_the_name(tmp_path: Path) -> None:
    path = tmp_path / "really_a_png.jpg"
    path.write_bytes(_encode(".png", _bgr(_colour_image())))
    decoded = decode_file(path)
    assert decoded.format == "png"
    assert isinstance(decoded, DecodedImage)


# ----------------------------------------------------------------------------------- errors


def _reason(data: bytes, name: str = "") -> str:
    with pytest.raises(ImageDecodeError) as info:
        decode_image(data, name)
    return info.value.reason


def test_truncated_jpeg_is_detected() -> None:
    data = _encode(".jpg", _bgr(_colour_image(96, 96)))
    assert _reason(data[: len(data) * 2 // 3]) == "truncated JPEG (no end-of-image marker)"
    assert _reason(data[:-2]) == "truncated JPEG (no end-of-image marker)"


def test_jpeg_with_trailing_bytes_after_end_marker_is_fine() -> None:
    data = _encode(".jpg", _bgr(_colour_image()))
    assert decode_image(data + b"\x00" * 100 + b"vendor trailer").format == "jpeg"


def test_truncated_png_is_detected() -> None:
    data = _encode(".png", _bgr(_colour_image()))
    assert _reason(data[: len(data) // 2]) == "truncated PNG (no IEND chunk)"
    assert _reason(data[:-4]) == "truncated PNG (no IEND chunk)"


def test_truncated_bmp_and_webp_are_detected() -> None:
    bmp = _encode(".bmp", _bgr(_colour_image()))
    assert _reason(bmp[:-100]).startswith("truncated BMP")
    webp = _encode(".webp", _bgr(_colour_image()))
    assert _reason(webp[:-10]).startswith("truncated WebP")


def test_corrupt_data_inside_a_complete_png() -> None:
    data = bytearray(_encode(".png", _bgr(_colour_image())))
    data[40:-20] = bytes(len(data) - 60)  # zero the compressed data, keep signature and IEND
    assert _reason(bytes(data)) == "corrupt image data"


def test_random_bytes_empty_and_text_are_not_images(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    assert _reason(rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()) == "not an image (unknown format)"
    assert _reason(b"") == "empty file"
    assert _reason(b"patient,eye\nP1,OD\n") == "not an image (unknown format)"
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageDecodeError, match=r"^empty\.png: empty file$"):
        decode_file(empty)


def test_unsupported_known_format_and_missing_file(tmp_path: Path) -> None:
    assert _reason(b"GIF89a" + bytes(100)) == "unsupported image format: GIF (convert it to PNG)"
    with pytest.raises(ImageDecodeError, match="cannot read file"):
        decode_file(tmp_path / "missing.png")


def test_too_small_image_is_refused() -> None:
    assert _reason(_encode(".png", np.zeros((8, 12), np.uint8))) == "image too small (12x8)"
    assert decode_image(_encode(".png", np.zeros((8, 12), np.uint8)), min_side=4).width == 12


def test_error_message_names_the_file() -> None:
    with pytest.raises(ImageDecodeError) as info:
        decode_image(b"\xff\xd8\xff\xe0 cut", "eye.jpg")
    assert str(info.value) == "eye.jpg: truncated JPEG (no end-of-image marker)"
    assert info.value.name == "eye.jpg"


def test_to_uint8_with_stored_bits_and_floats() -> None:
    assert to_uint8(np.array([[0, 4095]], np.uint16), bits=12).tolist() == [[0, 255]]
    assert to_uint8(np.array([[0.0, 0.5, 1.0]], np.float32)).tolist() == [[0, 128, 255]]


# ------------------------------------------------------------------------------------ DICOM


def _dicom(pixels: np.ndarray, photometric: str, bits: int, **tags: object) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.77.1.5.1"  # ophthalmic photography 8 bit
    ds.SOPInstanceUID = generate_uid()
    ds.set_pixel_data(pixels, photometric, bits)
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    return ds


def _dicom_bytes(ds: Dataset, preamble: bool = True) -> bytes:
    buf = io.BytesIO()
    if preamble:
        ds.save_as(buf, enforce_file_format=True)
    else:
        pydicom.dcmwrite(buf, ds, implicit_vr=False, little_endian=True)
    return buf.getvalue()


def test_dicom_monochrome_16_bit_uses_its_full_range_and_tags() -> None:
    pixels = np.tile(np.linspace(100, 4000, 40).astype(np.uint16), (24, 1))
    ds = _dicom(pixels, "MONOCHROME2", 12, ImageLaterality="R", StudyDate="20230405",
                AcquisitionDate="20230406", PatientID="H-123", PatientBirthDate="20230101",
                Manufacturer="Natus", ManufacturerModelName="RetCam 3", InstitutionName="Hospital A")
    decoded = decode_image(_dicom_bytes(ds))
    assert decoded.format == "dicom" and (decoded.width, decoded.height) == (40, 24)
    assert decoded.rgb[0, 0].tolist() == [0, 0, 0] and decoded.rgb[0, -1].tolist() == [255, 255, 255]
    assert np.all(np.diff(decoded.rgb[0, :, 0].astype(int)) >= 0)
    assert decoded.meta == {
        "laterality": Eye.OD, "study_date": date(2023, 4, 5), "acquisition_date": date(2023, 4, 6),
        "exam_date": date(2023, 4, 6), "patient_id": "H-123", "patient_birth_date": date(2023, 1, 1),
        "camera": "Natus RetCam 3", "site": "Hospital A",
    }


def test_dicom_monochrome1_is_inverted_and_window_is_applied() -> None:
    pixels = np.tile(np.array([0, 1200, 1500, 1800, 3000], np.uint16).repeat(8), (16, 1))
    ds = _dicom(pixels, "MONOCHROME1", 12, WindowCenter=1500, WindowWidth=1000, Laterality="L")
    decoded = decode_image(_dicom_bytes(ds))
    row = decoded.rgb[0, ::8, 0].astype(int)
    # the 1000–2000 window spans 0..255 (the full 0..3000 range would give 153 for 1200), inverted
    assert np.abs(row - [255, 204, 127, 51, 0]).max() <= 2
    assert decoded.meta == {"laterality": Eye.OS}


def test_dicom_rgb_and_ybr_full_decode_to_the_same_colours() -> None:
    rgb = _colour_image(32, 40)
    plain = decode_image(_dicom_bytes(_dicom(rgb, "RGB", 8)))
    assert np.array_equal(plain.rgb, rgb)
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    converted = decode_image(_dicom_bytes(_dicom(ybr, "YBR_FULL", 8)))
    assert np.abs(converted.rgb.astype(int) - rgb).max() <= 2


def test_compressed_dicom_rle() -> None:
    ds = _dicom(_colour_image(32, 40), "RGB", 8)
    ds.compress(RLELossless)
    assert np.array_equal(decode_image(_dicom_bytes(ds)).rgb, _colour_image(32, 40))


def test_multiframe_dicom_shows_the_first_frame() -> None:
    frames = np.stack([np.full((20, 30), v, np.uint8) for v in (10, 200, 90)])
    ds = _dicom(frames, "MONOCHROME2", 8)
    decoded = decode_image(_dicom_bytes(ds))
    assert decoded.rgb.shape == (20, 30, 3) and int(decoded.rgb.max()) == 10
    assert decoded.meta["frames"] == 3 and "first frame" in decoded.meta["note"]


def test_dicom_without_preamble_is_read_when_named_dcm() -> None:
    data = _dicom_bytes(_dicom(np.full((20, 20), 50, np.uint8), "MONOCHROME2", 8), preamble=False)
    assert data[128:132] != b"DICM"
    assert decode_image(data, "scan.dcm").rgb[0, 0].tolist() == [50, 50, 50]
    assert _reason(data, "scan.bin") == "not an image (unknown format)"
    assert _reason(b"just some text, not DICOM " * 20, "fake.dcm") == "not a DICOM file (no DICOM header)"


def test_dicom_errors() -> None:
    no_pixels = _dicom(np.zeros((20, 20), np.uint8), "MONOCHROME2", 8)
    del no_pixels.PixelData
    assert _reason(_dicom_bytes(no_pixels)) == "DICOM without pixel data"

    mpeg = _dicom(np.zeros((20, 20), np.uint8), "MONOCHROME2", 8)
    mpeg.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"
    mpeg.PixelData = encapsulate([bytes(16)])
    assert _reason(_dicom_bytes(mpeg)).startswith("unsupported DICOM transfer syntax: MPEG2")

    data = _dicom_bytes(_dicom(np.zeros((40, 40), np.uint8), "MONOCHROME2", 8))
    assert _reason(data[:-200]) == "truncated DICOM pixel data"
