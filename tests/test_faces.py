"""Face engine v2: the shipped MediaPipe template, the closed head, the morphable model, versions."""

import collections
import hashlib
import json
import shutil
from importlib import resources

import numpy as np
import pytest
from scipy.ndimage import binary_fill_holes

from dcign.factors import Factors
from dcign.render import face_template as ft
from dcign.render.renderer import VIEW_HALF_EXTENT


def scene(engine, azimuth=0.0, elevation=0.0, light=0.0, identity=0):
    return engine.render(Factors([azimuth], [elevation], [light], [identity]))[0, 0]


def test_shipped_template_matches_its_checksum():
    assets = resources.files("dcign.render").joinpath("assets")
    data = assets.joinpath("canonical_face_mesh.npz").read_bytes()
    recorded = assets.joinpath("canonical_face_mesh.sha256").read_text().split()
    assert recorded[1] == "canonical_face_mesh.npz"
    assert hashlib.sha256(data).hexdigest() == recorded[0]
    assert "Apache License" in assets.joinpath("NOTICE").read_text()
    mesh = ft.load_canonical_mesh()
    assert mesh["vertices"].shape == (468, 3) and mesh["uvs"].shape == (468, 2) and mesh["triangles"].shape == (898, 3)


def test_corrupt_template_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "assets"
    shutil.copytree(resources.files("dcign.render").joinpath("assets"), folder)
    (folder / "canonical_face_mesh.npz").write_bytes(b"not the mesh")
    monkeypatch.setattr(ft, "_asset", lambda name: folder / name)
    ft.load_canonical_mesh.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="checksum"):
            ft.load_canonical_mesh()
    finally:
        ft.load_canonical_mesh.cache_clear()


