"""``dcign app RUN_DIR``: re-render a face (or chair) with sliders, in the browser.

The decoder used as a rendering engine (paper §4.1.1, Figs. 4, 5 and 7), without writing code:
pick a test-identity image from the run's data set (or upload one), move the azimuth /
elevation / light_azimuth sliders (degrees, within the range the model's degrees -> latent
tables cover) and the sliders of the first intrinsic principal components, and see the
re-rendered image next to the input, its reconstruction and -- for the engine's own images --
the true rendering at the chosen angles with its per-pixel error.

Same code path as ``dcign render``: images are read with
:func:`dcign.images.load_image`, angles become latents with
:func:`dcign.inference.angle_codes`, re-rendering is
:func:`dcign.inference.rerender` and images are written with
:func:`dcign.images.save_png`, so with the principal-component sliders at 0 the app's output PNG
equals ``dcign render --image IN --set azimuth=A ...`` byte for byte.

Privacy: Gradio's analytics are switched off before Gradio is imported, ``share`` is off,
server-side rendering (a Node process) and the MCP server are off, and the theme uses the
browser's own fonts, so the page fetches nothing from outside the server.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .factors import ANGLE_FACTORS, Factors

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
"""Largest upload accepted (2 MiB); Gradio refuses bigger files before they reach the app."""
N_GALLERY = 10
"""Test-identity images in the gallery."""
N_COMPONENTS = 3
"""Intrinsic principal-component sliders."""
PC_RANGE = 3.0
"""PC sliders run over +-3 standard deviations of the component (fitted on training identities)."""
GIF_FRAMES = 24
TORCH_THREADS = 1
"""Torch threads of the app's server: one 64-px image gains little from more, and on a busy
machine contending threads multiplied the slider latency (benchmarks/app_latency.py: median
49 ms with 1 thread, 344 ms with 2, on this 2-core machine under load)."""
CSS = ".pixels img { image-rendering: pixelated; width: 100%; height: 100%; object-fit: contain; }"


@dataclass
class Run:
    """A loaded run: the exported model and what the app derives from it once."""

    path: Path
    net: object
    cfg: object
    angle_maps: dict
    engine: object | None
    gallery: list[tuple[str, Factors]]  # (PNG path, factors of that scene) per gallery image
    components: np.ndarray  # (K, D) offsets of one standard deviation along each intrinsic PC
    workdir: Path

    def angle_range(self, factor: str) -> tuple[float, float]:
        degrees = self.angle_maps[factor]["degrees"]
        return float(degrees[0]), float(degrees[-1])


@dataclass
class Current:
    """The image being re-rendered in one browser session."""

    x: np.ndarray  # (1, 1, S, S) float32 in [0, 1], from load_image
    factors: Factors | None  # the true scene for engine images, None for uploads
    reconstruction: str  # PNG path


@dataclass
class Session:
    run: Run | None = None
    current: Current | None = None
    counter: int = 0
    files: dict = field(default_factory=dict)


def load_run(run_dir: str | Path) -> Run:
    """Load an exported run for the app.

    Raises:
        ValueError: no exported model, unreadable files (messages of
            :func:`dcign.export.load_model`), or a model without any degrees -> latent table.
    """
    from .inference import encode, engine_for, map_latents
    from .export import load_model
    from .images import save_png

    net, cfg, meta = load_model(run_dir)
    maps = {f: meta["angle_maps"][f] for f in ANGLE_FACTORS if f in meta.get("angle_maps", {})}
    if not maps:
        raise ValueError(f"the model in {run_dir} has no degrees -> latent tables; re-export it with `dcign train --resume --out {run_dir}`")
    workdir = Path(tempfile.mkdtemp(prefix="dcign-app-"))
    engine = engine_for(cfg)
    rng = np.random.default_rng(0)
    ids = engine.space.identities("test")[:N_GALLERY]
    angles = {}
    for a in ANGLE_FACTORS:
        r = engine.space.ranges[a]
        lo, hi = maps[a]["degrees"][0] if a in maps else r.low, maps[a]["degrees"][-1] if a in maps else r.high
        angles[a] = np.round(rng.uniform(max(lo, r.low), min(hi, r.high), len(ids)))  # whole degrees
    scenes = Factors(angles["azimuth"], angles["elevation"], angles["light_azimuth"], ids)
    images = engine.render(scenes)
    gallery = []
    for i in range(len(ids)):
        path = workdir / f"test_identity_{int(ids[i])}.png"
        save_png(path, images[i, 0])
        gallery.append((str(path), scenes.subset([i])))

    # Intrinsic principal components: the latents outside the angle tables, over training identities.
    train = engine.render(engine.space.sample(np.random.default_rng(1), 256, "train"))
    mu = encode(net.encode, train)
    intrinsic = [k for k in range(mu.shape[1]) if k not in {i for m in maps.values() for i in map_latents(m)}]
    centred = mu[:, intrinsic] - mu[:, intrinsic].mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    components = np.zeros((min(N_COMPONENTS, len(s)), mu.shape[1]), np.float32)
    for c in range(len(components)):
        components[c, intrinsic] = vt[c] * s[c] / np.sqrt(max(len(mu) - 1, 1))
    return Run(Path(run_dir), net, cfg, maps, engine, gallery, components, workdir)


class Renderer:
    """The app's server-side work, independent of Gradio (so it can be tested and timed alone)."""

    def __init__(self):
        self.runs: dict[str, Run] = {}

    def run(self, run_dir: str | Path) -> Run:
        key = str(Path(run_dir).resolve())
        if key not in self.runs:
            self.runs[key] = load_run(run_dir)
        return self.runs[key]

    @staticmethod
    def _png(session: Session, run: Run, role: str, image: np.ndarray) -> str:
        from .images import save_png

        session.counter += 1
        path = run.workdir / f"{role}-{id(session):x}-{session.counter}.png"
        save_png(path, image)
        old = session.files.get(role)
        session.files[role] = path
        if old is not None and old.exists():  # Gradio has copied it to its cache by now
            old.unlink()
        return str(path)

    def select(self, session: Session, png: str, factors: Factors | None) -> str:
        """Make ``png`` the current input; returns a message (a note for converted images).

        Raises:
            ValueError: as :func:`dcign.images.load_image`, or a file over
                MAX_UPLOAD_BYTES.
        """
        from PIL import Image

        from .inference import rerender
        from .images import load_image

        run = session.run
        path = Path(png)
        if path.is_file() and path.stat().st_size > MAX_UPLOAD_BYTES:
            raise ValueError(f"{path.name} is {path.stat().st_size / 2**20:.1f} MiB; uploads are limited to {MAX_UPLOAD_BYTES // 2**20} MiB")
        x = load_image(path, run.cfg.image_size)
        with Image.open(path) as im:
            mode = im.mode
        note = ""
        if mode.startswith("I;16") or mode == "I":
            note = f" (16-bit grey image, mode {mode}: scaled from 0..65535 to [0, 1] as `dcign render` does)"
        elif mode == "P":
            note = " (palette image: converted to grey as `dcign render` does)"
        elif mode not in ("L", "1"):
            note = f" (mode {mode}: converted to grey as `dcign render` does)"
        recon = rerender(run.net, x, {})
        session.current = Current(x, factors, self._png(session, run, "reconstruction", recon))
        return f"input: {path.name}, {run.cfg.image_size}x{run.cfg.image_size} pixels{note}"

    def rerender(self, session: Session, degrees: dict[str, float], pcs: list[float]) -> dict:
        """Re-render the current input at ``degrees`` with PC offsets ``pcs`` (standard deviations).

        Returns:
            {"output": PNG path, "truth": PNG path or None, "error": PNG path or None,
            "mse": float or None, "seconds": server-side time}.
        """
        from .inference import angle_codes, rerender

        t0 = time.perf_counter()
        run, cur = session.run, session.current
        degrees = {f: float(v) for f, v in degrees.items() if f in run.angle_maps}
        codes = angle_codes(run.angle_maps, degrees)
        pcs = [float(p) for p in pcs[: len(run.components)]]
        offset = None
        if any(pcs):
            offset = np.tensordot(np.asarray(pcs, np.float32), run.components[: len(pcs)], axes=1)
        y = rerender(run.net, cur.x, codes, offset)
        result = {"output": self._png(session, run, "output", y), "truth": None, "error": None, "mse": None}
        if cur.factors is not None and run.engine is not None:
            values = {a: cur.factors[a].copy() for a in ANGLE_FACTORS}
            for f, d in degrees.items():
                values[f][:] = d
            truth = run.engine.render(Factors(values["azimuth"], values["elevation"], values["light_azimuth"], cur.factors.identity))[0, 0]
            err = np.abs(y - truth)
            result.update(truth=self._png(session, run, "truth", truth), error=self._png(session, run, "error", 1 - np.clip(4 * err, 0, 1)),
                          mse=float(np.mean((y - truth) ** 2)))
        result["seconds"] = time.perf_counter() - t0
        return result

    def traversal_gif(self, session: Session, factor: str, degrees: dict[str, float], pcs: list[float]) -> str:
        """A GIF of ``factor`` swept over its calibrated range (other sliders as set); returns its path."""
        from PIL import Image

        from .inference import angle_codes, rerender

        run = session.run
        lo, hi = run.angle_range(factor)
        frames = []
        pcs = [float(p) for p in pcs[: len(run.components)]]
        offset = np.tensordot(np.asarray(pcs, np.float32), run.components[: len(pcs)], axes=1) if any(pcs) else None
        for d in np.concatenate([np.linspace(lo, hi, GIF_FRAMES), np.linspace(hi, lo, GIF_FRAMES)[1:-1]]):
            codes = angle_codes(run.angle_maps, {**{f: float(v) for f, v in degrees.items() if f in run.angle_maps}, factor: float(d)})
            y = rerender(run.net, session.current.x, codes, offset)
            frames.append(Image.fromarray((np.clip(y, 0, 1) * 255 + 0.5).astype(np.uint8), mode="L").resize((192, 192), Image.NEAREST))
        path = run.workdir / f"traversal_{factor}-{id(session):x}.gif"
        tmp = path.with_suffix(".tmp.gif")
        frames[0].save(tmp, save_all=True, append_images=frames[1:], duration=80, loop=0)
        os.replace(tmp, path)
        return str(path)


