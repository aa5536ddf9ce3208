"""Tests for the parametric chair model (dcign.render.chairs)."""

from __future__ import annotations

import numpy as np
import pytest

from dcign.render.chairs import (
    BACK_STYLES,
    FIT_RADIUS,
    LEG_STYLES,
    ChairModel,
    _Builder,
    _rot_x,
    _to_mesh,
    strut,
)
from dcign.render.mesh import Mesh, box, merge


@pytest.fixture(scope="module")
def model() -> ChairModel:
    return ChairModel()


@pytest.fixture(scope="module")
def identities(model) -> list[np.ndarray]:
    rng = np.random.default_rng(1234)
    return [model.sample_identity(rng) for _ in range(200)]


def _set(model: ChairModel, identity: np.ndarray, **values: float) -> np.ndarray:
    out = identity.copy()
    for name, value in values.items():
        out[model.identity_names.index(name)] = value
    return out


def _face_normals(mesh: Mesh) -> np.ndarray:
    p = mesh.positions.astype(np.float64)
    t = mesh.triangles
    n = np.cross(p[t[:, 1]] - p[t[:, 0]], p[t[:, 2]] - p[t[:, 0]])
    return n / np.linalg.norm(n, axis=1, keepdims=True)


def test_interface(model):
    assert model.name == "chairs"
    assert isinstance(model.identity_dim, int)
    assert len(model.identity_names) == model.identity_dim
    assert len(set(model.identity_names)) == model.identity_dim
    for name in ("seat_width", "back_height", "back_tilt", "arms", "stretchers", "albedo"):
        assert name in model.identity_names


def test_sample_identity_shape_range_and_rng(model):
    a = model.sample_identity(np.random.default_rng(7))
    b = model.sample_identity(np.random.default_rng(7))
    c = model.sample_identity(np.random.default_rng(8))
    assert a.shape == (model.identity_dim,) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.all(a >= model.identity_low) and np.all(a <= model.identity_high)


def test_sampled_styles_cover_everything(model, identities):
    descs = [model.describe(i) for i in identities]
    assert {d["back_style"] for d in descs} == set(BACK_STYLES)
    assert {d["leg_style"] for d in descs} == set(LEG_STYLES)
    assert {d["arms"] for d in descs} == {True, False}
    assert {d["stretchers"] for d in descs} == {True, False}


def test_mesh_shapes_dtypes_and_sizes(model, identities):
    for identity in identities[:50]:
        m = model.mesh(identity)
        assert isinstance(m, Mesh)
        v = m.num_vertices
        assert m.positions.shape == (v, 3) and m.positions.dtype == np.float32
        assert m.normals.shape == (v, 3) and m.normals.dtype == np.float32
        assert m.albedo.shape == (v,) and m.albedo.dtype == np.float32
        assert m.triangles.ndim == 2 and m.triangles.shape[1] == 3 and m.triangles.dtype == np.int32
        assert 100 <= m.num_triangles <= 2000
        assert np.all(np.isfinite(m.positions)) and np.all(np.isfinite(m.normals))
        assert m.albedo.min() >= 0.35 - 1e-6 and m.albedo.max() <= 0.85 + 1e-6


def test_normals_unit_and_outward_winding(model, identities):
    for identity in identities[:50]:
        m = model.mesh(identity)
        np.testing.assert_allclose(np.linalg.norm(m.normals, axis=1), 1.0, atol=1e-5)
        # counter-clockwise seen from outside: geometric face normal agrees with vertex normals
        agree = np.einsum("ij,ij->i", _face_normals(m), m.normals[m.triangles].mean(axis=1))
        assert agree.min() > 0.5


def test_fits_the_frame_and_is_centred(model, identities):
    heights = []
    for identity in identities:
        m = model.mesh(identity)
        p = m.positions.astype(np.float64)
        radius = np.linalg.norm(p, axis=1).max()
        assert radius <= 1.05
        assert radius == pytest.approx(FIT_RADIUS, abs=1e-5)
        np.testing.assert_allclose((p.min(axis=0) + p.max(axis=0)) / 2.0, 0.0, atol=1e-5)
        heights.append(np.ptp(p[:, 1]))
    heights = np.array(heights)
    assert heights.min() > 1.0 and np.median(heights) > 1.45 and heights.max() <= 2.0 * FIT_RADIUS


def test_front_faces_plus_z(model, identities):
    # The back is a tall part behind the seat: the upper half of the mesh lies mostly at -z.
    for identity in identities[:30]:
        if model.describe(identity)["back_height"] < 0.6:
            continue
        p = model.mesh(identity).positions
        upper = p[p[:, 1] > 0.5 * p[:, 1].max()]
        assert upper[:, 2].mean() < 0.0


