"""Face engine v2 (data version ``faces-v2``): a morphable model on real face geometry.

In the spirit of the Basel Face Model (Paysan et al. 2009), which the paper rendered its faces
from: a template face mesh plus a *linear* shape basis and a linear albedo basis, an identity
being standard-normal coefficients ``c = (alpha, beta)``:

    positions = template + sum_k alpha_k * S_k   (S_k: (V, 3) shape modes, cm per unit)
    albedo    = SKIN + sum_j beta_j * A_j        (A_j: (V,) albedo modes), times the detail
                texture with per-vertex strength 1 + sum_i gamma_i * C_i (contrast modes)

The template is MediaPipe's canonical face mesh (real face geometry, 468 landmarks; see
:mod:`dcign.render.face_template`), closed with a smooth back of the head so a turned face never
shows its inside: 1,438 triangles, few enough for llvmpipe.  Eyes (whites and irises), brows,
lips and the mouth line are painted in MediaPipe's UV space into a 256x256 detail texture (an
albedo multiplier), so they stay crisp without extra triangles.  The shape modes are smooth and
anatomically placed on MediaPipe's landmarks (nose length, width and bridge, jaw width, chin,
cheeks, brow ridge and height, eye spacing and depth, lip thickness, mouth width, face length
and width, forehead slope) plus four smooth random asymmetric modes; the albedo modes change
skin tone, the eye region and a smooth skin pattern, and two contrast modes make brows and lips
darker or lighter.  Paper look: a grey, hairless face on the renderer's white background.  The
template is left/right symmetric, so pose has to be read from the face's own geometry (nose,
brows, jaw outline); the asymmetric modes make each identity slightly asymmetric, as real faces
are.

Object space: +y up, the face looks toward +z; 1 unit = 10.5 cm; the head turns about a
vertical axis about 1.5 cm in front of the ears (the renderer frames [-1.1, 1.1]).
"""

from __future__ import annotations

import numpy as np

from . import face_template as ft
from .mesh import Mesh, identity_coefficients, vertex_normals

CM_PER_UNIT = 10.5
PIVOT_CM = (0.0, -0.5, -1.0)  # object-space origin in template cm: the head turns about it
SKIN, BROW, LIP, MOUTH_LINE, SCLERA, IRIS = 0.74, 0.34, 0.50, 0.25, 0.90, 0.12  # grey albedo
TEXTURE_SIZE = 256  # detail texture side, texels
IRIS_RADIUS_UV = 0.03  # about 5 mm on the template
IDENTITY_CLIP = 2.5


