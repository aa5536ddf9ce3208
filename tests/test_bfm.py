"""Users' Basel Face Model files (``--dataset bfm:PATH``) on tiny files in the published layouts."""

import numpy as np
import pytest
import scipy.io

from dcign.factors import Factors

MODES = 10


def tiny_model(seed=0):
    """A small closed mesh (an octahedron subdivided twice onto an ellipsoid) and a PCA model on it."""
    from dcign.render.face_template import loop_subdivide

    v = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float)
    t = np.array([[4, 0, 2], [4, 2, 1], [4, 1, 3], [4, 3, 0], [5, 2, 0], [5, 1, 2], [5, 3, 1], [5, 0, 3]])
    for _ in range(2):
        v, t = loop_subdivide(v, t)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
    v = v * np.array([75e3, 95e3, 60e3])  # µm, as BFM 2009
    v[:, 2] += 30e3 * np.exp(-((v[:, 0] / 2e4) ** 2 + (v[:, 1] / 3e4) ** 2)) * (v[:, 2] > 0)  # a nose
    rng = np.random.default_rng(seed)
    n = len(v)
    basis = np.linalg.qr(rng.standard_normal((3 * n, MODES)))[0]
    return {
        "mean": v.reshape(-1), "basis": basis, "std": 4e4 * 0.7 ** np.arange(MODES),
        "tex_mean": np.full(3 * n, 180.0), "tex_basis": np.linalg.qr(rng.standard_normal((3 * n, MODES)))[0],
        "tex_std": 300.0 * 0.7 ** np.arange(MODES), "triangles": t,
    }


def write_2009(path, drop=None):
    m = tiny_model()
    fields = {
        "shapeMU": m["mean"][:, None], "shapePC": m["basis"], "shapeEV": m["std"][:, None],
        "texMU": m["tex_mean"][:, None], "texPC": m["tex_basis"], "texEV": m["tex_std"][:, None],
        "tl": (m["triangles"] + 1).astype(np.float64),
    }
    fields.pop(drop, None)
    scipy.io.savemat(path, fields)
    return path


def write_2017(path, drop=None):
    import h5py

    m = tiny_model()
    fields = {
        "shape/model/mean": m["mean"] / 1000, "shape/model/pcaBasis": m["basis"],
        "shape/model/pcaVariance": (m["std"] / 1000) ** 2, "shape/representer/cells": m["triangles"].T.astype(np.int32),
        "color/model/mean": m["tex_mean"] / 255, "color/model/pcaBasis": m["tex_basis"],
        "color/model/pcaVariance": (m["tex_std"] / 255) ** 2,
    }
    fields.pop(drop, None)
    with h5py.File(path, "w") as f:
        for name, value in fields.items():
            f[name] = value
    return path


@pytest.fixture(params=["2009", "2017"])
def bfm_file(request, tmp_path):
    if request.param == "2009":
        return write_2009(tmp_path / "01_MorphableModel.mat")
    return write_2017(tmp_path / "model2017-1_bfm_nomouth.h5")


def engine(path, seed=0):
    from dcign.data.engine import EngineConfig, SceneEngine

    return SceneEngine(EngineConfig(f"bfm:{path}", 64, seed=seed, num_train_identities=10, num_test_identities=4, bfm_modes=3))


def test_reads_both_layouts_into_the_same_model(tmp_path):
    from dcign.render.bfm import BFMModel

    a = BFMModel(write_2009(tmp_path / "a.mat"), num_modes=3)
    b = BFMModel(write_2017(tmp_path / "b.h5"), num_modes=3)
    c = np.array([1.0, -0.5, 2.0, 0.3, 0.0, -1.0])
    ma, mb = a.mesh(c), b.mesh(c)
    assert a.identity_dim == 6 and ma.triangles.shape == mb.triangles.shape
    np.testing.assert_allclose(ma.positions, mb.positions, atol=1e-5)  # µm vs mm: the same after framing
    np.testing.assert_allclose(ma.albedo, mb.albedo, atol=1e-5)
    assert np.linalg.norm(ma.positions, axis=1).max() <= 1.1  # fits the renderer's frame in every pose
    assert a.version.startswith("bfm-") and a.version.endswith("-k3") and a.version != b.version


