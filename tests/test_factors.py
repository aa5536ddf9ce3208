import numpy as np
import pytest

from dcign.factors import ANGLE_FACTORS, FACTORS, OneFactorBatchSampler, normalise_weights


@pytest.mark.parametrize("engine_name", ["faces", "chairs"])
@pytest.mark.parametrize("varied", FACTORS)
def test_one_factor_property(request, engine_name, varied):
    space = request.getfixturevalue(engine_name).space
    f = space.one_factor_batch(np.random.default_rng(1), varied, 20)
    assert len(f) == 20
    for name in FACTORS:
        values = f[name]
        if name == varied:
            assert len(np.unique(values)) == 20
        else:
            assert len(np.unique(values)) == 1
    for a in ANGLE_FACTORS:
        space.ranges[a].check(f[a])


def test_sampler_is_seeded_and_indexable(faces):
    a = OneFactorBatchSampler(faces.space, 20, seed=3)
    b = OneFactorBatchSampler(faces.space, 20, seed=3)
    for i in (0, 5, 17):
        fa, va = a[i]
        fb, vb = b[i]
        assert va == vb
        np.testing.assert_array_equal(fa.angles(), fb.angles())
        np.testing.assert_array_equal(fa.identity, fb.identity)
    other, _ = OneFactorBatchSampler(faces.space, 20, seed=4)[0]
    assert not np.array_equal(other.angles(), a[0][0].angles())


def test_batch_type_ratio_default_is_paper():
    w = normalise_weights(None)
    assert w["identity"] == pytest.approx(10 / 13)
    assert w["azimuth"] == w["elevation"] == w["light_azimuth"] == pytest.approx(1 / 13)


def test_sampler_follows_weights(faces):
    s = OneFactorBatchSampler(faces.space, 4, weights={"azimuth": 1, "elevation": 1, "light_azimuth": 1, "identity": 10}, seed=0)
    types = [s[i][1] for i in range(1300)]
    assert 0.70 < types.count("identity") / 1300 < 0.84
    only_light = OneFactorBatchSampler(faces.space, 4, weights={"light_azimuth": 1}, seed=0)
    assert {only_light[i][1] for i in range(50)} == {"light_azimuth"}


def test_train_test_identities_disjoint(faces):
    train, test = set(faces.space.identities("train")), set(faces.space.identities("test"))
    assert train and test and not train & test
    table = faces.space.identity_table
    assert len({tuple(np.round(table[i], 12)) for i in range(len(table))}) == len(table)
    s = OneFactorBatchSampler(faces.space, 20, split="train", seed=0)
    seen = set(np.concatenate([s[i][0].identity for i in range(200)]))
    assert not seen & test


def test_validation_identities_disjoint_from_test_and_train(faces):
    space = faces.space
    train, test, val = (set(space.identities(s)) for s in ("train", "test", "validation"))
    assert len(val) == space.num_validation_identities > 0
    assert not val & test and not val & train
    assert max(val) == space.num_identities - 1
    for i in val:
        space.coefficients(i)  # every validation identity has coefficients
    # The validation indices come after the test ones: adding them changed no train or test identity.
    from dcign.factors import FactorSpace

    fewer = FactorSpace(space.ranges, space.sample_identity, space.num_train_identities, space.num_test_identities,
                        seed=space.seed, num_validation_identities=1)
    n = space.num_train_identities + space.num_test_identities
    np.testing.assert_array_equal(fewer.identity_table[:n], space.identity_table[:n])
    s = OneFactorBatchSampler(space, 5, split="validation", seed=0)
    assert set(np.concatenate([s[i][0].identity for i in range(50)])) <= val
    with pytest.raises(ValueError, match="validation"):
        space.identities("holdout")


def test_identity_table_is_seeded(faces):
    from dcign.data.engine import EngineConfig, SceneEngine

    again = SceneEngine(EngineConfig("faces", 64, seed=0, num_train_identities=50, num_test_identities=20))
    np.testing.assert_array_equal(again.space.identity_table, faces.space.identity_table)
    other = SceneEngine(EngineConfig("faces", 64, seed=1, num_train_identities=50, num_test_identities=20))
    assert not np.allclose(other.space.identity_table, faces.space.identity_table)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"varied": "colour"}, "unknown factor"),
        ({"varied": "identity", "batch_size": 500}, "distinct"),
        ({"varied": "azimuth", "batch_size": 0}, "batch_size"),
    ],
)
def test_bad_batches(faces, kwargs, message):
    args = {"batch_size": 20, **kwargs}
    with pytest.raises(ValueError, match=message):
        faces.space.one_factor_batch(np.random.default_rng(0), args["varied"], args["batch_size"])


@pytest.mark.parametrize("weights", [{"pose": 1}, {"azimuth": -1}, {"azimuth": 0}])
def test_bad_weights(weights):
    with pytest.raises(ValueError):
        normalise_weights(weights)


def test_angle_range_check(faces):
    with pytest.raises(ValueError, match=r"azimuth must lie in \[-90, 90\]"):
        faces.space.ranges["azimuth"].check([120.0])
    with pytest.raises(ValueError, match="finite"):
        faces.space.ranges["azimuth"].check([np.nan])
