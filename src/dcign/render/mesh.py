"""Triangle meshes as the renderer consumes them.

A :class:`Mesh` is an indexed triangle mesh in object space: the object sits around
the origin, +y is up, +z points toward the camera when azimuth = elevation = 0, and
the object fits inside the unit-ish box [-1.1, 1.1]^3 that the orthographic camera
frames (see :mod:`dcign.render.renderer`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Mesh:
    """An indexed triangle mesh with per-vertex normals and grey albedo.

    Attributes:
        positions: (V, 3) float32 vertex positions, object space.
        normals: (V, 3) float32 unit vertex normals (outward).
        albedo: (V,) float32 grey reflectance in [0, 1].
        triangles: (T, 3) int32 vertex indices, counter-clockwise seen from outside.
        detail: optional (H, W) float32 detail texture, a multiplier of the albedo (1 = no
            change; values above 1 brighten, e.g. the white of the eyes).  Meshes of one model
            share the same array.  Row 0 is texture coordinate v = 0.
        uvs: (V, 2) float32 texture coordinates in [0, 1] (required with ``detail``).
        detail_weight: (V,) float32 in [0, 1], how much of the detail texture applies at each
            vertex (0 where the texture coordinates mean nothing, e.g. an added back of a head).
    """

    positions: np.ndarray
    normals: np.ndarray
    albedo: np.ndarray
    triangles: np.ndarray
    detail: np.ndarray | None = None
    uvs: np.ndarray | None = None
    detail_weight: np.ndarray | None = None

    def __post_init__(self) -> None:
        v = self.positions.shape[0]
        if self.positions.shape != (v, 3) or self.normals.shape != (v, 3):
            raise ValueError("Mesh positions and normals must both have shape (V, 3)")
        if self.albedo.shape != (v,):
            raise ValueError(f"Mesh albedo must have shape ({v},), got {self.albedo.shape}")
        if self.triangles.ndim != 2 or self.triangles.shape[1] != 3:
            raise ValueError("Mesh triangles must have shape (T, 3)")
        if self.triangles.size and (self.triangles.min() < 0 or self.triangles.max() >= v):
            raise ValueError("Mesh triangles index vertices that do not exist")
        if self.detail is not None:
            if self.detail.ndim != 2 or self.uvs is None or self.uvs.shape != (v, 2):
                raise ValueError("a Mesh detail texture must be (H, W) and come with uvs of shape (V, 2)")
            if self.detail_weight is None or self.detail_weight.shape != (v,):
                raise ValueError(f"a Mesh detail texture needs detail_weight of shape ({v},)")

    @property
    def num_vertices(self) -> int:
        return int(self.positions.shape[0])

    @property
    def num_triangles(self) -> int:
        return int(self.triangles.shape[0])



def identity_coefficients(identity, dim: int, what: str) -> np.ndarray:
    """``identity`` as a (dim,) float64 array of finite coefficients.

    ``what`` names the model in the error (e.g. 'face', 'BFM').

    Raises:
        ValueError: wrong length or non-finite coefficients.
    """
    c = np.asarray(identity, dtype=np.float64)
    if c.shape != (dim,):
        raise ValueError(f"a {what} identity has {dim} coefficients, got shape {c.shape}")
    if not np.all(np.isfinite(c)):
        raise ValueError(f"{what} identity coefficients must be finite")
    return c

def vertex_normals(positions: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals of a triangle mesh.

    Args:
        positions: (V, 3) vertex positions.
        triangles: (T, 3) vertex indices, counter-clockwise seen from outside.

    Returns:
        (V, 3) float32 unit normals (a vertex on no triangle gets (0, 0, 1)).
    """
    p = positions.astype(np.float64)
    a, b, c = p[triangles[:, 0]], p[triangles[:, 1]], p[triangles[:, 2]]
    face_n = np.cross(b - a, c - a)  # length = 2 * area: area weighting for free
    v = positions.shape[0]
    n = np.zeros((v, 3))
    for corner in range(3):
        idx = triangles[:, corner]
        for axis in range(3):
            n[:, axis] += np.bincount(idx, weights=face_n[:, axis], minlength=v)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    n = np.where(length > 0, n / np.maximum(length, 1e-12), np.array([0.0, 0.0, 1.0]))
    return n.astype(np.float32)


def merge(meshes: list[Mesh]) -> Mesh:
    """Concatenate meshes into one (indices are offset accordingly)."""
    if not meshes:
        raise ValueError("merge() needs at least one mesh")
    offsets = np.cumsum([0] + [m.num_vertices for m in meshes[:-1]])
    return Mesh(
        positions=np.concatenate([m.positions for m in meshes]).astype(np.float32),
        normals=np.concatenate([m.normals for m in meshes]).astype(np.float32),
        albedo=np.concatenate([m.albedo for m in meshes]).astype(np.float32),
        triangles=np.concatenate([m.triangles + o for m, o in zip(meshes, offsets)]).astype(np.int32),
    )


_BOX_CORNERS = np.array(
    [[-1, -1, -1], [1, -1, -1], [1, 1, -1], [-1, 1, -1], [-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]],
    dtype=np.float64,
)
# Each face: 4 corner indices counter-clockwise seen from outside, and its outward normal.
_BOX_FACES = (
    ((4, 5, 6, 7), (0, 0, 1)),
    ((1, 0, 3, 2), (0, 0, -1)),
    ((5, 1, 2, 6), (1, 0, 0)),
    ((0, 4, 7, 3), (-1, 0, 0)),
    ((7, 6, 2, 3), (0, 1, 0)),
    ((0, 1, 5, 4), (0, -1, 0)),
)


def box(center, size, albedo: float, rotation: np.ndarray | None = None) -> Mesh:
    """A flat-shaded cuboid (24 vertices, 12 triangles).

    Args:
        center: (3,) centre in object space.
        size: (3,) full edge lengths along x, y, z before rotation.
        albedo: grey reflectance in [0, 1].
        rotation: optional (3, 3) rotation applied about the box centre.
    """
    half = np.asarray(size, dtype=np.float64) / 2.0
    rot = np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64)
    corners = (_BOX_CORNERS * half) @ rot.T + np.asarray(center, dtype=np.float64)
    positions, normals, triangles = [], [], []
    for k, (quad, normal) in enumerate(_BOX_FACES):
        positions.append(corners[list(quad)])
        normals.append(np.repeat((rot @ np.asarray(normal, dtype=np.float64))[None], 4, axis=0))
        base = 4 * k
        triangles += [[base, base + 1, base + 2], [base, base + 2, base + 3]]
    return Mesh(
        positions=np.concatenate(positions).astype(np.float32),
        normals=np.concatenate(normals).astype(np.float32),
        albedo=np.full(24, albedo, dtype=np.float32),
        triangles=np.asarray(triangles, dtype=np.int32),
    )
