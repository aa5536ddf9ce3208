"""The face template: MediaPipe's canonical face mesh, closed into a head and smoothed.

Source: the canonical face mesh of MediaPipe's face geometry module (468 vertices with UVs,
898 triangles, units cm, +y up, +z toward the viewer; Apache-2.0, see ``assets/NOTICE``),
extracted once from the npm package ``@mediapipe/face_mesh`` by
``scripts/extract_face_template.py`` into ``assets/canonical_face_mesh.npz``.  Its checksum is
recorded beside it (``canonical_face_mesh.sha256``) and checked on load.

The raw mesh is a face mask: it ends at an open border (forehead, temples, jaw).  Seen from the
side it would show its inside, so :func:`head_template` closes the border with a smooth back of
the head (great-circle arcs from each border vertex to the back pole of a head-sized ellipsoid,
settling onto the ellipsoid within the first rings): 1,438 triangles, whose silhouettes stay
smooth at 150 px under per-vertex normals.  :func:`loop_subdivide` refines it further on request.
The first 468 vertices keep MediaPipe's landmark numbering and texture coordinates.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

NUM_LANDMARKS = 468
BACK_RINGS = 8  # arcs from the border to the back pole are cut into this many segments
HEAD_CENTRE = (0.0, 0.5, -2.5)  # cm: the back of the head is half of this ellipsoid
HEAD_AXES = (7.8, 10.0, 9.0)  # cm: head depth about 19 cm from the nose tip

# MediaPipe landmark numbers of the regions the albedo and shape modes are placed on (the
# subject's right is image-left, x < 0).  Contours are in order around each region.
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
LIPS_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
RIGHT_BROW = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46)
LEFT_BROW = (300, 293, 334, 296, 336, 285, 295, 282, 283, 276)
NOSE_TIP, NOSE_BRIDGE, NASION, CHIN, FOREHEAD = 4, 6, 168, 152, 10
NOSE_WINGS = (129, 358)
CHEEKS = (50, 280)
JAW_ANGLES = (172, 397)
MOUTH_CENTRE = (13, 14)


def _asset(name: str):
    return resources.files("dcign.render").joinpath("assets", name)


@lru_cache(maxsize=1)
def load_canonical_mesh() -> dict[str, np.ndarray]:
    """MediaPipe's canonical face mesh as shipped in the package.

    Returns:
        ``vertices`` (468, 3) float64 cm, ``uvs`` (468, 2), ``triangles`` (898, 3) int64
        (counter-clockwise seen from the front).

    Raises:
        RuntimeError: the shipped file does not match its recorded SHA-256 (a corrupt install).
    """
    data = _asset("canonical_face_mesh.npz").read_bytes()
    expected = _asset("canonical_face_mesh.sha256").read_text().split()[0]
    if hashlib.sha256(data).hexdigest() != expected:
        raise RuntimeError(
            "the packaged face template canonical_face_mesh.npz does not match its checksum; "
            "reinstall dcign or re-extract it with scripts/extract_face_template.py"
        )
    import io

    with np.load(io.BytesIO(data)) as z:
        return {
            "vertices": z["vertices"].astype(np.float64),
            "uvs": z["uvs"].astype(np.float64),
            "triangles": z["triangles"].astype(np.int64),
        }


def border_loop(triangles: np.ndarray) -> np.ndarray:
    """The mesh's single open border as a vertex loop, ordered as its edges run in the triangles.

    Raises:
        ValueError: the border is not one simple loop.
    """
    directed = {(int(t[i]), int(t[(i + 1) % 3])) for t in triangles for i in range(3)}
    nxt = {a: b for a, b in directed if (b, a) not in directed}
    if not nxt:
        raise ValueError("the mesh has no open border")
    start = next(iter(nxt))
    loop = [start]
    while nxt[loop[-1]] != start:
        loop.append(nxt[loop[-1]])
        if len(loop) > len(nxt):
            raise ValueError("the mesh border is not one simple loop")
    if len(loop) != len(nxt):
        raise ValueError("the mesh has more than one open border")
    return np.asarray(loop)


def _close_with_back(v: np.ndarray, uv: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add the back of the head: rings of arcs from the border to the back pole of an ellipsoid.

    Returns vertices, texture coordinates (back vertices copy their border vertex's) and triangles.
    """
    loop = border_loop(t)
    n = len(loop)
    p = v[loop]
    centre, axes = np.asarray(HEAD_CENTRE), np.asarray(HEAD_AXES)
    d0 = (p - centre) / axes  # border points in the head ellipsoid's unit-sphere frame
    r0 = np.linalg.norm(d0, axis=1, keepdims=True)
    u0 = d0 / r0
    back = np.array([0.0, 0.0, -1.0])
    angle = np.arccos(np.clip(u0 @ back, -1.0, 1.0))[:, None]
    ortho = back - np.cos(angle) * u0
    ortho /= np.linalg.norm(ortho, axis=1, keepdims=True)
    rings = []
    for k in range(1, BACK_RINGS):
        s = k / BACK_RINGS
        u = np.cos(s * angle) * u0 + np.sin(s * angle) * ortho  # great circle toward the back
        w = min(1.0, 2.5 * s) ** 2 * (3 - 2 * min(1.0, 2.5 * s))  # leave the border, settle on the ellipsoid
        rings.append(centre + axes * u * ((1 - w) * r0 + w))
    pole = centre + axes * back
    base = len(v)
    verts = np.concatenate([v, *rings, pole[None]])
    uvs = np.concatenate([uv, *([uv[loop]] * (BACK_RINGS - 1)), uv[loop].mean(0, keepdims=True)])
    ring_index = [loop] + [base + k * n + np.arange(n) for k in range(BACK_RINGS - 1)]
    tris = [t]
    for r0, r1 in zip(ring_index[:-1], ring_index[1:]):
        a0, b0, a1, b1 = r0, np.roll(r0, -1), r1, np.roll(r1, -1)
        # Border edges run a0 -> b0 in the face triangles, so the back runs b0 -> a0.
        tris += [np.stack([b0, a0, a1], 1), np.stack([b0, a1, b1], 1)]
    last = ring_index[-1]
    tris.append(np.stack([np.roll(last, -1), last, np.full(n, len(verts) - 1)], 1))
    return verts, uvs, np.concatenate(tris).astype(np.int64)


