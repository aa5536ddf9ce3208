"""The command line (dcign.cli): each command end to end at a tiny size, and its bad-input
contract: one `error:` line on stderr, exit code 2, nothing written.

Commands run in-process (typer's CliRunner); one test runs the real `python -m dcign`
entry point to check the exit code and stderr of a separate process.
"""

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from support import DDS_FUZZ_CASE, ENV, exported, invoke, invoke_ok, snapshot

from dcign.data.engine import EngineConfig, SceneEngine
from dcign.images import load_image
from dcign.export import load_model
from dcign.model import DCIGN, get_preset

pytestmark = pytest.mark.usefixtures("quiet")
TINY = ["--steps", "4", "--batch-size", "4", "--groups-per-step", "2", "--workers", "0"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    invoke_ok(["train", "--out", out, *TINY])
    return out


def test_entry_point_exit_code_and_one_error_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "dcign", "evaluate", str(tmp_path)], capture_output=True, text=True,
                          env=ENV, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and proc.stderr.startswith("error: ")
    assert "no exported model" in proc.stderr and "Traceback" not in proc.stderr


# --------------------------------------------------------------------------------------
# dcign data sample
# --------------------------------------------------------------------------------------


def cell(grid, i, cols, s=64, pad=2):
    r, c = divmod(i, cols)
    return grid[pad + r * (s + pad) : pad + r * (s + pad) + s, pad + c * (s + pad) : pad + c * (s + pad) + s]


@pytest.mark.parametrize("split", ["train", "test"])
def test_data_sample_writes_grid_images_and_factors(tmp_path, split):
    invoke_ok(["data", "sample", "--dataset", "chairs", "--factor", "elevation", "--batch-size", "12",
               "--split", split, "--out", tmp_path])
    records = json.loads((tmp_path / "factors.json").read_text())
    assert len(records) == 12 and all(r["varied"] == "elevation" for r in records)
    elevations = [r["elevation"] for r in records]
    assert elevations == sorted(elevations) and len(set(elevations)) == 12  # the grid is in the factor's order
    assert len({r["azimuth"] for r in records}) == 1 and len({r["identity"] for r in records}) == 1
    assert {"azimuth", "elevation", "light_azimuth", "identity", "identity_coefficients"} <= set(records[0])
    space = SceneEngine(EngineConfig("chairs", 64, 0)).space
    assert records[0]["identity"] in set(space.identities(split).tolist())
    grid = np.asarray(Image.open(tmp_path / "batch.png"), np.float32) / 255
    assert grid.shape == (2 * 66 + 2, 10 * 66 + 2)  # 10 columns, 2 rows
    names = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert names == [f"{i:03d}.png" for i in range(12)]
    for i in range(12):  # images/NNN.png is grid cell NNN, and `render` can read it
        alone = load_image(tmp_path / "images" / f"{i:03d}.png", 64)[0, 0]
        np.testing.assert_array_equal(alone, cell(grid, i, 10))
    assert np.abs(cell(grid, 0, 10) - cell(grid, 11, 10)).mean() > 0.01  # the elevation really changes


