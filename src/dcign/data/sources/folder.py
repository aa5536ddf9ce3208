"""Any user's labelled images: ``folder:DIR`` with ``DIR/factors.csv``.

``factors.csv`` has a header row, then one row per image: the image's file name (relative
to ``DIR``), then one column per factor.  A column of integers is a discrete factor (its
distinct values, sorted, become indices 0..n-1); a column with any non-integer number is
continuous and is cut into ``bins`` equal-width bins (default 10).  An optional column
named ``split`` (values ``train`` / ``test``) fixes the split; otherwise a column named
``identity`` is split by holding out a seeded ``test_fraction`` of its values, and without
either every image is used for training and testing.  Columns named in ``intrinsic`` (by
default ``identity`` if present) share DC-IGN's intrinsic latent group.  Example::

    file,azimuth,elevation,light_azimuth,identity
    renders/face0_a-90.png,-90,0,0,0
    renders/face0_a-45.png,-45,0,0,0
    renders/face0_a0.png,0,0,0,0
    renders/face0_e20.png,0,20,0,0
    renders/face0_l40.png,0,0,40,0
    renders/face1_a-90.png,-90,0,0,1
    renders/face1_a0.png,0,0,0,1
    ...

Then ``dcign train --dataset folder:DIR``.  One-factor batches need images that share all
factors but one (above: face0 at three azimuths); a factor that never varies alone is
reported.  Images are read with Pillow (any mode; transparency composited on white),
centre-cropped to a square and resized to the first image's side.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .base import DataSourceError, LabelledImages, split_by_factor

CSV = "factors.csv"


class PngStore:
    """Images in image files (PNG, JPEG, ... that Pillow reads), decoded on demand.

    Args:
        files: one path per image.
        size: side S of the square images returned.
        channels: 3 (RGB) or 1 (grey) as stored.
        crop: ``"centre"`` (centre square) or ``"object"`` (the square around the
            non-white pixels, plus ``margin`` of its side, as the 3D-chairs renders need).
    """

    def __init__(self, files: list[Path], size: int, channels: int, crop: str = "centre", margin: float = 0.05) -> None:
        self.files, self.crop, self.margin = list(files), crop, margin
        self.shape = (int(size), int(size), int(channels))

    def __len__(self) -> int:
        return len(self.files)

    def read(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty((len(indices), *self.shape), dtype=np.uint8)
        for j, i in enumerate(indices):
            out[j] = self.load(int(i))
        return out

    def load(self, i: int) -> np.ndarray:
        """Image ``i`` as ``(S, S, C)`` uint8.

        Raises:
            DataSourceError: missing or unreadable file.
        """
        from PIL import Image, UnidentifiedImageError

        path = self.files[i]
        try:
            with Image.open(path) as im:
                im.load()
                if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                    im = Image.alpha_composite(Image.new("RGBA", im.size, (255, 255, 255, 255)), im.convert("RGBA"))
                im = im.convert("RGB")
        except FileNotFoundError:
            raise DataSourceError(f"image {path} listed in the data set does not exist") from None
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise DataSourceError(f"image {path} cannot be read ({str(exc).splitlines()[0]})") from None
        w, h = im.size
        if self.crop == "object":
            arr = np.asarray(im)
            ys, xs = np.nonzero((arr < 250).any(axis=2))
            if len(ys):
                cy, cx = (ys.min() + ys.max() + 1) / 2, (xs.min() + xs.max() + 1) / 2
                side = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) * (1 + 2 * self.margin)
            else:
                cy, cx, side = h / 2, w / 2, min(w, h)
            box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
            canvas = Image.new("RGB", (int(np.ceil(side)) + 2, int(np.ceil(side)) + 2), (255, 255, 255))
            left, top = int(np.floor(box[0])), int(np.floor(box[1]))
            canvas.paste(im, (-left, -top))  # white outside the image
            im = canvas.crop((0, 0, int(round(side)), int(round(side))))
        else:
            s = min(w, h)
            im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        S = self.shape[0]
        if im.size != (S, S):
            im = im.resize((S, S), Image.BOX if im.size[0] > S else Image.BILINEAR)
        arr = np.asarray(im, dtype=np.uint8)
        return arr if self.shape[2] == 3 else np.asarray(im.convert("L"), dtype=np.uint8)[..., None]


def _number(text: str, where: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise DataSourceError(f"{where}: {text!r} is not a number (factor columns hold integers or floats)") from None
    if not np.isfinite(v):
        raise DataSourceError(f"{where}: {text!r} is not a finite number")
    return v


def read_factors_csv(path: Path, bins: int = 10):
    """Parse ``factors.csv``: ``(files, factor names, labels, values, split column or None)``.

    Raises:
        DataSourceError: no header / rows, a row of the wrong length, a non-number, a factor
            with a single value, duplicate factor names, a bad split value.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataSourceError(f"folder: cannot read {path} ({exc})") from None
    if len(rows) < 3:
        raise DataSourceError(f"folder: {path} needs a header row and at least 2 image rows")
    header = [h.strip() for h in rows[0]]
    if len(header) < 2:
        raise DataSourceError(f"folder: {path} header must name the file column and at least one factor, got {rows[0]}")
    names = header[1:]
    if len(set(names)) != len(names) or any(not n for n in names):
        raise DataSourceError(f"folder: {path} header has empty or repeated factor names: {names}")
    for j, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise DataSourceError(f"folder: {path} line {j} has {len(r)} columns, the header {len(header)}")
    files = [r[0].strip() for r in rows[1:]]
    split = None
    if "split" in names:
        col = names.index("split") + 1
        split = np.array([r[col].strip().lower() for r in rows[1:]])
        bad = sorted(set(split) - {"train", "test"})
        if bad:
            raise DataSourceError(f"folder: {path} split column holds {bad}; use train or test")
        if not (split == "train").any():
            raise DataSourceError(f"folder: {path} split column marks no image as train")
    factor_names = [n for n in names if n != "split"]
    labels, values = [], {}
    for n in factor_names:
        col = names.index(n) + 1
        raw = np.array([_number(r[col].strip(), f"folder: {path} line {j} column {n}") for j, r in enumerate(rows[1:], start=2)])
        uniq = np.unique(raw)
        if len(uniq) < 2:
            raise DataSourceError(f"folder: factor {n!r} takes a single value ({uniq[0]:g}) in {path}; a factor needs 2 or more (drop the column)")
        if np.all(raw == np.round(raw)):
            idx = np.searchsorted(uniq, raw)
            values[n] = uniq
        else:
            if not isinstance(bins, int) or bins < 2:
                raise DataSourceError(f"folder: bins must be an integer >= 2, got {bins!r}")
            edges = np.linspace(raw.min(), raw.max(), bins + 1)
            idx = np.clip(np.searchsorted(edges, raw, side="right") - 1, 0, bins - 1)
            values[n] = (edges[:-1] + edges[1:]) / 2
        labels.append(idx)
    return files, tuple(factor_names), np.stack(labels, axis=1).astype(np.int64), values, split


