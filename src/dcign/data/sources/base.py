"""Labelled images read from a user's files, turned into DC-IGN's one-factor batches.

Every reader in :mod:`dcign.data.sources` builds a :class:`LabelledImages`: an image store
(read lazily, memory-mapped where the format allows) plus one row of discrete factor
indices per image.  From the labels alone this class draws

* one-factor batches (paper §3.1): images that share every factor but one, and differ in
  that one (``one_factor_batch``), by grouping the images on all other factors;
* independently sampled images (``random_batch``) for the entangled baseline;
* pairs that differ in a few factors (``pair_batch``) for Ada-GVAE;
* a train / test split (by held-out values of an identity-like factor, by the files'
  own split, or by held-out images);
* disentanglement_lib ground-truth data for :mod:`dcign.metrics` (``ground_truth``).

Images come out as float32 ``(N, C, S, S)`` in [0, 1]; grey is ITU-R 601 luma
(0.299 R + 0.587 G + 0.114 B, as Pillow's 'L' mode and dcign's image loader), and a grey
source asked for 3 channels is repeated.  Resizing uses area averaging (antialiased)
when shrinking and bilinear interpolation when enlarging.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

SPLITS = ("train", "test", "all")
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class DataSourceError(ValueError):
    """A user's data file is missing or not in its published layout (message is one line)."""


class ImageStore(Protocol):
    """Where the pixels live: ``read(indices)`` -> ``(n, H, W, C)`` uint8 or float array."""

    shape: tuple[int, int, int]  # (H, W, C) of one image as stored

    def __len__(self) -> int: ...

    def read(self, indices: np.ndarray) -> np.ndarray: ...


@dataclass
class _Groups:
    """Images of one split sorted so that those sharing all factors but one are contiguous."""

    order: np.ndarray  # image indices, sorted by the key of the other factors
    starts: np.ndarray  # start of each usable group in ``order``
    stops: np.ndarray  # end (exclusive) of each usable group


def _mixed_radix(labels: np.ndarray, sizes: list[int], skip: int | None = None) -> np.ndarray:
    """One int64 key per row from all columns but ``skip`` (unique per combination)."""
    keep = [k for k in range(labels.shape[1]) if k != skip]
    if not keep:
        return np.zeros(len(labels), dtype=np.int64)
    if float(np.prod([float(sizes[k]) for k in keep])) < 2.0**62:
        key = np.zeros(len(labels), dtype=np.int64)
        for k in keep:
            key = key * sizes[k] + labels[:, k]
        return key
    return np.unique(labels[:, keep], axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)


