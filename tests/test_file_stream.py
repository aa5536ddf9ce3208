"""Training steps from users' files: the latent layout, batch weights and the step stream."""

import numpy as np
import pytest
import torch

import published_layouts as pl
from dcign.data.file_stream import FileSteps, file_layout, file_weights
from dcign.data.sources import DataSourceError, open_dataset
from dcign.model import DCIGN, get_preset, reconstruction_loss


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DCIGN_CACHE_DIR", str(tmp_path / "cache"))


def test_default_layout_gives_each_factor_a_latent_and_identity_the_rest():
    layout = file_layout(("shape", "scale", "orientation"), ("shape",), 6)
    assert layout == {"shape": [2, 3, 4, 5], "scale": [0], "orientation": [1]}
    custom = file_layout(("shape", "scale", "orientation"), ("shape",), 6, {"orientation": [5, 4]})
    assert custom["orientation"] == [4, 5] and custom["scale"] == custom["shape"] == [0, 1, 2, 3]
    with pytest.raises(DataSourceError, match="does not have; its factors are shape, scale, orientation"):
        file_layout(("shape", "scale", "orientation"), ("shape",), 6, {"azimuth": [0]})
    with pytest.raises(DataSourceError, match="two factors"):
        file_layout(("a", "b", "c"), (), 6, {"a": [0], "b": [0]})


def test_weights_follow_the_papers_ratio():
    w = file_weights(("category", "instance", "elevation", "azimuth", "lighting"), ("category", "instance"))
    assert w["azimuth"] == pytest.approx(1 / 13) and w["category"] == pytest.approx(5 / 13)
    w = file_weights(("a", "identity"), ("identity",), {"identity": 1})
    assert w == {"a": 0.5, "identity": 0.5}


def test_stream_steps_are_one_factor_groups_and_depend_only_on_seed_and_step(tmp_path):
    f = pl.write_3dshapes(tmp_path / "3dshapes.h5")
    spec = f"3dshapes:{f}"
    steps = FileSteps(spec, batch_size=5, groups_per_step=3, seed=1, channels=3, size=32)
    data = open_dataset(spec)
    it = iter(steps)
    first = [next(it) for _ in range(3)]
    for item in first:
        assert item["images"].shape == (15, 3, 32, 32) and item["varied"].shape == (3,)
        for g in range(3):
            idx = item["index"][g * 5:(g + 1) * 5].numpy()
            k = int(item["varied"][g])
            others = np.delete(data.labels[idx], k, axis=1)
            assert (others == others[0]).all() and len(np.unique(data.labels[idx, k])) >= 2
    resumed = next(iter(FileSteps(spec, batch_size=5, groups_per_step=3, seed=1, start_step=2, channels=3, size=32)))
    assert torch.equal(resumed["images"], first[2]["images"]) and resumed["step"] == 2


def test_stream_refuses_pairs_on_unlabelled_torch7_batches(tmp_path):
    root = pl.write_dcign_t7(tmp_path / "D", sets=("AZ", "SHAPE"), train=2, test=1, size=16)
    FileSteps(f"dcign-t7:{root}", batch_size=20, size=16)
    with pytest.raises(DataSourceError, match="Ada-GVAE"):
        FileSteps(f"dcign-t7:{root}", batch_size=20, mode="pairs", size=16)


def test_network_takes_rgb():
    net = DCIGN(get_preset("small-64", 8, channels=3))
    x = torch.rand(2, 3, 64, 64)
    mu, logvar = net.encode(x)
    logits = net.decoder(mu)
    assert mu.shape == (2, 8) and logits.shape == (2, 3, 64, 64) and net.channels == 3
    assert reconstruction_loss(logits, x).shape == (2,)
    with pytest.raises(ValueError, match="channels"):
        get_preset("small-64", channels=2)


def test_rgb_dcign_step_on_a_users_data_set_clamps_by_its_factors(tmp_path):
    from dcign.config import TrainConfig
    from dcign.training import DisentanglingVAE, make_dataset

    f = pl.write_3dshapes(tmp_path / "3dshapes.h5")
    cfg = TrainConfig.from_dict(dict(dataset=f"3dshapes:{f}", channels=3, latent_dim=12, batch_size=4, groups_per_step=2,
                      latent_layout={"orientation": [0], "scale": [1, 2]}))
    module = DisentanglingVAE(cfg)
    masks = module.objective.masks
    assert masks.shape == (6, 12)  # one batch type per factor of 3DShapes
    assert masks[5].nonzero().flatten().tolist() == [0] and masks[3].nonzero().flatten().tolist() == [1, 2]
    assert masks[4].sum() == 9 and torch.equal(masks[0], masks[4])  # shape and the unnamed hues share the rest
    batch = next(iter(make_dataset(cfg)))
    assert batch["images"].shape == (8, 3, 64, 64)
    out = module.losses(batch)
    assert torch.isfinite(out["loss"])
    out["loss"].backward()


def test_file_metrics_score_a_network_on_the_data_sets_ground_truth(tmp_path):
    from types import SimpleNamespace

    from dcign.evaluation.files import file_metrics

    data = open_dataset(f"dsprites:{pl.write_dsprites(tmp_path / 'd.npz')}")
    net = DCIGN(get_preset("small-64", 8)).eval()
    cfg = SimpleNamespace(model=SimpleNamespace(latent_dim=8))
    layout = {"scale": [0], "orientation": [1], "pos_x": [2], "pos_y": [3], "shape": [4, 5, 6, 7]}
    r = file_metrics(net, cfg, data, layout, lambda m: None, num_points=60)
    assert set(r["headline"]) == {f"{n}{v}" for n in ("mig", "dci", "sap", "modularity", "beta_vae_score", "factor_vae_score")
                                  for v in ("", "_grouped")}
    assert all(0 <= v <= 1 for v in r["headline"].values())
    assert r["settings"]["grouping"]["columns"][0] == "scale: z1"
