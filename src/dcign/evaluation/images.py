"""Reading users' images for re-rendering, with clear errors for bad files.

Accepted: PNG/JPEG/BMP/TIFF... that Pillow can open, of exactly the model's size.  Colour
images are converted to grey with ITU-R 601 luma (Pillow's 'L' mode); transparency is
composited over white (the training background).  Pixel values are scaled to [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def load_image(path: str | Path, size: int) -> np.ndarray:
    """Load one image as (1, 1, size, size) float32 in [0, 1].

    Raises:
        ValueError: missing, empty, corrupt or non-image file; wrong size (the message
            gives the size found and the size needed).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"image {path} does not exist")
    if path.stat().st_size == 0:
        raise ValueError(f"image {path} is empty")
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                im = im.convert("RGBA")
                white = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(white, im)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                arr = arr / (65535.0 if arr.max() > 255 else 255.0)
            elif im.mode == "F":
                arr = np.asarray(im, dtype=np.float64)
            else:
                arr = np.asarray(im.convert("L"), dtype=np.float64) / 255.0
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from exc
    except Image.DecompressionBombError as exc:
        raise ValueError(f"image {path} is too large to open safely: {exc}") from exc
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
