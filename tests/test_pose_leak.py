"""benchmarks/pose_leak.py's view swap: a decoder blind to the intrinsic latents scores its reconstruction error."""

import sys
from pathlib import Path

import pytest
import torch

from dcign.model import DCIGN, get_preset
from support import exported, tiny

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from pose_leak import view_swap  # noqa: E402


def net_reading(latents: list[int]) -> DCIGN:
    """A seeded small-64 net (8 latents) whose decoder reads only ``latents`` (the other columns of its first layer are 0)."""
    torch.manual_seed(0)
    net = DCIGN(get_preset("small-64", 8))
    with torch.no_grad():
        keep = torch.zeros(8, dtype=torch.bool)
        keep[latents] = True
        net.decoder.fc.weight[:, ~keep] = 0.0
    return net


def test_swap_equals_reconstruction_when_the_decoder_ignores_the_intrinsics(tmp_path, one_thread):
    blind = view_swap(exported(tmp_path / "blind", net_reading([0, 1, 2])), identities=3)
    assert set(blind) == {"azimuth", "elevation", "light_azimuth"}
    for r in blind.values():
        assert r["swap"] == pytest.approx(r["recon"], rel=1e-6) and r["copy"] > 1e-3
    # the decoder's input really is A's own latents + B's intrinsics: reading only the
    # intrinsics, the swap scores B's reconstruction against A, not A's
    only = view_swap(exported(tmp_path / "only", net_reading([3, 4, 5, 6, 7])), identities=3)
    assert all(r["swap"] != r["recon"] for r in only.values())
