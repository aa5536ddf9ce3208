"""Which EGL device to render on: the process's NVIDIA GPU when there is one, else Mesa's llvmpipe.

EGL lists every device of every installed vendor driver (with the NVIDIA driver and Mesa
both installed: the GPUs and Mesa's software device).  moderngl's EGL backend takes a
``device_index`` into that list.  :func:`choose_device` probes the list once per process,
keeps the hardware devices (renderer not llvmpipe/softpipe/swrast) and takes the one of
this process's CUDA device (``LOCAL_RANK`` under DDP, else the current CUDA device), so
each DDP rank and its render workers draw on the GPU they train on.  With no hardware
device the software device is used, as on a CPU-only machine.

``DCIGN_EGL_DEVICE=N`` forces device index N.  EGL does not say which CUDA device an EGL
device is; the hardware devices are assumed to be listed in CUDA's order, which holds for
the NVIDIA driver when ``CUDA_VISIBLE_DEVICES`` is unset.
"""

from __future__ import annotations

import os
import re

SOFTWARE = re.compile(r"llvmpipe|softpipe|swrast|software", re.IGNORECASE)
_CHOSEN: tuple[int, str] | None = None


def probe_devices(create, limit: int = 16) -> list[str]:
    """GL_RENDERER of every EGL device ``create(device_index=i)`` can open, in index order.

    ``create`` makes a context (moderngl.create_standalone_context with backend 'egl');
    the list ends at the first index that fails (moderngl: 'requested device index i, but
    found n devices').
    """
    found = []
    for i in range(limit):
        try:
            ctx = create(device_index=i)
        except Exception:  # moderngl raises bare Exceptions
            break
        try:
            found.append(str(ctx.info.get("GL_RENDERER", "")))
        finally:
            ctx.release()
    return found


def pick(renderers: list[str], gpu: int) -> int | None:
    """Index of the ``gpu``-th hardware renderer in ``renderers`` (wrapping), or None if all are software."""
    hardware = [i for i, name in enumerate(renderers) if name and not SOFTWARE.search(name)]
    if not hardware:
        return None
    return hardware[gpu % len(hardware)]


def local_gpu() -> int:
    """This process's GPU number: LOCAL_RANK under DDP, else torch's current CUDA device, else 0."""
    if os.environ.get("LOCAL_RANK", "").isdigit():
        return int(os.environ["LOCAL_RANK"])
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            return torch.cuda.current_device()
    except Exception:
        pass
    return 0


def choose_device(create) -> tuple[int | None, str]:
    """(device_index to pass, or None for the driver's default; a one-line description).

    Probed once per process and cached.  ``DCIGN_EGL_DEVICE`` overrides the choice.
    """
    global _CHOSEN
    forced = os.environ.get("DCIGN_EGL_DEVICE", "").strip()
    if forced:
        if not forced.isdigit():
            raise ValueError(f"DCIGN_EGL_DEVICE must be an EGL device index (0, 1, ...), got {forced!r}")
        return int(forced), f"EGL device {forced} (DCIGN_EGL_DEVICE)"
    if _CHOSEN is None:
        renderers = probe_devices(create)
        index = pick(renderers, local_gpu())
        if index is None:
            _CHOSEN = (None, f"software rendering ({renderers[0] if renderers else 'default EGL device'})")
        else:
            _CHOSEN = (index, f"EGL device {index} ({renderers[index]})")
    return _CHOSEN