def build_app(run_dir: str | Path, renderer: Renderer | None = None):
    """The Gradio Blocks of the app for ``run_dir`` (not launched).

    Raises:
        ValueError: the run cannot be loaded (see :func:`load_run`).
    """
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    import gradio as gr

    renderer = renderer or Renderer()
    first = renderer.run(run_dir)

    def angle_slider(f):
        lo, hi = first.angle_range(f) if f in first.angle_maps else (-90.0, 90.0)
        return gr.Slider(lo, hi, value=(lo + hi) / 2, step=1, label=f"{f} (degrees)", elem_id=f"slider-{f}",
                         visible=f in first.angle_maps)

    with gr.Blocks(analytics_enabled=False, title="dcign app", delete_cache=(3600, 3600)) as demo:
        session = gr.State(None)
        gr.Markdown("## DC-IGN: re-render with the learned graphics code\n"
                    "Pick a test identity (never seen in training) or upload an image, then move the sliders.")
        with gr.Row():
            run_box = gr.Textbox(str(run_dir), label="run folder", elem_id="run-dir", scale=4)
            load_btn = gr.Button("Load run", elem_id="load-run", scale=1)
        status = gr.Markdown("pick a test identity or upload an image", elem_id="status")
        with gr.Row():
            img_kw = dict(type="filepath", image_mode="L", height=220, buttons=["download"], interactive=False,
                          elem_classes=["pixels"])
            input_img = gr.Image(label="input", elem_id="input", **img_kw)
            recon_img = gr.Image(label="reconstruction", elem_id="reconstruction", **img_kw)
            output_img = gr.Image(label="re-rendered", elem_id="output", **img_kw)
            truth_img = gr.Image(label="true rendering (engine images)", elem_id="truth", **img_kw)
            error_img = gr.Image(label="per-pixel |error| x4 (dark = large)", elem_id="error", **img_kw)
        with gr.Row():
            with gr.Column(scale=2):
                gallery = gr.Gallery([(p, f"id {int(fs.identity[0])}") for p, fs in first.gallery], label="test identities",
                                     columns=5, height=240, allow_preview=False, elem_id="gallery")
                upload = gr.File(height=120, label=f"or upload an image ({first.cfg.image_size}x{first.cfg.image_size}, at most {MAX_UPLOAD_BYTES // 2**20} MiB)",
                                 type="filepath", elem_id="upload")
            with gr.Column(scale=2):
                angle_sliders = [angle_slider(f) for f in ANGLE_FACTORS]
                pc_sliders = [gr.Slider(-PC_RANGE, PC_RANGE, value=0, step=0.1, label=f"intrinsic PC {c + 1} (standard deviations)",
                                        elem_id=f"slider-pc{c + 1}", visible=c < len(first.components)) for c in range(N_COMPONENTS)]
                with gr.Row():
                    gif_factor = gr.Dropdown(list(first.angle_maps), value=list(first.angle_maps)[0], label="traversal of", scale=1)
                    gif_btn = gr.Button("Write traversal GIF", elem_id="gif", scale=1)
                gif_file = gr.File(label="traversal GIF", elem_id="gif-file", visible=False)

        sliders = angle_sliders + pc_sliders

        def ensure(state):
            return state if state is not None else Session(run=first)

        def values(args):
            return dict(zip(ANGLE_FACTORS, args[:3])), list(args[3:])

        def show(state, message, *args):
            if state.current is None:
                return message, gr.update(), gr.update(), gr.update(), gr.update()
            try:
                r = renderer.rerender(state, *values(args))
            except ValueError as exc:
                return f"**error:** {exc}", gr.update(), gr.update(), gr.update(), gr.update()
            mse = f"; re-rendering error vs the true rendering: MSE {r['mse']:.5f} per pixel" if r["mse"] is not None else ""
            return (message + mse + f" ({1000 * r['seconds']:.0f} ms)", state.current.reconstruction, r["output"], r["truth"], r["error"])

        outputs = [status, recon_img, output_img, truth_img, error_img]

        def pick(state, evt: gr.SelectData):
            state = ensure(state)
            png, factors = state.run.gallery[evt.index]
            try:
                message = renderer.select(state, png, factors)
            except ValueError as exc:
                return (state, f"**error:** {exc}", *[gr.update()] * (5 + len(sliders)))
            angles = [float(factors[f][0]) for f in ANGLE_FACTORS]
            shown = show(state, f"test identity {int(factors.identity[0])} at azimuth {angles[0]:g}, elevation {angles[1]:g}, "
                                f"light_azimuth {angles[2]:g} degrees; {message}", *angles, *[0.0] * N_COMPONENTS)
            return (state, shown[0], png, *shown[1:], *angles, *[0.0] * N_COMPONENTS)

        pick.__annotations__["evt"] = gr.SelectData  # a real class: this module's annotations are strings

        def uploaded(state, path, *args):
            state = ensure(state)
            if path is None:
                return (state, gr.update(), gr.update(), *[gr.update()] * 4)
            try:
                message = renderer.select(state, path, None)
            except ValueError as exc:
                return (state, f"**error:** {exc} (the previous image stays)", gr.update(), *[gr.update()] * 4)
            shown = show(state, message, *args)
            return (state, shown[0], path, *shown[1:3], None, None)

        def moved(state, *args):
            state = ensure(state)
            if state.current is None:
                return (state, "pick a test identity or upload an image first", *[gr.update()] * 4)
            return (state, *show(state, "re-rendered", *args))

        def load(state, path):
            state = ensure(state)
            try:
                run = renderer.run(path.strip())
            except ValueError as exc:
                return (state, f"**error:** {exc} (still showing {state.run.path})", gr.update(), gr.update(), *[gr.update()] * len(sliders))
            state.run, state.current = run, None
            ups = []
            for f in ANGLE_FACTORS:
                if f in run.angle_maps:
                    lo, hi = run.angle_range(f)
                    ups.append(gr.update(minimum=lo, maximum=hi, value=(lo + hi) / 2, visible=True))
                else:
                    ups.append(gr.update(visible=False))
            ups += [gr.update(value=0, visible=c < len(run.components)) for c in range(N_COMPONENTS)]
            items = [(p, f"id {int(fs.identity[0])}") for p, fs in run.gallery]
            return (state, f"loaded {run.path}", items, gr.update(choices=list(run.angle_maps), value=list(run.angle_maps)[0]), *ups)

        def gif(state, factor, *args):
            state = ensure(state)
            if state.current is None:
                return state, "pick a test identity or upload an image first", gr.update()
            try:
                path = renderer.traversal_gif(state, factor, *values(args))
                return state, f"wrote the {factor} traversal GIF", gr.update(value=path, visible=True)
            except ValueError as exc:
                return state, f"**error:** {exc}", gr.update()

        gallery.select(pick, [session], [session, status, input_img, *outputs[1:], *sliders], show_progress="hidden")
        upload.upload(uploaded, [session, upload, *sliders], [session, status, input_img, recon_img, output_img, truth_img, error_img])
        for s in sliders:
            s.input(moved, [session, *sliders], [session, *outputs], trigger_mode="always_last", show_progress="hidden")
        load_btn.click(load, [session, run_box], [session, status, gallery, gif_factor, *sliders])
        gif_btn.click(gif, [session, gif_factor, *sliders], [session, status, gif_file])
    return demo


def launch(run_dir: str | Path, host: str = "127.0.0.1", port: int | None = None, block: bool = True,
           threads: int | None = TORCH_THREADS):
    """Build and serve the app; returns (demo, local URL).  ``block=False`` returns at once.

    ``threads`` sets torch's thread count for this process (None leaves it).

    Raises:
        ValueError: the run cannot be loaded; OSError: the port cannot be bound.
    """
    import gradio as gr
    import torch

    if threads:
        torch.set_num_threads(threads)
    demo = build_app(run_dir)
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    _, url, _ = demo.launch(server_name=host, server_port=port, share=False, max_file_size=MAX_UPLOAD_BYTES,
                            ssr_mode=False, mcp_server=False, pwa=False, theme=theme, css=CSS, quiet=True,
                            prevent_thread_lock=not block, inbrowser=False, footer_links=[])
    return demo, url