def loop_subdivide(v: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One step of Loop subdivision of a closed triangle mesh (Loop 1987; Warren's weights).

    Old vertices keep their indices; each edge gets a new vertex; each triangle becomes four.
    """
    e = np.sort(np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]]), axis=1)
    edges, edge_of = np.unique(e, axis=0, return_inverse=True)
    edge_of = edge_of.reshape(3, -1).T  # (T, 3): edge (0,1), (1,2), (2,0) of each triangle
    opposite = np.concatenate([t[:, 2], t[:, 0], t[:, 1]])
    opp_sum = np.zeros((len(edges), 3))
    np.add.at(opp_sum, edge_of.T.reshape(-1), v[opposite])
    edge_v = 0.375 * (v[edges[:, 0]] + v[edges[:, 1]]) + 0.125 * opp_sum
    nbr_sum, valence = np.zeros_like(v), np.zeros(len(v))
    for a, b in ((0, 1), (1, 0)):
        np.add.at(nbr_sum, edges[:, a], v[edges[:, b]])
        np.add.at(valence, edges[:, a], 1)
    beta = np.where(valence > 3, 3.0 / (8.0 * np.maximum(valence, 1)), 3.0 / 16.0)
    old_v = (1 - valence * beta)[:, None] * v + beta[:, None] * nbr_sum
    m = edge_of + len(v)
    a, b, c = t[:, 0], t[:, 1], t[:, 2]
    ab, bc, ca = m[:, 0], m[:, 1], m[:, 2]
    tris = np.concatenate([np.stack(x, 1) for x in ((a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca))])
    return np.concatenate([old_v, edge_v]), tris


@dataclass(frozen=True)
class HeadTemplate:
    """The closed, subdivided head template (units cm, MediaPipe's axes).

    Attributes:
        vertices: (V, 3) float64; the first 468 are MediaPipe's landmarks (smoothed).
        triangles: (T, 3) int64, counter-clockwise seen from outside.
        uvs: (V, 2) float64 MediaPipe texture coordinates (meaningful where ``face`` is 1).
        face: (V,) float64 in [0, 1], 1 on the original face mask, 0 on the added back.
        landmarks: (468, 3) float64 raw landmark positions (before smoothing).
        landmark_uvs: (468, 2) float64 their texture coordinates.
    """

    vertices: np.ndarray
    triangles: np.ndarray
    uvs: np.ndarray
    face: np.ndarray
    landmarks: np.ndarray
    landmark_uvs: np.ndarray


@lru_cache(maxsize=2)
def head_template(subdivisions: int = 0) -> HeadTemplate:
    """The face template closed with a back of the head, Loop-subdivided ``subdivisions`` times.

    With no subdivision: 721 vertices and 1,438 triangles; each subdivision multiplies the
    triangles by four (texture coordinates and the face weight are interpolated linearly).
    """
    raw = load_canonical_mesh()
    v, uv, t = raw["vertices"], raw["uvs"], raw["triangles"]
    n_face = len(v)
    v, uv, t = _close_with_back(v, uv, t)
    face = np.zeros(len(v))
    face[:n_face] = 1.0
    for _ in range(subdivisions):
        e = np.unique(np.sort(np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]]), axis=1), axis=0)
        face = np.concatenate([face, 0.5 * (face[e[:, 0]] + face[e[:, 1]])])
        uv = np.concatenate([uv, 0.5 * (uv[e[:, 0]] + uv[e[:, 1]])])
        v, t = loop_subdivide(v, t)
    return HeadTemplate(vertices=v, triangles=t, uvs=uv, face=face, landmarks=raw["vertices"], landmark_uvs=raw["uvs"])