def test_data_sample_bad_input(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    before = snapshot(tmp_path)
    out = tmp_path / "o"
    cases = [
        (["--dataset", "cars"], "unknown data set 'cars'"),
        (["--factor", "pose"], "unknown factor 'pose'"),
        (["--size", "-3"], "--size must be 64 or 150"),
        (["--batch-size", "0"], "--batch-size must be in 1..1000"),
        (["--batch-size", "100000"], "--batch-size must be in 1..1000"),
        (["--split", "val"], "--split must be train or test"),
        (["--seed", "-1"], "--seed must be >= 0"),
    ]
    for args, message in cases:
        assert message in invoke(["data", "sample", "--out", out, *args]), args
    assert "not a folder" in invoke(["data", "sample", "--out", blocker])
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------------------
# dcign train
# --------------------------------------------------------------------------------------


def test_train_writes_run_dir(run_dir):
    for name in ("config.json", "model.safetensors", "model.json", "checkpoints/last.ckpt"):
        assert (run_dir / name).is_file(), name
    meta = json.loads((run_dir / "model.json").read_text())
    assert set(meta["angle_maps"]) == {"azimuth", "elevation", "light_azimuth"}
    assert list(run_dir.glob("logs/events.out.tfevents*"))


def test_resume_extends_a_run_and_refuses_changed_flags(run_dir, tmp_path):
    for args, name in [(["--lr", "0.1"], "--lr: "), (["--preset", "paper-150"], "--preset: "), (["--beta", "4"], "--beta: "),
                       (["--batch-size", "5"], "--batch-size: "), (["--config", run_dir / "config.json"], "--config")]:
        message = invoke(["train", "--out", run_dir, "--resume", *args])
        assert "only --steps, --time-limit, --workers and --on-nonfinite may change" in message and name in message, args
        assert message.count("may change") == 1, message
    assert "--steps: steps must be a positive integer" in invoke(["train", "--out", run_dir, "--resume", "--steps", "0"])
    edited = tmp_path / "edited"
    edited.mkdir()
    (edited / "config.json").write_text(json.dumps({**json.loads((run_dir / "config.json").read_text()), "seed": -3}))
    assert f"config {edited / 'config.json'}: seed must be an integer" in invoke(["train", "--out", edited, "--resume"])
    invoke_ok(["train", "--out", run_dir, "--resume", "--steps", "6", "--workers", "0", "--on-nonfinite", "skip"])
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 6
    assert json.loads((run_dir / "config.json").read_text())["steps"] == 6


def test_resume_refuses_a_hand_edited_config_and_names_a_damaged_checkpoint(run_dir, tmp_path):
    """config.json edited after training began (another method, layout or lr) would relabel the
    checkpoint's weights: resume compares it with the checkpoint's own config and refuses."""
    edited = tmp_path / "edited"
    shutil.copytree(run_dir, edited)
    saved = json.loads((edited / "config.json").read_text())
    (edited / "config.json").write_text(json.dumps({**saved, "method": "baseline", "lr": saved["lr"] * 2}))
    message = invoke(["train", "--out", edited, "--resume", "--steps", "8"])
    assert "differs from what last.ckpt was trained with in lr" in message and "method ('dcign' -> 'baseline')" in message, message
    assert "put those values back in config.json, or train a new run" in message
    damaged = tmp_path / "damaged"
    shutil.copytree(run_dir, damaged)
    (damaged / "checkpoints" / "last.ckpt").write_bytes(b"")
    message = invoke(["train", "--out", damaged, "--resume", "--steps", "8"])
    assert "last.ckpt: the file is empty or truncated. To go on, move it" in message, message

def test_train_bad_input_writes_nothing(tmp_path):
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    configs = {"unknown_key.json": '{"colour": "red"}', "bad_seed.json": '{"seed": -1}', "not_json.json": "{oops",
               "deep.json": "[" * 100_000, "huge_lr.json": '{"lr": 1' + "0" * 400 + "}", "list.json": "[1, 2]",
               "dim3.json": '{"latent_dim": 3}'}
    for name, text in configs.items():
        (tmp_path / name).write_text(text)
    before = snapshot(tmp_path)
    out = tmp_path / "new"
    cases = [
        (["--preset", "huge"], "unknown preset 'huge'"),
        (["--dataset", "cars"], "unknown data set 'cars'"),
        (["--method", "magic"], "unknown method 'magic'"),
        (["--optimizer", "sgd"], "--optimizer: unknown optimizer 'sgd'"),
        (["--lr-schedule", "step"], "--lr-schedule: unknown lr_schedule 'step'"),
        (["--batch-weights", "hue=1"], "--batch-weights: unknown factor(s) in batch weights: ['hue']"),
        (["--time-limit", "1e15"], "time_limit must be at most 1e+07 minutes"),  # timedelta overflowed: a traceback
        (["--time-limit", "0"], "time_limit must be a finite number > 0"),
        (["--num-train-identities", "4294967296"], "num_train_identities must be at most 1,000,000"),  # asked for 32 GiB
        (["--on-nonfinite", "ignore"], "on_nonfinite"),
        (["--batch-weights", "1,1,1,x"], "must be numbers"),
        (["--batch-weights", "1,1,1"], "takes 4 numbers"),
        (["--batch-weights", "1,1,1,nan"], "finite numbers"),
        (["--batch-weights", "azimuth=1,azimuth=2"], "names 'azimuth' twice"),
        (["--batch-weights", "=1,identity=10"], "write factor=weight for each"),
        (["--batch-weights", "azimuth=1,identity"], "write factor=weight for each"),
        (["--workers", "10000"], "--workers: num_workers must be at most 64"),  # started 10000 processes and filled the memory
        (["--latent-dim", "100000000"], "latent_dim must be at most 4,096"),  # a traceback: 1.6 TB of weights
        (["--latent-dim", "3"], "--latent-dim: latent_layout takes all 3 latents"),  # named latent_layout, not the flag
        (["--latent-dim", "2"], "--latent-dim: latent_layout['light_azimuth'] must list int latent indices in 0..1"),
        (["--config", tmp_path / "dim3.json"], f"config {tmp_path / 'dim3.json'}: latent_layout takes all 3 latents"),
        (["--steps", "99999999999999999999999"], "steps must be at most 1,000,000,000"),
        (["--batch-size", "10000000"], "batch_size must be at most 65,536"),
        (["--batch-size", "1000", "--groups-per-step", "1000"], "a step holds at most 65,536 images"),
        (["--latent-layout", "hue=3"], "latent_layout names 'hue'"),
        (["--latent-layout", "azimuth=-1"], "latent_layout['azimuth']"),
        (["--latent-layout", "azimuth=500"], "latent_layout['azimuth']"),
        (["--lr", "nan"], "lr must be a finite number"),
        (["--lr", "-1"], "lr"),
        (["--steps", "0"], "steps must be a positive integer"),
        (["--seed", "-5"], "--seed: seed must be an integer"),
        (["--config", tmp_path / "unknown_key.json"], f"config {tmp_path / 'unknown_key.json'}: unknown config key(s) ['colour']"),
        (["--config", tmp_path / "bad_seed.json"], f"config {tmp_path / 'bad_seed.json'}: seed must be an integer"),
        (["--config", tmp_path / "not_json.json"], "not valid JSON"),
        (["--config", tmp_path / "deep.json"], "not valid JSON"),
        (["--config", tmp_path / "huge_lr.json"], f"config {tmp_path / 'huge_lr.json'}: lr must be a finite number"),
        (["--config", tmp_path / "list.json"], "must hold a JSON object"),
        (["--config", tmp_path / "absent.json"], "cannot read config"),
        (["--resume"], "cannot resume"),
    ]
    for args, message in cases:
        assert message in invoke(["train", "--out", out, *args]), args
        assert not out.exists(), args
    # the file alone is refused, with the flag it is valid: the merged config is what counts
    merged = ["--config", tmp_path / "dim3.json", "--latent-layout", "azimuth=0", "--accelerator", "nonsense"]
    assert "cannot set up training with accelerator='nonsense'" in invoke(["train", "--out", out, *merged])
    shutil.rmtree(out, ignore_errors=True)
    assert "already holds files" in invoke(["train", "--out", existing, "--steps", "2"])
    assert "not a folder" in invoke(["train", "--out", blocker, "--steps", "2"])
    assert "cannot write to output folder" in invoke(["train", "--out", blocker / "sub", "--steps", "2"])
    assert snapshot(tmp_path) == before


def test_train_bad_accelerator_stops_before_writing_the_config(tmp_path):
    out = tmp_path / "run"
    message = invoke(["train", "--out", out, "--steps", "2", "--workers", "0", "--accelerator", "nonsense"])
    assert "cannot set up training with accelerator='nonsense'" in message
    assert not (out / "config.json").exists() and not any(out.rglob("*"))
    for devices in ("abc", "-1", "2.5", "0"):
        message = invoke(["train", "--out", out, "--steps", "2", "--workers", "0", "--devices", devices])
        assert "--devices must be a positive integer or auto" in message, devices
        assert not (out / "config.json").exists()


# --------------------------------------------------------------------------------------
# dcign evaluate
# --------------------------------------------------------------------------------------


def test_evaluate_writes_report(run_dir):
    result = invoke_ok(["evaluate", run_dir, "--identities", "3", "--values", "5", "--no-metrics"])
    report = run_dir / "report"
    metrics = json.loads((report / "metrics.json").read_text())
    assert set(metrics["fig6"]) == {"azimuth", "elevation", "light_azimuth"}
    for f in metrics["fig6"].values():
        assert -1 <= f["spearman"] <= 1 and -1 <= f["pearson"] <= 1
    assert 0 < metrics["test_mse"] < 1 and "disentanglement" not in metrics
    for png in ("fig6.png", "reconstructions.png", "traversal_azimuth.png"):
        assert (report / png).is_file()
    assert "fig6.png" in (report / "report.md").read_text()
    assert "report.md" in result.stdout
    azimuth = metrics["traversal_degrees"]["azimuth"]  # the angle of each swept column, in the caption too
    assert len(azimuth) == 9 and all(-90 <= d <= 90 for d in azimuth)
    assert f"columns 3 to 11: {', '.join(f'{d:g}' for d in azimuth)} degrees" in (report / "report.md").read_text()


def test_evaluate_adds_the_metrics_by_default(tmp_path, monkeypatch):
    """`dcign evaluate RUN` (metrics on, its default), at reduced point counts."""
    import dcign.evaluation.disentanglement as dis

    real = dis.metric_settings_for

    def small(fast, num_points=None):
        settings = real(fast, 60)
        for name in ("beta_vae_score", "factor_vae_score"):
            settings[name]["batch_size"] = 4
        return settings

    monkeypatch.setattr(dis, "metric_settings_for", small)
    monkeypatch.setattr(dis, "FAST_PCA_POINTS", 20)
    run = exported(tmp_path / "model")
    result = invoke_ok(["evaluate", run, "--identities", "3", "--values", "4"])
    metrics = json.loads((run / "report" / "metrics.json").read_text())
    headline = metrics["disentanglement"]["headline"]
    names = ("beta_vae_score", "factor_vae_score", "mig", "dci", "sap", "modularity")
    assert set(headline) == set(names) | {f"{n}_grouped" for n in names}
    assert all(np.isfinite(v) for v in headline.values())
    assert "## Disentanglement metrics" in (run / "report" / "report.md").read_text()
    assert "metrics " in result.stdout and "mig" in result.stdout


def test_evaluate_bad_input(tmp_path):
    before = snapshot(tmp_path)
    assert "no exported model" in invoke(["evaluate", tmp_path])
    for values in ("1", "1000000000"):
        assert "--values must be in 2..181" in invoke(["evaluate", tmp_path, "--values", values])
    run = exported(tmp_path / "model")
    assert "--identities must be in 1..8" in invoke(["evaluate", run, "--identities", "9", "--no-metrics"])
    # a reader option for a run on the built-in faces was ignored without a word
    assert "--data-option sets a reader option of a data set of files" in invoke(["evaluate", run, "--data-option", "bins=3"])
    assert not (run / "report").exists()


# --------------------------------------------------------------------------------------
# dcign render
# --------------------------------------------------------------------------------------


def test_render_sets_the_calibrated_latents(tmp_path):
    """--set azimuth=30 --set light_azimuth=-20: the image is encoded, z1 and z3 are set to
    the model's table values for those angles (here latent = degrees / 90), and decoded."""
    torch.manual_seed(0)
    net = DCIGN(get_preset("small-64", 8))
    with torch.no_grad():  # make z1 and z3 visible in the output of this untrained decoder
        net.decoder.fc.weight[:, [0, 2]] *= 40
    run = exported(tmp_path / "model", net)
    img = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(img)
    net, _, _ = load_model(run)

    def expected(**latents):
        with torch.no_grad():
            z = net.encode(torch.from_numpy(load_image(img, 64)))[0]
            for k, v in latents.items():
                z[0, int(k)] = v
            return net.decode(z).numpy()[0, 0]

    def render(*sets):
        out = tmp_path / "out.png"
        invoke_ok(["render", "--run", run, "--image", img, *[a for s in sets for a in ("--set", s)], "--out", out])
        with Image.open(out) as im:
            return np.asarray(im, np.float32) / 255

    both = render("azimuth=30", "light_azimuth=-20")
    assert both.shape == (64, 64)
    np.testing.assert_allclose(both, expected(**{"0": 30 / 90, "2": -20 / 90}), atol=1 / 255 + 1e-6)
    assert np.abs(both - expected()).mean() > 0.01  # the settings really change the image
    left, right = render("azimuth=-60"), render("azimuth=60")
    np.testing.assert_allclose(right, expected(**{"0": 60 / 90}), atol=1 / 255 + 1e-6)
    assert np.abs(left - right).mean() > 0.01 and right.std() > 0.01  # not blank, not ignoring the angle


def _image(kind: str, path: Path) -> Path:
    if kind == "wrong size":
        Image.fromarray(np.zeros((32, 48), np.uint8)).save(path)
    elif kind == "wrong mode":
        path = path.with_suffix(".tif")
        Image.new("LAB", (64, 64)).save(path)
    elif kind == "corrupt":
        path.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    elif kind == "truncated":
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(buf, "PNG")
        path.write_bytes(buf.getvalue()[:300])
    elif kind == "fuzz case":
        path.write_bytes(DDS_FUZZ_CASE)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "missing":
        pass
    else:
        Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(path)
    return path


RENDER_CASES = [
    ("wrong size", ["--set", "azimuth=30"], "48x32 pixels; this model needs 64x64"),
    ("wrong mode", ["--set", "azimuth=30"], "pixel mode 'LAB', which cannot be converted to grey"),
    ("corrupt", ["--set", "azimuth=30"], "cannot read image"),
    ("truncated", ["--set", "azimuth=30"], "cannot read image"),
    ("fuzz case", ["--set", "azimuth=30"], "cannot read image"),
    ("empty", ["--set", "azimuth=30"], "is empty"),
    ("missing", ["--set", "azimuth=30"], "does not exist"),
    ("ok", ["--set", "azimuth=300"], "outside the model's range"),
    ("ok", ["--set", "azimuth=nan"], "outside the model's range"),
    ("ok", ["--set", "azimuth=-inf"], "outside the model's range"),
    ("ok", ["--set", "azimuth=left"], "number of degrees"),
    ("ok", ["--set", "azimuth"], "factor=degrees"),
    ("ok", ["--set", "hue=3"], "no latent for 'hue'"),
]


@pytest.mark.parametrize("kind, args, message", RENDER_CASES, ids=[f"{k}:{a[-1]}" for k, a, _ in RENDER_CASES])
def test_render_bad_input(tmp_path, kind, args, message):
    run = exported(tmp_path / "model")
    img = _image(kind, tmp_path / "in.png")
    out = tmp_path / "out.png"
    before = snapshot(tmp_path)
    assert message in invoke(["render", "--run", run, "--image", img, *args, "--out", out])
    assert snapshot(tmp_path) == before and not out.exists()


def test_render_bad_run_and_output(tmp_path):
    run = exported(tmp_path / "model")
    img = _image("ok", tmp_path / "in.png")
    (tmp_path / "empty_run").mkdir()
    (tmp_path / "taken.png").mkdir()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    before = snapshot(tmp_path)
    cases = [
        (["--run", tmp_path / "empty_run", "--out", tmp_path / "o.png"], "no exported model"),
        (["--run", tmp_path / "nowhere", "--out", tmp_path / "o.png"], "run folder " + str(tmp_path / "nowhere") + " does not exist"),
        (["--run", run, "--out", tmp_path / "missing" / "o.png"], "does not exist"),
        (["--run", run, "--out", blocker / "o.png"], "does not exist"),
        (["--run", run, "--out", tmp_path / "o.jpg"], "must end in .png"),
        (["--run", run, "--out", tmp_path / "taken.png"], "cannot write"),  # a folder is in the way
    ]
    for args, message in cases:
        assert message in invoke(["render", *args, "--image", img, "--set", "azimuth=10"]), args
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------------------
# dcign compare
# --------------------------------------------------------------------------------------


def evaluated(root: Path, name: str, spearman: float, mse: float) -> Path:
    run = root / name
    (run / "report").mkdir(parents=True)
    fig6 = {f: {"pearson": spearman, "spearman": spearman} for f in ("azimuth", "elevation", "light_azimuth")}
    metrics = {"method": "dcign", "dataset": "faces", "preset": "small-64", "test_mse": mse, "fig6": fig6}
    (run / "report" / "metrics.json").write_text(json.dumps(metrics))
    return run


def test_compare_writes_table_json_and_chart(tmp_path):
    a, b = evaluated(tmp_path, "a", 0.912, 0.0123), evaluated(tmp_path, "b", -0.25, 0.02)
    out = tmp_path / "cmp"
    result = invoke_ok(["compare", a, b, "--out", out])
    rows = {line.split("|")[1].strip(): line for line in result.stdout.splitlines() if line.startswith("| ")}
    assert "0.912" in rows["a"] and "1.230e-02" in rows["a"] and "-0.250" in rows["b"]
    assert json.loads((out / "compare.json").read_text())["runs"][0]["spearman"]["azimuth"] == 0.912
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_bad_input_writes_nothing(tmp_path):
    good = evaluated(tmp_path, "good", 0.9, 0.01)
    (tmp_path / "raw").mkdir()
    before = snapshot(tmp_path)
    out = tmp_path / "cmp"
    assert "dcign evaluate" in invoke(["compare", good, tmp_path / "raw", "--out", out])
    assert "dcign evaluate" in invoke(["compare", tmp_path / "nowhere", "--out", out])
    assert snapshot(tmp_path) == before and not out.exists()
