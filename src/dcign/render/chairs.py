"""Parametric chairs: the "chairs" object class of the graphics engine.

The DC-IGN paper (Kulkarni et al., NIPS 2015, section 4.2) trains on the 3D chairs
data set of Aubry et al. (CVPR 2014): 1357 CAD chair models rendered from many
azimuths and elevations.  That data set cannot be downloaded here, so this module
replaces it with a procedural family of chairs.  A chair's *identity* is a short
float vector (seat size, back height and tilt, back style, leg style, arms,
stretchers, ...); :meth:`ChairModel.mesh` turns it into a small triangle mesh built
from cuboids and (tapered) cylinders.  The renderer then varies the extrinsic
factors (azimuth, elevation, light) exactly as it does for the face model, which
has the same interface.

Object space (see :mod:`dcign.render.mesh`): +y is up, the chair's front faces +z
(toward the camera at azimuth 0).  After assembly every chair is translated so that
its axis-aligned bounding box is centred on the origin and then uniformly scaled so
that its farthest vertex lies at :data:`FIT_RADIUS` from the origin.  Lengths in the
identity vector are therefore in *design units* (a seat 0.65 to 1 unit wide) that
only matter relative to one another; after the rescale the chair is about 1.2 to 1.9
(median 1.6) object-space units tall (low-backed, stool-like chairs shorter, tall
office-like backs taller) and always fits the renderer's orthographic frame [-1.1, 1.1]^2 at any rotation.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from dcign.render.mesh import _BOX_CORNERS, _BOX_FACES, Mesh

#: Every chair is rescaled so that its farthest vertex is this far from the origin.
FIT_RADIUS = 1.02

# (name, low, high): each identity coefficient is sampled uniformly in [low, high].
# Lengths are in design units, angles in degrees; the "style" / flag entries are
# continuous floats that mesh() thresholds (see ChairModel docstring).
_PARAMETERS: tuple[tuple[str, float, float], ...] = (
    ("seat_width", 0.65, 1.00),
    ("seat_depth", 0.60, 0.95),
    ("seat_height", 0.75, 1.00),  # floor to top of the seat
    ("seat_thickness", 0.05, 0.16),
    ("back_height", 0.25, 1.15),  # above the seat top, along the (tilted) back
    ("back_tilt", 0.0, 22.0),  # degrees, top of the back leans toward -z
    ("back_width", 0.75, 1.0),  # fraction of the seat width
    ("back_style", 0.0, 3.0),  # floor: 0 solid panel, 1 vertical slats, 2 open frame
    ("leg_thickness", 0.05, 0.11),
    ("leg_style", 0.0, 4.0),  # floor: 0 square, 1 round, 2 splayed + tapered, 3 pedestal
    ("leg_splay", 5.0, 15.0),  # degrees, used by splayed legs only
    ("arms", 0.0, 1.0),  # >= 0.5: armrests present
    ("stretchers", 0.0, 1.0),  # >= 0.5: stretcher bars between the legs
    ("arm_height", 0.15, 0.32),  # armrest height above the seat top
    ("albedo", 0.35, 0.85),  # grey reflectance of frame, legs, back
    ("cushion_albedo", 0.35, 0.85),  # grey reflectance of seat (and solid back panel)
)

BACK_STYLES = ("solid", "slats", "frame")
LEG_STYLES = ("square", "round", "splayed", "pedestal")

_ROUND_SIDES = 10  # facets of a round leg / stretcher


def _rot_x(deg: float) -> np.ndarray:
    """Rotation about +x by `deg` degrees (right-handed)."""
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


_BOX_FACE_CORNERS = np.array([quad for quad, _ in _BOX_FACES]).reshape(-1)  # (24,)
_BOX_FACE_NORMALS = np.array([normal for _, normal in _BOX_FACES], dtype=np.float64)  # (6, 3)
_BOX_TRIANGLES = np.array(  # (12, 3), same order as mesh.box
    [t for k in range(6) for t in ([4 * k, 4 * k + 1, 4 * k + 2], [4 * k, 4 * k + 2, 4 * k + 3])]
)
_EYE = np.eye(3)
_X = np.array([1.0, 0.0, 0.0])
_Y = np.array([0.0, 1.0, 0.0])


@lru_cache(maxsize=None)
def _strut_topology(sides: int, smooth: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """cos, sin of the facet corner angles and the (4 * sides, 3) triangle indices."""
    ang = 2.0 * np.pi * np.arange(sides) / sides + np.pi / sides
    k = np.arange(sides)
    k1 = (k + 1) % sides
    if smooth:  # ring0 = 0..n-1, ring1 = n..2n-1
        side = np.concatenate([np.stack([k, k1, sides + k1], 1), np.stack([k, sides + k1, sides + k], 1)])
        n_side = 2 * sides
    else:  # facet k owns vertices 4k .. 4k+3 = ring0[k], ring0[k+1], ring1[k+1], ring1[k]
        q = 4 * k
        side = np.concatenate([np.stack([q, q + 1, q + 2], 1), np.stack([q, q + 2, q + 3], 1)])
        n_side = 4 * sides
    c0, c1 = n_side, n_side + sides + 1  # cap centres, each followed by its ring
    caps = np.concatenate(
        [
            np.stack([np.full(sides, c0), c0 + 1 + k1, c0 + 1 + k], 1),  # facing -axis
            np.stack([np.full(sides, c1), c1 + 1 + k, c1 + 1 + k1], 1),  # facing +axis
        ]
    )
    tri = np.concatenate([side, caps])
    tri.flags.writeable = False  # shared through the cache
    return np.cos(ang), np.sin(ang), tri


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product of two 3-vectors (cheaper than np.cross for one pair)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


class _Builder:
    """Collects cuboids and struts; :meth:`build` turns them into one mesh's arrays.

    Cuboids are batched and built in one vectorised step with exactly the layout of
    :func:`dcign.render.mesh.box` (24 vertices, 12 triangles each), which keeps a
    whole chair well under the 5 ms budget.
    """

    def __init__(self) -> None:
        self._boxes: list[tuple[np.ndarray, np.ndarray, float, np.ndarray]] = []
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, float]] = []

    def box(self, center, size, albedo: float, rotation: np.ndarray | None = None) -> None:
        """Add a cuboid (arguments as :func:`dcign.render.mesh.box`)."""
        rot = _EYE if rotation is None else np.asarray(rotation, dtype=np.float64)
        half = np.asarray(size, dtype=np.float64) / 2.0
        self._boxes.append((np.asarray(center, dtype=np.float64), half, albedo, rot))

    def strut(
        self, p0, p1, r0: float, r1: float, albedo: float, sides: int = _ROUND_SIDES, smooth: bool = True
    ) -> None:
        """Add a closed (tapered) prism / cylinder (arguments as :func:`strut`)."""
        p0 = np.asarray(p0, dtype=np.float64)
        p1 = np.asarray(p1, dtype=np.float64)
        axis = p1 - p0
        length = float(np.sqrt(axis @ axis))
        if not length > 0.0:
            raise ValueError("strut() needs two distinct end points")
        d = axis / length
        helper = _X if abs(d[0]) < 0.9 else _Y
        u = _cross(helper, d)
        u /= np.sqrt(u @ u)
        w = _cross(d, u)  # (u, w, d) is right-handed: angles grow counter-clockwise about d
        cos, sin, tri = _strut_topology(sides, smooth)
        radial = cos[:, None] * u + sin[:, None] * w  # (sides, 3)
        ring0 = p0 + r0 * radial
        ring1 = p1 + r1 * radial
        if smooth:
            side_n = radial + ((r0 - r1) / length) * d  # cone-frustum normal
            side_n /= np.sqrt((side_n**2).sum(1, keepdims=True))
            side_pos = np.concatenate([ring0, ring1])
            side_nrm = np.concatenate([side_n, side_n])
        else:
            k1 = np.roll(np.arange(sides), -1)
            side_pos = np.stack([ring0, ring0[k1], ring1[k1], ring1], axis=1).reshape(-1, 3)
            half = np.pi / sides
            mid = np.cos(half) * radial + np.sin(half) * _cross_rows(d, radial)  # facet mid-directions
            mid /= np.sqrt((mid**2).sum(1, keepdims=True))
            fn = mid + ((r0 - r1) * np.cos(half) / length) * d  # planar trapezoid normal
            fn /= np.sqrt((fn**2).sum(1, keepdims=True))
            side_nrm = np.repeat(fn, 4, axis=0)
        cap_pos = np.concatenate([p0[None], ring0, p1[None], ring1])
        cap_nrm = np.concatenate([np.broadcast_to(-d, (sides + 1, 3)), np.broadcast_to(d, (sides + 1, 3))])
        positions = np.concatenate([side_pos, cap_pos])
        self._parts.append((positions, np.concatenate([side_nrm, cap_nrm]), tri, albedo))

    def build(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(positions (V,3) float64, normals (V,3) float64, albedo (V,), triangles (T,3))."""
        parts = list(self._parts)
        if self._boxes:
            centre = np.array([b[0] for b in self._boxes])  # (B, 3)
            half = np.array([b[1] for b in self._boxes])
            alb = np.array([b[2] for b in self._boxes])
            rot = np.array([b[3] for b in self._boxes])  # (B, 3, 3)
            scaled = _BOX_CORNERS[None] * half[:, None, :]  # (B, 8, 3)
            corners = np.einsum("bkj,bij->bki", scaled, rot) + centre[:, None, :]
            normals = np.einsum("fj,bij->bfi", _BOX_FACE_NORMALS, rot)  # (B, 6, 3)
            nb = len(self._boxes)
            parts.append(
                (
                    corners[:, _BOX_FACE_CORNERS].reshape(-1, 3),
                    np.repeat(normals, 4, axis=1).reshape(-1, 3),
                    (_BOX_TRIANGLES[None] + 24 * np.arange(nb)[:, None, None]).reshape(-1, 3),
                    np.repeat(alb, 24),
                )
            )
        positions, normals, albedo, triangles = [], [], [], []
        offset = 0
        for pos, nrm, tri, alb in parts:
            positions.append(pos)
            normals.append(nrm)
            albedo.append(np.broadcast_to(np.asarray(alb, dtype=np.float64), (pos.shape[0],)))
            triangles.append(tri + offset)
            offset += pos.shape[0]
        return (
            np.concatenate(positions),
            np.concatenate(normals),
            np.concatenate(albedo),
            np.concatenate(triangles),
        )


