"""Training (dcign.training): each method's objective, bitwise reproducibility, and
numerical faults (NaN/inf losses, gradients, weights) stopping or skipping cleanly."""

import json
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from support import ENV, STEPS, TINY, all_finite, assert_same_tensors, assert_same_training_state, ckpt_state, run_train, tiny

from dcign.config import COSINE_FLOOR, TrainConfig, lr_factor
from dcign.export import export_model
from dcign import model as model_module
from dcign.model import DCIGN, Preset, get_preset
from dcign.checkpoints import load_checkpoint_file
from dcign.objectives import METHODS, ada_gvae_posteriors
from dcign.probe import DisentanglementProbe
from dcign.training import DisentanglingVAE, NonFiniteLossError, make_dataset, train

pytestmark = pytest.mark.usefixtures("one_thread", "quiet")  # one thread: bitwise comparable with `reference`



def module(**kw):
    cfg = TrainConfig.from_dict({"batch_size": 4, "groups_per_step": 2, **kw})
    torch.manual_seed(0)
    return DisentanglingVAE(cfg)


def batch(n=8, varied=(0, 3)):
    torch.manual_seed(1)
    return {"images": torch.rand(n, 1, 64, 64), "varied": torch.tensor(varied)}


# --------------------------------------------------------------------------------------
# Objectives
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_finite_losses_and_gradients(method):
    m = module(method=method)
    out = m.losses(batch())
    assert all(torch.isfinite(v) for v in out.values())
    out["loss"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())


def test_group_masks_follow_layout():
    m = module()
    assert m.objective.masks[0].nonzero().flatten().tolist() == [0]  # azimuth -> z1
    assert m.objective.masks[2].nonzero().flatten().tolist() == [2]  # light -> z3
    assert m.objective.masks[3].sum() == 197 and not m.objective.masks[3][:3].any()  # identity -> z4..z200
    chairs = module(latent_layout={"azimuth": [0]})
    assert chairs.objective.masks[1].sum() == 199  # elevation batches train the intrinsic group


def per_latent_kl(m, images):
    """(N, D) KL of each image's posterior to N(0, I), per latent."""
    with torch.no_grad():
        mu, logvar = m.net.encode(images)
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def test_kl_on_clamped_option_drops_exactly_the_clamped_latents():
    """Groups vary azimuth (active z1) and identity (active z4..z8): without KL on clamped
    latents, an image's KL sums only its group's active latents."""
    b = batch(varied=(0, 3))
    for kl_on_clamped in (True, False):
        m = module(kl_on_clamped=kl_on_clamped, latent_dim=8)
        terms = per_latent_kl(m, b["images"])
        if kl_on_clamped:
            expected = terms.sum(1).mean()
        else:
            expected = torch.cat([terms[:4, :1].sum(1), terms[4:, 3:].sum(1)]).mean()
        torch.testing.assert_close(m.losses(b)["kl"], expected)


@pytest.mark.parametrize("reference", ["mean", "first"])
def test_clamp_target_params_clamps_mu_and_logvar_before_sampling(reference):
    """The authors' variant: within a group, clamped latents share one mu and log sigma^2
    (the group's mean, or its first sample's); the active latent keeps each image's own."""
    m = module(clamp_target="params", clamp_reference=reference)
    seen = {}
    sample = m.net.sample
    m.net.sample = lambda mu, logvar, eps=None: seen.setdefault("args", (mu.detach(), logvar.detach())) and sample(mu, logvar, eps)
    b = batch(varied=(0, 3))
    m.losses(b)
    with torch.no_grad():
        mu0, lv0 = m.net.encode(b["images"])
    for got, raw in zip(seen["args"], (mu0, lv0)):
        azimuth, identity = got[:4], got[4:]
        ref_az = raw[:4].mean(0) if reference == "mean" else raw[0]
        ref_id = raw[4:].mean(0) if reference == "mean" else raw[4]
        torch.testing.assert_close(azimuth[:, 0], raw[:4, 0])  # active: the image's own
        torch.testing.assert_close(azimuth[:, 1:], ref_az[1:].expand(4, -1))
        torch.testing.assert_close(identity[:, 3:], raw[4:, 3:])
        torch.testing.assert_close(identity[:, :3], ref_id[:3].expand(4, -1))


