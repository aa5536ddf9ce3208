"""Issue 15: Ada-GVAE as published, clean render-worker shutdown, logs cut back on resume."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from support import ENV, train_until
from torch.utils.data import IterableDataset

from dcign.data import make_loader
from dcign.run_logs import read_records, truncate_event_files, truncate_jsonl
from dcign.objectives import ada_gvae_posteriors, ada_gvae_shared, gaussian_kl



# --------------------------------------------------------------------------------------
# Ada-GVAE (Locatello et al. 2020; disentanglement_lib weak_vae.py)
# --------------------------------------------------------------------------------------


def reference_mask(mu1, lv1, mu2, lv2):
    """disentanglement_lib: compute_kl (one direction, no 1/2) + aggregate_argmax's two bins."""
    var1, var2 = np.exp(lv1), np.exp(lv2)
    kl = var1 / var2 + (mu2 - mu1) ** 2 / var2 - 1 + lv2 - lv1
    lo, hi = kl.min(axis=1, keepdims=True), kl.max(axis=1, keepdims=True)
    bins = np.clip(np.floor(2 * (kl - lo) / (hi - lo)), 0, 1)  # tf.histogram_fixed_width_bins, nbins=2
    return bins == 0  # the lower bin is averaged (shared)


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu1, mu2 = torch.randn(6, 5, generator=g, dtype=torch.float64), torch.randn(6, 5, generator=g, dtype=torch.float64)
    lv1, lv2 = 2 * torch.randn(6, 5, generator=g, dtype=torch.float64), 2 * torch.randn(6, 5, generator=g, dtype=torch.float64)
    expected = torch.distributions.kl_divergence(torch.distributions.Normal(mu1, (0.5 * lv1).exp()),
                                                 torch.distributions.Normal(mu2, (0.5 * lv2).exp()))
    torch.testing.assert_close(gaussian_kl(mu1, lv1, mu2, lv2), expected)
    assert torch.equal(gaussian_kl(mu1, lv1, mu1, lv1), torch.zeros_like(mu1))


def test_shared_latents_follow_disentanglement_lib():
    g = torch.Generator().manual_seed(1)
    mu1, mu2 = torch.randn(64, 10, generator=g), torch.randn(64, 10, generator=g)
    lv1, lv2 = torch.randn(64, 10, generator=g), torch.randn(64, 10, generator=g)
    ours = ada_gvae_shared(gaussian_kl(mu1, lv1, mu2, lv2)).numpy()
    np.testing.assert_array_equal(ours, reference_mask(*(t.double().numpy() for t in (mu1, lv1, mu2, lv2))))


def test_the_kl_is_one_directional():
    """Latent 0: same mean, var2 = e^2 var1: KL(q1||q2) = 0.57 but KL(q2||q1) = 2.19.  Latent 1:
    means 1 apart, unit variances: 0.5 both ways.  Latent 2: identical.  One direction (the
    paper) shares only latent 2; the symmetrised KL would share latents 1 and 2."""
    mu1, mu2 = torch.tensor([[0.0, 0.0, 0.0]]), torch.tensor([[0.0, 1.0, 0.0]])
    lv1, lv2 = torch.tensor([[0.0, 0.0, 0.0]]), torch.tensor([[2.0, 0.0, 0.0]])
    assert ada_gvae_shared(gaussian_kl(mu1, lv1, mu2, lv2)).tolist() == [[False, False, True]]
    symmetric = 0.5 * (gaussian_kl(mu1, lv1, mu2, lv2) + gaussian_kl(mu2, lv2, mu1, lv1))
    assert ada_gvae_shared(symmetric).tolist() == [[False, True, True]]
    a, la, b, lb = ada_gvae_posteriors(mu1, lv1, mu2, lv2)
    assert a[0, 1] == 0.0 and b[0, 1] == 1.0  # latent 1 keeps its own posteriors
    torch.testing.assert_close(la[0, 2], torch.tensor(0.0))  # log((1 + 1) / 2)


def test_tiny_variances_give_finite_posteriors_loss_and_gradients():
    """log sigma^2 of about -110 is a variance of 0 in float32: the old form gave NaN."""
    mu1 = torch.tensor([[0.0, 0.5, 2.0, 0.1]], requires_grad=True)
    mu2 = torch.tensor([[0.0, 0.4, -2.0, 0.1]], requires_grad=True)
    lv1 = torch.tensor([[-110.0, -0.1, 0.0, -104.0]], requires_grad=True)
    lv2 = torch.tensor([[-109.0, 0.1, 0.3, -104.0]], requires_grad=True)
    assert torch.isfinite(gaussian_kl(mu1, lv1, mu2, lv2)).all()
    out = ada_gvae_posteriors(mu1, lv1, mu2, lv2)
    assert all(torch.isfinite(t).all() for t in out)
    m1, l1, m2, l2 = out
    prior_kl = 0.5 * (torch.cat([m1, m2]) ** 2 + torch.cat([l1, l2]).exp() - 1 - torch.cat([l1, l2])).sum()
    prior_kl.backward()
    assert torch.isfinite(prior_kl)
    assert all(torch.isfinite(t.grad).all() for t in (mu1, mu2, lv1, lv2))


def test_equal_deltas_share_every_latent_and_infinite_deltas_do_not_break_the_threshold():
    assert ada_gvae_shared(torch.zeros(2, 4)).all()
    big = torch.tensor([[float("inf"), 1.0, 0.0], [3e38, 3e38, 1.0]])
    assert ada_gvae_shared(big).tolist() == [[False, True, True], [False, False, True]]


# --------------------------------------------------------------------------------------
# Render-worker shutdown
# --------------------------------------------------------------------------------------


class FastStream(IterableDataset):
    """Batches as large as a 150-px step, made instantly: each worker always has one in flight."""

    def __iter__(self):
        while True:
            yield {"images": torch.rand(80, 1, 150, 150)}


def test_loader_workers_exit_cleanly_when_shut_down_mid_stream():
    """Before the fix 15 of 20 such workers died with SIGABRT ("terminate called without an
    active exception"): the queue's feeder thread was still pickling a batch when the spawned
    worker finalized its interpreter."""
    codes = []
    for _ in range(3):
        it = iter(make_loader(FastStream(), 2))
        for _ in range(3):
            next(it)
        workers = list(it._workers)
        it._shutdown_workers()  # what Lightning calls at the end of fit, and ``del`` does
        codes += [w.exitcode for w in workers]
    assert codes == [0] * 6


# --------------------------------------------------------------------------------------
# probe.jsonl and TensorBoard logs after SIGKILL + --resume
# --------------------------------------------------------------------------------------


def test_truncate_jsonl_keeps_whole_rows_up_to_the_step(tmp_path):
    p = tmp_path / "probe.jsonl"
    p.write_text('{"step": 2}\n{"step": 4}\nnot json\n{"step": 6}\n{"step": true}\n{"step": 8')
    assert truncate_jsonl(p, 4) == 4
    assert p.read_text() == '{"step": 2}\n{"step": 4}\n'
    assert truncate_jsonl(p, 4) == 0 and truncate_jsonl(tmp_path / "none.jsonl", 4) == 0


def events(folder: Path) -> list:
    """(file, step, tag) of every scalar in the event files under ``folder``; files must be whole."""
    from tensorboard.compat.proto import event_pb2

    out = []
    for f in sorted(folder.rglob("events.out.tfevents.*")):
        records, whole = read_records(f.read_bytes())
        assert whole, f"{f} ends in a torn record"
        for body in records:
            e = event_pb2.Event.FromString(body)
            out += [(f.name, e.step, v.tag) for v in e.summary.value]
    return out


def test_truncate_event_files_drops_the_steps_to_redo_and_a_torn_tail(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(tmp_path)
    for step in range(8):
        w.add_scalar("train/loss", 1.0, step)
        w.add_scalar("probe/azimuth_spearman", 0.5, step)
    w.close()
    (f,) = tmp_path.glob("events*")
    f.write_bytes(f.read_bytes() + f.read_bytes()[-30:-7])  # a torn record
    assert truncate_event_files(tmp_path, 5) == 3 + 2 + 1  # train/loss 5..7, probe 6..7, the torn record
    steps = Counter((tag, step) for _, step, tag in events(tmp_path))
    assert sorted(s for t, s in steps if t == "train/loss") == [0, 1, 2, 3, 4]
    assert sorted(s for t, s in steps if t == "probe/azimuth_spearman") == [0, 1, 2, 3, 4, 5]
    assert truncate_event_files(tmp_path, 0) == 5 + 5  # killed before the first checkpoint
    assert [(s, t) for _, s, t in events(tmp_path)] == [(0, "probe/azimuth_spearman")]
    w = SummaryWriter(tmp_path / "only_train")
    w.add_scalar("train/loss", 1.0, 3)
    w.close()
    assert truncate_event_files(tmp_path / "only_train", 0) == 1
    assert not list((tmp_path / "only_train").iterdir())  # nothing but a header left: deleted


PROBE_RUN = dict(steps=24, batch_size=4, groups_per_step=1, latent_dim=8, num_workers=0, checkpoint_every=8,
                 eval_every=2, num_train_identities=5, num_test_identities=8)


def newest_checkpoint_step(run: Path) -> int:
    return max((int(p.stem[4:]) for p in (run / "checkpoints").glob("step*.ckpt")), default=0)


def probe_steps(run: Path) -> list[int]:
    """Steps of the rows of probe.jsonl (each row must be whole)."""
    p = run / "probe.jsonl"
    return [json.loads(line)["step"] for line in p.read_text().splitlines()] if p.is_file() else []


@pytest.mark.slow
def test_sigkill_then_resume_leaves_no_duplicate_or_torn_log_rows(tmp_path):
    run, cfg = tmp_path / "run", tmp_path / "cfg.json"
    cfg.write_text(json.dumps(PROBE_RUN))
    # killed right after its 13th optimiser step (progress, not time): checkpoint 8 is the newest,
    # probe rows 2..12 are written, so the resumed run writes 10 and 12 again
    with open(tmp_path / "stderr.txt", "w") as log:
        train_until(run, "step:13", "--config", cfg, log=log)
    ckpt = newest_checkpoint_step(run)
    assert ckpt == 8
    before = probe_steps(run)
    assert max(before) > ckpt  # rows the resumed run will write again
    with open(run / "probe.jsonl", "a") as fh:  # as if killed in the middle of a row
        fh.write('{"step": 99, "azimu')
    newest = max((run / "logs").glob("events*"), key=lambda f: f.stat().st_mtime)
    with open(newest, "ab") as fh:  # ... and of an event record
        fh.write(newest.read_bytes()[-40:-9])

    proc = subprocess.run([sys.executable, "-m", "dcign", "train", "--out", str(run), "--resume"], env=ENV,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "terminate called" not in proc.stderr and "Aborted" not in proc.stderr
    assert probe_steps(run) == list(range(2, PROBE_RUN["steps"] + 1, 2))  # whole rows, each step once
    scalars = events(run / "logs")
    per_tag_step = Counter((tag, step) for _, step, tag in scalars)
    assert [k for k, n in per_tag_step.items() if n > 1] == []
    assert sorted(s for t, s in per_tag_step if t == "probe/azimuth_spearman") == list(range(2, 25, 2))
    assert sorted(s for t, s in per_tag_step if t == "train/loss") == [9, 19]
    assert len({f for f, _, _ in scalars}) == 2  # the killed run's file (cut) and the resumed run's
