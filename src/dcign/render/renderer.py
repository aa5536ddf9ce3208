"""Headless OpenGL renderer (moderngl + EGL): Lambert shading, orthographic camera.

One directional light plus ambient, grey output in [0, 1] on a white background.  A mesh may
carry a detail texture (a multiplier of its per-vertex albedo, e.g. eyes and brows painted in
UV space), so fine albedo detail costs no triangles.
Many images are drawn per call: each image gets a viewport of one large multisampled
framebuffer, which is read back once.

GL contexts belong to one process.  Create the :class:`Renderer` inside the process that
uses it (for example inside each DataLoader worker); never carry one across ``fork``
(a fork-started child of a process that has rendered can hang in Mesa's EGL).
"""

from __future__ import annotations

import math
import os

import numpy as np

from .mesh import Mesh

VIEW_HALF_EXTENT = 1.1  # the camera frames object-space [-1.1, 1.1]^2
LIGHT_ELEVATION_DEG = 15.0
AMBIENT = 0.2
DIFFUSE = 0.9
BACKGROUND = 1.0
GRID_COLUMNS = 8

_VERTEX_SHADER = """
#version 330
uniform mat3 rotation;
uniform float scale;
in vec3 in_position;
in vec3 in_normal;
in float in_albedo;
in vec2 in_uv;
in float in_detail;
out vec3 v_normal;
out float v_albedo;
out vec2 v_uv;
out float v_detail;
void main() {
    vec3 p = rotation * in_position;
    gl_Position = vec4(p.x * scale, p.y * scale, -p.z * scale * 0.5, 1.0);
    v_normal = rotation * in_normal;
    v_albedo = in_albedo;
    v_uv = in_uv;
    v_detail = in_detail;
}
"""

_FRAGMENT_SHADER = """
#version 330
uniform vec3 light_direction;
uniform float ambient;
uniform float diffuse;
uniform sampler2D detail_map;
in vec3 v_normal;
in float v_albedo;
in vec2 v_uv;
in float v_detail;
out vec4 colour;
void main() {
    float lambert = max(dot(normalize(v_normal), light_direction), 0.0);
    float albedo = clamp(v_albedo * mix(1.0, texture(detail_map, v_uv).r, v_detail), 0.0, 1.0);
    float grey = clamp(albedo * (ambient + diffuse * lambert), 0.0, 1.0);
    colour = vec4(grey, grey, grey, 1.0);
}
"""


def object_rotation(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """(3, 3) rotation R = Rx(elevation) @ Ry(azimuth) taking object to camera space.

    Positive azimuth turns the object's front (+z) toward the viewer's right (+x);
    positive elevation tilts its top toward the camera (the camera looks down on it).
    """
    a, e = math.radians(azimuth_deg), math.radians(elevation_deg)
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(e), -math.sin(e)], [0, math.sin(e), math.cos(e)]])
    return rx @ ry


def light_direction(light_azimuth_deg: float) -> np.ndarray:
    """Unit vector toward the light in camera space (+x right, +y up, +z toward the viewer)."""
    a, e = math.radians(light_azimuth_deg), math.radians(LIGHT_ELEVATION_DEG)
    return np.array([math.sin(a) * math.cos(e), math.sin(e), math.cos(a) * math.cos(e)])


def create_context():
    """A standalone headless moderngl context (EGL; ``DCIGN_GL_BACKEND`` overrides).

    With EGL the device is this process's NVIDIA GPU when there is one, else Mesa's
    llvmpipe (:func:`dcign.render.egl.choose_device`; ``DCIGN_EGL_DEVICE`` forces one).
    """
    import moderngl

    from .egl import choose_device

    backend = os.environ.get("DCIGN_GL_BACKEND", "egl")
    try:
        if backend == "default":
            return moderngl.create_standalone_context()
        if backend == "egl":
            index, _ = choose_device(lambda **kw: moderngl.create_standalone_context(backend="egl", **kw))
            if index is not None:
                return moderngl.create_standalone_context(backend="egl", device_index=index)
        return moderngl.create_standalone_context(backend=backend)
    except Exception as exc:  # moderngl raises bare Exceptions
        raise RuntimeError(
            f"could not create a headless OpenGL context (backend {backend!r}): {exc}. "
            "Install Mesa's EGL (Debian: apt-get install libegl1 libgl1-mesa-dri) or, on a GPU, "
            "the vendor's EGL driver."
        ) from exc


