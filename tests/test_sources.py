"""File-backed data sets: tiny files in the published layouts, read back, batched, and refused when bad."""

import gzip
import pickle
import zipfile

import numpy as np
import pytest

import published_layouts as pl
from dcign.data.sources import DataSourceError, open_dataset, read_torch7_tensor
from dcign.metrics import GroundTruthData, mig


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DCIGN_CACHE_DIR", str(tmp_path / "cache"))


def assert_one_factor(data, factor, batch, split="train"):
    labels = data.labels[batch]
    k = data.factor_index(factor)
    others = np.delete(labels, k, axis=1)
    assert (others == others[0]).all(), f"{factor} batch varies other factors"
    assert len(np.unique(labels[:, k])) >= 2, f"{factor} batch does not vary {factor}"
    split_idx = set(data.split_indices(split).tolist())
    assert set(batch.tolist()) <= split_idx


def check_batches(data, split="train", batch_size=6):
    rng = np.random.default_rng(0)
    for f in data.factor_names:
        for _ in range(5):
            assert_one_factor(data, f, data.one_factor_batch(rng, f, batch_size, split), split)


def check_ground_truth(gt, data):
    assert isinstance(gt, GroundTruthData)
    rs = np.random.RandomState(0)
    factors = gt.sample_factors(7, rs)
    assert factors.shape == (7, gt.num_factors) and factors.dtype == np.int64
    assert (factors < np.array(gt.factors_num_values)).all()
    obs = gt.sample_observations_from_factors(factors, rs)
    assert obs.shape == (7, *gt.observation_shape) and obs.dtype == np.float32
    assert 0 <= obs.min() and obs.max() <= 1
    # each observation is an image with exactly those factors
    find = data._lookup(gt.split)
    direct = data.images(find(factors), gt.channels, gt.size)
    assert np.allclose(direct, gt.sample_observations_from_factors(factors, None))
    codes = lambda x: x.reshape(len(x), -1)[:, :5].astype(np.float64)  # noqa: E731
    assert 0 <= mig(gt, codes, 0, num_train=50)["discrete_mig"] <= 1