@dataclass
class LabelledImages:
    """Images with one discrete factor vector each, the data of one ``--dataset NAME:PATH``.

    Args:
        name: the ``--dataset`` kind (``dsprites``, ``3dshapes``, ...).
        path: the user's file or folder.
        store: the pixels (see :class:`ImageStore`); uint8 stores hold 0..255 unless
            ``pixel_scale`` says otherwise (dSprites holds 0/1).
        factor_names: K factor names, in column order of ``labels``.
        labels: ``(N, K)`` int factor indices; factor ``k`` takes ``0 .. factors_num_values[k] - 1``.
        factors_num_values: K ints (how many values each factor takes).
        factor_values: optional, per factor, the physical value of each index (degrees,
            scales, ...) for reports; indices are ordered like the values.
        intrinsic_factors: identity-like factors (object, shape, chair): by default they
            share DC-IGN's intrinsic latent group; every other factor gets one latent.
        test_mask: ``(N,)`` bool, True for test images; None means no held-out split
            (train and test are then all images, as disentanglement_lib evaluates).
        split_note: how the split was made (stated in reports).
        pixel_scale: multiplies stored integers to reach [0, 1] (1/255 by default).
        metrics_split: the split the metrics score by default: 'test' where the held-out
            images are whole objects (every factor combination of them exists), 'all'
            where there is no such split (disentanglement_lib scores all images).
        rebuild: ``(callable, args)`` that re-opens this data set (pickling sends only that).

    Raises:
        DataSourceError: inconsistent labels (wrong shape, indices outside the sizes).
    """

    name: str
    path: object
    store: ImageStore
    factor_names: tuple[str, ...]
    labels: np.ndarray
    factors_num_values: list[int]
    factor_values: dict[str, np.ndarray] = field(default_factory=dict)
    intrinsic_factors: tuple[str, ...] = ()
    test_mask: np.ndarray | None = None
    split_note: str = "no held-out split: train and test are all images"
    pixel_scale: float = 1.0 / 255.0
    metrics_split: str = "all"
    rebuild: tuple[Callable, tuple] | None = None
    _groups: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.factor_names = tuple(self.factor_names)
        self.factors_num_values = [int(n) for n in self.factors_num_values]
        labels = np.asarray(self.labels)
        n, k = len(self.store), len(self.factor_names)
        if labels.shape != (n, k):
            raise DataSourceError(f"{self.name}: {n} images but labels of shape {labels.shape} (need ({n}, {k}))")
        if len(self.factors_num_values) != k:
            raise DataSourceError(f"{self.name}: {k} factor names but {len(self.factors_num_values)} factor sizes")
        if n and ((labels.min(axis=0) < 0).any() or (labels.max(axis=0) >= np.array(self.factors_num_values)).any()):
            raise DataSourceError(f"{self.name}: factor indices outside 0..size-1")
        self.labels = labels.astype(np.int32 if max(self.factors_num_values, default=1) < 2**31 else np.int64)
        for name in self.intrinsic_factors:
            self.factor_index(name)
        if self.test_mask is not None:
            self.test_mask = np.asarray(self.test_mask, dtype=bool).reshape(-1)
            if len(self.test_mask) != n:
                raise DataSourceError(f"{self.name}: test mask has {len(self.test_mask)} entries for {n} images")

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.store)

    def __reduce__(self):
        if self.rebuild is None:
            raise TypeError(f"{self.name} data set cannot be pickled (no rebuild recipe)")
        return self.rebuild

    @property
    def num_factors(self) -> int:
        return len(self.factor_names)

    @property
    def native_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of the images as stored."""
        return tuple(self.store.shape)

    @property
    def native_channels(self) -> int:
        return int(self.store.shape[2])

    def factor_index(self, name: str) -> int:
        """Column of factor ``name``.

        Raises:
            DataSourceError: unknown factor (the message lists the known ones).
        """
        if name not in self.factor_names:
            raise DataSourceError(f"{self.name} has no factor {name!r}; its factors are {', '.join(self.factor_names)}")
        return self.factor_names.index(name)

    def split_indices(self, split: str) -> np.ndarray:
        """Image indices of ``split`` ('train', 'test' or 'all'), int64, ascending.

        Without a held-out split, 'train' and 'test' are all images.

        Raises:
            ValueError: unknown split.
        """
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
        if split == "all" or self.test_mask is None:
            return np.arange(len(self), dtype=np.int64)
        return np.flatnonzero(self.test_mask if split == "test" else ~self.test_mask).astype(np.int64)

    # ------------------------------------------------------------------ pixels
    def images(self, indices, channels: int = 1, size: int | None = None) -> np.ndarray:
        """Read images by index.

        Args:
            indices: ``(n,)`` image indices (any order, repeats allowed).
            channels: 1 (grey, the paper's input) or 3 (RGB; grey sources are repeated).
            size: output side S in pixels (default: the stored size; must then be square).

        Returns:
            ``(n, channels, S, S)`` float32 in [0, 1].

        Raises:
            ValueError: bad channel count, indices outside the data, or non-square
                images without a ``size``.
        """
        return read_images(self.store, indices, channels, size, self.pixel_scale, self.name)

    # ------------------------------------------------------------------ batches
    def groups(self, factor: str, split: str = "train") -> _Groups:
        """Images of ``split`` grouped on all factors but ``factor`` (cached).

        Only groups in which ``factor`` takes at least 2 values are kept: each is a pool
        for one-factor batches of ``factor``.
        """
        key = (factor, split)
        if key not in self._groups:
            k = self.factor_index(factor)
            rows = self.split_indices(split)
            other = _mixed_radix(self.labels[rows], self.factors_num_values, skip=k)
            sort = np.lexsort((self.labels[rows, k], other))
            other, values = other[sort], self.labels[rows, k][sort]
            if len(rows):
                edges = np.flatnonzero(np.diff(other)) + 1
                starts = np.concatenate([[0], edges])
                stops = np.concatenate([edges, [len(rows)]])
                # values are sorted inside a group: it varies iff first != last
                varies = values[starts] != values[stops - 1]
            else:
                starts = stops = np.zeros(0, dtype=np.int64)
                varies = np.zeros(0, dtype=bool)
            dtype = np.int32 if len(self) < 2**31 else np.int64
            self._groups[key] = _Groups(rows[sort].astype(dtype), starts[varies], stops[varies])
        return self._groups[key]

    def check_one_factor(self, factor: str, split: str = "train") -> None:
        """Raise DataSourceError unless some images of ``split`` differ only in ``factor``."""
        if len(self.groups(factor, split).starts) == 0:
            raise DataSourceError(
                f"{self.name}: no two {split} images differ only in factor {factor!r} (each combination of the other "
                f"factors has a single {factor} value), so no one-factor batch of {factor} can be made; "
                "label more images per combination, use fewer bins for continuous factors, or drop the factor"
            )

    def one_factor_batch(self, rng: np.random.Generator, factor: str, batch_size: int, split: str = "train") -> np.ndarray:
        """``(batch_size,)`` image indices that share every factor but ``factor`` (paper §3.1).

        A group (one combination of the other factors) is drawn uniformly among those in
        which ``factor`` varies; inside it, images are drawn without replacement (with
        replacement once the group is used up, e.g. the 3 shapes of dSprites in a batch
        of 20), so the batch shows as many distinct values of ``factor`` as the group has.

        Raises:
            DataSourceError: ``factor`` never varies alone in ``split`` (see :meth:`check_one_factor`).
            ValueError: ``batch_size`` < 2.
        """
        if batch_size < 2:
            raise ValueError(f"a one-factor batch needs at least 2 images, got batch_size={batch_size}")
        self.check_one_factor(factor, split)
        g = self.groups(factor, split)
        j = int(rng.integers(len(g.starts)))
        members = g.order[g.starts[j]:g.stops[j]].astype(np.int64)
        if len(members) >= batch_size:
            return rng.choice(members, size=batch_size, replace=False)
        extra = rng.choice(members, size=batch_size - len(members), replace=True)
        return np.concatenate([rng.permutation(members), extra])

    def random_batch(self, rng: np.random.Generator, n: int, split: str = "train") -> np.ndarray:
        """``(n,)`` image indices drawn uniformly (with replacement) from ``split``."""
        rows = self.split_indices(split)
        if len(rows) == 0:
            raise DataSourceError(f"{self.name}: the {split} split holds no images")
        return rows[rng.integers(len(rows), size=n)]

    def pair_batch(self, rng: np.random.Generator, n: int, split: str = "train", max_tries: int = 50) -> np.ndarray:
        """``(2n,)`` indices: image i and image n+i share all factors but k random ones (k in 1..K-1).

        Ada-GVAE's weak supervision (Locatello et al. 2020).  The second image is drawn
        among the split's images that match the first on the kept factors and differ on
        the changed ones; when no such image exists after ``max_tries`` draws, the pair
        differs in one factor (a one-factor pair always exists once one-factor batches do).

        Raises:
            DataSourceError: no factor varies alone in ``split``.
        """
        varying = [f for f in self.factor_names if len(self.groups(f, split).starts)]
        if not varying:
            self.check_one_factor(self.factor_names[0], split)
        rows = self.split_indices(split)
        lookup = self._lookup(split)
        firsts, seconds = [], []
        for _ in range(n):
            for _ in range(max_tries):
                a = int(rows[rng.integers(len(rows))])
                k = int(rng.integers(1, max(2, self.num_factors)))
                changed = rng.choice(self.num_factors, size=min(k, self.num_factors), replace=False)
                target = self.labels[a].astype(np.int64).copy()
                for c in changed:
                    others = [v for v in range(self.factors_num_values[c]) if v != target[c]]
                    target[c] = others[int(rng.integers(len(others)))]
                hit = lookup(target[None])[0]
                if hit >= 0:
                    firsts.append(a)
                    seconds.append(hit)
                    break
            else:  # fall back to a one-factor pair
                f = varying[int(rng.integers(len(varying)))]
                pair = self.one_factor_batch(rng, f, 2, split)
                while self.labels[pair[0], self.factor_index(f)] == self.labels[pair[1], self.factor_index(f)]:
                    pair = self.one_factor_batch(rng, f, 2, split)
                firsts.append(int(pair[0]))
                seconds.append(int(pair[1]))
        return np.array(firsts + seconds, dtype=np.int64)

    def _lookup(self, split: str) -> Callable[[np.ndarray], np.ndarray]:
        """A function ``(m, K) factor rows -> (m,) image index of one match, -1 where none``."""
        cache = self._groups.get(("lookup", split))
        if cache is None:
            rows = self.split_indices(split)
            keys = _mixed_radix(self.labels[rows], self.factors_num_values)
            sort = np.argsort(keys, kind="stable")
            cache = (keys[sort], rows[sort])
            self._groups[("lookup", split)] = cache
        sorted_keys, sorted_rows = cache
        sizes = self.factors_num_values

        def find(factors: np.ndarray) -> np.ndarray:
            factors = np.asarray(factors, dtype=np.int64)
            if float(np.prod([float(s) for s in sizes])) >= 2.0**62:
                raise DataSourceError(f"{self.name}: too many factor combinations to look up")
            key = np.zeros(len(factors), dtype=np.int64)
            for k, s in enumerate(sizes):
                key = key * s + factors[:, k]
            pos = np.searchsorted(sorted_keys, key)
            ok = (pos < len(sorted_keys)) & (sorted_keys[np.minimum(pos, len(sorted_keys) - 1)] == key)
            return np.where(ok, sorted_rows[np.minimum(pos, len(sorted_rows) - 1)], -1)

        return find

    def ground_truth(self, split: str | None = None, channels: int = 1, size: int | None = None):
        """This data as disentanglement_lib ground-truth data for :mod:`dcign.metrics`.

        See :class:`dcign.data.sources.ground_truth.LabelledGroundTruth`; ``split`` defaults
        to :attr:`metrics_split`.
        """
        from .ground_truth import LabelledGroundTruth

        return LabelledGroundTruth(self, split or self.metrics_split, channels, size)

    def describe(self) -> dict:
        """JSON-serialisable summary: factors, sizes, image shape, split (for run configs and reports)."""
        return {
            "dataset": self.name,
            "path": str(self.path),
            "num_images": len(self),
            "native_shape": list(self.native_shape),
            "factor_names": list(self.factor_names),
            "factors_num_values": list(self.factors_num_values),
            "intrinsic_factors": list(self.intrinsic_factors),
            "num_train": int(len(self.split_indices("train"))),
            "num_test": int(len(self.split_indices("test"))),
            "split": self.split_note,
            "metrics_split": self.metrics_split,
        }


def read_images(store: ImageStore, indices, channels: int, size: int | None, pixel_scale: float, name: str) -> np.ndarray:
    """Images ``indices`` of ``store`` as ``(n, channels, S, S)`` float32 in [0, 1] (see :meth:`LabelledImages.images`)."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= len(store)):
        raise ValueError(f"image indices must lie in 0..{len(store) - 1}")
    h, w, _ = store.shape
    if size is None:
        if h != w:
            raise ValueError(f"{name} images are {h}x{w}; pass a size to resize them to a square")
        size = h
    uniq, inverse = np.unique(idx, return_inverse=True)  # sorted, once each: friendly to h5py and memmaps
    raw = np.asarray(store.read(uniq))
    x = raw.astype(np.float32)
    if raw.dtype.kind in "ui":
        x *= np.float32(pixel_scale)
    x = np.clip(x, 0.0, 1.0)
    if x.shape[-1] == 3 and channels == 1:
        x = (x @ LUMA)[..., None]
    elif x.shape[-1] == 1 and channels == 3:
        x = np.repeat(x, 3, axis=-1)
    x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    if (h, w) != (size, size):
        x = resize(x, size)
    return np.ascontiguousarray(x[inverse.reshape(-1)])


def resize(x: np.ndarray, size: int) -> np.ndarray:
    """``(N, C, H, W)`` float32 -> ``(N, C, size, size)``: area averaging down, bilinear up."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(x))
    if size <= min(x.shape[2], x.shape[3]):
        out = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    else:
        out = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    return out.clamp_(0.0, 1.0).numpy()


def hold_out_values(num_values: int, fraction: float, seed: int) -> np.ndarray:
    """Seeded choice of ``max(1, round(fraction * num_values))`` values to hold out (sorted).

    Raises:
        DataSourceError: fewer than 2 values (nothing would be left to train on).
    """
    if not 0 < fraction < 1:
        raise ValueError(f"test fraction must lie strictly between 0 and 1, got {fraction!r}")
    if num_values < 2:
        raise DataSourceError("a split needs at least 2 values of the split factor")
    k = min(num_values - 1, max(1, int(round(fraction * num_values))))
    return np.sort(np.random.default_rng([seed, 0x5E1]).choice(num_values, size=k, replace=False))


def split_by_factor(labels: np.ndarray, column: int, num_values: int, fraction: float, seed: int) -> np.ndarray:
    """Test mask holding out a seeded ``fraction`` of the values of factor ``column``."""
    held = hold_out_values(num_values, fraction, seed)
    return np.isin(labels[:, column], held)


def split_images(num_images: int, fraction: float, seed: int) -> np.ndarray:
    """Test mask holding out a seeded ``fraction`` of the images."""
    if not 0 < fraction < 1:
        raise ValueError(f"test fraction must lie strictly between 0 and 1, got {fraction!r}")
    rng = np.random.default_rng([seed, 0x5E2])
    mask = np.zeros(num_images, dtype=bool)
    mask[rng.choice(num_images, size=max(1, int(round(fraction * num_images))), replace=False)] = True
    return mask


def index_values(values: np.ndarray, name: str, expected: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Map a column of factor values to indices 0..n-1 (sorted by value).

    Returns:
        ``(indices, distinct values)``.

    Raises:
        DataSourceError: the column takes a different number of values than ``expected``.
    """
    uniq, idx = np.unique(values, return_inverse=True)
    if expected is not None and len(uniq) != expected:
        raise DataSourceError(f"factor {name} takes {len(uniq)} distinct values, the published layout has {expected}")
    return idx.reshape(-1).astype(np.int64), uniq
