"""Writers of tiny files in the published layouts of the data sets dcign reads (test helpers).

Each writer follows the published format exactly (keys, dtypes, axis order, headers); only
the number of images is small.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np


def _t7_string(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<i", len(b)) + b


def write_torch7(path, array: np.ndarray) -> None:
    """``torch.save(path, tensor)`` in Torch7's binary format (FloatTensor, 8-byte longs)."""
    array = np.ascontiguousarray(array, dtype=np.float32)
    strides = [s // 4 for s in array.strides]
    out = struct.pack("<ii", 4, 1) + _t7_string("V 1") + _t7_string("torch.FloatTensor")
    out += struct.pack("<i", array.ndim) + struct.pack(f"<{array.ndim}q", *array.shape)
    out += struct.pack(f"<{array.ndim}q", *strides) + struct.pack("<q", 1)
    out += struct.pack("<ii", 4, 2) + _t7_string("V 1") + _t7_string("torch.FloatStorage")
    out += struct.pack("<q", array.size) + array.tobytes()
    Path(path).write_bytes(out)


def face_batch(rng, varied: str, n: int = 20, size: int = 150) -> np.ndarray:
    """A synthetic one-factor batch n x 1 x size x size in [0, 1] (a disc moving with the factor)."""
    yy, xx = np.mgrid[:size, :size] / size
    out = np.ones((n, 1, size, size), dtype=np.float32)
    base = rng.uniform(0.3, 0.7, size=3)
    for i in range(n):
        cx, cy, light = base
        t = i / max(1, n - 1)
        if varied == "AZ":
            cx = 0.2 + 0.6 * t
        elif varied == "EL":
            cy = 0.2 + 0.6 * t
        elif varied == "LIGHT_AZ":
            light = t
        else:
            cx, cy = rng.uniform(0.3, 0.7, size=2)
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 < 0.05
        out[i, 0][disc] = (0.2 + 0.6 * light * xx)[disc]
    return out


def write_dcign_t7(root, sets=("AZ", "EL", "LIGHT_AZ", "SHAPE"), train=3, test=2, n=20, size=150, seed=0) -> Path:
    rng = np.random.default_rng(seed)
    root = Path(root)
    for s in sets:
        for folder, count in (("FT_training", train), ("FT_test", test)):
            d = root / f"th_{s}_VARIED" / folder
            d.mkdir(parents=True, exist_ok=True)
            for k in range(1, count + 1):
                write_torch7(d / f"batch{k}", face_batch(rng, s, n, size))
    return root


def sprite(labels, size: int = 64) -> np.ndarray:
    """A binary sprite whose position/scale follow the labels (only for distinct images)."""
    img = np.zeros((size, size), dtype=np.uint8)
    shape, scale, orient, px, py = labels
    half = 4 + 2 * scale + shape
    cx, cy = 16 + 24 * px + orient, 16 + 24 * py
    img[max(0, cy - half):cy + half, max(0, cx - half):cx + half] = 1
    return img


def write_dsprites(path, sizes=(1, 3, 2, 2, 2, 2)) -> Path:
    """dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz layout (np.savez_compressed, as published)."""
    classes = np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1).astype(np.int64)
    imgs = np.stack([sprite(c[1:]) for c in classes])
    values = classes.astype(np.float64) / 10
    metadata = np.array({"latents_sizes": np.array(sizes), "description": "tiny"}, dtype=object)
    np.savez_compressed(path, imgs=imgs, latents_classes=classes, latents_values=values, metadata=metadata)
    return Path(path)


def colour_image(labels, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(list(int(v) for v in labels))
    return rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)


def write_3dshapes(path, sizes=(2, 2, 2, 2, 2, 2)) -> Path:
    """3dshapes.h5 layout: images (N, 64, 64, 3) uint8, labels (N, 6) float64 (published values)."""
    import h5py

    grid = np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1)
    published = [np.linspace(0, 0.9, 10), np.linspace(0, 0.9, 10), np.linspace(0, 0.9, 10),
                 np.linspace(0.75, 1.25, 8), np.arange(4.0), np.linspace(-30, 30, 15)]
    labels = np.stack([published[k][grid[:, k]] for k in range(6)], axis=1)
    images = np.stack([colour_image(g) for g in grid])
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images)
        f.create_dataset("labels", data=labels)
    return Path(path)


