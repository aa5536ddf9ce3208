"""The first face engine (``--dataset heads``, data version heads-v1): a synthetic cartoon head.

Kept for comparison with runs made before the face engine v2 (:mod:`dcign.render.faces`).
It is a sphere with Gaussian features and side-swept hair, not real face geometry.

The paper's faces were rendered from the Basel Face Model, which cannot be obtained here, so
dcign carries its own: a template head mesh with the features that make a face (nose, brow
ridge, eye sockets and eyes, lips, cheeks, chin, jaw line, ears, side-swept hair)
plus a *linear* shape basis and a linear albedo basis.  An identity is a vector of standard
Gaussian coefficients ``c = (alpha, beta)``:

    positions = template + sum_k alpha_k * sigma_k * S_k        (S_k: (V, 3) shape modes)
    albedo    = template_albedo + sum_j beta_j * tau_j * A_j    (A_j: (V,) albedo modes)

The template is deliberately left/right asymmetric (side-swept hair, long on the face's right),
and some shape modes are asymmetric, so a face turned to +60 degrees is not the mirror image of
the same face at -60 degrees and azimuth is recoverable from one image.

Object space: +y up, the face looks toward +z, head height about 2 units (fits the renderer's
[-1.1, 1.1] frame).
"""

from __future__ import annotations

import numpy as np

from .mesh import Mesh, identity_coefficients, vertex_normals

GRID_LONGITUDE = 80  # vertices around the head (denser on the face, see FRONT_WARP)
GRID_LATITUDE = 56  # vertices from chin to crown
FRONT_WARP = 0.6  # longitude spacing on the face is (1 - FRONT_WARP) times the mean spacing

SKIN, HAIR, BROW, LIP, IRIS, SCLERA = 0.78, 0.22, 0.30, 0.55, 0.15, 0.95


def _gauss(x, y, cx, cy, sx, sy):
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def _smoothstep(edge0, edge1, x):
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _pair(x, y, cx, cy, sx, sy):
    """A feature mirrored on both sides of the face (at x = +cx and x = -cx)."""
    return _gauss(x, y, cx, cy, sx, sy) + _gauss(x, y, -cx, cy, sx, sy)


