"""Data-parallel training with Lightning (DDP): ranks, the device-count guard, rank-aware noise.

Lightning runs the processes (``--devices N`` per machine, ``--num-nodes M`` machines,
``strategy='ddp'``); dcign only makes sure that several processes train the model one
process would train on the same global set of one-factor groups:

* **Data.** Rank ``r`` of ``W`` renders its own whole groups of each global step
  (:meth:`dcign.data.RenderedSteps.shard`, set up by :class:`dcign.data.RenderedDataModule`
  once Lightning knows the rank), so no group is split and no two ranks see the same image.
* **Sampling noise.** The reparameterisation noise eps of the whole global step is drawn on
  every rank from the same generator state (the ranks start from one seed and consume the
  generator in lock-step) and each rank takes its rows (:func:`rank_noise`).  Without this
  every rank would reuse the same eps for its i-th image; with it the noise is exactly what
  one process drawing for all ``W * N`` images gets.
* **Gradient scale.** The objective is *summed* over images (see :mod:`dcign.training`),
  and the clamp injects a per-image invariance-targeting gradient ``lambda * (z - mean)``
  that belongs to no loss (:mod:`dcign.clamp`).  DDP *averages* gradients over ranks:
  ``g_DDP = (1/W) sum_r g_r``, while one process fed the whole global step computes
  ``sum_r g_r``.  After the all-reduce each rank multiplies the gradients by ``W``
  (:func:`ddp_gradient_scale`), so both the ELBO's and the injected part equal the
  one-process gradient: exactly for the same noise (up to the order of floating-point
  sums), and so also in expectation over the noise.  Scaling the loss by ``W`` instead
  would miss the injected part and halve invariance targeting on 2 ranks; Adam and RMSprop
  would hide a constant factor on everything (scale invariant but for their epsilon), not a
  change of the ratio between the two parts.

Checkpoints, ``config.json``, logs and the exported model are written by global rank 0 only.
"""

from __future__ import annotations

import os

import torch

RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK")
"""Environment variables that Lightning's launcher (or torchrun, SLURM via Lightning) sets per process."""


def is_global_zero_by_env(environ=None) -> bool:
    """Whether this process is global rank 0 as the launch environment says (before any set-up).

    Lightning's DDP launcher starts ranks 1.. of a machine as copies of the same command with
    ``LOCAL_RANK`` set; the other machines of a multi-node job run with ``NODE_RANK`` > 0.
    Global rank 0 is the process with every one of :data:`RANK_VARIABLES` absent or 0.
    """
    env = os.environ if environ is None else environ
    for name in RANK_VARIABLES:
        value = env.get(name, "0").strip() or "0"
        if value != "0":
            return False
    return True


def available_devices(accelerator: str) -> tuple[str, int]:
    """(kind, count) of the devices ``accelerator`` would use on this machine.

    'cpu' counts the CPU cores this process may run on (each DDP process needs one); 'gpu'
    and 'cuda' count CUDA devices; 'auto' is CUDA when there is one, else CPU.  Other
    accelerators (mps, tpu, ...) return count -1: Lightning checks those itself.
    """
    accelerator = str(accelerator).lower()
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return "CUDA GPU", torch.cuda.device_count()
    if accelerator in ("cpu", "auto"):
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cores = os.cpu_count() or 1
        return "CPU core", cores
    return accelerator, -1


def check_devices(accelerator: str, devices) -> None:
    """Refuse a ``devices`` count larger than the machine has, before any process is started.

    Lightning refuses too many GPUs itself, but on CPU it starts one process per requested
    device, so ``--devices 99`` on 2 cores starts 99 processes that thrash or hang.

    Args:
        accelerator: Lightning accelerator name ('auto', 'cpu', 'gpu', 'cuda', ...).
        devices: an int (processes per machine), 'auto', or anything else Lightning takes
            (lists of device ids, '0,1', -1), which are passed through unchecked.

    Raises:
        ValueError: ``devices`` is an int larger than the devices ``accelerator`` has here.
    """
    if isinstance(devices, bool) or not isinstance(devices, int) or devices < 1:
        return
    kind, have = available_devices(accelerator)
    if have >= 0 and devices > have:
        what = f"{have} {kind}{'s' if have != 1 else ''}"
        fix = ("use --devices auto or at most that many" if kind == "CPU core"
               else "use --devices auto, at most that many, or --accelerator cpu")
        raise ValueError(f"--devices {devices} asks for more devices than this machine has ({what}); {fix}")


def rank_noise(like: torch.Tensor, rank: int = 0, world_size: int = 1) -> torch.Tensor:
    """Standard-normal noise for this rank's rows of the global step, shaped like ``like`` (N, D).

    Draws ``(world_size * N, D)`` values from the global torch generator (same dtype and
    device as ``like``) and returns rows ``rank * N .. (rank + 1) * N - 1``.  With
    ``world_size = 1`` this is ``torch.randn_like(like)``, draw for draw.
    """
    if world_size == 1:
        return torch.randn_like(like)
    n = like.shape[0]
    everyone = torch.randn((world_size * n, *like.shape[1:]), dtype=like.dtype, device=like.device)
    return everyone[rank * n : (rank + 1) * n]


def ddp_gradient_scale(world_size: int) -> float:
    """Factor for DDP's averaged gradients that makes them the global step's summed gradient (see module doc)."""
    return float(world_size)