def write_mpi3d(path, sizes=(2, 2, 2, 2, 2, 3, 3), compressed=True) -> Path:
    """mpi3d_*.npz layout: images (N, 64, 64, 3) uint8 in C-order of the factor grid."""
    grid = np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1)
    images = np.stack([colour_image(g) for g in grid])
    (np.savez_compressed if compressed else np.savez)(path, images=images)
    return Path(path)


def write_norb_matrix(path, array: np.ndarray, gz: bool = False) -> None:
    """SmallNORB's binary matrix: int32 magic, int32 ndim, max(3, ndim) int32 dims, raw data."""
    magic = {np.dtype(np.uint8): 0x1E3D4C55, np.dtype(np.int32): 0x1E3D4C54}[array.dtype]
    dims = list(array.shape) + [1] * max(0, 3 - array.ndim)
    data = struct.pack("<ii", magic, array.ndim) + struct.pack(f"<{len(dims)}i", *dims) + array.tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        Path(path).write_bytes(data)


def write_smallnorb(root, categories=2, instances=2, elevations=2, azimuths=2, lightings=2, gz=False) -> Path:
    """smallnorb-5x46789x9x18x6x2x96x96-training-* and -testing-* files (96x96 stereo pairs)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    train_inst, test_inst = [4, 6, 7, 8, 9][:instances], [0, 1, 2, 3, 5][:instances]
    for split, insts, tag in (("training", train_inst, "5x46789x9x18x6x2x96x96"), ("testing", test_inst, "5x01235x9x18x6x2x96x96")):
        rows = [(c, i, e, a * 2, l) for c in range(categories) for i in insts for e in range(elevations)
                for a in range(azimuths) for l in range(lightings)]
        cat = np.array([r[0] for r in rows], dtype=np.int32)
        info = np.array([r[1:] for r in rows], dtype=np.int32)
        dat = np.zeros((len(rows), 2, 96, 96), dtype=np.uint8)
        for j, r in enumerate(rows):
            rng = np.random.default_rng(list(r))
            dat[j] = rng.integers(0, 256, size=(2, 96, 96), dtype=np.uint8)
        base = root / f"smallnorb-{tag}-{split}"
        write_norb_matrix(f"{base}-dat.mat", dat, gz)
        write_norb_matrix(f"{base}-cat.mat", cat, gz)
        write_norb_matrix(f"{base}-info.mat", info, gz)
    return root


def write_cars3d(root, cars=3, size=128) -> Path:
    """car_NNN_mesh.mat files with 'im' (128, 128, 3, 24, 4) uint8 (MATLAB v5, as published)."""
    from scipy.io import savemat

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for c in range(cars):
        rng = np.random.default_rng(c)
        im = rng.integers(0, 256, size=(size, size, 3, 24, 4), dtype=np.uint8)
        savemat(root / f"car_{c + 1:03d}_mesh.mat", {"im": im})
    return root


def write_chairs(root, chairs=3, elevations=(20, 30), azimuths=(0, 90, 180, 270), size=60) -> Path:
    """rendered_chairs/<chair>/renders/image_NNN_pPPP_tTTT_rRRR.png (RGB on white)."""
    from PIL import Image

    root = Path(root)
    for c in range(chairs):
        d = root / f"1a{c:02d}bc{c}" / "renders"
        d.mkdir(parents=True, exist_ok=True)
        k = 0
        for p in elevations:
            for t in azimuths:
                img = np.full((size, size, 3), 255, dtype=np.uint8)
                w = 8 + c * 3 + t // 90
                img[20:20 + w, 15 + p // 10:35 + p // 10] = ((40 * c) % 200, 100, 200)
                Image.fromarray(img).save(d / f"image_{k:03d}_p{p:03d}_t{t:03d}_r096.png")
                k += 1
    return root