def _cross_rows(a: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Cross product of one 3-vector `a` with each row of (N, 3) `rows`."""
    x, y, z = rows[:, 0], rows[:, 1], rows[:, 2]
    return np.stack([a[1] * z - a[2] * y, a[2] * x - a[0] * z, a[0] * y - a[1] * x], axis=1)



def _to_mesh(arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> Mesh:
    positions, normals, albedo, triangles = arrays
    return Mesh(
        positions=positions.astype(np.float32),
        normals=normals.astype(np.float32),
        albedo=albedo.astype(np.float32),
        triangles=triangles.astype(np.int32),
    )


def strut(p0, p1, r0: float, r1: float, albedo: float, sides: int = _ROUND_SIDES, smooth: bool = True) -> Mesh:
    """A closed (tapered) prism / cylinder from point `p0` to point `p1`.

    Args:
        p0, p1: (3,) centres of the two end caps, object space.
        r0, r1: radii at `p0` and `p1` (object-space units, > 0).
        albedo: grey reflectance in [0, 1].
        sides: number of facets around the axis (>= 3).
        smooth: smooth (cylinder-like) side normals if True, flat facets otherwise.

    Returns:
        A :class:`Mesh` with 4 * sides triangles (sides + 2 fan caps),
        counter-clockwise seen from outside, with outward unit normals.

    Raises:
        ValueError: if `p0` and `p1` coincide.
    """
    b = _Builder()
    b.strut(p0, p1, r0, r1, albedo, sides=sides, smooth=smooth)
    return _to_mesh(b.build())


class ChairModel:
    """A procedural family of chairs standing in for the 3D chairs data set.

    This replaces the paper's training data (the 3D chairs data set of Aubry et
    al., CVPR 2014, which cannot be downloaded here) with parametric chairs built
    from cuboids and cylinders.  The identity vector has ``identity_dim`` = 16
    float entries, in the order of :attr:`identity_names`:

    ====================  ============  ===============================================
    name                  range         meaning
    ====================  ============  ===============================================
    seat_width            0.65 - 1.0    seat extent along x (design units)
    seat_depth            0.60 - 0.95   seat extent along z (design units)
    seat_height           0.75 - 1.0    floor to top of the seat (design units)
    seat_thickness        0.05 - 0.16   seat slab thickness (design units)
    back_height           0.25 - 1.15   back length above the seat (design units);
                                        short values give stool-like low backs
    back_tilt             0 - 22        backward lean of the back, degrees
    back_width            0.75 - 1.0    back width as a fraction of the seat width
    back_style            0 - 3         floor(): 0 solid panel, 1 vertical slats
                                        between two posts, 2 open ladder frame (posts,
                                        top rail, low rail, middle rail if tall)
    leg_thickness         0.05 - 0.11   leg width / diameter (design units)
    leg_style             0 - 4         floor(): 0 square (with an apron), 1 round,
                                        2 splayed tapered round, 3 office pedestal
                                        (column on a five-spoke base with casters)
    leg_splay             5 - 15        outward lean of splayed legs, degrees
                                        (ignored by the other leg styles)
    arms                  0 - 1         armrests present iff >= 0.5
    stretchers            0 - 1         stretcher bars between the legs iff >= 0.5
                                        (ignored by the pedestal)
    arm_height            0.15 - 0.32   armrest height above the seat (design units),
                                        capped at the back's height
    albedo                0.35 - 0.85   grey reflectance of frame, legs and back
    cushion_albedo        0.35 - 0.85   grey reflectance of the seat (and of a solid
                                        back panel)
    ====================  ============  ===============================================

    :meth:`sample_identity` draws every entry uniformly in its range (so arms and
    stretchers are each present half of the time, each back style has probability
    1/3 and each leg style 1/4).  :meth:`mesh` clips out-of-range entries into their ranges, so any finite
    vector (e.g. an interpolation between two identities) gives a valid chair.

    Because the finished mesh is centred and rescaled to a fixed bounding-sphere
    radius (:data:`FIT_RADIUS`), the length entries act only through their ratios.
    """

    name = "chairs"
    version = "chairs-v1"
    identity_names: tuple[str, ...] = tuple(p[0] for p in _PARAMETERS)
    identity_dim: int = len(_PARAMETERS)
    _low = np.array([p[1] for p in _PARAMETERS], dtype=np.float64)
    _high = np.array([p[2] for p in _PARAMETERS], dtype=np.float64)

    @property
    def identity_low(self) -> np.ndarray:
        """(identity_dim,) lower ends of the sampling ranges."""
        return self._low.copy()

    @property
    def identity_high(self) -> np.ndarray:
        """(identity_dim,) upper ends of the sampling ranges."""
        return self._high.copy()

    def sample_identity(self, rng: np.random.Generator) -> np.ndarray:
        """Draw one chair identity, each coefficient uniform in its range.

        Args:
            rng: the only source of randomness used.

        Returns:
            (identity_dim,) float64 identity vector.
        """
        return rng.uniform(self._low, self._high).astype(np.float64)

    def describe(self, identity: np.ndarray) -> dict[str, float | str | bool]:
        """The identity as a readable dict (styles as names, flags as bools)."""
        p = self._params(identity)
        return {
            **{k: float(v) for k, v in p.items() if k not in ("back_style", "leg_style", "arms", "stretchers")},
            "back_style": BACK_STYLES[p["back_style"]],
            "leg_style": LEG_STYLES[p["leg_style"]],
            "arms": p["arms"],
            "stretchers": p["stretchers"],
        }

    def _params(self, identity: np.ndarray) -> dict:
        x = np.asarray(identity, dtype=np.float64)
        if x.shape != (self.identity_dim,):
            raise ValueError(
                f"chair identity must have shape ({self.identity_dim},) "
                f"({', '.join(self.identity_names)}), got shape {x.shape}"
            )
        if not np.all(np.isfinite(x)):
            bad = [n for n, v in zip(self.identity_names, x) if not np.isfinite(v)]
            raise ValueError(f"chair identity must be finite, got non-finite {', '.join(bad)}")
        x = np.clip(x, self._low, self._high)
        p = dict(zip(self.identity_names, x))
        p["back_style"] = int(min(np.floor(p["back_style"]), len(BACK_STYLES) - 1))
        p["leg_style"] = int(min(np.floor(p["leg_style"]), len(LEG_STYLES) - 1))
        p["arms"] = bool(p["arms"] >= 0.5)
        p["stretchers"] = bool(p["stretchers"] >= 0.5)
        return p

    def mesh(self, identity: np.ndarray) -> Mesh:
        """Build the chair's triangle mesh.

        Args:
            identity: (identity_dim,) float vector (see the class docstring);
                out-of-range entries are clipped into their ranges.

        Returns:
            A :class:`Mesh` (about 120 to 520 triangles) centred on the origin,
            front toward +z, +y up, farthest vertex at :data:`FIT_RADIUS`.

        Raises:
            ValueError: if `identity` does not have shape (identity_dim,) or has a
                NaN / infinite entry.
        """
        p = self._params(identity)
        builder = _Builder()
        _assemble(p, builder)
        pos, nrm, alb, tri = builder.build()
        lo, hi = pos.min(axis=0), pos.max(axis=0)
        pos = pos - (lo + hi) / 2.0
        pos *= FIT_RADIUS / np.sqrt((pos**2).sum(axis=1).max())
        return _to_mesh((pos, nrm, alb, tri))


def _assemble(p: dict, b: _Builder) -> None:
    """The chair's parts in design units (floor at y = 0, seat centred on x = z = 0)."""
    W, D = p["seat_width"], p["seat_depth"]
    H, T = p["seat_height"], p["seat_thickness"]
    Hb, tilt = p["back_height"], p["back_tilt"]
    Wb = W * p["back_width"]
    lt = p["leg_thickness"]
    a_frame, a_seat = p["albedo"], p["cushion_albedo"]
    leg_style = LEG_STYLES[p["leg_style"]]
    back_style = BACK_STYLES[p["back_style"]]

    # --- seat -----------------------------------------------------------------
    b.box((0.0, H - T / 2.0, 0.0), (W, T, D), a_seat)

    # --- legs / base ---------------------------------------------------------
    y_top = H - T  # legs end under the seat
    if leg_style == "pedestal":
        _pedestal(b, W, D, y_top, lt, a_frame)
    else:
        _legs(b, p, W, D, y_top, lt, a_frame)

    # --- back -----------------------------------------------------------------
    # Back frame: origin at the seat top's rear edge, local +y along the back,
    # tilted so that its top leans toward -z.
    R = _rot_x(-tilt)
    tb = 0.07 if back_style == "solid" else max(lt, 0.06)  # back depth
    origin = np.array([0.0, H, -D / 2.0 + tb / 2.0])

    def back_box(centre_local, size, albedo):
        b.box(origin + R @ np.asarray(centre_local, dtype=np.float64), size, albedo, rotation=R)

    if back_style == "solid":
        back_box((0.0, (Hb - 0.04) / 2.0, 0.0), (Wb, Hb + 0.04, tb), a_seat)
    else:
        pt = max(lt * 0.9, 0.05)  # post width
        px = Wb / 2.0 - pt / 2.0
        v0 = -T  # posts run down over the seat's rear edge
        for sx in (-1.0, 1.0):
            back_box((sx * px, (v0 + Hb) / 2.0, 0.0), (pt, Hb - v0, tb), a_frame)
        rail_h = min(0.07 + 0.12 * Hb, 0.4 * Hb)
        back_box((0.0, Hb - rail_h / 2.0, 0.0), (Wb, rail_h, tb * 0.9), a_frame)
        if back_style == "slats":
            n = max(2, int(round(Wb / 0.2)))
            inner = Wb - 2 * pt
            slat_w = min(0.06, inner / (2 * n))
            span = Hb - rail_h
            for i in range(n):
                x = -inner / 2.0 + inner * (i + 0.5) / n
                back_box((x, span / 2.0, 0.0), (slat_w, span + 0.02, tb * 0.5), a_frame)
        else:  # open frame: a lower rail, plus a middle rail on tall backs
            low_h = 0.06
            back_box((0.0, 0.08 + low_h / 2.0, 0.0), (Wb, low_h, tb * 0.9), a_frame)
            if Hb > 0.7:
                back_box((0.0, 0.5 * Hb, 0.0), (Wb, low_h, tb * 0.9), a_frame)

    # --- arms -----------------------------------------------------------------
    if p["arms"]:
        arm_h = min(p["arm_height"], 0.85 * Hb * np.cos(np.radians(tilt)))
        aw, at_ = 0.08, 0.05  # armrest width (x) and thickness (y)
        y_arm = H + arm_h
        z_back = -D / 2.0 + tb / 2.0 - arm_h * np.tan(np.radians(tilt))
        z_front = D / 2.0 + 0.03
        ax = W / 2.0 - aw / 2.0
        for sx in (-1.0, 1.0):
            b.box((sx * ax, y_arm + at_ / 2.0, (z_back + z_front) / 2.0), (aw, at_, z_front - z_back), a_frame)
            post = 0.045
            for z in (D / 2.0 - 0.06, -D / 2.0 + tb + 0.04):
                b.box((sx * ax, H + arm_h / 2.0, z), (post, arm_h, post), a_frame)