def open_folder(path, bins: int = 10, test_fraction: float = 0.1, seed: int = 0, intrinsic=None) -> LabelledImages:
    """Open ``DIR`` with ``DIR/factors.csv`` (see the module docstring).

    The CSV and the first image are read here; the other images when a batch needs them.

    Raises:
        DataSourceError: no folder or no factors.csv (the message shows its format), a
            malformed CSV (see :func:`read_factors_csv`), a listed image that is missing,
            or an unknown ``intrinsic`` factor.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataSourceError(f"folder: {root} is not a folder; pass the folder holding your images and {CSV}")
    csv_path = root / CSV
    if not csv_path.is_file():
        raise DataSourceError(f"folder: no {CSV} in {root}; write one row per image: file name, then one column per factor "
                              "(header e.g. 'file,azimuth,elevation,identity')")
    files, names, labels, values, split = read_factors_csv(csv_path, bins)
    paths = [root / f for f in files]
    missing = [f for f, p in zip(files, paths) if not p.is_file()]
    if missing:
        raise DataSourceError(f"folder: {len(missing)} image(s) listed in {csv_path} do not exist, e.g. {root / missing[0]}")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(paths[0]) as im:
            side, colour = min(im.size), im.mode not in ("L", "LA", "1", "I", "I;16", "F")
    except (UnidentifiedImageError, OSError) as exc:
        raise DataSourceError(f"folder: {paths[0]} is not an image Pillow can read ({str(exc).splitlines()[0]})") from None
    intrinsic = tuple(intrinsic) if intrinsic is not None else (("identity",) if "identity" in names else ())
    sizes = [int(labels[:, k].max()) + 1 for k in range(len(names))]
    if split is not None:
        mask, note = split == "test", "the split column of factors.csv"
    elif "identity" in names:
        mask = split_by_factor(labels, names.index("identity"), sizes[names.index("identity")], test_fraction, seed)
        note = f"a seeded {test_fraction:.0%} of the identities held out as test"
    else:
        mask, note = None, "no held-out split (factors.csv has no split or identity column): train and test are all images"
    store = PngStore(paths, side, 3 if colour else 1)
    return LabelledImages("folder", root, store, names, labels, sizes, factor_values=values, intrinsic_factors=intrinsic,
                          test_mask=mask, split_note=note, metrics_split="all" if mask is None else "test", rebuild=(open_folder, (path, bins, test_fraction, seed, intrinsic)))