@pytest.mark.parametrize("options", [{"clamp_target": "params"}, {"clamp_reference": "first"}])
def test_clamp_variants_train_through_lightning(tmp_path, options):
    module = run_train(tmp_path / "run", steps=2, checkpoint_every=2, **options)
    assert all_finite(module.state_dict())
    assert ckpt_state(tmp_path / "run" / "checkpoints" / "last.ckpt")["global_step"] == 2
    assert json.loads((tmp_path / "run" / "config.json").read_text())[next(iter(options))] == next(iter(options.values()))
    wanted = {"clamp_target": "z", "clamp_reference": "mean", **options}  # the variant is the one that trained
    assert (module.objective.clamp_target, module.objective.reference) == (wanted["clamp_target"], wanted["clamp_reference"])


def test_decoder_sees_only_active_variation():
    """In an azimuth group, the decoder input differs between samples only in z1."""
    m = module(groups_per_step=1)
    captured = {}
    m.net.decoder.register_forward_pre_hook(lambda mod, args: captured.setdefault("z", args[0].detach()))
    m.losses({"images": torch.rand(4, 1, 64, 64), "varied": torch.tensor([0])})
    z = captured["z"]
    spread = (z - z[0]).abs().amax(dim=0)
    assert spread[0] > 0 and torch.all(spread[1:] == 0)


def test_ada_gvae_averages_only_shared_latents():
    mu1 = torch.tensor([[0.0, 0.0, 0.0]])
    mu2 = torch.tensor([[0.0, 0.1, 3.0]])
    lv = torch.zeros(1, 3)
    a, la, b, lb = ada_gvae_posteriors(mu1, lv, mu2, lv)
    torch.testing.assert_close(a[0, :2], b[0, :2])  # shared: averaged
    assert a[0, 2] == 0.0 and b[0, 2] == 3.0  # the differing latent keeps its own posterior


def test_optimizers():
    assert isinstance(module(lr_schedule="constant").configure_optimizers(), torch.optim.Adam)
    assert module(lr_schedule="constant").configure_optimizers().defaults["betas"] == (0.9, 0.99)
    assert isinstance(module(optimizer="rmsprop", lr_schedule="constant").configure_optimizers(), torch.optim.RMSprop)
    default = module().configure_optimizers()  # the default cosine rate: Adam with a per-step schedule
    assert isinstance(default["optimizer"], torch.optim.Adam) and default["lr_scheduler"]["interval"] == "step"


def test_cosine_schedule_values():
    run = tiny(lr_schedule="cosine", steps=100).run
    assert lr_factor(run, 0) == 1.0 and lr_factor(tiny(lr_schedule="constant").run, 70) == 1.0  # constant: always 1
    assert lr_factor(run, 50) == pytest.approx(COSINE_FLOOR + (1 - COSINE_FLOOR) / 2)
    assert lr_factor(run, 100) == pytest.approx(COSINE_FLOOR) and lr_factor(run, 500) == pytest.approx(COSINE_FLOOR)
    assert all(lr_factor(run, s) > lr_factor(run, s + 1) for s in range(100))  # falls every step


def test_cosine_schedule_runs_through_lightning_and_resume(tmp_path):
    """Lightning steps the schedule once per optimiser step, and a resumed run continues it."""
    module = run_train(tmp_path / "run", steps=4, checkpoint_every=2, lr_schedule="cosine", lr=1e-3)
    cfg = module.cfg.run
    assert module.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-3 * lr_factor(cfg, 4))
    resumed = run_train(tmp_path / "run", resume=True, steps=6, lr_schedule="cosine", lr=1e-3)
    assert resumed.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-3 * lr_factor(resumed.cfg.run, 6))


# --------------------------------------------------------------------------------------
# Learning itself
# --------------------------------------------------------------------------------------

#: A 32-px network of small-64's shape (conv + pool encoder 16/32/64, upsample + conv decoder).
TINY_32 = Preset("tiny-32", 32, (16, 32, 64), 3, 1, (64, 4, 4), (32, 16, 1), 3, 1)


