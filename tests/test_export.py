"""Exported models (dcign.export): safetensors + JSON, loaded without unpickling, refused
with the reason on any mismatch; model.json fuzzed against real weights."""

import json
import pickle

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file
from support import ANGLE_MAPS, assert_same_tensors, exported

from dcign.inference import degrees_to_latent
from dcign.export import load_model, read_model_json

def test_exported_model_round_trips_without_pickle(tmp_path, monkeypatch):
    run = exported(tmp_path / "m")
    saved = load_file(str(run / "model.safetensors"))

    def no_unpickling(*a, **k):
        raise AssertionError("model loading must not unpickle")

    monkeypatch.setattr(pickle, "loads", no_unpickling)
    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(torch, "load", no_unpickling)
    net, cfg, meta = load_model(run)
    assert cfg.model.latent_dim == 8 and meta["angle_maps"] == ANGLE_MAPS and not net.training
    assert_same_tensors(net.state_dict(), saved)
    assert json.loads((run / "model.json").read_text())["config"]["latent_dim"] == 8


def _edit_json(run, fn):
    meta = json.loads((run / "model.json").read_text())
    fn(meta)
    (run / "model.json").write_text(json.dumps(meta))


def _edit_weights(run, fn):
    tensors = load_file(str(run / "model.safetensors"))
    fn(tensors)
    save_file(tensors, str(run / "model.safetensors"))


TAMPER = {
    "other preset": (lambda r: _edit_json(r, lambda m: m["config"].update(preset="paper-150")),
                     r"does not match preset paper-150 .*missing tensors \['decoder\.deconv\.10\.bias'"),
    "other latent_dim": (lambda r: _edit_json(r, lambda m: m["config"].update(latent_dim=9)),
                         r"encoder\.mu\.weight has shape \(8, 4096\), preset small-64 with latent_dim 9"),
    "absurd latent_dim": (lambda r: _edit_json(r, lambda m: m["config"].update(latent_dim=10**9)),
                          r"invalid config: latent_dim must be at most 4,096"),  # refused before any tensor is sized
    "reshaped tensor": (lambda r: _edit_weights(r, lambda t: t.update({"decoder.fc.bias": torch.zeros(7)})),
                        r"decoder\.fc\.bias has shape \(7,\)"),
    "missing tensor": (lambda r: _edit_weights(r, lambda t: t.pop("encoder.logvar.bias")),
                       r"missing tensors \['encoder\.logvar\.bias'\]"),
    "extra tensor": (lambda r: _edit_weights(r, lambda t: t.update(backdoor=torch.zeros(1))),
                     r"unexpected \['backdoor'\]"),
    "nan weights": (lambda r: _edit_weights(r, lambda t: t["decoder.fc.bias"].fill_(float("nan"))),
                    r"decoder\.fc\.bias holds NaN"),
    "integer weights": (lambda r: _edit_weights(r, lambda t: t.update({"decoder.fc.bias": torch.zeros(4096, dtype=torch.int32)})),
                        r"decoder\.fc\.bias has dtype torch\.int32"),
    "unknown config key": (lambda r: _edit_json(r, lambda m: m["config"].update(colour="red")),
                           r"unknown config key\(s\) \['colour'\]"),
    "invalid config value": (lambda r: _edit_json(r, lambda m: m["config"].update(preset="huge-512")),
                             r"unknown preset 'huge-512'"),
    "not a model description": (lambda r: _edit_json(r, lambda m: m.update(format="other/2")),
                                r"not a dcign model description"),
    "angle map latent out of range": (lambda r: _edit_json(r, lambda m: m["angle_maps"]["azimuth"].update(latent_index=99)),
                                      r"angle_maps\['azimuth'\] needs a latent_index in 0\.\.7"),
    "angle map table malformed": (lambda r: _edit_json(r, lambda m: m["angle_maps"]["elevation"].update(latent=[1.0])),
                                  r"angle_maps\['elevation'\] needs equal-length"),
    "truncated weights": (lambda r: (r / "model.safetensors").write_bytes((r / "model.safetensors").read_bytes()[:500]),
                          r"cannot read weights"),
    "weights missing": (lambda r: (r / "model.safetensors").unlink(), r"model\.safetensors is missing"),
    "model.json missing": (lambda r: (r / "model.json").unlink(), r"holds no exported model"),
    "model.json not JSON": (lambda r: (r / "model.json").write_text('{"format": '), r"not valid JSON"),
    "model.json absurdly nested": (lambda r: (r / "model.json").write_text("[" * 100_000), r"not valid JSON"),
}

