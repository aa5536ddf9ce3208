import pytest

from dcign.data.engine import EngineConfig, SceneEngine


@pytest.fixture(scope="session")
def faces():
    return SceneEngine(EngineConfig("faces", 64, seed=0, num_train_identities=50, num_test_identities=20))


@pytest.fixture(scope="session")
def chairs():
    return SceneEngine(EngineConfig("chairs", 64, seed=0, num_train_identities=50, num_test_identities=20))
