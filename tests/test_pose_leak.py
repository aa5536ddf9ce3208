"""benchmarks/pose_leak.py's view swap: a decoder blind to the intrinsic latents scores its reconstruction error."""

import sys
from pathlib import Path

import pytest
import torch

from dcign.model import DCIGN, get_preset
from support import exported, tiny

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from pose_leak import full_turn_swap, view_swap  # noqa: E402


def net_reading(latents: list[int], gain: float = 1.0) -> DCIGN:
    """A seeded small-64 net (8 latents) whose decoder reads only ``latents`` (the other columns of its first layer
    are 0; the kept ones scaled by ``gain``, so that an untrained decoder's output follows them)."""
    torch.manual_seed(0)
    net = DCIGN(get_preset("small-64", 8))
    with torch.no_grad():
        keep = torch.zeros(8, dtype=torch.bool)
        keep[latents] = True
        net.decoder.fc.weight[:, ~keep] = 0.0
        net.decoder.fc.weight[:, keep] *= gain
        net.encoder.mu.weight *= gain  # so that the codes of different views differ by more than rounding
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


def test_full_turn_swap_scores_reconstruction_for_a_decoder_blind_to_the_intrinsics(tmp_path, one_thread):
    """Chairs' azimuth (a full turn, on z1, z2): the swap (A's group + B's intrinsics) decodes A's own code
    when the decoder reads only the group; for a decoder reading only the intrinsics, turning and
    swapping both decode B's intrinsics."""
    circle = {"kind": "circular", "latent_indices": [0, 1], "degrees": [-180.0, 180.0], "center": [0.0, 0.0],
              "basis": [[1.0, 0.0], [0.0, 1.0]], "rms": 0.0}
    cfg = tiny(dataset="chairs", latent_layout={"azimuth": [0, 1]})
    blind = full_turn_swap(exported(tmp_path / "blind", net_reading([0, 1], gain=10), {"azimuth": circle}, cfg), identities=2, views=4)
    assert set(blind) == {"azimuth"}
    r = blind["azimuth"]
    assert r["swap"] == pytest.approx(r["recon"], rel=1e-5) and r["copy"] > 1e-3
    only = full_turn_swap(exported(tmp_path / "only", net_reading([2, 3, 4, 5, 6, 7], gain=10), {"azimuth": circle}, cfg),
                          identities=2, views=4)["azimuth"]
    # both decode B's intrinsics alone (the same decoder input: equal to rounding), which are not A's
    assert only["turn"] == pytest.approx(only["swap"], rel=1e-7)
    assert abs(only["turn"] - only["recon"]) > 1e-5 * only["recon"]