def test_extraction_script_decodes_a_mesh3d_message():
    import importlib.util
    import struct
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("extract", Path(__file__).parents[1] / "scripts" / "extract_face_template.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)

    def field(number, payload):
        return bytes([number << 3 | 2, len(payload)]) + payload

    floats = struct.pack("<10f", *range(10))  # two vertices x, y, z, u, v
    mesh = field(3, floats) + field(4, bytes([0, 1, 1]))  # one triangle (packed varints)
    vb, tris = mod.decode_mesh(field(1, mesh))
    assert vb.shape == (2, 5) and vb[1, 0] == 5.0 and tris.tolist() == [[0, 1, 1]]
    loader = '{"filename": "/a/b.tflite", "start": 0, "end": 5}, {"filename": "/x/geometry_pipeline_metadata_landmarks.binarypb", "start": 5, "end": 9}'
    assert mod.asset_range(loader) == (5, 9)


@pytest.mark.parametrize("subdivisions", [0, 1])
def test_head_is_closed_and_outward(subdivisions):
    """Every edge has two triangles running it in opposite directions: no border can show."""
    h = ft.head_template(subdivisions)
    directed = collections.Counter((int(t[i]), int(t[(i + 1) % 3])) for t in h.triangles for i in range(3))
    assert max(directed.values()) == 1
    assert all((b, a) in directed for a, b in directed)
    v, t = h.vertices, h.triangles
    volume = np.einsum("ij,ij->i", v[t[:, 0]], np.cross(v[t[:, 1]], v[t[:, 2]])).sum() / 6
    assert volume > 2000  # cm^3, positive: triangles wind counter-clockwise seen from outside
    np.testing.assert_allclose(h.vertices[:468], h.landmarks, atol=2.5 if subdivisions else 0)


def test_turned_faces_have_no_holes(faces):
    az = np.linspace(-90, 90, 13)
    images = faces.render(Factors(az, np.full(13, 20.0), np.zeros(13), np.zeros(13)))[:, 0]
    for a, im in zip(az, images):
        mask = im < 0.999
        assert binary_fill_holes(mask).sum() == mask.sum(), a  # the background never shows through
        assert mask[0].sum() == 0 and mask[-1].sum() == 0 and mask[:, 0].sum() == 0 and mask[:, -1].sum() == 0, a


def _pixel(point):
    """64-px pixel (row, col) of an object-space point seen frontally."""
    col = (point[0] / VIEW_HALF_EXTENT + 1) / 2 * 64
    row = (1 - point[1] / VIEW_HALF_EXTENT) / 2 * 64
    return int(row), int(col)


def test_eyes_brows_and_mouth_are_visible_at_64_px(faces):
    from dcign.render.faces import CM_PER_UNIT, PIVOT_CM

    im = scene(faces, light=0.0)
    lm = (ft.load_canonical_mesh()["vertices"] - np.asarray(PIVOT_CM)) / CM_PER_UNIT
    cheek = im[_pixel(lm[50])[0] - 1 : _pixel(lm[50])[0] + 2, _pixel(lm[50])[1] - 1 : _pixel(lm[50])[1] + 2].mean()
    for name, contour, contrast in (("right eye", ft.RIGHT_EYE, 0.2), ("left eye", ft.LEFT_EYE, 0.2),
                                    ("right brow", ft.RIGHT_BROW, 0.15), ("mouth", ft.LIPS_INNER, 0.1)):
        r, c = _pixel(lm[list(contour)].mean(0))
        assert im[r - 1 : r + 2, c - 1 : c + 2].min() < cheek - contrast, name


def test_identities_differ_measurably(faces):
    ids = np.arange(6)
    images = faces.render(Factors(np.zeros(6), np.zeros(6), np.zeros(6), ids))[:, 0]
    diffs = [np.abs(images[i] - images[j]).mean() for i in range(6) for j in range(i)]
    assert min(diffs) > 0.01
    shapes = [faces.model.positions_cm(faces.space.coefficients(i)) for i in ids]
    assert min(np.abs(shapes[i] - shapes[j]).max() for i in range(6) for j in range(i)) > 0.5  # cm


def test_turned_face_is_not_a_mirror_of_the_other_side(faces):
    for identity in range(3):
        left, right = scene(faces, -45, identity=identity), scene(faces, 45, identity=identity)
        assert np.abs(left - right).mean() > 0.05
        assert np.abs(left - right[:, ::-1]).mean() > 0.003, identity  # asymmetric identity modes
        front = scene(faces, 0, identity=identity)
        assert np.abs(front - right[:, ::-1]).mean() > 0.05


def test_nose_points_the_way_the_face_turns(faces):
    """Positive azimuth turns the face toward the viewer's right: the nose tip is the rightmost point."""
    im = scene(faces, 90, light=0)
    cols = np.where((im < 0.999).any(axis=0))[0]
    rows_at_right = np.where(im[:, cols[-1]] < 0.999)[0]
    assert 20 < rows_at_right.mean() < 40  # the nose, half-way down, not the back of the head


def test_detail_texture_shared_and_mesh_small(faces):
    a, b = faces.mesh(0), faces.mesh(1)
    assert a.detail is b.detail and a.detail.shape == (256, 256)
    assert a.num_triangles < 2000  # llvmpipe's cost grows with triangles (throughput target)
    assert a.uvs.shape == (a.num_vertices, 2) and a.detail_weight.shape == (a.num_vertices,)


def test_heads_still_render_and_differ_from_faces(faces):
    from dcign.data.engine import EngineConfig, SceneEngine

    heads = SceneEngine(EngineConfig("heads", 64, num_train_identities=5, num_test_identities=5))
    assert heads.data_version == "heads-v1" and faces.data_version == "faces-v2"
    assert np.abs(scene(heads) - scene(faces)).mean() > 0.02


def test_data_versions_and_refusal():
    from dcign.config import TrainConfig
    from dcign.data.engine import check_data_version, data_version
    from dcign.inference import engine_for
    from dcign.export import with_legacy_data_version

    assert (data_version("faces"), data_version("heads"), data_version("chairs")) == ("faces-v2", "heads-v1", "chairs-v1")
    check_data_version(None, "faces", "faces-v2")
    check_data_version("faces-v2", "faces", "faces-v2")
    with pytest.raises(ValueError, match="faces-v1.*faces-v2.*--dataset heads"):
        check_data_version("faces-v1", "faces", "faces-v2")
    cfg = TrainConfig.from_dict(dict(batch_size=2, num_train_identities=3, num_test_identities=2, data_version="faces-v1"))
    with pytest.raises(ValueError, match="trained on data set version faces-v1"):
        engine_for(cfg)
    assert with_legacy_data_version({"dataset": "faces"})["data_version"] == "faces-v1"
    assert with_legacy_data_version({"dataset": "faces", "data_version": "faces-v2"})["data_version"] == "faces-v2"
    with pytest.raises(ValueError, match="data_version"):
        TrainConfig.from_dict(dict(data_version=3))


def test_run_records_data_version_and_evaluate_refuses_another(tmp_path):
    from support import dcign
    from test_cli import TINY

    out = tmp_path / "run"
    dcign("train", "--out", out, *TINY)
    assert json.loads((out / "config.json").read_text())["data_version"] == "faces-v2"
    from dcign.config import TrainConfig
    from dcign.training import train

    saved = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**saved, "data_version": "faces-v1"}))
    with pytest.raises(ValueError, match="trained on data set version faces-v1.*now renders faces-v2"):
        train(TrainConfig.from_dict({**saved, "data_version": None}), out, resume=True, progress=False)
    meta = json.loads((out / "model.json").read_text())
    assert meta["config"]["data_version"] == "faces-v2"
    del meta["config"]["data_version"]  # a run exported before data sets were versioned: the v1 heads
    (out / "model.json").write_text(json.dumps(meta))
    proc = dcign("evaluate", out, check=False)
    assert proc.returncode == 2
    assert "faces-v1" in proc.stderr and "faces-v2" in proc.stderr and "Traceback" not in proc.stderr