class Renderer:
    """Renders meshes to grey images, many per GL call.

    Args:
        size: output image side in pixels (64 is the default data size, 150 the paper's).
        samples: MSAA samples per pixel (0 or 1: none, the default; 4 costs about 2.5x
            the render time on Mesa llvmpipe).

    Raises:
        ValueError: size < 8.
        RuntimeError: no headless OpenGL context can be created.
    """

    def __init__(self, size: int = 64, samples: int = 0) -> None:
        if int(size) != size or size < 8:
            raise ValueError(f"image size must be an integer >= 8 pixels, got {size!r}")
        self.size = int(size)
        self.ctx = create_context()
        self.samples = min(int(samples), self.ctx.max_samples) if samples > 1 else 0
        self.program = self.ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
        self.program["scale"].value = 1.0 / VIEW_HALF_EXTENT
        self.program["ambient"].value = AMBIENT
        self.program["diffuse"].value = DIFFUSE
        self._rows = 0
        self._fbo_ms = self._fbo = None
        self._textures: dict[int, tuple[np.ndarray, object]] = {}  # id(detail array) -> (array, GL texture)
        info = self.ctx.info
        limit = min(int(info["GL_MAX_RENDERBUFFER_SIZE"]), int(info["GL_MAX_VIEWPORT_DIMS"][1]))
        self.max_rows = max(1, limit // self.size)
        """Grid rows one framebuffer can hold; larger batches are drawn in several passes."""

    def _framebuffers(self, rows: int):
        if rows > self._rows:
            for fbo in (self._fbo_ms, self._fbo):
                if fbo is not None:
                    fbo.release()
            shape = (GRID_COLUMNS * self.size, rows * self.size)
            color = self.ctx.renderbuffer(shape, components=1, dtype="f1")
            self._fbo = self.ctx.framebuffer(color_attachments=[color])
            if self.samples:
                self._fbo_ms = self.ctx.framebuffer(
                    color_attachments=[self.ctx.renderbuffer(shape, components=1, dtype="f1", samples=self.samples)],
                    depth_attachment=self.ctx.depth_renderbuffer(shape, samples=self.samples),
                )
            else:
                self._fbo = self.ctx.framebuffer(
                    color_attachments=[color], depth_attachment=self.ctx.depth_renderbuffer(shape)
                )
            self._rows = rows
        return self._fbo_ms or self._fbo, self._fbo

    def render(self, meshes: list[Mesh], mesh_index, azimuth, elevation, light_azimuth) -> np.ndarray:
        """Render B images.

        Args:
            meshes: the distinct meshes of the batch.
            mesh_index: (B,) index into ``meshes`` for each image.
            azimuth, elevation, light_azimuth: (B,) angles in degrees.

        Returns:
            (B, 1, size, size) float32 grey images in [0, 1], background 1.0.

        A batch larger than one framebuffer holds (``max_rows`` x 8 images: 2,048 at 64 px
        on llvmpipe's 16,384-pixel limit) is drawn in several passes.
        """
        import moderngl

        mesh_index = np.asarray(mesh_index, dtype=np.int64).reshape(-1)
        b = len(mesh_index)
        azimuth, elevation, light_azimuth = (np.broadcast_to(np.asarray(x, dtype=np.float64), (b,)) for x in (azimuth, elevation, light_azimuth))
        if b == 0:
            return np.zeros((0, 1, self.size, self.size), dtype=np.float32)
        if mesh_index.min() < 0 or mesh_index.max() >= len(meshes):
            raise ValueError("mesh_index refers to a mesh that was not given")
        per_pass = self.max_rows * GRID_COLUMNS
        if b > per_pass:
            return np.concatenate([
                self.render(meshes, mesh_index[i : i + per_pass], azimuth[i : i + per_pass],
                            elevation[i : i + per_pass], light_azimuth[i : i + per_pass])
                for i in range(0, b, per_pass)
            ])
        details = {id(m.detail): m.detail for m in meshes if m.detail is not None}
        if len(details) > 1:
            raise ValueError("meshes of one render call must share one detail texture (or have none)")
        vertex_data, index_data, first, count, base = [], [], [], [], 0
        offset = 0
        for m in meshes:
            if m.detail is None:
                uv_w = np.zeros((m.num_vertices, 3), np.float32)
            else:
                uv_w = np.concatenate([m.uvs, m.detail_weight[:, None]], axis=1)
            vertex_data.append(np.concatenate([m.positions, m.normals, m.albedo[:, None], uv_w], axis=1))
            index_data.append(m.triangles.reshape(-1) + base)
            first.append(offset)
            count.append(m.triangles.size)
            offset += m.triangles.size
            base += m.num_vertices
        rows = -(-b // GRID_COLUMNS)
        s = self.size
        with self.ctx:  # make this context current: other GL contexts may exist in the process
            vbo = self.ctx.buffer(np.concatenate(vertex_data).astype("f4").tobytes())
            ibo = self.ctx.buffer(np.concatenate(index_data).astype("i4").tobytes())
            vao = self.ctx.vertex_array(
                self.program, [(vbo, "3f 3f 1f 2f 1f", "in_position", "in_normal", "in_albedo", "in_uv", "in_detail")],
                index_buffer=ibo, index_element_size=4,
            )
            try:
                self._texture(next(iter(details.values()), None)).use(0)
                draw_fbo, read_fbo = self._framebuffers(rows)
                draw_fbo.use()
                draw_fbo.scissor = None
                draw_fbo.clear(BACKGROUND, BACKGROUND, BACKGROUND, 1.0, depth=1.0)
                self.ctx.enable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
                for i in range(b):
                    row, col = divmod(i, GRID_COLUMNS)
                    draw_fbo.viewport = (col * s, row * s, s, s)
                    rot = object_rotation(azimuth[i], elevation[i])
                    self.program["rotation"].write(rot.T.astype("f4").tobytes())  # GLSL is column-major
                    self.program["light_direction"].value = tuple(light_direction(light_azimuth[i]))
                    k = mesh_index[i]
                    vao.render(moderngl.TRIANGLES, vertices=count[k], first=first[k])
                if draw_fbo is not read_fbo:
                    self.ctx.copy_framebuffer(read_fbo, draw_fbo)
                raw = read_fbo.read(components=1, dtype="f1", viewport=(0, 0, GRID_COLUMNS * s, rows * s))
            finally:
                vao.release()
                vbo.release()
                ibo.release()
        grid = np.frombuffer(raw, dtype=np.uint8).reshape(rows * s, GRID_COLUMNS * s)  # bottom row first
        tiles = grid.reshape(rows, s, GRID_COLUMNS, s).transpose(0, 2, 1, 3).reshape(rows * GRID_COLUMNS, s, s)
        return (tiles[:b, ::-1].astype(np.float32) / 255.0)[:, None]

    def _texture(self, detail: np.ndarray | None):
        """The GL texture of a detail array (uploaded once, mipmapped); a white 1x1 one for None."""
        import moderngl

        key = id(detail)
        hit = self._textures.get(key)
        if hit is not None and hit[0] is detail:
            return hit[1]
        data = np.ones((1, 1), np.float32) if detail is None else np.ascontiguousarray(detail, dtype=np.float32)
        tex = self.ctx.texture((data.shape[1], data.shape[0]), 1, data.tobytes(), dtype="f4")
        tex.build_mipmaps()
        tex.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        tex.repeat_x = tex.repeat_y = False
        if len(self._textures) >= 4:  # a process renders one or two models: keep a few
            self._textures.pop(next(iter(self._textures)))[1].release()
        self._textures[key] = (detail, tex)
        return tex

    def release(self) -> None:
        self.ctx.release()
