import pytest
import torch

from dcign.model import DCIGN, PRESETS, get_preset, kl_divergence, reconstruction_loss


def pooled_shapes(net: DCIGN) -> list[tuple]:
    """(C, H, W) after each max-pool of the encoder, for one image of the preset's size."""
    s = net.preset.image_size
    x, shapes = torch.zeros(1, net.channels, s, s), []
    for layer in net.encoder.features:
        x = layer(x)
        if isinstance(layer, torch.nn.MaxPool2d):
            shapes.append(tuple(x.shape[1:]))
    return shapes


def decoder_conv_shapes(net: DCIGN) -> list[tuple]:
    """(C, H, W) after each conv of the decoder, from the Linear layer's feature map."""
    y, shapes = torch.relu(net.decoder.fc(torch.zeros(1, net.preset.latent_dim))).view(1, *net.decoder.start), []
    for layer in net.decoder.deconv:
        y = layer(y)
        if isinstance(layer, torch.nn.Conv2d):
            shapes.append(tuple(y.shape[1:]))
    return shapes


def test_paper_preset_matches_fig1():
    net = DCIGN(get_preset("paper-150"))
    assert pooled_shapes(net) == [(96, 73, 73), (64, 34, 34), (32, 15, 15)]
    assert net.encoder.mu.in_features == 7200 and net.encoder.mu.out_features == 200
    assert net.decoder.start == (32, 15, 15)
    assert decoder_conv_shapes(net) == [(32, 24, 24), (64, 42, 42), (96, 78, 78), (1, 150, 150)]


def test_reference_preset_widths():
    net = DCIGN(get_preset("reference-150"))
    assert net.encoder.mu.in_features == 5400
    convs = [m.out_channels for m in net.decoder.deconv if isinstance(m, torch.nn.Conv2d)]
    assert convs == [48, 96, 96, 1]


def test_wide_preset_shapes():
    """wide-64: conv+pool encoder 32/64/128 to 128x8x8, nearest-upsample+conv decoder 64/32/1."""
    net = DCIGN(get_preset("wide-64"))
    assert pooled_shapes(net) == [(32, 32, 32), (64, 16, 16), (128, 8, 8)]
    assert net.encoder.mu.in_features == 8192 and net.encoder.mu.out_features == 200
    assert net.decoder.start == (128, 8, 8)
    assert not any(isinstance(layer, torch.nn.ConvTranspose2d) for layer in net.decoder.deconv)
    assert decoder_conv_shapes(net) == [(64, 16, 16), (32, 32, 32), (1, 64, 64)]
    assert [m.mode for m in net.decoder.deconv if isinstance(m, torch.nn.Upsample)] == ["nearest"] * 3


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_round_trip(name):
    p = get_preset(name)
    net = DCIGN(p)
    x = torch.rand(2, 1, p.image_size, p.image_size)
    mu, logvar = net.encode(x)
    assert mu.shape == logvar.shape == (2, 200)
    y = net.decode(mu)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1


def test_losses():
    logits = torch.zeros(3, 1, 4, 4)
    target = torch.full((3, 1, 4, 4), 0.5)
    torch.testing.assert_close(reconstruction_loss(logits, target), torch.full((3,), 16 * torch.log(torch.tensor(2.0)).item()))
    assert torch.all(kl_divergence(torch.zeros(2, 5), torch.zeros(2, 5)) == 0)
    torch.testing.assert_close(kl_divergence(torch.ones(1, 2), torch.zeros(1, 2)), torch.tensor([1.0]))


def test_unknown_preset():
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("huge")
