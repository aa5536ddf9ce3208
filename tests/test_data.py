import numpy as np
import pytest
import torch

from dcign.data import EngineConfig, RenderedSteps, make_loader
from dcign.factors import FACTORS

SMALL = EngineConfig("faces", 64, seed=0, num_train_identities=40, num_test_identities=10)


def take(loader, n):
    it = iter(loader)
    return [next(it) for _ in range(n)]


def test_step_content():
    ds = RenderedSteps(SMALL, batch_size=6, groups_per_step=3, seed=1)
    step = next(iter(ds))
    assert step["images"].shape == (18, 1, 64, 64) and step["images"].dtype == torch.float32
    assert step["varied"].shape == (3,)
    for g, v in enumerate(step["varied"].tolist()):
        angles = step["angles"][g * 6 : (g + 1) * 6]
        ident = step["identity"][g * 6 : (g + 1) * 6]
        for k, name in enumerate(FACTORS):
            values = ident if name == "identity" else angles[:, k]
            assert len(torch.unique(values)) == (6 if k == v else 1)


def test_random_mode_varies_everything():
    step = next(iter(RenderedSteps(SMALL, batch_size=8, groups_per_step=1, mode="random", seed=0)))
    assert step["varied"].tolist() == [-1]
    assert len(torch.unique(step["angles"][:, 0])) == 8


def test_stream_same_for_any_worker_count_and_after_parent_rendered():
    """Spawned workers start cleanly even though this process already holds a GL context."""
    from dcign.data.engine import SceneEngine
    from dcign.factors import Factors

    SceneEngine(SMALL).render(Factors([0.0], [0.0], [0.0], [0]))  # parent renders first
    ds = RenderedSteps(SMALL, batch_size=4, groups_per_step=2, seed=3)
    inline = take(make_loader(ds, 0), 4)
    spawned = take(make_loader(ds, 2), 4)
    for a, b in zip(inline, spawned):
        assert a["step"] == b["step"]
        torch.testing.assert_close(a["angles"], b["angles"])
        torch.testing.assert_close(a["images"], b["images"], atol=1 / 255, rtol=0)
    assert [s["step"] for s in spawned] == [0, 1, 2, 3]


def test_resume_continues_the_stream():
    full = take(make_loader(RenderedSteps(SMALL, batch_size=4, seed=2), 0), 5)
    resumed = take(make_loader(RenderedSteps(SMALL, batch_size=4, seed=2, start_step=3), 0), 2)
    for a, b in zip(full[3:], resumed):
        torch.testing.assert_close(a["angles"], b["angles"])
        assert torch.equal(a["identity"], b["identity"])


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        RenderedSteps(SMALL, mode="shuffled")
    with pytest.raises(ValueError, match="distinct"):
        s = RenderedSteps(SMALL, batch_size=100, weights={"identity": 1})
        next(iter(s))
    with pytest.raises(ValueError, match="unknown data set"):
        EngineConfig("cars")
    with pytest.raises(ValueError, match="num_workers"):
        make_loader(RenderedSteps(SMALL), -1)


def test_each_method_is_fed_the_steps_its_paper_describes():
    """The baseline (and beta-VAE) draw every factor of every image independently (§4.1.1);
    Ada-GVAE pairs (first half, second half) differ in 1..3 factors (Locatello et al. 2020)."""
    from dcign.config import TrainConfig
    from dcign.training import make_dataset

    for method in ("baseline", "beta-vae"):
        cfg = TrainConfig.from_dict(dict(method=method, batch_size=8, groups_per_step=2, num_train_identities=40, num_test_identities=10))
        step = next(iter(make_dataset(cfg)))
        assert step["images"].shape[0] == 16 and step["varied"].tolist() == [-1, -1]
        for k in range(3):
            assert len(torch.unique(step["angles"][:, k])) == 16
        assert len(torch.unique(step["identity"])) > 8
    cfg = TrainConfig.from_dict(dict(method="ada-gvae", batch_size=16, groups_per_step=2, num_train_identities=40, num_test_identities=10))
    counts = []
    for step in take(make_loader(make_dataset(cfg), 0), 4):
        a, b = step["angles"][:16], step["angles"][16:]
        ia, ib = step["identity"][:16], step["identity"][16:]
        differ = (a != b).sum(1) + (ia != ib).long()
        counts += differ.tolist()
    assert min(counts) >= 1 and max(counts) <= 3, counts
    assert set(counts) == {1, 2, 3}
