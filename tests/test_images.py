"""Reading users' images (dcign.evaluation.images.load_image): colour to grey, transparency
on white, 16-bit scaling, and a one-line error for anything else (fuzzed)."""

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from support import DDS_FUZZ_CASE

from dcign.images import load_image


def test_colour_becomes_grey_by_luma(tmp_path):
    """ITU-R 601 luma: pure red, green and blue give 0.299, 0.587 and 0.114 of white."""
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:, 0] = (255, 0, 0)
    rgb[:, 1] = (0, 255, 0)
    rgb[:, 2] = (0, 0, 255)
    rgb[:, 3] = (255, 255, 255)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    grey = load_image(tmp_path / "c.png", 4)[0, 0]
    np.testing.assert_allclose(grey[0], [0.299, 0.587, 0.114, 1.0], atol=1 / 255)


def test_transparency_is_composited_on_white(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)  # black everywhere; alpha 0, 128, 255, 255
    rgba[0, 0, 3], rgba[0, 1, 3], rgba[1, :, 3] = 0, 128, 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    grey = load_image(tmp_path / "a.png", 2)[0, 0]
    np.testing.assert_allclose(grey, [[1.0, 1 - 128 / 255], [0.0, 0.0]], atol=1 / 255)
    la = Image.fromarray(np.stack([np.full((2, 2), 255, np.uint8), np.array([[0, 255], [255, 255]], np.uint8)], -1), "LA")
    la.save(tmp_path / "la.png")
    np.testing.assert_allclose(load_image(tmp_path / "la.png", 2)[0, 0], 1.0, atol=1 / 255)
    p = Image.new("P", (2, 2), 0)  # palette image whose colour 0 (black) is transparent
    p.putpalette([0, 0, 0, 90, 90, 90] + [0] * 762)
    p.putpixel((1, 1), 1)
    p.info["transparency"] = 0
    p.save(tmp_path / "p.png", transparency=0)
    np.testing.assert_allclose(load_image(tmp_path / "p.png", 2)[0, 0], [[1.0, 1.0], [1.0, 90 / 255]], atol=1 / 255)


def test_16_bit_grey_is_scaled_by_its_full_range(tmp_path):
    """65535 is white and 32768 mid-grey, however dark the image (no per-image stretching)."""
    im = Image.new("I;16", (2, 2))
    im.putdata([0, 32768, 65535, 1000])
    im.save(tmp_path / "w.png")
    np.testing.assert_allclose(load_image(tmp_path / "w.png", 2)[0, 0], [[0.0, 0.5], [1.0, 1000 / 65535]], atol=1e-4)
    dark = Image.new("I;16", (2, 2))
    dark.putdata([0, 1000, 2000, 0])  # a dark 16-bit image stays dark
    dark.save(tmp_path / "d.png")
    np.testing.assert_allclose(load_image(tmp_path / "d.png", 2)[0, 0], [[0.0, 1000 / 65535], [2000 / 65535, 0.0]],
                               atol=1e-5)
    Image.fromarray(np.array([[0, 128], [255, 64]], np.uint8)).save(tmp_path / "e.png")  # 8-bit: full scale 255
    np.testing.assert_allclose(load_image(tmp_path / "e.png", 2)[0, 0], [[0.0, 128 / 255], [1.0, 64 / 255]], atol=1e-6)


def test_load_image_names_a_folder_as_a_folder(tmp_path):
    with pytest.raises(ValueError, match="is a folder, not an image file"):
        load_image(tmp_path, 64)
    with pytest.raises(ValueError, match="does not exist"):
        load_image(tmp_path / "absent.png", 64)


# --------------------------------------------------------------------------------------
# Fuzzing (hypothesis); cases it found are kept as @example
# --------------------------------------------------------------------------------------

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAGIC = [b"", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*", b"\xff\xd8\xff", b"RIFF", b"P5\n",
         b"P6\n", b"\x00\x00\x01\x00", b"8BPS", b"DDS ", b"qoif", b"\x0a\x05\x01\x08", b"\x01\xda", b"FORM"]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "input"


def check_loaded(path, size):
    try:
        arr = load_image(path, size)
    except ValueError as exc:
        assert "\n" not in str(exc)
        return None
    assert arr.dtype == np.float32 and arr.shape == (1, 1, size, size)
    assert np.all(np.isfinite(arr)) and arr.min() >= 0.0 and arr.max() <= 1.0
    return arr


@FUZZ
@given(prefix=st.sampled_from(MAGIC), body=st.binary(max_size=300), size=st.sampled_from([1, 4, 64]))
@example(prefix=b"", body=DDS_FUZZ_CASE, size=6)
@example(prefix=b"\x89PNG\r\n\x1a\n", body=b"not really", size=64)
@example(prefix=b"P5\n", body=b"4 4\n255\n", size=4)  # header only, no pixels
@example(prefix=b"P5\n", body=b"99999 99999\n255\n", size=64)  # claims a huge image
def test_fuzz_load_image_random_bytes(scratch, prefix, body, size):
    scratch.write_bytes(prefix + body)
    check_loaded(scratch, size)


MODES = ["1", "L", "P", "RGB", "RGBA", "LA", "PA", "I", "I;16", "I;16B", "F", "CMYK", "YCbCr", "LAB", "HSV"]
FORMATS = ["PNG", "BMP", "TIFF", "GIF", "JPEG", "WEBP", "PPM", "ICO", "TGA", "DDS", "QOI"]


@FUZZ
@given(mode=st.sampled_from(MODES), fmt=st.sampled_from(FORMATS), w=st.integers(1, 9), h=st.integers(1, 9),
       size=st.integers(1, 9), seed=st.integers(0, 2**16), damage=st.sampled_from(["none", "truncate", "flip"]),
       where=st.floats(0.0, 1.0))
@example(mode="F", fmt="TIFF", w=4, h=4, size=4, seed=0, damage="none", where=0.0)
@example(mode="I;16", fmt="PNG", w=3, h=3, size=3, seed=1, damage="none", where=0.0)
@example(mode="LAB", fmt="TIFF", w=5, h=5, size=5, seed=0, damage="none", where=0.0)
@example(mode="L", fmt="DDS", w=6, h=6, size=6, seed=3, damage="flip", where=0.5)
def test_fuzz_load_image_random_images(scratch, mode, fmt, w, h, size, seed, damage, where):
    rng = np.random.default_rng(seed)
    if mode in ("I", "I;16", "I;16B", "F"):
        im = Image.new(mode, (w, h))
        values = rng.normal(0, 3e4, (h, w)) if mode in ("I", "F") else rng.integers(0, 65536, (h, w))
        im.putdata([float(v) if mode == "F" else int(v) for v in values.ravel()])
        if mode == "F" and seed % 7 == 0:
            im.putpixel((0, 0), float("nan"))
    else:
        im = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).convert(mode)
    buf = io.BytesIO()
    try:
        im.save(buf, format=fmt)
    except Exception:  # this format cannot store this mode: nothing to test
        return
    data = bytearray(buf.getvalue())
    k = min(len(data) - 1, int(where * len(data)))
    if damage == "truncate":
        data = data[: max(k, 1)]
    elif damage == "flip":
        data[k] ^= 0xFF
    scratch.write_bytes(bytes(data))
    arr = check_loaded(scratch, size)
    if damage == "none" and (w, h) != (size, size):
        assert arr is None  # a wrong size is always refused

