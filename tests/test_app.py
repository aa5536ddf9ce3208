"""``dcign app``: the server-side work, bad input, and the app in a real headless browser.

The browser test drives Debian's Chromium (``/usr/bin/chromium``, installed by ``.ci/run``)
with Playwright's Python package; nothing downloads a browser.  Without Chromium (or without
Playwright) the browser test is skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

pytest.importorskip("gradio", reason="the app needs Gradio: pip install -e '.[app]'")

from dcign.app import MAX_UPLOAD_BYTES, Renderer, Session, launch  # noqa: E402
from dcign.cli import app as cli  # noqa: E402
from dcign.config import TrainConfig  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def app_run(tmp_path_factory):
    """A run trained for a few steps at 64 px (small identity table and code: fast)."""
    from dcign.training import train_and_export

    out = tmp_path_factory.mktemp("app") / "run"
    cfg = TrainConfig.from_dict(dict(steps=4, batch_size=4, groups_per_step=2, latent_dim=16, num_workers=0,
                      num_train_identities=30, num_test_identities=12))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train_and_export(cfg, out, log=lambda *_: None, progress=False)
    return out


@pytest.fixture(scope="module")
def renderer(app_run):
    r = Renderer()
    r.run(app_run)
    return r


def session_on(renderer, app_run, index=0):
    session = Session(run=renderer.run(app_run))
    png, factors = session.run.gallery[index]
    renderer.select(session, png, factors)
    return session, png


def dcign_render_process(run, image, out, **degrees):
    """``dcign render`` in its own process (torch's default threads, not the app's)."""
    sets = [a for f, d in degrees.items() for a in ("--set", f"{f}={d}")]
    proc = subprocess.run([sys.executable, "-m", "dcign", "render", "--run", str(run), "--image", str(image), *sets, "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return Path(out).read_bytes()


def dcign_render(run, image, out, **degrees):
    sets = [a for f, d in degrees.items() for a in ("--set", f"{f}={d}")]
    result = CliRunner().invoke(cli, ["render", "--run", str(run), "--image", str(image), *sets, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return Path(out).read_bytes()


def test_rerender_equals_dcign_render_byte_for_byte(renderer, app_run, tmp_path):
    session, png = session_on(renderer, app_run)
    degrees = {"azimuth": -35.0, "elevation": 12.0, "light_azimuth": 40.0}
    result = renderer.rerender(session, degrees, [0.0, 0.0, 0.0])
    expected = dcign_render(app_run, png, tmp_path / "cli.png", azimuth=-35, elevation=12, light_azimuth=40)
    assert Path(result["output"]).read_bytes() == expected
    # engine images come with the true rendering at the chosen angles and its error
    assert result["truth"] and result["error"] and 0 <= result["mse"] < 1
    # a principal-component slider moves the image away from dcign render's (no PC there)
    moved = renderer.rerender(session, degrees, [2.0, 0.0, 0.0])
    assert np.abs(np.asarray(Image.open(moved["output"]), float) - np.asarray(Image.open(tmp_path / "cli.png"), float)).max() > 0


def test_uploaded_colour_image_is_converted_as_dcign_render_does(renderer, app_run, tmp_path):
    rgb = tmp_path / "rgb.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(rgb)
    session = Session(run=renderer.run(app_run))
    assert "converted to grey" in renderer.select(session, str(rgb), None)
    result = renderer.rerender(session, {"azimuth": 20.0}, [0.0] * 3)
    assert result["truth"] is None  # an upload has no true rendering
    assert Path(result["output"]).read_bytes() == dcign_render(app_run, rgb, tmp_path / "cli.png", azimuth=20)


def test_traversal_gif(renderer, app_run):
    session, _ = session_on(renderer, app_run)
    path = renderer.traversal_gif(session, "azimuth", {"elevation": 0.0}, [0.0] * 3)
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames > 10


def bad_file(tmp_path, kind) -> Path:
    path = tmp_path / f"{kind}.png"
    if kind == "text":
        path.write_text("not an image at all\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "huge":
        Image.new("L", (6000, 6000), 255).save(path)  # a small file holding a huge image
    elif kind == "big_file":
        path.write_bytes(b"\x89PNG" + os.urandom(MAX_UPLOAD_BYTES))
    return path


@pytest.mark.parametrize("kind, message", [("text", "cannot read image"), ("empty", "is empty"),
                                           ("huge", "needs 64x64"), ("big_file", "uploads are limited to 2 MiB")])
def test_bad_uploads_are_refused_and_the_image_stays(renderer, app_run, tmp_path, kind, message):
    session, _ = session_on(renderer, app_run)
    before = session.current
    with pytest.raises(ValueError, match=message):
        renderer.select(session, str(bad_file(tmp_path, kind)), None)
    assert session.current is before


@pytest.mark.parametrize("mode", ["I;16", "P"])
def test_16_bit_and_palette_images_are_read_with_a_note(renderer, app_run, tmp_path, mode):
    path = tmp_path / "in.png"
    grey = np.tile(np.linspace(0, 1, 64), (64, 1))
    if mode == "I;16":
        Image.fromarray((grey * 65535).astype(np.uint16)).save(path)
    else:
        Image.fromarray((grey * 255).astype(np.uint8)).convert("P").save(path)
    with Image.open(path) as im:
        assert im.mode == mode
    session = Session(run=renderer.run(app_run))
    note = renderer.select(session, str(path), None)
    assert ("16-bit" if mode == "I;16" else "palette") in note
    result = renderer.rerender(session, {"azimuth": 0.0}, [0.0] * 3)
    assert Path(result["output"]).read_bytes() == dcign_render(app_run, path, tmp_path / "cli.png", azimuth=0)


def test_cli_refuses_a_run_without_model_and_documents_the_host(tmp_path):
    result = CliRunner().invoke(cli, ["app", str(tmp_path)])
    assert result.exit_code == 2 and "error:" in result.output and "no exported model" in result.output
    assert "Traceback" not in result.output
    help_text = CliRunner().invoke(cli, ["app", "--help"], terminal_width=200).output
    assert "0.0.0.0" in help_text and "127.0.0.1" in help_text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium_or_skip():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright's Python package is not installed (pip install -e '.[test]')")
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which("chromium")):
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install chromium), as .ci/run does")
    return sync_playwright


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")
def test_app_in_a_headless_browser(app_run, tmp_path):
    import torch

    sync_playwright = chromium_or_skip()
    threads = torch.get_num_threads()
    demo, url = launch(app_run, port=free_port(), block=False)  # as `dcign app` serves it (TORCH_THREADS)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            hosts = set()
            page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
            page.goto(url)
            status = page.locator("#status")

            def wait_status(text):
                page.wait_for_function("t => document.querySelector('#status').innerText.includes(t)", arg=text, timeout=30000)

            def output_bytes():
                src = page.locator("#output img").get_attribute("src")
                return src, page.request.get(src).body()

            page.locator("#gallery img").first.click()
            wait_status("test identity")
            first_src, first = output_bytes()
            png = Path(page.locator("#input img").get_attribute("src").split("file=", 1)[1])

            azimuth = page.locator("#slider-azimuth input[type=number]")
            lo, hi, now = (float(azimuth.get_attribute("min")), float(azimuth.get_attribute("max")), float(azimuth.input_value()))
            target = f"{lo if now > (lo + hi) / 2 else hi:g}"  # the far end of the range: the largest move
            azimuth.fill(target)
            azimuth.press("Enter")
            page.wait_for_function("s => document.querySelector('#output img').src !== s", arg=first_src, timeout=30000)
            src, moved = output_bytes()
            assert moved != first
            angles = {f: page.locator(f"#slider-{f} input[type=number]").input_value() for f in ("azimuth", "elevation", "light_azimuth")}
            assert angles["azimuth"] == target
            assert moved == dcign_render_process(app_run, png, tmp_path / "cli.png", **angles)

            page.locator("#upload input[type=file]").set_input_files(str(bad_file(tmp_path, "text")))
            wait_status("error:")
            assert "cannot read image" in status.inner_text() and "Traceback" not in page.content()
            page.locator("#slider-elevation input[type=range]").fill("5")  # the app keeps working
            wait_status("re-rendered")

            page.locator("#run-dir textarea, #run-dir input").first.fill(str(tmp_path / "no_model"))
            page.locator("#load-run").click()
            wait_status("does not exist")
            if os.environ.get("DCIGN_APP_SCREENSHOT"):
                page.screenshot(path=os.environ["DCIGN_APP_SCREENSHOT"], full_page=True)
            browser.close()
        assert hosts == {url.split("/")[2]}, f"the page fetched from outside the app: {sorted(hosts)}"
    finally:
        demo.close()
        torch.set_num_threads(threads)
