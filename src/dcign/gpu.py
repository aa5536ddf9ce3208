"""The GPU path: memory layout, compilation and data-loading settings for ``dcign train``.

Mixed precision is Lightning's (``precision='bf16-mixed'``).  Two further options change
how the network runs, never what it computes (up to floating-point rounding):

* ``channels_last``: convolution weights and activations in NHWC layout, which cuDNN's
  tensor-core kernels prefer;
* ``compile``: ``torch.compile`` of the encoder and decoder (in place, so checkpoints and
  exported weights keep their names).

Their defaults (:func:`default_fast_path`) are on only where a measurement showed a gain:
``benchmarks/gpu_check.sh`` measures both on a GPU and prints whether each helps.  Neither
has been measured on a GPU yet, so there they default to off.  On CPU (2 shared cores,
small-64, 4 groups of 20, interleaved medians) channels_last made a training step 14-27%
faster and torch.compile 10% slower after a 95 s compile; channels_last still defaults to
off on CPU because it changes the convolutions' rounding, and so the bitwise results that
the README's CPU numbers were measured with (``--channels-last`` turns it on).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import lightning as L
import torch


@dataclass(frozen=True)
class FastPath:
    """How the network runs: ``channels_last`` layout and ``compile`` (torch.compile)."""

    channels_last: bool = False
    compile: bool = False


MEASURED_DEFAULTS = {"cpu": FastPath(), "cuda": FastPath()}
"""Per device type, the settings measured to help (see module docstring); all off until measured."""


def default_fast_path(device_type: str) -> FastPath:
    """The default :class:`FastPath` for a torch device type ('cpu', 'cuda', ...)."""
    return MEASURED_DEFAULTS.get(device_type, FastPath())


def apply_fast_path(net: torch.nn.Module, fast: FastPath) -> torch.nn.Module:
    """Convert ``net`` in place to ``fast``'s layout and compile its encoder and decoder; returns it."""
    if fast.channels_last:
        net.to(memory_format=torch.channels_last)
    if fast.compile:
        for part in (net.encoder, net.decoder):
            part.compile()  # in place: state_dict keys stay as they are
    return net


class FastPathCallback(L.Callback):
    """Applies a :class:`FastPath` (None: the device's default) in each process once it has its device.

    Compiled modules cannot be pickled, so this runs at ``setup`` (inside every DDP
    process), not before the processes start.
    """

    def __init__(self, channels_last: bool | None = None, compile: bool | None = None) -> None:
        self.channels_last, self.compile = channels_last, compile

    def resolve(self, device_type: str) -> FastPath:
        d = default_fast_path(device_type)
        return FastPath(d.channels_last if self.channels_last is None else self.channels_last,
                        d.compile if self.compile is None else self.compile)

    def setup(self, trainer, pl_module, stage: str) -> None:
        apply_fast_path(pl_module.net, self.resolve(trainer.strategy.root_device.type))


def suggest_workers(devices_per_machine: int = 1, cpus: int | None = None) -> int:
    """Render workers per training process on a GPU machine: the cores left after one per process.

    Each process keeps one core for itself; the rest are shared out, capped at 8 per
    process (more gives no more throughput once the GPU is fed, and each worker holds a GL
    context and mesh cache).
    """
    if cpus is None:
        try:
            cpus = len(os.sched_getaffinity(0))
        except AttributeError:
            cpus = os.cpu_count() or 1
    per_process = cpus // max(1, devices_per_machine) - 1
    return max(1, min(8, per_process))