@pytest.mark.parametrize("case", list(TAMPER))
def test_load_model_refuses_mismatches_naming_them(tmp_path, case, monkeypatch):
    tamper, message = TAMPER[case]
    run = exported(tmp_path / "m")
    tamper(run)
    import dcign.export

    built = []  # refused from the header: no network of the claimed size is built first
    real = dcign.export.DCIGN
    monkeypatch.setattr(dcign.export, "DCIGN", lambda preset: built.append(torch.empty(0).device.type) or real(preset))
    with pytest.raises(ValueError, match=message):
        load_model(run)
    assert "cpu" not in built, "the network was built on a real device before the mismatch was found"


# --------------------------------------------------------------------------------------
# Fuzzing model.json next to real weights, so every validator is reached
# --------------------------------------------------------------------------------------

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
NUMBERS = st.integers(-3, 9) | st.floats(allow_nan=True, allow_infinity=True) | st.booleans() | st.none()
ANGLE_MAP = st.fixed_dictionaries({}, optional={
    "latent_index": NUMBERS | st.text(max_size=2),
    "degrees": st.lists(NUMBERS, max_size=4) | JSON_VALUES,
    "latent": st.lists(NUMBERS, max_size=4) | JSON_VALUES,
    "monotone": st.booleans() | JSON_VALUES,
})
ANGLE_MAPS_FUZZ = st.dictionaries(st.sampled_from(["azimuth", "elevation", "light_azimuth", "hue"]),
                                  ANGLE_MAP | JSON_VALUES, max_size=3) | JSON_VALUES


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    run = exported(tmp_path_factory.mktemp("fuzz") / "model")
    return run, json.loads((run / "model.json").read_text())


@FUZZ
@given(angle_maps=ANGLE_MAPS_FUZZ, config_edit=st.dictionaries(st.sampled_from(["latent_dim", "preset", "seed"]),
                                                                JSON_VALUES | NUMBERS, max_size=1))
def test_fuzz_model_json_with_real_weights(model_dir, angle_maps, config_edit):
    """Either a one-line ValueError, or a model whose every angle map can be used by `render`."""
    run, good = model_dir
    meta = {**good, "config": {**good["config"], **config_edit}, "angle_maps": angle_maps}
    (run / "model.json").write_text(json.dumps(meta))
    try:
        net, cfg, loaded = load_model(run)
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    for name, m in loaded["angle_maps"].items():
        assert 0 <= m["latent_index"] < cfg.model.latent_dim
        lo, hi = m["degrees"][0], m["degrees"][-1]
        for deg in (lo, (lo + hi) / 2, hi):
            assert torch.isfinite(torch.tensor(degrees_to_latent(m, deg)))


def test_fuzz_reaches_the_angle_map_validator(model_dir):
    """The fuzz above is not vacuous: with real weights, a bad map is refused by its own check."""
    run, good = model_dir
    (run / "model.json").write_text(json.dumps({**good, "angle_maps": {"azimuth": {**ANGLE_MAPS["azimuth"], "latent_index": 8}}}))
    with pytest.raises(ValueError, match=r"angle_maps\['azimuth'\] needs a latent_index in 0\.\.7"):
        load_model(run)
    (run / "model.json").write_text(json.dumps(good))
    assert load_model(run)[2]["angle_maps"] == ANGLE_MAPS


@FUZZ
@given(meta=JSON_VALUES | st.dictionaries(st.sampled_from(["format", "config", "angle_maps"]),
                                          JSON_VALUES | st.just("dcign-model/1"), max_size=3))
def test_fuzz_model_json_structure(tmp_path_factory, meta):
    run = tmp_path_factory.mktemp("meta")
    (run / "model.json").write_text(json.dumps(meta))
    try:
        read_model_json(run)
    except ValueError as exc:
        assert str(exc)