def test_deterministic(model, identities):
    for identity in identities[:10]:
        a, b = model.mesh(identity), model.mesh(identity.copy())
        for field in ("positions", "normals", "albedo", "triangles"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_different_identities_give_different_meshes(model, identities):
    a, b = model.mesh(identities[0]), model.mesh(identities[1])
    assert a.positions.shape != b.positions.shape or not np.allclose(a.positions, b.positions)
    # a continuous parameter alone changes the geometry, not the topology
    base = _set(model, identities[0], back_height=0.5)
    taller = _set(model, identities[0], back_height=0.9)
    ma, mb = model.mesh(base), model.mesh(taller)
    np.testing.assert_array_equal(ma.triangles, mb.triangles)
    assert not np.allclose(ma.positions, mb.positions)
    # the albedo entries change only the albedo
    lighter = _set(model, identities[0], albedo=0.8, cushion_albedo=0.8)
    darker = _set(model, identities[0], albedo=0.4, cushion_albedo=0.4)
    ml, md = model.mesh(lighter), model.mesh(darker)
    np.testing.assert_array_equal(ml.positions, md.positions)
    assert ml.albedo.mean() > md.albedo.mean()


@pytest.mark.parametrize("leg_style", [0.5, 1.5, 2.5])
def test_arms_and_stretchers_change_triangle_count(model, identities, leg_style):
    base = _set(model, identities[0], leg_style=leg_style, arms=0.0, stretchers=0.0)
    plain = model.mesh(base).num_triangles
    with_arms = model.mesh(_set(model, base, arms=1.0)).num_triangles
    with_stretchers = model.mesh(_set(model, base, stretchers=1.0)).num_triangles
    assert with_arms > plain
    assert with_stretchers > plain


def test_styles_change_the_mesh(model, identities):
    # wide back (5 slats) of medium height (frame without middle rail): all counts differ
    fixed = _set(model, identities[0], back_height=0.5, seat_width=1.0, back_width=1.0)
    counts = {
        model.mesh(
            _set(model, fixed, back_style=s + 0.5, leg_style=1.5)
        ).num_triangles
        for s in range(len(BACK_STYLES))
    }
    assert len(counts) == len(BACK_STYLES)
    legs = [model.mesh(_set(model, identities[0], leg_style=s + 0.5)) for s in range(len(LEG_STYLES))]
    for i in range(len(legs)):
        for j in range(i + 1, len(legs)):
            assert legs[i].positions.shape != legs[j].positions.shape or not np.allclose(
                legs[i].positions, legs[j].positions
            )


def test_out_of_range_values_are_clipped(model, identities):
    low = model.mesh(model.identity_low)
    below = model.mesh(model.identity_low - 5.0)
    np.testing.assert_array_equal(low.positions, below.positions)
    high = model.mesh(model.identity_high)
    assert np.linalg.norm(high.positions, axis=1).max() <= 1.05


@pytest.mark.parametrize(
    "bad",
    [np.zeros(3), np.zeros((2, 16)), np.zeros(17), np.array([])],
)
def test_wrong_shape_raises(model, bad):
    with pytest.raises(ValueError, match="shape"):
        model.mesh(bad)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_raises(model, identities, value):
    bad = identities[0].copy()
    bad[model.identity_names.index("back_tilt")] = value
    with pytest.raises(ValueError, match="finite.*back_tilt"):
        model.mesh(bad)


def test_builder_boxes_match_mesh_box():
    rot = _rot_x(17.0)
    b = _Builder()
    b.box((0.1, 0.2, 0.3), (0.4, 0.5, 0.6), 0.5, rotation=rot)
    b.box((1.0, -2.0, 3.0), (1.0, 1.0, 2.0), 0.3)
    got = _to_mesh(b.build())
    ref = merge(
        [box((0.1, 0.2, 0.3), (0.4, 0.5, 0.6), 0.5, rotation=rot), box((1.0, -2.0, 3.0), (1.0, 1.0, 2.0), 0.3)]
    )
    for field in ("positions", "normals", "albedo", "triangles"):
        np.testing.assert_allclose(getattr(got, field), getattr(ref, field), atol=1e-6)


@pytest.mark.parametrize("smooth", [True, False])
def test_strut_is_closed_and_outward(smooth):
    m = strut((0.0, 0.0, 0.0), (0.3, 1.0, 0.2), 0.2, 0.1, 0.5, sides=6, smooth=smooth)
    assert m.num_triangles == 24
    np.testing.assert_allclose(np.linalg.norm(m.normals, axis=1), 1.0, atol=1e-5)
    fn = _face_normals(m)
    assert np.einsum("ij,ij->i", fn, m.normals[m.triangles].mean(axis=1)).min() > 0.8
    if not smooth:  # flat facets: vertex normals are exactly the face normals
        np.testing.assert_allclose(m.normals[m.triangles[:, 0]], fn, atol=1e-5)
    # closed surface: the divergence theorem gives a positive volume
    p = m.positions.astype(np.float64)[m.triangles]
    volume = np.einsum("ij,ij->i", p[:, 0], np.cross(p[:, 1], p[:, 2])).sum() / 6.0
    assert volume > 0
    with pytest.raises(ValueError):
        strut((0, 0, 0), (0, 0, 0), 0.1, 0.1, 0.5)

