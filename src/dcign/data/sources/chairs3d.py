"""The 3D chairs of Aubry et al. (CVPR 2014), as rendered by them: the DC-IGN paper's §4.2 data.

Layout (the ``rendered_chairs`` archive)::

    DIR/<chair id>/renders/image_NNN_pPPP_tTTT_rRRR.png    (the ``renders`` level may be absent)

``p`` is the elevation (pitch) in degrees (20 or 30), ``t`` the azimuth in degrees (31
views, 0..348), ``r`` the camera distance (constant).  Factors: elevation, azimuth, chair
(one per folder, in sorted order; the intrinsic factor).  Each 600x600 RGB render is
cropped to the chair (the square around its non-white pixels plus a 5% margin), and
resized to ``size`` (default 128; grey is made from it when asked).  The split is by chair:
a seeded ``test_fraction`` of them (default 10%) are test chairs, never seen in training
(paper §4.2).  PNGs are decoded when a batch needs them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .base import DataSourceError, LabelledImages, split_by_factor
from .folder import PngStore

NAME = re.compile(r"image_(\d+)_p(\d+)_t(\d+)_r(\d+)\.png")
WHERE = "Aubry et al.'s 'Seeing 3D chairs' page (rendered_chairs.tar, www.di.ens.fr/willow/research/seeing3Dchairs)"


def open_chairs3d(path, size: int = 128, test_fraction: float = 0.1, seed: int = 0) -> LabelledImages:
    """Open the rendered-chairs folder ``path`` (see the module docstring).

    Raises:
        DataSourceError: not a folder, no image_*_p*_t*_r*.png renders, or fewer than 2 chairs.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataSourceError(f"chairs3d: {root} is not a folder; pass the rendered_chairs folder from {WHERE}")
    files, rows = [], []
    chairs = sorted(d for d in root.iterdir() if d.is_dir())
    kept = 0
    for d in chairs:
        folder = d / "renders" if (d / "renders").is_dir() else d
        found = sorted((p.name, m, p) for p in folder.iterdir() if (m := NAME.fullmatch(p.name)))
        if not found:
            continue
        for _, m, p in found:
            files.append(p)
            rows.append((int(m.group(2)), int(m.group(3)), kept))
        kept += 1
    if not files:
        raise DataSourceError(f"chairs3d: no <chair>/renders/image_NNN_pPPP_tTTT_rRRR.png files in {root}; get them from {WHERE}")
    if kept < 2:
        raise DataSourceError(f"chairs3d: {root} holds renders of one chair; a split by chair needs at least 2")
    raw = np.array(rows, dtype=np.int64)
    el_values, el = np.unique(raw[:, 0], return_inverse=True)
    az_values, az = np.unique(raw[:, 1], return_inverse=True)
    labels = np.stack([el.reshape(-1), az.reshape(-1), raw[:, 2]], axis=1)
    mask = split_by_factor(labels, 2, kept, test_fraction, seed)
    store = PngStore(files, size, 3, crop="object")
    return LabelledImages(
        "chairs3d", root, store, ("elevation", "azimuth", "chair"), labels, [len(el_values), len(az_values), kept],
        factor_values={"elevation": el_values.astype(float), "azimuth": az_values.astype(float)},
        intrinsic_factors=("chair",), test_mask=mask, metrics_split="test",
        split_note=f"a seeded {test_fraction:.0%} of the chairs held out as test chairs ({len(np.unique(labels[mask, 2]))} chairs)",
        rebuild=(open_chairs3d, (path, size, test_fraction, seed)),
    )