def test_one_factor_batches_render_deterministically(bfm_file):
    e = engine(bfm_file)
    rng = np.random.default_rng(0)
    for factor in ("azimuth", "elevation", "light_azimuth", "identity"):
        f = e.space.one_factor_batch(rng, factor, 6)
        for other in ("azimuth", "elevation", "light_azimuth", "identity"):
            if other != factor:
                assert len(np.unique(f[other])) == 1
        images = e.render(f)
        assert images.shape == (6, 1, 64, 64) and images[:, 0, 0, 0].tolist() == [1.0] * 6
        assert all(np.abs(images[i] - images[0]).mean() > 1e-3 for i in range(1, 6)), factor
        np.testing.assert_allclose(engine(bfm_file).render(f), images, atol=1 / 255)


def test_identities_differ(bfm_file):
    e = engine(bfm_file)
    a, b = (e.render(Factors([0], [0], [0], [i]))[0, 0] for i in (0, 1))
    assert np.abs(a - b).mean() > 0.003


@pytest.mark.parametrize("missing", ["shapePC", "texEV", "tl"])
def test_missing_field_2009_is_named(tmp_path, missing):
    from dcign.render.bfm import BFMError, BFMModel

    path = write_2009(tmp_path / "01_MorphableModel.mat", drop=missing)
    with pytest.raises(BFMError, match=f"field '{missing}' is missing"):
        BFMModel(path)


@pytest.mark.parametrize("missing", ["shape/representer/cells", "color/model/pcaVariance"])
def test_missing_field_2017_is_named(tmp_path, missing):
    from dcign.render.bfm import BFMError, BFMModel

    path = write_2017(tmp_path / "model.h5", drop=missing)
    with pytest.raises(BFMError, match=f"field '{missing}' is missing"):
        BFMModel(path)


def test_truncated_files_give_one_clear_error(bfm_file):
    from dcign.render.bfm import BFMError, BFMModel

    data = bfm_file.read_bytes()
    bfm_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(BFMError, match="truncated or corrupt"):
        BFMModel(bfm_file)


def test_bad_shapes_and_mode_counts_are_named(tmp_path):
    from dcign.render.bfm import BFMError, BFMModel

    path = write_2009(tmp_path / "m.mat")
    with pytest.raises(BFMError, match="num_modes must be 1..10"):
        BFMModel(path, num_modes=11)
    fields = scipy.io.loadmat(path)
    fields["shapeEV"] = fields["shapeEV"][:2]
    scipy.io.savemat(path, {k: v for k, v in fields.items() if not k.startswith("__")})
    with pytest.raises(BFMError, match="'shapeEV' must hold one value per mode"):
        BFMModel(path)


def test_spec_errors():
    from dcign.data.engine import check_dataset, data_version

    with pytest.raises(ValueError, match="bfm:PATH"):
        check_dataset("bfm")
    with pytest.raises(ValueError, match="does not exist"):
        data_version("bfm:/nonexistent/01_MorphableModel.mat")
    with pytest.raises(ValueError, match="unknown data set"):
        check_dataset("chairs:/x")


def test_cli_data_sample_reads_bfm(tmp_path):
    from support import dcign

    path = write_2009(tmp_path / "01_MorphableModel.mat")
    dcign("data", "sample", "--dataset", f"bfm:{path}", "--factor", "azimuth", "--batch-size", "4", "--out", tmp_path / "o")
    assert (tmp_path / "o" / "batch.png").is_file()
    proc = dcign("data", "sample", "--dataset", f"bfm:{tmp_path / 'none.mat'}", "--out", tmp_path / "p", check=False)
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr
