"""Data-parallel training (DDP, gloo on CPU), the rank-aware stream and the device-count guard."""

import json
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from dcign.cli import app
from dcign.config import TrainConfig
from dcign.data import EngineConfig, RenderedSteps
from dcign.distributed import check_devices, is_global_zero_by_env, rank_noise
from dcign.render.egl import pick
from dcign.checkpoints import CHECKPOINT_DIR, load_checkpoint_file
from dcign.training import make_dataset, train

SMALL = EngineConfig("faces", 64, seed=0, num_train_identities=40, num_test_identities=10)


# --------------------------------------------------------------------------------------
# The rank-aware stream: rank r of W takes whole groups of the global step
# --------------------------------------------------------------------------------------

def factors_of(ds: RenderedSteps, step: int):
    from dcign.data.engine import SceneEngine

    engine = SceneEngine(ds.engine_config)
    return ds.step_factors(engine, ds._sampler(engine), step)


@pytest.mark.parametrize("mode", ["one_factor", "random", "pairs"])
def test_ranks_together_see_the_one_process_step(mode):
    """The W ranks' shares of step s, concatenated, are the one-process step with W x the groups."""
    world, groups = 3, 2
    one = RenderedSteps(SMALL, batch_size=4, groups_per_step=groups * world, mode=mode, seed=5)
    ranks = [RenderedSteps(SMALL, batch_size=4, groups_per_step=groups, mode=mode, seed=5).shard(r, world)
             for r in range(world)]
    for step in (0, 7):
        everyone, varied = factors_of(one, step)
        shares = [factors_of(ds, step) for ds in ranks]
        n = 4 * groups
        for r, (mine, my_varied) in enumerate(shares):
            if mode == "pairs":  # rank r's pairs: its slice of the first halves and their partners
                half = n // 2
                idx = np.r_[r * half:(r + 1) * half, world * half + r * half:world * half + (r + 1) * half]
            else:
                idx = np.arange(r * n, (r + 1) * n)
            np.testing.assert_array_equal(mine.angles(), everyone.angles()[idx])
            np.testing.assert_array_equal(mine.identity, everyone.identity[idx])
            if mode == "one_factor":
                assert my_varied == varied[r * groups:(r + 1) * groups]
        a, b = shares[0][0], shares[1][0]
        assert not np.array_equal(a.angles(), b.angles())  # ranks see different scenes


def test_rank_stream_is_a_pure_function_and_world_one_is_unchanged():
    base = RenderedSteps(SMALL, batch_size=4, groups_per_step=2, seed=9)
    np.testing.assert_array_equal(factors_of(base.shard(0, 1), 3)[0].angles(), factors_of(base, 3)[0].angles())
    again = RenderedSteps(SMALL, batch_size=4, groups_per_step=2, seed=9).shard(1, 2)
    np.testing.assert_array_equal(factors_of(base.shard(1, 2), 3)[0].angles(), factors_of(again, 3)[0].angles())
    item = next(iter(base.shard(1, 2)))
    assert item["images"].shape == (8, 1, 64, 64) and item["step"] == 0
    for bad in [(2, 2), (-1, 2), (0, 0)]:
        with pytest.raises(ValueError, match="rank"):
            base.shard(*bad)


def test_rank_noise_is_the_global_draw_sliced():
    like = torch.zeros(3, 5)
    torch.manual_seed(1)
    everyone = torch.randn(6, 5)
    for r in range(2):
        torch.manual_seed(1)
        torch.testing.assert_close(rank_noise(like, r, 2), everyone[r * 3:(r + 1) * 3], rtol=0, atol=0)
    torch.manual_seed(1)
    a = rank_noise(like)
    torch.manual_seed(1)
    assert torch.equal(a, torch.randn_like(like))


# --------------------------------------------------------------------------------------
# Two gloo processes against one process
# --------------------------------------------------------------------------------------

class RankRecorder(L.Callback):
    """Writes, per rank, what each step saw, the first step's (all-reduced) gradients and the final weights."""

    def __init__(self, folder) -> None:
        self.folder = Path(folder)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        record = {"rank": trainer.global_rank, "world": trainer.world_size, "step": trainer.global_step,
                  "data_step": int(batch["step"]), "angles": batch["angles"].tolist(),
                  "identity": batch["identity"].tolist(), "varied": batch["varied"].tolist(),
                  "image_sums": batch["images"].flatten(1).sum(1).tolist()}
        with open(self.folder / f"seen{trainer.global_rank}.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        path = self.folder / f"grad{trainer.global_rank}.pt"
        if trainer.global_step == 0 and not path.exists():
            torch.save({k: p.grad.detach().clone() for k, p in pl_module.named_parameters()}, path)

    def on_train_end(self, trainer, pl_module) -> None:
        torch.save({k: v.detach().clone() for k, v in pl_module.state_dict().items()},
                   self.folder / f"weights{trainer.global_rank}.pt")


class SyntheticSteps(RenderedSteps):
    """The real stream (same factors, same rank split) with pixels computed from the factors.

    llvmpipe's pixels of one scene can differ by a grey level with its place in the batch's
    grid, which moves max-pool ties and so the encoder's gradients by up to ~0.5%; smooth
    synthetic pixels make the one-process / two-process comparison exact up to float sums.
    """

    def render(self, engine, factors):
        s = self.engine_config.size
        y, x = np.meshgrid(np.linspace(-1, 1, s), np.linspace(-1, 1, s), indexing="ij")
        a = np.radians(factors.angles())[:, :, None, None]
        phase = (factors.identity % 7)[:, None, None] * 0.9
        img = 0.5 + 0.25 * np.sin(3 * x * np.cos(a[:, 0]) + 2 * y * np.sin(a[:, 1]) + phase) * np.cos(a[:, 2] + x)
        return img[:, None].astype(np.float32)


def synthetic_dataset(cfg, start_step=0, split="train"):
    real = make_dataset(cfg, start_step, split)
    return SyntheticSteps(real.engine_config, real.batch_size, real.groups, real.weights, real.mode, real.seed,
                          real.start_step, real.split)


def seen(folder, rank):
    return [json.loads(line) for line in (Path(folder) / f"seen{rank}.jsonl").read_text().splitlines()]


CFG = dict(preset="small-64", latent_dim=8, batch_size=4, num_workers=0, checkpoint_every=2, eval_every=1000,
           num_train_identities=6, num_test_identities=4, seed=3, lr_schedule="constant")  # stopped at 2, resumed to 4


@pytest.fixture
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def test_two_gloo_processes_train_like_one_process_fed_both_ranks_groups(tmp_path, quiet, monkeypatch):
    """2 DDP processes x 1 group per step == 1 process x 2 groups per step, resumed half way.

    DDP averages gradients over the ranks, while dcign's objective is summed over images and
    the clamp injects a per-image invariance gradient; so each rank multiplies the averaged
    gradients by world_size, and the ranks draw the sampling noise of the whole global step
    and keep their rows.  Then the gradient is the one-process gradient of both ranks'
    groups: the first step's gradients agree to float rounding (a missing factor would halve
    them, scaling the loss instead would halve the invariance part, shared noise would not
    match), and so do the weights after 4 steps, the second half run as a DDP resume from
    the step-2 checkpoint.  Pixels are synthetic (see SyntheticSteps) so that both runs see
    bit-identical images.
    """
    import dcign.training

    monkeypatch.setattr(dcign.training, "make_dataset", synthetic_dataset)  # its stream is pickled into the ranks
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        one_dir, ddp_dir = tmp_path / "one", tmp_path / "ddp"
        one_dir.mkdir()
        ddp_dir.mkdir()
        train(TrainConfig.from_dict(dict(**CFG, steps=4, groups_per_step=2)), one_dir / "run", progress=False, accelerator="cpu",
              devices=1, callbacks=[RankRecorder(one_dir)])
        cfg = TrainConfig.from_dict(dict(**CFG, steps=2, groups_per_step=1))
        ddp = dict(progress=False, accelerator="cpu", devices=2, strategy="ddp_spawn", callbacks=[RankRecorder(ddp_dir)])
        train(cfg, ddp_dir / "run", **ddp)
        assert load_checkpoint_file(ddp_dir / "run" / CHECKPOINT_DIR / "last.ckpt")["global_step"] == 2
        module = train(TrainConfig.from_dict({**CFG, "steps": 4, "groups_per_step": 1}), ddp_dir / "run", resume=True, **ddp)
    finally:
        torch.set_num_threads(before)

    one, r0, r1 = seen(one_dir, 0), seen(ddp_dir, 0), seen(ddp_dir, 1)
    assert [s["step"] for s in r0] == [s["step"] for s in r1] == [0, 1, 2, 3]
    assert {s["world"] for s in r0 + r1} == {2}
    for a, b, whole in zip(r0, r1, one):
        assert a["data_step"] == b["data_step"] == whole["data_step"]
        assert a["image_sums"] != b["image_sums"]  # the ranks see different images
        assert a["angles"] + b["angles"] == whole["angles"]  # ... which together are the one-process step
        assert a["identity"] + b["identity"] == whole["identity"]
        assert a["varied"] + b["varied"] == whole["varied"]
        assert a["image_sums"] + b["image_sums"] == whole["image_sums"]

    g0, g1, g = (torch.load(p) for p in (ddp_dir / "grad0.pt", ddp_dir / "grad1.pt", one_dir / "grad0.pt"))
    for k in g:
        assert torch.equal(g0[k], g1[k]), k
        # float rounding only; a wrong gradient scale or shared noise would be off by 50-100%
        torch.testing.assert_close(g0[k], g[k], rtol=1e-4, atol=1e-5 * float(g[k].abs().max()), msg=k)

    w0, w1, w = (torch.load(p) for p in (ddp_dir / "weights0.pt", ddp_dir / "weights1.pt", one_dir / "weights0.pt"))
    for k in w:
        assert torch.equal(w0[k], w1[k]), k  # identical on every rank
        torch.testing.assert_close(w0[k], w[k], rtol=1e-4, atol=1e-5, msg=k)
    for k, v in module.state_dict().items():  # the launching process got rank 0's weights back
        assert torch.equal(v, w0[k]), k
    final = load_checkpoint_file(ddp_dir / "run" / CHECKPOINT_DIR / "last.ckpt")
    assert final["global_step"] == 4 and final["optimizer_states"]  # full state, written by rank 0
    for k, v in final["state_dict"].items():
        assert torch.equal(v, w0[k]), k
    assert sorted(p.name for p in (ddp_dir / "run" / CHECKPOINT_DIR).iterdir()) == ["last.ckpt", "step0000004.ckpt"]


# --------------------------------------------------------------------------------------
# Guards and environment
# --------------------------------------------------------------------------------------

def test_devices_larger_than_the_machine_is_one_error_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--out", str(out), "--steps", "2", "--workers", "0",
                                      "--accelerator", "cpu", "--devices", "99"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: --devices 99 asks for more devices than this machine has")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="more devices than this machine has"):
        check_devices("auto", 10_000)
    check_devices("cpu", 1)
    check_devices("cpu", "auto")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"\(0 CUDA GPUs\)"):
            check_devices("gpu", 1)


def test_global_zero_from_the_launch_environment():
    assert is_global_zero_by_env({})
    assert is_global_zero_by_env({"LOCAL_RANK": "0", "NODE_RANK": "0", "WORLD_SIZE": "4"})
    assert not is_global_zero_by_env({"LOCAL_RANK": "1"})
    assert not is_global_zero_by_env({"LOCAL_RANK": "0", "NODE_RANK": "1"})
    assert not is_global_zero_by_env({"RANK": "3"})


def test_egl_device_choice_prefers_the_gpu_and_falls_back_to_software():
    software = "llvmpipe (LLVM 15.0.6, 256 bits)"
    assert pick([software], 0) is None
    assert pick([], 0) is None
    assert pick(["NVIDIA H200/PCIe/SSE2", "NVIDIA H200/PCIe/SSE2", software], 1) == 1
    assert pick([software, "NVIDIA H200/PCIe/SSE2"], 0) == 1
    assert pick(["NVIDIA A", "NVIDIA B"], 3) == 1  # more ranks than GPUs: wrap


def test_renderer_falls_back_to_llvmpipe_here():
    from dcign.render.egl import choose_device
    from dcign.render.renderer import Renderer

    r = Renderer(16)
    try:
        name = r.ctx.info["GL_RENDERER"]
    finally:
        r.release()
    if "llvmpipe" in name:  # a CPU-only machine: software rendering, chosen as such
        import moderngl

        index, what = choose_device(lambda **kw: moderngl.create_standalone_context(backend="egl", **kw))
        assert index is None and "software" in what


def test_gpu_check_python_part_dry_run_on_cpu():
    """benchmarks/gpu_check.py --dry-run: every section of the GPU check runs on the CPU."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(root / "benchmarks" / "gpu_check.py"), "--dry-run", "--budget-s", "600"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = done.stdout[done.stdout.index("dcign GPU check: CPU DRY RUN"):]
    for row in ("matmul peak fp32", "matmul peak bf16", "train small-64 32-true DC-IGN", "train small-64 bf16-mixed DC-IGN",
                "DC-IGN / VAE step time, bf16-mixed", "achieved, DC-IGN bf16-mixed", "with channels_last",
                "render faces 64 px", "render / bf16 training demand", "1-device DDP run"):
        assert row in table, row
    assert "failed" not in table and "FAILED" not in table and "not measured" in table
    assert "1-device DDP run (train, strategy ddp)  " in table and " ok " in table.split("1-device DDP run")[1][:80]