@pytest.mark.slow
def test_training_puts_each_factor_in_its_own_latent(tmp_path, monkeypatch):
    """On a tiny problem with a known answer (faces at 32 px, 200 latents, 600 steps of four
    one-factor groups of 8, batch types 1:1:1:1, seed fixed), training lowers the loss on a
    fixed validation step, and the probe's Fig. 6 |Spearman r| of each factor's OWN latent on
    validation sweeps, z1 for azimuth and z3 for light azimuth, averages >= 0.8: what the
    clamp guarantees (the varied factor reaches the decoder through its own latent only).
    The rate is constant, as when the numbers below were measured (a cosine decay over 600
    steps learns this problem more slowly: 0.77 on this seed).

    A broken clamp does not reach it (benchmarks/clamp_controls.py, same problem; mean of the
    two |r|, shared machine): correct clamp 0.94 (this seed), 0.95, 0.96, 0.93, 0.82 (seeds
    1-4); mask inverted 0.15; nothing clamped 0.06, 0.70, 0.68, 0.22 (seeds 0, 2-4);
    everything clamped 0.13, 0.15 (seeds 0-1).  Elevation (+-25 degrees, a few pixels at
    32 px) is not learnt this fast (|r| 0.02-0.42), so it is not asserted.
    """
    monkeypatch.setitem(model_module.PRESETS, "tiny-32", TINY_32)
    cfg = tiny(preset="tiny-32", latent_dim=200, steps=600, batch_size=8, groups_per_step=4, checkpoint_every=600,
               eval_every=600, num_train_identities=40, lr=1e-3, lr_schedule="constant",
               batch_weights={"azimuth": 1, "elevation": 1, "light_azimuth": 1, "identity": 1})
    step = next(iter(make_dataset(cfg, split="validation")))

    def loss(m):
        torch.manual_seed(0)  # the same sampling noise before and after
        with torch.no_grad():
            return m.losses(step)["loss_per_image"].item()

    L.seed_everything(cfg.run.seed, verbose=False)  # as train() does before building the module
    before = loss(DisentanglingVAE(cfg))
    run = tmp_path / "run"
    trained = train(cfg, run, callbacks=[DisentanglementProbe(cfg, run)], progress=False)
    assert loss(trained) < 0.7 * before, (before, loss(trained))
    record = json.loads((run / "probe.jsonl").read_text().splitlines()[-1])
    assert record["step"] == 600
    assert (abs(record["azimuth"]) + abs(record["light_azimuth"])) / 2 >= 0.8, record


# --------------------------------------------------------------------------------------
# Reproducibility
# --------------------------------------------------------------------------------------

def test_same_config_and_seed_give_bitwise_identical_weights(tmp_path, reference):
    module = run_train(tmp_path / "again")
    assert_same_training_state(ckpt_state(tmp_path / "again" / "checkpoints" / "last.ckpt"), reference)
    assert_same_tensors(module.state_dict(), reference["state_dict"])
    run_train(tmp_path / "seed1", seed=1)  # the comparison is not vacuous: another seed differs
    other = ckpt_state(tmp_path / "seed1" / "checkpoints" / "last.ckpt")["state_dict"]
    assert not torch.equal(other["net.encoder.mu.weight"], reference["state_dict"]["net.encoder.mu.weight"])



# --------------------------------------------------------------------------------------
# Numerical faults
# --------------------------------------------------------------------------------------

def poison_losses(monkeypatch, at_steps, kind="loss"):
    """Make the loss (kind='loss') or its gradient (kind='grad') non-finite at some steps."""
    original = DisentanglingVAE.losses

    class InfGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            return g * float("inf")

    def losses(self, batch):
        out = original(self, batch)
        if self.global_step in at_steps:
            out["loss"] = out["loss"] * float("nan") if kind == "loss" else InfGrad.apply(out["loss"])
        return out

    monkeypatch.setattr(DisentanglingVAE, "losses", losses)