class FaceModel:
    """Morphable face model v2 on MediaPipe's canonical face mesh.

    Attributes:
        name: 'faces'; version: 'faces-v2' (recorded by training runs, checked by evaluation).
        identity_dim: length of the identity coefficient vector (shape modes, then albedo modes).
        identity_names: one name per coefficient.
        triangles: (T, 3) int32, shared by every identity.

    The identity prior is N(0, I) in ``identity_dim`` dimensions, clipped to +-2.5.
    """

    name = "faces"
    version = "faces-v2"

    def __init__(self, subdivisions: int = 0) -> None:
        head = ft.head_template(subdivisions)
        v, t, lm = head.vertices, head.triangles, head.landmarks
        self.triangles = t.astype(np.int32)
        self._template_cm = v
        x, y, z = v[:, 0], v[:, 1], v[:, 2]
        normals = vertex_normals(v, t).astype(np.float64)
        face = head.face
        side = np.sign(x)
        ex, ey, ez = (np.eye(3)[i] for i in range(3))

        def g(centre, sigma):
            return np.exp(-0.5 * np.sum((v - np.asarray(centre)) ** 2, axis=1) / sigma**2)

        def pair(i, j, sigma):
            return g(lm[i], sigma) + g(lm[j], sigma)

        def along(w, direction):
            return w[:, None] * np.asarray(direction)[None]

        def sideways(w):
            return (w * side)[:, None] * ex

        def smoothstep(e0, e1, s):
            u = np.clip((s - e0) / (e1 - e0), 0.0, 1.0)
            return u * u * (3 - 2 * u)

        eye_r, eye_l = lm[list(ft.RIGHT_EYE)].mean(0), lm[list(ft.LEFT_EYE)].mean(0)
        brow_r, brow_l = lm[list(ft.RIGHT_BROW)].mean(0), lm[list(ft.LEFT_BROW)].mean(0)
        eyes = g(eye_r, 1.3) + g(eye_l, 1.3)
        brows = g(brow_r, 1.5) + g(brow_l, 1.5)
        upper_lip, lower_lip = g(lm[0], 1.0), g(lm[17], 1.0)
        lower_face = smoothstep(-2.0, -8.0, y)
        forehead = smoothstep(4.0, 9.0, y) * face
        # (name, (V, 3) displacement in cm at coefficient 1): one standard deviation of each mode.
        modes = [
            ("nose_length", along(g(lm[ft.NOSE_TIP], 1.6), [0.0, -0.15, 1.0]) * 0.55),
            ("nose_width", sideways(pair(*ft.NOSE_WINGS, 1.0)) * 0.35),
            ("nose_bridge", along(g(0.5 * (lm[ft.NOSE_BRIDGE] + lm[ft.NASION]), 1.3), ez) * 0.4),
            ("jaw_width", sideways(lower_face * np.abs(x) / 7.0) * 0.7),
            ("chin", along(g(lm[ft.CHIN], 2.0), [0.0, -0.6, 0.8]) * 0.55),
            ("cheeks", normals * pair(*ft.CHEEKS, 2.0)[:, None] * 0.45),
            ("brow_ridge", along(brows + 0.7 * g(lm[9], 1.3), ez) * 0.35),
            ("brow_height", along(g(brow_r, 1.2) + g(brow_l, 1.2), ey) * 0.3),
            ("eye_spacing", sideways(eyes) * 0.3),
            ("eye_depth", along(eyes, -ez) * 0.3),
            ("lip_thickness", (along(upper_lip, [0.0, 0.4, 1.0]) + along(lower_lip, [0.0, -0.4, 1.0])) * 0.25),
            ("mouth_width", sideways(pair(61, 291, 1.0)) * 0.3),
            ("face_length", along(y * (0.6 + 0.4 * lower_face), ey) * 0.045),
            ("face_width", along(x, ex) * 0.05),
            ("forehead_slope", along(forehead * (y - 4.0) / 5.0, -ez) * 0.8),
        ]
        rng = np.random.default_rng(2009)  # fixed: the random modes are part of the model
        for k in range(4):  # smooth, asymmetric random modes along the surface normal
            w = np.zeros(len(v))
            for _ in range(3):
                w += rng.choice([-1.0, 1.0]) * g(lm[rng.integers(ft.NUM_LANDMARKS)], 2.5)
            modes.append((f"random_{k}", normals * (w * face)[:, None] * 0.3))
        self.shape_names = tuple(m[0] for m in modes)
        self.shape_basis = np.stack([m[1] for m in modes])  # (K, V, 3) cm

        albedo_modes, contrast_modes = self._albedo_modes(v, lm, face)
        self.albedo_names = tuple(m[0] for m in albedo_modes) + tuple(m[0] for m in contrast_modes)
        self.albedo_basis = np.stack([m[1] for m in albedo_modes])  # (J, V) albedo change
        self.contrast_basis = np.stack([m[1] for m in contrast_modes])  # (C, V) detail-weight change
        self.detail = self._detail_texture(head)
        self.uvs = head.uvs.astype(np.float32)
        self.face_weight = face
        self.identity_names = self.shape_names + self.albedo_names
        self.identity_dim = len(self.identity_names)

    @staticmethod
    def _detail_texture(head: ft.HeadTemplate) -> np.ndarray:
        """(TEXTURE_SIZE, TEXTURE_SIZE) albedo multiplier painted in MediaPipe's UV space.

        Lips, the mouth line, brows, the whites of the eyes and the irises, painted inside the
        landmark contours' texture coordinates (soft edges), 1 elsewhere.
        """
        from matplotlib.path import Path
        from scipy.ndimage import gaussian_filter

        n = TEXTURE_SIZE
        c = (np.arange(n) + 0.5) / n
        uu, vv = np.meshgrid(c, c)  # row i is v = c[i]: row 0 is texture coordinate v = 0
        texels = np.stack([uu.ravel(), vv.ravel()], 1)
        luv = head.landmark_uvs

        def inside(contour, blur=0.8):
            m = Path(luv[list(contour)]).contains_points(texels).reshape(n, n).astype(np.float64)
            return np.clip(gaussian_filter(m, blur), 0, 1)

        def disc(centre, radius, blur=0.8):
            m = (np.hypot(uu - centre[0], vv - centre[1]) < radius).astype(np.float64)
            return np.clip(gaussian_filter(m, blur), 0, 1)

        tex = np.ones((n, n))
        for mask, value in ((inside(ft.LIPS_OUTER), LIP), (inside(ft.LIPS_INNER, 0.6), MOUTH_LINE),
                            (inside(ft.RIGHT_BROW) + inside(ft.LEFT_BROW), BROW)):
            tex = tex * (1 - mask) + (value / SKIN) * mask
        for contour in (ft.RIGHT_EYE, ft.LEFT_EYE):
            opening = inside(contour, 0.5)
            centre = luv[list(contour)].mean(0)
            iris = disc(centre, IRIS_RADIUS_UV) * opening
            tex = tex * (1 - opening) + (SCLERA / SKIN) * opening
            tex = tex * (1 - iris) + (IRIS / SKIN) * iris
        return tex.astype(np.float32)

    @staticmethod
    def _albedo_modes(v, lm, face):
        """Albedo modes [(name, (V,) change at coefficient 1)] and detail-contrast modes."""

        def g(centre, sigma):
            return np.exp(-0.5 * np.sum((v - np.asarray(centre)) ** 2, axis=1) / sigma**2)

        eyes = g(lm[list(ft.RIGHT_EYE)].mean(0), 1.5) + g(lm[list(ft.LEFT_EYE)].mean(0), 1.5)
        brows = g(lm[list(ft.RIGHT_BROW)].mean(0), 1.8) + g(lm[list(ft.LEFT_BROW)].mean(0), 1.8)
        lips = g(lm[0], 1.6) + g(lm[17], 1.6)
        rng = np.random.default_rng(2017)  # fixed: part of the model
        blotch = np.zeros(len(v))
        for _ in range(3):
            blotch += rng.choice([-1.0, 1.0]) * g(lm[rng.integers(ft.NUM_LANDMARKS)], 3.0)
        albedo = [
            ("skin_tone", np.full(len(v), 0.05)),
            ("eye_region_tone", -eyes * 0.05),
            ("skin_pattern", blotch * face * 0.035),
        ]
        contrast = [  # scale the detail texture's effect: darker or lighter brows and lips
            ("brow_contrast", brows * face * 0.25),
            ("lip_contrast", lips * face * 0.3),
        ]
        return albedo, contrast

    # -- public interface ---------------------------------------------------------------------
    def sample_identity(self, rng: np.random.Generator) -> np.ndarray:
        """One identity: (identity_dim,) float64 standard-normal coefficients clipped to +-2.5."""
        return np.clip(rng.standard_normal(self.identity_dim), -IDENTITY_CLIP, IDENTITY_CLIP)

    def positions_cm(self, identity: np.ndarray) -> np.ndarray:
        """(V, 3) float64 vertex positions of one identity in template cm (see :meth:`mesh`)."""
        c = self._check(identity)
        return self._template_cm + np.tensordot(c[: len(self.shape_names)], self.shape_basis, axes=1)

    def _check(self, identity) -> np.ndarray:
        c = identity_coefficients(identity, self.identity_dim, "face")
        return c

    def mesh(self, identity: np.ndarray) -> Mesh:
        """The head mesh of one identity, in object space (1 unit = 10.5 cm).

        Args:
            identity: (identity_dim,) coefficients (shape first, then albedo).

        Returns:
            A :class:`Mesh` of 721 vertices and 1,438 triangles (with its detail texture).

        Raises:
            ValueError: wrong length or non-finite coefficients.
        """
        c = self._check(identity)
        p = (self.positions_cm(c) - np.asarray(PIVOT_CM)) / CM_PER_UNIT
        k, j = len(self.shape_names), len(self.albedo_basis)
        albedo = SKIN + np.tensordot(c[k : k + j], self.albedo_basis, axes=1)
        weight = self.face_weight + np.tensordot(c[k + j :], self.contrast_basis, axes=1)
        return Mesh(
            positions=p.astype(np.float32),
            normals=vertex_normals(p, self.triangles),
            albedo=np.clip(albedo, 0.0, 1.0).astype(np.float32),
            triangles=self.triangles,
            detail=self.detail,
            uvs=self.uvs,
            detail_weight=np.clip(weight, 0.0, 2.0).astype(np.float32),
        )
