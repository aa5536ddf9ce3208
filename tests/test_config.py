"""Training configs (dcign.config): anything accepted survives a round trip, anything else
is a ValueError with a message (fuzzed)."""

import json

import pytest

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dcign.config import TrainConfig

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "config.json"

CONFIG_FIELDS = list(json.loads(TrainConfig().to_json()))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
PLAUSIBLE = st.one_of(
    st.sampled_from(["dcign", "baseline", "beta-vae", "ada-gvae", "faces", "chairs", "small-64", "paper-150", "mean",
                     "first", "z", "params", "adam", "rmsprop", "stop", "skip", True, False, 0, 1, 2, 20, 200, -1,
                     0.5, 1e-3, 2**32, 10**400, float("nan"), float("inf")]),
    st.dictionaries(st.sampled_from(["azimuth", "elevation", "light_azimuth", "identity", "hue"]),
                    st.lists(st.integers(-2, 250), max_size=3) | st.floats(allow_nan=True) | st.integers(-1, 5),
                    max_size=4),
)


def check_config(data):
    try:
        cfg = TrainConfig.from_dict(data)
    except ValueError as exc:
        assert str(exc)
        return None
    assert isinstance(cfg, TrainConfig)
    assert TrainConfig.from_dict(json.loads(cfg.to_json())) == cfg  # anything accepted survives a round trip
    return cfg


@FUZZ
@given(data=st.dictionaries(st.sampled_from(CONFIG_FIELDS) | st.text(max_size=6), JSON_VALUES | PLAUSIBLE, max_size=6))
@example(data={"preset": []})
@example(data={"latent_layout": []})  # was AttributeError
@example(data={"latent_layout": {"azimuth": 5}})
@example(data={"batch_weights": [1, 2]})
@example(data={"lr": 10**400})  # was OverflowError
@example(data={"beta": 10**400})  # was OverflowError
@example(data={"batch_weights": {"azimuth": 10**400}})  # was OverflowError
@example(data={"seed": "abc"})  # was accepted
@example(data={"seed": -1})  # was accepted, crashed later
@example(data={"seed": 2**40})  # was accepted; Lightning then silently picks a random seed
@example(data={"kl_on_clamped": "no"})  # was accepted
@example(data={"num_workers": True})  # was accepted
@example(data={"latent_layout": {"azimuth": [True]}})  # was accepted as latent 1
def test_fuzz_config_from_dict(data):
    cfg = check_config(data)
    if any(k in data for k in ("seed", "kl_on_clamped", "num_workers")) and cfg is not None:
        assert isinstance(cfg.method.kl_on_clamped, bool) and 0 <= cfg.run.seed < 2**32 and type(cfg.run.num_workers) is int
    if data in ({"lr": 10**400}, {"seed": -1}, {"latent_layout": []}, {"latent_layout": {"azimuth": [True]}}):
        assert cfg is None


@FUZZ
@given(text=st.one_of(st.text(max_size=200), JSON_VALUES.map(json.dumps),
                      st.dictionaries(st.sampled_from(CONFIG_FIELDS), PLAUSIBLE, max_size=4).map(json.dumps),
                      st.binary(max_size=50)))
@example(text="[" * 100_000)  # was RecursionError
@example(text='{"lr": 1' + "0" * 5000 + "}")  # int literal beyond Python's digit limit
@example(text=b"\xff\xfe{")
@example(text='{"lr": NaN}')
def test_fuzz_config_load(scratch, text):
    scratch.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        cfg = TrainConfig.load(scratch)
    except ValueError as exc:
        assert str(exc)
        return
    assert isinstance(cfg, TrainConfig)
