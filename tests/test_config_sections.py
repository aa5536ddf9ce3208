"""dcign.config: typed sections checked where they are defined, the flat file form that old run
folders hold, and `dcign train` flags generated from the sections."""

import dataclasses
import json

import pytest
import typer
from typer.testing import CliRunner

from dcign.checks import default_text
from dcign.cli import app
from dcign.config import KEYS, SECTIONS, TrainConfig, check_resumable
from dcign.data.config import DataConfig
from dcign.model import ModelConfig
from dcign.objectives import MethodConfig

# config.json exactly as the version before the sectioned config wrote it (a 30-step run)
OLD_CONFIG_JSON = (
    '{"batch_size": 20, "batch_weights": {"azimuth": 1.0, "elevation": 1.0, "identity": 10.0, "light_azimuth": 1.0}, '
    '"beta": 1.0, "checkpoint_every": 250, "clamp_reference": "mean", "clamp_target": "z", "data_seed": 0, '
    '"dataset": "faces", "eval_every": 250, "groups_per_step": 4, "invariance_lambda": 0.01, "kl_on_clamped": true, '
    '"latent_dim": 200, "latent_layout": {"azimuth": [0], "elevation": [1], "light_azimuth": [2]}, "lr": 0.001, '
    '"method": "dcign", "num_test_identities": 100, "num_train_identities": 1000, "num_workers": 1, '
    '"on_nonfinite": "stop", "optimizer": "adam", "preset": "small-64", "seed": 0, "steps": 30}'
)


def test_an_old_run_folder_config_loads_into_sections_and_writes_back_the_same(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(OLD_CONFIG_JSON)
    cfg = TrainConfig.load(path)
    assert (cfg.model.preset, cfg.method.name, cfg.data.dataset, cfg.run.steps, cfg.run.lr) == ("small-64", "dcign", "faces", 30, 1e-3)
    # keys added later take their defaults (an unversioned run reads as data_version None here;
    # export's loader maps it to the v1 data)
    later = {"data_version": None, "channels": 1, "dataset_options": {}, "time_limit": None, "lr_schedule": "constant"}
    assert json.loads(cfg.to_json()) == {**json.loads(OLD_CONFIG_JSON), **later}
    assert set(KEYS) == set(json.loads(OLD_CONFIG_JSON)) | set(later)  # every key of the old form


def test_each_section_checks_its_own_settings():
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        ModelConfig(preset="huge")
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        MethodConfig(beta=-1.0)
    with pytest.raises(ValueError, match="a step needs at least 2 images"):
        DataConfig(batch_size=1, groups_per_step=1)
    with pytest.raises(ValueError, match=r"latent_layout\['azimuth'\] must list int latent indices in 0\.\.7"):
        TrainConfig(model=ModelConfig(latent_dim=8), method=MethodConfig(latent_layout={"azimuth": [8]}))
    with pytest.raises(ValueError, match="the data section must be a DataConfig"):
        TrainConfig(data={"dataset": "faces"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().run.steps = 5  # checked once, then fixed


def test_updated_and_resume_check(tmp_path):
    cfg = TrainConfig().updated(steps=10, latent_dim=16)
    assert (cfg.run.steps, cfg.model.latent_dim, cfg.method.name) == (10, 16, "dcign")
    (tmp_path / "config.json").write_text(cfg.to_json())
    assert check_resumable(tmp_path, cfg.updated(steps=20, num_workers=0, on_nonfinite="skip")) == cfg
    with pytest.raises(ValueError, match="latent_dim, lr differ"):
        check_resumable(tmp_path, cfg.updated(lr=0.1, latent_dim=8))
    with pytest.raises(ValueError, match="lr differs"):
        check_resumable(tmp_path, cfg.updated(lr=0.1))


@pytest.mark.parametrize("edit", ["drop", "null"])
def test_resume_refuses_a_config_that_records_no_kl_weight(tmp_path, edit):
    # filling the default in would resume a weight-1 run at 0.182 without a word
    saved = json.loads(TrainConfig().updated(beta=1.0).to_json())
    if edit == "drop":
        del saved["beta"]
    else:
        saved["beta"] = None
    (tmp_path / "config.json").write_text(json.dumps(saved))
    with pytest.raises(ValueError, match='records no KL weight .*"beta": 1.0'):
        check_resumable(tmp_path, TrainConfig())


def test_every_config_key_is_a_train_flag_under_its_section():
    params = {p.name: p for p in typer.main.get_command(app).commands["train"].params}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            key = f.metadata.get("key") or f.name
            if f.metadata.get("flag") is False:  # recorded by dcign itself (data_version)
                assert key not in params
                continue
            flag = f.metadata.get("flag") or "--" + key.replace("_", "-")
            assert flag in params[key].opts, key
            assert params[key].help == f"{f.metadata['help']} (default: {default_text(f)})"  # the default from the value
            assert params[key].rich_help_panel == f"{section.capitalize()} settings"
    assert set(KEYS) - {"data_version"} <= set(params)
    result = CliRunner().invoke(app, ["train", "--help"])
    assert result.exit_code == 0 and "Method settings" in result.output and "--no-kl-on-clamped" in result.output


def test_a_saved_run_without_lr_schedule_resumes_constant_while_new_runs_default_to_cosine(tmp_path):
    """The default became cosine after runs were saved without the key: they trained at a constant rate."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({k: v for k, v in json.loads(TrainConfig().to_json()).items() if k != "lr_schedule"}))
    assert TrainConfig.load(path).run.lr_schedule == "constant"
    assert TrainConfig().run.lr_schedule == "cosine" and TrainConfig.from_dict({}).run.lr_schedule == "cosine"
    path.write_text(TrainConfig().to_json())  # written now: the key is there and wins
    assert TrainConfig.load(path).run.lr_schedule == "cosine"