def assert_checkpoints_finite(run: Path, max_step: int):
    ckpts = list((run / "checkpoints").glob("*.ckpt"))
    assert ckpts
    for p in ckpts:
        state = load_checkpoint_file(p)
        assert state["global_step"] <= max_step
        assert all_finite(state["state_dict"]), p
    assert not (run / "model.safetensors").exists()


def test_nan_loss_stops_naming_step_and_last_good_checkpoint(tmp_path, monkeypatch):
    poison_losses(monkeypatch, {5})
    with pytest.raises(NonFiniteLossError) as err:
        run_train(tmp_path / "run")
    msg = str(err.value)
    assert "non-finite loss" in msg and "at step 6" in msg, msg
    assert "last.ckpt (step 4)" in msg and "\n" not in msg, msg
    assert_checkpoints_finite(tmp_path / "run", 4)


def test_inf_gradient_with_finite_loss_stops_before_weights_turn_nan(tmp_path, monkeypatch):
    poison_losses(monkeypatch, {3}, kind="grad")
    with pytest.raises(NonFiniteLossError, match=r"non-finite gradient at step 4.*last\.ckpt \(step 2\)"):
        run_train(tmp_path / "run")
    assert_checkpoints_finite(tmp_path / "run", 2)


def test_nan_before_first_checkpoint_says_there_is_none(tmp_path, monkeypatch):
    poison_losses(monkeypatch, {0})
    with pytest.raises(NonFiniteLossError, match="at step 1 .*none yet"):
        run_train(tmp_path / "run")


def test_skip_option_drops_bad_batches_and_completes(tmp_path, monkeypatch):
    poison_losses(monkeypatch, {2, 9}, kind="loss")
    poison_losses(monkeypatch, {5}, kind="grad")
    module = run_train(tmp_path / "run", on_nonfinite="skip")
    assert module.skipped_nonfinite == 3  # what train_and_export warns about
    assert all_finite(module.state_dict())
    state = load_checkpoint_file(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert state["global_step"] == STEPS and all_finite(state["state_dict"])


def test_nan_weights_are_never_checkpointed_or_exported(tmp_path):
    import lightning as L

    class Poison(L.Callback):  # Lightning runs checkpoint callbacks after this one
        def on_train_batch_end(self, trainer, pl_module, *args):
            if trainer.global_step == 2:
                with torch.no_grad():
                    pl_module.net.decoder.fc.bias[0] = float("nan")

    with pytest.raises(NonFiniteLossError, match="non-finite weights"):
        train(tiny(), tmp_path / "run", callbacks=[Poison()], progress=False)
    assert not list((tmp_path / "run" / "checkpoints").glob("*.ckpt"))
    net = DCIGN(get_preset("small-64", 8))
    with torch.no_grad():
        net.encoder.mu.weight[0, 0] = float("inf")
    with pytest.raises(ValueError, match="non-finite"):
        export_model(net, tiny(), tmp_path / "export")
    assert not (tmp_path / "export" / "model.safetensors").exists()


@pytest.mark.slow
def test_cli_absurd_learning_rate_fails_cleanly(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({**TINY, "checkpoint_every": 1, "lr": 1e10}))
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "dcign", "train", "--out", str(run), "--config", str(cfg)],
                          env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr
    assert "non-finite loss" in errors[0] and "at step 2" in errors[0] and "last.ckpt (step 1)" in errors[0]
    assert not (run / "model.safetensors").exists()
    assert_checkpoints_finite(run, 1)


def test_ctrl_c_says_how_to_resume(tmp_path, capsys):
    """Lightning catches Ctrl-C and exits 1; the run's final-checkpoint callback names the resume command."""
    from types import SimpleNamespace

    from dcign.training import FinalCheckpoint

    cb = FinalCheckpoint(tmp_path / "run" / "checkpoints" / "last.ckpt")
    cb.on_exception(SimpleNamespace(is_global_zero=True, global_step=7), None, KeyboardInterrupt())
    cb.on_exception(SimpleNamespace(is_global_zero=True, global_step=7), None, RuntimeError("other"))
    err = capsys.readouterr().err
    assert err.count("interrupted") == 1 and f"dcign train --out {tmp_path / 'run'} --resume" in err and "after 7 steps" in err