# ---------------------------------------------------------------------------------------- dSprites
def test_dsprites_reads_published_layout_without_unpickling(tmp_path, monkeypatch):
    f = pl.write_dsprites(tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz")
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled something"))
    data = open_dataset(f"dsprites:{tmp_path}")
    assert data.factor_names == ("shape", "scale", "orientation", "pos_x", "pos_y")
    assert data.factors_num_values == [3, 2, 2, 2, 2] and len(data) == 48
    with np.load(f, allow_pickle=True) as raw:
        imgs, classes = raw["imgs"], raw["latents_classes"]
    x = data.images([5, 0, 5])
    assert x.shape == (3, 1, 64, 64)
    assert np.array_equal(x[0, 0], imgs[5].astype(np.float32)) and np.array_equal(x[1, 0], imgs[0])
    assert np.array_equal(data.labels, classes[:, 1:])
    assert data.images([1], channels=3).shape == (1, 3, 64, 64)
    assert data.images([1], size=32).shape == (1, 1, 32, 32)
    check_batches(data, batch_size=20)  # shape has 3 values: a 20-batch repeats them
    check_ground_truth(data.ground_truth(), data)


def test_dsprites_stored_npz_is_memory_mapped_in_place(tmp_path):
    pl.write_dsprites(tmp_path / "d.npz")
    with np.load(tmp_path / "d.npz", allow_pickle=True) as raw:
        arrays = {k: raw[k] for k in raw.files}
    np.savez(tmp_path / "stored.npz", **arrays)  # uncompressed members
    data = open_dataset(f"dsprites:{tmp_path / 'stored.npz'}")
    assert isinstance(data.store.array, np.memmap)
    assert not (tmp_path / "cache").exists()  # nothing extracted
    assert np.array_equal(data.images(np.arange(48))[:, 0], arrays["imgs"])


def test_dsprites_compressed_is_extracted_once_to_the_cache(tmp_path):
    f = pl.write_dsprites(tmp_path / "d.npz")
    data = open_dataset(f"dsprites:{f}")
    data.images([0])
    cached = list((tmp_path / "cache").glob("*.npy"))
    assert len(cached) == 1 and not list((tmp_path / "cache").glob(".*tmp"))
    again = pickle.loads(pickle.dumps(data))  # re-opens from the recipe, reuses the cache
    assert np.array_equal(again.images([3]), data.images([3]))


@pytest.mark.parametrize("case, needle", [
    ("missing", "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"),
    ("no_imgs", "no array 'imgs'"),
    ("bad_shape", "published layout"),
    ("not_zip", "not an .npz"),
    ("truncated", "dsprites"),
])
def test_dsprites_bad_input(tmp_path, case, needle):
    f = tmp_path / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    if case == "no_imgs":
        np.savez(f, images=np.zeros((2, 64, 64), np.uint8), latents_classes=np.zeros((2, 6), np.int64))
    elif case == "bad_shape":
        np.savez(f, imgs=np.zeros((2, 32, 32), np.uint8), latents_classes=np.zeros((2, 6), np.int64))
    elif case == "not_zip":
        f.write_text("hello")
    elif case == "truncated":
        pl.write_dsprites(f)
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    path = tmp_path if case == "missing" else f
    with pytest.raises(DataSourceError, match=needle) as exc:
        data = open_dataset(f"dsprites:{path}")
        data.images([0])
    assert "\n" not in str(exc.value)
    if case == "missing":
        assert "github.com/deepmind/dsprites-dataset" in str(exc.value)


# ---------------------------------------------------------------------------------------- 3DShapes
def test_3dshapes_reads_h5_slices(tmp_path):
    import h5py

    f = pl.write_3dshapes(tmp_path / "3dshapes.h5")
    data = open_dataset(f"3dshapes:{f}")
    assert data.factor_names == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    assert data.factors_num_values == [2] * 6 and data.native_shape == (64, 64, 3)
    with h5py.File(f) as h5:
        img7 = h5["images"][7]
    rgb = data.images([7, 7, 2], channels=3)
    assert np.allclose(rgb[0].transpose(1, 2, 0), img7 / 255.0) and np.array_equal(rgb[0], rgb[1])
    grey = data.images([7])[0, 0]
    assert np.allclose(grey, (img7 / 255.0) @ np.array([0.299, 0.587, 0.114]), atol=1e-6)
    check_batches(data)
    check_ground_truth(data.ground_truth(channels=3), data)


def test_3dshapes_bad_input(tmp_path):
    import h5py

    with pytest.raises(DataSourceError, match="3dshapes.h5.*storage.googleapis.com"):
        open_dataset(f"3dshapes:{tmp_path}")
    f = tmp_path / "3dshapes.h5"
    with h5py.File(f, "w") as h5:
        h5.create_dataset("images", data=np.zeros((4, 64, 64, 3), np.uint8))
    with pytest.raises(DataSourceError, match="no dataset 'labels'"):
        open_dataset(f"3dshapes:{f}")
    f.write_bytes(b"not hdf5 at all")
    with pytest.raises(DataSourceError, match="not a readable HDF5"):
        open_dataset(f"3dshapes:{f}")


# ---------------------------------------------------------------------------------------- MPI3D
@pytest.mark.parametrize("compressed", [True, False])
def test_mpi3d_grid_order(tmp_path, compressed):
    sizes = (2, 2, 2, 2, 2, 3, 3)
    f = pl.write_mpi3d(tmp_path / "mpi3d_toy.npz", sizes, compressed)
    data = open_dataset(f"mpi3d:{tmp_path}", factor_sizes=sizes)
    assert data.factors_num_values == list(sizes)
    idx = np.ravel_multi_index((1, 0, 1, 1, 0, 2, 1), sizes)
    assert tuple(data.labels[idx]) == (1, 0, 1, 1, 0, 2, 1)
    expected = pl.colour_image((1, 0, 1, 1, 0, 2, 1)) / 255.0
    assert np.allclose(data.images([idx], channels=3)[0].transpose(1, 2, 0), expected)
    check_batches(data)
    check_ground_truth(data.ground_truth(), data)


def test_mpi3d_refuses_a_shape_that_is_not_its_grid(tmp_path):
    f = pl.write_mpi3d(tmp_path / "mpi3d_real.npz", (2, 2, 2, 2, 2, 3, 3))
    with pytest.raises(DataSourceError, match="1036800x64x64x3"):
        open_dataset(f"mpi3d:{f}")
    with pytest.raises(DataSourceError, match="mpi3d_toy.npz or mpi3d_realistic.npz or mpi3d_real.npz"):
        open_dataset(f"mpi3d:{tmp_path / 'nothing'}")


# ---------------------------------------------------------------------------------------- SmallNORB
@pytest.mark.parametrize("gz", [False, True])
def test_smallnorb_binary_matrices(tmp_path, gz):
    root = pl.write_smallnorb(tmp_path / "norb", gz=gz)
    data = open_dataset(f"smallnorb:{root}")
    assert data.factor_names == ("category", "instance", "elevation", "azimuth", "lighting")
    assert data.factors_num_values == [2, 2, 2, 2, 2] and len(data) == 64
    train, test = data.split_indices("train"), data.split_indices("test")
    assert len(train) == len(test) == 32 and not set(train) & set(test)
    # image 5 of the training file is its left view; test image 0 its own
    row = (0, 4, 0, 2 * 1, 0)  # category 0, instance 4, elevation 0, azimuth raw 2, lighting 0 -> row 2 of training
    rng = np.random.default_rng(list(row))
    left = rng.integers(0, 256, size=(2, 96, 96), dtype=np.uint8)[0]
    assert np.allclose(data.images([2])[0, 0], left / 255.0)
    assert tuple(data.labels[2]) == (0, 0, 0, 1, 0)
    check_batches(data)
    check_batches(data, "test")
    check_ground_truth(data.ground_truth("test"), data)


def test_smallnorb_bad_input(tmp_path):
    root = pl.write_smallnorb(tmp_path / "norb")
    dat = root / "smallnorb-5x01235x9x18x6x2x96x96-testing-dat.mat"
    dat.write_bytes(dat.read_bytes()[:5000])
    with pytest.raises(DataSourceError, match="truncated"):
        open_dataset(f"smallnorb:{root}")
    dat.write_bytes(b"\x00" * 64)
    with pytest.raises(DataSourceError, match="not a NORB matrix"):
        open_dataset(f"smallnorb:{root}")
    dat.unlink()
    with pytest.raises(DataSourceError, match="testing-dat.mat.*cs.nyu.edu"):
        open_dataset(f"smallnorb:{root}")
    with gzip.open(str(dat) + ".gz", "wb") as g:
        g.write(b"\x55\x4c\x3d\x1e\x04\x00\x00\x00" + b"\x01\x00\x00\x00" * 4)  # header, no data
    with pytest.raises(DataSourceError, match="dat is N x 2 x 96 x 96|truncated"):
        open_dataset(f"smallnorb:{root}")


# ---------------------------------------------------------------------------------------- Cars3D
def test_cars3d_mat_files(tmp_path):
    root = pl.write_cars3d(tmp_path / "cars", cars=3)
    data = open_dataset(f"cars3d:{root}", test_fraction=0.34)
    assert data.factor_names == ("elevation", "azimuth", "object") and data.factors_num_values == [4, 24, 3]
    from scipy.io import loadmat

    im = loadmat(root / "car_002_mesh.mat")["im"]
    idx = np.flatnonzero((data.labels == [3, 7, 1]).all(axis=1))[0]
    assert np.allclose(data.images([idx], channels=3)[0].transpose(1, 2, 0), im[:, :, :, 7, 3] / 255.0)
    test_cars = np.unique(data.labels[data.split_indices("test"), 2])
    train_cars = np.unique(data.labels[data.split_indices("train"), 2])
    assert len(test_cars) == 1 and not set(test_cars) & set(train_cars)
    rng = np.random.default_rng(0)
    for f in ("elevation", "azimuth"):
        assert_one_factor(data, f, data.one_factor_batch(rng, f, 20))
    check_ground_truth(data.ground_truth("test"), data)


def test_cars3d_bad_input(tmp_path):
    from scipy.io import savemat

    with pytest.raises(DataSourceError, match="car_\\*_mesh.mat"):
        open_dataset(f"cars3d:{tmp_path}")
    savemat(tmp_path / "car_001_mesh.mat", {"im": np.zeros((128, 128, 24, 4), np.uint8)})
    savemat(tmp_path / "car_002_mesh.mat", {"im": np.zeros((128, 128, 24, 4), np.uint8)})
    with pytest.raises(DataSourceError, match="128x128x3x24x4"):
        open_dataset(f"cars3d:{tmp_path}")
    (tmp_path / "car_001_mesh.mat").write_bytes(b"garbage" * 30)
    with pytest.raises(DataSourceError, match="not a readable MATLAB file"):
        open_dataset(f"cars3d:{tmp_path}")


# ---------------------------------------------------------------------------------------- chairs
def test_chairs3d_folder_of_renders(tmp_path):
    root = pl.write_chairs(tmp_path / "rendered_chairs", chairs=3)
    data = open_dataset(f"chairs3d:{root}", size=32, test_fraction=0.34)
    assert data.factor_names == ("elevation", "azimuth", "chair") and data.factors_num_values == [2, 4, 3]
    assert list(data.factor_values["azimuth"]) == [0, 90, 180, 270]
    x = data.images(np.arange(len(data)))
    assert x.shape == (24, 1, 32, 32)
    # cropped to the object: the dark chair fills the frame (the 60-px render was mostly white)
    assert x.mean() < 0.8 and (x[:, 0, 16, 16] < 0.9).all()
    held = np.unique(data.labels[data.split_indices("test"), 2])
    assert len(held) == 1
    check_batches(data, batch_size=4)
    check_ground_truth(data.ground_truth("train"), data)
    with pytest.raises(DataSourceError, match="image_NNN_pPPP_tTTT_rRRR.png"):
        open_dataset(f"chairs3d:{tmp_path / 'rendered_chairs' / '1a00bc0' / 'renders' / '..' / '..' / '..'}")


# ---------------------------------------------------------------------------------------- folder
def write_folder(root, rows, header="file,azimuth,identity", size=16):
    from PIL import Image

    root.mkdir(parents=True, exist_ok=True)
    lines = [header]
    for i, r in enumerate(rows):
        name = f"img{i}.png"
        Image.fromarray(np.full((size, size), 20 * i % 256, np.uint8)).save(root / name)
        lines.append(",".join([name, *map(str, r)]))
    (root / "factors.csv").write_text("\n".join(lines) + "\n")
    return root


def test_folder_with_factors_csv(tmp_path):
    rows = [(az, ident) for ident in range(4) for az in (-60, 0, 60)]
    root = write_folder(tmp_path / "mine", rows)
    data = open_dataset(f"folder:{root}", test_fraction=0.25)
    assert data.factor_names == ("azimuth", "identity") and data.factors_num_values == [3, 4]
    assert data.intrinsic_factors == ("identity",)
    assert np.allclose(data.images([4])[0, 0], 80 / 255.0)
    assert len(np.unique(data.labels[data.split_indices("test"), 1])) == 1
    check_batches(data, batch_size=3)
    check_ground_truth(data.ground_truth("all"), data)
    assert data.ground_truth().split == "test"


def test_folder_bins_continuous_factors_and_reads_split_column(tmp_path):
    rows = [(a, 0, "train" if a < 50 else "test") for a in np.linspace(0, 99.5, 12)] + [(5.5, 1, "train"), (6.5, 1, "train")]
    root = write_folder(tmp_path / "f", rows, header="file,angle,identity,split")
    data = open_dataset(f"folder:{root}", bins=4)
    assert data.factors_num_values == [4, 2] and data.labels[:, 0].max() == 3
    assert len(data.split_indices("test")) == 6


def test_folder_bad_input(tmp_path):
    with pytest.raises(DataSourceError, match="no factors.csv"):
        open_dataset(f"folder:{tmp_path}")
    root = write_folder(tmp_path / "a", [(1, 0), (2, 0), (3, 0)])
    with pytest.raises(DataSourceError, match="'identity' takes a single value"):
        open_dataset(f"folder:{root}")
    root = write_folder(tmp_path / "b", [(1, 0), ("x", 1), (3, 1)])
    with pytest.raises(DataSourceError, match="'x' is not a number"):
        open_dataset(f"folder:{root}")
    (root / "img2.png").unlink()
    (root / "factors.csv").write_text("file,azimuth,identity\nimg0.png,1,0\nimg2.png,2,1\n")
    with pytest.raises(DataSourceError, match="do not exist.*img2.png"):
        open_dataset(f"folder:{root}")
    # every factor value of azimuth sits with a different identity: no one-factor batch of azimuth
    root = write_folder(tmp_path / "c", [(1, 0), (2, 1), (3, 2), (4, 3)])
    data = open_dataset(f"folder:{root}")
    with pytest.raises(DataSourceError, match="no two train images differ only in factor 'azimuth'"):
        data.one_factor_batch(np.random.default_rng(0), "azimuth", 2)


# ---------------------------------------------------------------------------------------- DC-IGN Torch7
def test_torch7_reader_round_trips_the_writer(tmp_path):
    a = np.random.default_rng(0).random((3, 1, 5, 5), dtype=np.float32)
    pl.write_torch7(tmp_path / "t", a)
    t = read_torch7_tensor(tmp_path / "t")
    assert t.shape == (3, 1, 5, 5) and np.array_equal(t.array(), a)


def test_dcign_t7_batches_are_the_files(tmp_path):
    root = pl.write_dcign_t7(tmp_path / "DATASET", sets=("AZ", "LIGHT_AZ", "SHAPE"), train=3, test=2, size=32)
    data = open_dataset(f"dcign-t7:{root}")
    assert data.factor_names == ("azimuth", "light_azimuth", "identity")  # no EL set: its batches are absent
    batch = data.one_factor_batch(np.random.default_rng(1), "light_azimuth", 20)
    fi = batch[0] // 20
    path = data.store.tensors[fi].path
    assert path.parent.parent.name == "th_LIGHT_AZ_VARIED" and path.parent.name == "FT_training"
    assert np.array_equal(data.images(batch), read_torch7_tensor(path).array())
    test = data.one_factor_batch(np.random.default_rng(1), "azimuth", 20, "test")
    assert data.store.tensors[test[0] // 20].path.parent.name == "FT_test"
    assert len(data.one_factor_batch(np.random.default_rng(1), "azimuth", 8)) == 8
    with pytest.raises(DataSourceError, match="no elevation batches"):
        data.one_factor_batch(np.random.default_rng(1), "elevation", 20)
    with pytest.raises(DataSourceError, match="hold 20 images"):
        data.one_factor_batch(np.random.default_rng(1), "azimuth", 21)
    with pytest.raises(DataSourceError, match="not its values"):
        data.ground_truth()
    assert pickle.loads(pickle.dumps(data)).describe() == data.describe()


def test_dcign_t7_bad_input(tmp_path):
    with pytest.raises(DataSourceError, match="th_AZ_VARIED.*dc-ign"):
        open_dataset(f"dcign-t7:{tmp_path / 'none'}")
    with pytest.raises(DataSourceError, match="FT_training/batch<k>"):
        open_dataset(f"dcign-t7:{tmp_path}")
    root = pl.write_dcign_t7(tmp_path / "D", sets=("AZ",), train=2, test=0, size=16)
    f = root / "th_AZ_VARIED" / "FT_training" / "batch2"
    full = f.read_bytes()
    f.write_bytes(full[: len(full) // 2])
    with pytest.raises(DataSourceError, match="batch2 is truncated"):
        open_dataset(f"dcign-t7:{root}")
    f.write_bytes(b"1\n4\nV 1\n")
    with pytest.raises(DataSourceError, match="ascii"):
        open_dataset(f"dcign-t7:{root}")
    f.write_bytes(b"\x03\x00\x00\x00" + full[4:])
    with pytest.raises(DataSourceError, match="not a Torch7 tensor file"):
        open_dataset(f"dcign-t7:{root}")
    pl.write_torch7(f, np.zeros((20, 3, 16, 16), np.float32))
    with pytest.raises(DataSourceError, match="20x3x16x16"):
        open_dataset(f"dcign-t7:{root}")


def test_unknown_names_and_options():
    with pytest.raises(DataSourceError, match="choose one of dcign-t7"):
        open_dataset("nope:/x")
    with pytest.raises(DataSourceError, match="needs the path"):
        open_dataset("dsprites")
    with pytest.raises(DataSourceError, match="takes no option bins"):
        open_dataset("dsprites:/x", bins=3)


def test_fixed_factor_metrics_run_on_grids_and_refuse_sparse_folders(tmp_path):
    from dcign.metrics import beta_vae_score

    data = open_dataset(f"dsprites:{pl.write_dsprites(tmp_path / 'd.npz')}")
    codes = lambda x: x.reshape(len(x), -1)[:, ::512].astype(np.float64)  # noqa: E731
    score = beta_vae_score(data.ground_truth(), codes, 0, batch_size=4, num_train=20, num_eval=10)
    assert 0 <= score["eval_accuracy"] <= 1
    root = write_folder(tmp_path / "sparse", [(0, 0), (1, 0), (0, 1)])  # (azimuth 1, identity 1) is missing
    gt = open_dataset(f"folder:{root}", test_fraction=0.5).ground_truth("all")
    with pytest.raises(ValueError, match="azimuth=1, identity=1.*not a full grid"):
        gt.sample_observations_from_factors(np.array([[1, 1]]), 0)


def test_pairs_share_all_but_some_factors(tmp_path):
    data = open_dataset(f"3dshapes:{pl.write_3dshapes(tmp_path / '3dshapes.h5')}")
    idx = data.pair_batch(np.random.default_rng(0), 30)
    a, b = data.labels[idx[:30]], data.labels[idx[30:]]
    differ = (a != b).sum(axis=1)
    assert (differ >= 1).all() and (differ <= data.num_factors - 1).all() and len(set(differ)) > 1
