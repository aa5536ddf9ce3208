"""Extract MediaPipe's canonical face mesh into dcign's packaged face template.

The canonical face mesh (468 vertices with UVs, 898 triangles; Apache-2.0) is published inside
the npm package ``@mediapipe/face_mesh``: the file
``geometry_pipeline_metadata_landmarks.binarypb`` is one entry of
``face_mesh_solution_packed_assets.data``, whose byte ranges are listed in
``face_mesh_solution_packed_assets_loader.js``.  That file is a ``GeometryPipelineMetadata``
protobuf; its field 1 is the canonical ``Mesh3d`` (field 3: vertex buffer, five float32 per
vertex x, y, z, u, v in cm, +z toward the viewer; field 4: index buffer, uint32 triples).

Usage (once; the output is committed):

    cd $(mktemp -d) && npm pack @mediapipe/face_mesh@0.4.1657299874 && tar xzf mediapipe-face_mesh-*.tgz
    python scripts/extract_face_template.py package/ --out src/dcign/render/assets/

Writes ``canonical_face_mesh.npz`` (vertices (468, 3) float32 cm, uvs (468, 2) float32,
triangles (898, 3) int32) and ``canonical_face_mesh.sha256`` beside it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import struct
import sys
from pathlib import Path

import numpy as np

ASSET = "geometry_pipeline_metadata_landmarks.binarypb"
DATA = "face_mesh_solution_packed_assets.data"
LOADER = "face_mesh_solution_packed_assets_loader.js"


def asset_range(loader_js: str, name: str = ASSET) -> tuple[int, int]:
    """(start, end) byte offsets of ``name`` in the packed data, from the loader's file index."""
    for m in re.finditer(r'\{"filename":\s*"([^"]+)",\s*"start":\s*(\d+),\s*"end":\s*(\d+)\}', loader_js):
        if m.group(1).endswith("/" + name) or m.group(1) == name:
            return int(m.group(2)), int(m.group(3))
    raise SystemExit(f"error: {name} is not listed in the packed-asset index of {LOADER}")


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def fields(buf: bytes):
    """Yield (field number, wire type, value) of one protobuf message (bytes for wire type 2)."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i : i + n], i + n
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def decode_mesh(metadata: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(vertex buffer (N, 5) float32, triangles (T, 3) int32) of the canonical mesh."""
    mesh = next((v for n, w, v in fields(metadata) if n == 1 and w == 2), None)
    if mesh is None:
        raise SystemExit("error: no canonical mesh (field 1) in the geometry pipeline metadata")
    floats, indices = [], []
    for n, w, v in fields(mesh):
        if n == 3:  # repeated float: packed (wire 2) or one by one (wire 5)
            floats += list(struct.unpack(f"<{len(v) // 4}f", v)) if w == 2 else [struct.unpack("<f", v)[0]]
        elif n == 4:  # repeated uint32: packed varints (wire 2) or one by one (wire 0)
            if w == 2:
                j = 0
                while j < len(v):
                    x, j = _varint(v, j)
                    indices.append(x)
            else:
                indices.append(v)
    if len(floats) % 5 or len(indices) % 3:
        raise SystemExit("error: canonical mesh buffers are not whole vertices (5 floats) / triangles (3 indices)")
    return np.asarray(floats, np.float32).reshape(-1, 5), np.asarray(indices, np.int32).reshape(-1, 3)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("package", type=Path, help="the unpacked npm package folder (holds " + DATA + ")")
    ap.add_argument("--out", type=Path, default=Path("src/dcign/render/assets"))
    args = ap.parse_args(argv)
    start, end = asset_range((args.package / LOADER).read_text())
    with open(args.package / DATA, "rb") as f:
        f.seek(start)
        metadata = f.read(end - start)
    if len(metadata) != end - start:
        raise SystemExit(f"error: {DATA} is shorter than its index says ({len(metadata)} of {end - start} bytes)")
    vb, triangles = decode_mesh(metadata)
    version = json.loads((args.package / "package.json").read_text()).get("version", "?")
    buf = io.BytesIO()
    np.savez(buf, vertices=vb[:, :3], uvs=vb[:, 3:], triangles=triangles,
             source=np.array(f"@mediapipe/face_mesh {version}: {ASSET} (Apache-2.0)"))
    data = buf.getvalue()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "canonical_face_mesh.npz").write_bytes(data)
    (args.out / "canonical_face_mesh.sha256").write_text(f"{hashlib.sha256(data).hexdigest()}  canonical_face_mesh.npz\n")
    print(f"{len(vb)} vertices, {len(triangles)} triangles -> {args.out / 'canonical_face_mesh.npz'}", file=sys.stderr)


if __name__ == "__main__":
    main()