def _legs(b: _Builder, p: dict, W: float, D: float, y_top: float, lt: float, albedo: float) -> None:
    """Four legs (square, round or splayed), an apron (square) and stretchers."""
    leg_style = LEG_STYLES[p["leg_style"]]
    inset = 0.02 + lt / 2.0 if leg_style != "splayed" else 0.06 + lt / 2.0
    tops, bottoms = [], []
    for sx in (-1.0, 1.0):
        for sz in (-1.0, 1.0):
            top = np.array([sx * (W / 2.0 - inset), y_top, sz * (D / 2.0 - inset)])
            bottom = top.copy()
            bottom[1] = 0.0
            if leg_style == "splayed":
                out = y_top * np.tan(np.radians(p["leg_splay"]))
                bottom[0] += sx * out
                bottom[2] += sz * out * 0.8
            tops.append(top)
            bottoms.append(bottom)
    lift = np.array([0.0, 0.01, 0.0])  # legs reach slightly into the seat
    for top, bottom in zip(tops, bottoms):
        if leg_style == "square":
            b.box((top[0], y_top / 2.0, top[2]), (lt, y_top, lt), albedo)
        elif leg_style == "round":
            b.strut(bottom, top + lift, lt / 2.0, lt / 2.0, albedo)
        else:
            b.strut(bottom, top + lift, 0.3 * lt, lt / 2.0, albedo)

    if leg_style == "square":  # apron under the seat: reads as a wooden chair
        ah = 0.07
        for sz in (-1.0, 1.0):
            b.box((0.0, y_top - ah / 2.0, sz * (D / 2.0 - inset)), (W - 2 * inset, ah, 0.03), albedo)
        for sx in (-1.0, 1.0):
            b.box((sx * (W / 2.0 - inset), y_top - ah / 2.0, 0.0), (0.03, ah, D - 2 * inset), albedo)

    if p["stretchers"]:
        st = 0.55 * lt
        # leg order: (-x,-z), (-x,+z), (+x,-z), (+x,+z); side bars lower than front/back
        for (i, j), frac in (((0, 1), 0.25), ((2, 3), 0.25), ((1, 3), 0.38), ((0, 2), 0.38)):
            pa = bottoms[i] + frac * (tops[i] - bottoms[i])
            pb = bottoms[j] + frac * (tops[j] - bottoms[j])
            if leg_style == "square":
                size = np.abs(pb - pa) + st
                size[1] = st
                b.box((pa + pb) / 2.0, size, albedo)
            else:
                b.strut(pa, pb, st / 2.0, st / 2.0, albedo, sides=8)


def _pedestal(b: _Builder, W: float, D: float, y_top: float, lt: float, albedo: float) -> None:
    """Office-chair base: a central column on a five-spoke star with casters."""
    col_r = 0.035 + 0.3 * lt
    hub_y = 0.1
    b.strut((0.0, hub_y, 0.0), (0.0, y_top + 0.01, 0.0), col_r, col_r, albedo)
    # a mounting plate under the seat
    b.box((0.0, y_top - 0.02, 0.0), (0.45 * W, 0.04, 0.45 * D), albedo)
    reach = 0.5 * min(W, D) + 0.05
    spoke_r = 0.45 * lt + 0.01
    for k in range(5):
        a = 2.0 * np.pi * k / 5.0  # first spoke points toward +z (front)
        direction = np.array([np.sin(a), 0.0, np.cos(a)])
        tip = direction * reach + np.array([0.0, 0.06, 0.0])
        b.strut((0.0, hub_y, 0.0), tip, spoke_r, 0.7 * spoke_r, albedo, sides=6, smooth=False)
        b.strut(tip - np.array([0.0, 0.06, 0.0]), tip + np.array([0.0, 0.01, 0.0]), 0.03, 0.03, albedo, sides=8)
