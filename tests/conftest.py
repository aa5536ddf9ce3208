import warnings

import pytest
import torch

from dcign.data.engine import EngineConfig, SceneEngine


@pytest.fixture(scope="session")
def faces():
    return SceneEngine(EngineConfig("faces", 64, seed=0, num_train_identities=50, num_test_identities=20))


@pytest.fixture(scope="session")
def chairs():
    return SceneEngine(EngineConfig("chairs", 64, seed=0, num_train_identities=50, num_test_identities=20))


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread (and one in training subprocesses, support.ENV): same arithmetic everywhere."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """An uninterrupted tiny run of support.STEPS steps on one thread; its last checkpoint."""
    from support import ckpt_state, run_train

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = tmp_path_factory.mktemp("ref") / "run"
            run_train(run)
    finally:
        torch.set_num_threads(before)
    return ckpt_state(run / "checkpoints" / "last.ckpt")
