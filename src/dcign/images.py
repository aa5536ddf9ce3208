"""Image files in and out: users' images for re-rendering (:func:`load_image`), PNGs of
arrays and figures (:func:`save_png`, written atomically) and image grids (:func:`tile`).

Accepted input: PNG/JPEG/BMP/TIFF... that Pillow can open, of exactly the model's size.  Colour
images are converted to grey with ITU-R 601 luma (Pillow's 'L' mode); transparency is
composited over white (the training background).  Pixel values are scaled to [0, 1].
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np

from .atomic import atomic_write_bytes


class _Refused(ValueError):
    """A readable image this model cannot take (size or pixel mode); its message is final."""


def _line(exc: BaseException) -> str:
    """The first line of an error message (CLI errors are one line)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_image(path: str | Path, size: int) -> np.ndarray:
    """Load one image as (1, 1, size, size) float32 in [0, 1].

    Raises:
        ValueError: missing, empty, corrupt or non-image file; wrong size (the message
            gives the size found and the size needed).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if path.is_dir():
        raise ValueError(f"image {path} is a folder, not an image file")
    if not path.is_file():
        raise ValueError(f"image {path} does not exist")
    if path.stat().st_size == 0:
        raise ValueError(f"image {path} is empty")
    try:
        with warnings.catch_warnings():
            # Image.open warns (two stderr lines) for images over Pillow's pixel limit; the size
            # check below refuses any image of another size before it is decoded, and one over
            # twice the limit still raises DecompressionBombError, reported below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
        with im:
            if im.size != (size, size):  # refuse before decoding (a small file can hold a huge image)
                w, h = im.size
                raise _Refused(
                    f"image {path} is {w}x{h} pixels; this model needs {size}x{size} "
                    "(crop or resize it first, keeping the object centred on a white background)"
                )
            im.load()
            mode = im.mode
            try:
                if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
                    im = im.convert("RGBA")
                    white = Image.new("RGBA", im.size, (255, 255, 255, 255))
                    im = Image.alpha_composite(white, im)
                if im.mode.startswith("I;16"):  # 16-bit grey: full scale is 65535, however dark the image
                    arr = np.asarray(im, dtype=np.float64) / 65535.0
                elif im.mode == "I":
                    arr = np.asarray(im, dtype=np.float64)
                    arr = arr / (65535.0 if arr.max() > 255 else 255.0)
                elif im.mode == "F":
                    arr = np.asarray(im, dtype=np.float64)
                else:
                    arr = np.asarray(im.convert("L"), dtype=np.float64) / 255.0
            except ValueError as exc:  # Pillow has no conversion for this mode (e.g. LAB TIFF)
                raise _Refused(f"image {path} has pixel mode {mode!r}, which cannot be converted to grey "
                                 f"({_line(exc)}); save it as a grey or RGB PNG") from exc
    except _Refused:
        raise
    except Image.DecompressionBombError as exc:
        raise ValueError(f"image {path} is too large to open safely: {_line(exc)}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"cannot read image {path}: {_line(exc)}") from exc
    except Exception as exc:  # Pillow's decoders raise many types on malformed data (EOFError, struct.error, ...)
        raise ValueError(f"cannot read image {path}: {type(exc).__name__}: {_line(exc)}") from exc
    if arr.ndim != 2:
        raise ValueError(f"image {path} has an unsupported layout {arr.shape}")
    if arr.shape != (size, size):
        raise ValueError(
            f"image {path} is {arr.shape[1]}x{arr.shape[0]} pixels; this model needs {size}x{size} "
            "(crop or resize it first, keeping the object centred on a white background)"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"image {path} holds non-finite pixel values")
    return np.clip(arr, 0.0, 1.0).astype(np.float32)[None, None]


def save_png(path: str | Path, figure_or_array) -> None:
    """Save a matplotlib figure, or a (H, W) grey / (H, W, 3) RGB float array in [0, 1], as PNG, atomically."""
    buf = io.BytesIO()
    if hasattr(figure_or_array, "savefig"):
        figure_or_array.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    else:
        from PIL import Image

        arr = np.clip(np.asarray(figure_or_array, dtype=np.float32), 0, 1)
        Image.fromarray((arr * 255 + 0.5).astype(np.uint8), mode="RGB" if arr.ndim == 3 else "L").save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def tile(images, rows: int, cols: int, pad: int = 2) -> np.ndarray:
    """(rows*cols, C, S, S) float images -> one grid with white padding: (H, W) for C = 1, (H, W, 3) for C = 3."""
    s, colour = images.shape[-1], images.shape[1] == 3
    out = np.ones((rows * (s + pad) + pad, cols * (s + pad) + pad) + ((3,) if colour else ()), dtype=np.float32)
    for i, im in enumerate(images[: rows * cols]):
        r, c = divmod(i, cols)
        out[pad + r * (s + pad) : pad + r * (s + pad) + s, pad + c * (s + pad) : pad + c * (s + pad) + s] = (
            np.moveaxis(im, 0, -1) if colour else im[0])
    return out