class HeadModel:
    """The first synthetic head model (v1): template + linear shape and albedo bases.

    Attributes:
        identity_dim: length of the identity coefficient vector (shape + albedo).
        identity_names: one name per coefficient.

    The identity prior is N(0, I) in ``identity_dim`` dimensions, clipped to +-2.5.
    """

    name = "heads"
    version = "heads-v1"

    def __init__(self) -> None:
        t = np.linspace(-np.pi, np.pi, GRID_LONGITUDE, endpoint=False)
        lon = t - FRONT_WARP * np.sin(t)  # spend triangles on the face, not the back of the head
        lat = np.linspace(-np.pi / 2, np.pi / 2, GRID_LATITUDE)[1:-1]
        u, v = np.meshgrid(lon, lat)  # (rows = latitude, cols = longitude)
        d = np.stack([np.cos(v) * np.sin(u), np.sin(v), np.cos(v) * np.cos(u)], axis=-1).reshape(-1, 3)
        u, v = u.reshape(-1), v.reshape(-1)
        # Base head: an ellipsoid whose lower half narrows toward the jaw and chin.
        base = d * np.array([0.76, 0.98, 0.80])
        y0 = base[:, 1]
        base[:, 0] *= 1.0 - 0.28 * _smoothstep(0.0, -0.95, y0)
        base[:, 2] *= 1.0 - 0.10 * _smoothstep(0.1, -0.95, y0) * (base[:, 2] < 0)
        x, y, z = base[:, 0], base[:, 1], base[:, 2]
        front = _smoothstep(0.05, 0.45, z / 0.82)  # 1 on the face, 0 on the sides and back
        forward = np.array([0.0, 0.0, 1.0])
        radial = d.copy()
        self._x, self._y, self._front = x, y, front

        feats = self._features(x, y, u, v, front)
        shape_template = sum(feats[k][0] * feats[k][1] for k in feats)
        self.template = base + shape_template
        self.triangles = self._grid_triangles(GRID_LATITUDE - 2, GRID_LONGITUDE)
        # The closed mesh needs caps at the poles.
        self._add_poles(base)

        # Linear shape basis: (name, field (V, 3), sigma).
        modes = [
            ("nose_size", feats["nose"][0] * feats["nose"][1], 0.35),
            ("nose_width", (_pair(x, y, 0.09, -0.20, 0.06, 0.05) * front)[:, None] * forward * 0.06, 1.0),
            ("brow_ridge", feats["brow"][0] * feats["brow"][1], 0.45),
            ("eye_depth", feats["sockets"][0] * feats["sockets"][1], 0.35),
            ("cheeks", feats["cheeks"][0] * feats["cheeks"][1], 0.6),
            ("chin", feats["chin"][0] * feats["chin"][1], 0.6),
            ("lips", feats["lips"][0] * feats["lips"][1], 0.4),
            ("jaw_width", np.stack([x * _smoothstep(0.0, -0.8, y), 0 * x, 0 * x], 1) * 0.22, 1.0),
            ("face_length", np.stack([0 * x, y, 0 * x], 1) * 0.07, 1.0),
            ("head_width", np.stack([x, 0 * x, 0 * x], 1) * 0.07, 1.0),
            ("forehead", (_gauss(x, y, 0.0, 0.55, 0.35, 0.2) * front)[:, None] * forward * 0.06, 1.0),
            ("ears", feats["ears"][0] * feats["ears"][1], 0.4),
        ]
        rng = np.random.default_rng(1234)  # fixed: the random modes are part of the model
        for k in range(4):  # smooth, asymmetric random modes
            field = np.zeros_like(x)
            for _ in range(3):
                cx, cy = rng.uniform(-0.45, 0.45), rng.uniform(-0.7, 0.6)
                field += rng.choice([-1, 1]) * _gauss(x, y, cx, cy, 0.15, 0.15)
            modes.append((f"random_{k}", (field * front)[:, None] * radial * 0.04, 1.0))
        self.shape_names = tuple(m[0] for m in modes)
        self.shape_basis = np.stack([m[1] * m[2] for m in modes])  # (K, V, 3)

        self.template_albedo, albedo_modes = self._albedo(x, y, z, u, v, front)
        self.albedo_names = tuple(m[0] for m in albedo_modes)
        self.albedo_basis = np.stack([m[1] * m[2] for m in albedo_modes])  # (J, V)
        self.identity_names = self.shape_names + self.albedo_names
        self.identity_dim = len(self.identity_names)

    # -- template ---------------------------------------------------------------------------
    @staticmethod
    def _features(x, y, u, v, front):
        """Template face features: name -> (amplitude, (V, 3) displacement per unit)."""
        fwd = np.stack([0 * x, 0 * x, front], axis=1)
        nose = (
            _gauss(x, y, 0.0, -0.14, 0.075, 0.11) * 1.0
            + _gauss(x, y, 0.0, 0.04, 0.05, 0.16) * 0.45
            + _pair(x, y, 0.085, -0.20, 0.05, 0.045) * 0.35
        )
        sockets = _pair(x, y, 0.26, 0.14, 0.12, 0.075)
        eyeballs = _pair(x, y, 0.26, 0.13, 0.075, 0.045)
        brow = _pair(x, y, 0.27, 0.29, 0.16, 0.05) + _gauss(x, y, 0.0, 0.25, 0.08, 0.05) * 0.6
        lips = _gauss(x, y, 0.0, -0.40, 0.15, 0.03) + _gauss(x, y, 0.0, -0.49, 0.13, 0.035) * 1.1
        mouth_line = _gauss(x, y, 0.0, -0.445, 0.14, 0.012)
        cheeks = _pair(x, y, 0.38, -0.14, 0.14, 0.14)
        chin = _gauss(x, y, 0.0, -0.74, 0.14, 0.08)
        # Ears: bumps on the sides of the head, in longitude/latitude.
        ears = _gauss(np.abs(u), v, np.pi / 2 + 0.12, 0.02, 0.07, 0.15)
        radial_out = np.stack([np.sign(x) * 1.0, 0 * x, 0 * x], axis=1)
        return {
            "nose": (0.22, fwd * nose[:, None]),
            "sockets": (-0.09, fwd * sockets[:, None]),
            "eyeballs": (0.055, fwd * eyeballs[:, None]),
            "brow": (0.07, fwd * brow[:, None]),
            "lips": (0.05, fwd * lips[:, None]),
            "mouth_line": (-0.025, fwd * mouth_line[:, None]),
            "cheeks": (0.05, fwd * cheeks[:, None]),
            "chin": (0.07, fwd * chin[:, None]),
            "ears": (0.08, radial_out * ears[:, None]),
        }

    @staticmethod
    def _albedo(x, y, z, u, v, front):
        """Template albedo (V,) and albedo modes [(name, (V,) field, tau)]."""
        # Hairline, by longitude u (0 = front, > 0 = the face's left, seen on the viewer's right):
        # a side-swept cut, long over the face's right side (down to the jaw, covering the ear)
        # and short on its left.  This strong asymmetry makes "how much hair is visible" an odd
        # function of azimuth, so a profile to the left never looks like one to the right.
        knots_u = [-np.pi, -np.pi / 2 - 0.1, -0.9, -0.45, 0.0, 0.45, np.pi / 2, np.pi]
        knots_y = [-0.30, -0.55, 0.05, 0.40, 0.50, 0.56, 0.32, -0.30]
        hairline = np.interp(u, knots_u, knots_y)
        hair = _smoothstep(-0.03, 0.03, y - hairline)
        ear_zone = _gauss(u, v, np.pi / 2 + 0.12, 0.02, 0.09, 0.18)  # the left ear shows
        hair = hair * (1 - ear_zone)
        brows = _pair(x, y, 0.27, 0.265, 0.11, 0.022) * front
        brows = np.clip(brows * 1.4, 0, 1)
        lips = np.clip(_gauss(x, y, 0.0, -0.445, 0.11, 0.045) * 1.3, 0, 1) * front
        iris = _smoothstep(0.042, 0.028, np.hypot(np.abs(x) - 0.26, y - 0.13)) * front
        sclera = _smoothstep(0.075, 0.06, np.hypot((np.abs(x) - 0.26) / 1.6, y - 0.13)) * front * (1 - iris)
        a = np.full_like(x, SKIN)
        a = a * (1 - hair) + HAIR * hair
        a = a * (1 - brows) + BROW * brows
        a = a * (1 - lips) + LIP * lips
        a = a * (1 - sclera) + SCLERA * sclera
        a = a * (1 - iris) + IRIS * iris
        skin = (1 - hair) * (1 - iris) * (1 - sclera)
        rng = np.random.default_rng(4321)
        blotch = np.zeros_like(x)
        for _ in range(3):
            blotch += rng.choice([-1, 1]) * _gauss(x, y, rng.uniform(-0.4, 0.4), rng.uniform(-0.6, 0.4), 0.2, 0.2)
        modes = [
            ("skin_tone", skin, 0.08),
            ("hair_tone", hair, 0.10),
            ("brow_tone", brows, 0.08),
            ("lip_tone", lips, 0.08),
            ("skin_pattern", blotch * skin * front, 0.04),
        ]
        return a, modes

    @staticmethod
    def _grid_triangles(rows: int, cols: int) -> np.ndarray:
        r, c = np.meshgrid(np.arange(rows - 1), np.arange(cols), indexing="ij")
        i00 = r * cols + c
        i01 = r * cols + (c + 1) % cols
        i10 = (r + 1) * cols + c
        i11 = (r + 1) * cols + (c + 1) % cols
        # Counter-clockwise seen from outside (latitude up, longitude to the right).
        t = np.concatenate([np.stack([i00, i01, i11], -1), np.stack([i00, i11, i10], -1)]).reshape(-1, 3)
        return t.astype(np.int32)

    def _add_poles(self, base: np.ndarray) -> None:
        cols, n = GRID_LONGITUDE, self.template.shape[0]
        rows = GRID_LATITUDE - 2
        south = np.array([[0.0, -0.98 * 1.0, 0.0]])
        north = np.array([[0.0, 0.98, 0.0]])
        c = np.arange(cols)
        bottom = np.stack([np.full(cols, n), (c + 1) % cols, c], -1)
        top_ring = (rows - 1) * cols
        top = np.stack([np.full(cols, n + 1), top_ring + c, top_ring + (c + 1) % cols], -1)
        self.template = np.concatenate([self.template, south, north])
        self.triangles = np.concatenate([self.triangles, bottom, top]).astype(np.int32)
        self._x = np.concatenate([self._x, [0.0, 0.0]])
        self._y = np.concatenate([self._y, [-0.98, 0.98]])
        self._front = np.concatenate([self._front, [0.0, 0.0]])

    # -- public interface ---------------------------------------------------------------------
    def sample_identity(self, rng: np.random.Generator) -> np.ndarray:
        """One identity: (identity_dim,) float64 standard-normal coefficients clipped to +-2.5."""
        return np.clip(rng.standard_normal(self.identity_dim), -2.5, 2.5)

    def mesh(self, identity: np.ndarray) -> Mesh:
        """The face mesh of one identity.

        Args:
            identity: (identity_dim,) coefficients (shape first, then albedo).

        Returns:
            A :class:`Mesh` of about 9,500 vertices and 19,000 triangles.

        Raises:
            ValueError: wrong length or non-finite coefficients.
        """
        c = identity_coefficients(identity, self.identity_dim, "face")
        k = len(self.shape_names)
        n_grid = self.shape_basis.shape[1]
        positions = self.template.copy()
        positions[:n_grid] += np.tensordot(c[:k], self.shape_basis, axes=1)
        ring = GRID_LONGITUDE  # the poles sit at the centre of their (deformed) latitude rings
        positions[n_grid] = positions[:ring].mean(axis=0)
        positions[n_grid + 1] = positions[n_grid - ring : n_grid].mean(axis=0)
        albedo = np.concatenate([self.template_albedo + np.tensordot(c[k:], self.albedo_basis, axes=1), [SKIN, HAIR]])
        return Mesh(
            positions=positions.astype(np.float32),
            normals=vertex_normals(positions, self.triangles),
            albedo=np.clip(albedo, 0.0, 1.0).astype(np.float32),
            triangles=self.triangles,
        )
