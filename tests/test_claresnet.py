"""CLAReSNet: shapes, the latent rule, parameter count, determinism, gradients, learning."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import models
from models import HyperparameterError
from models.claresnet import (
    CLAReSNetConfig,
    MultiScaleLatentAttention,
    latent_count,
    parameter_counts,
)


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (30, 14),
        (64, 32),
        (200, 58),
        (16, 8),
        (1, 8),
        (17, 8),
        (20, 8),
        (24, 9),
        (4096, 64),
        (1024, 64),
    ],
)
def test_latent_count_formula_and_clamps(t, expected):
    assert latent_count(t) == expected


def test_latent_count_uses_the_configured_rule():
    assert latent_count(64, latent_base=8, base_length=8, latent_min=2, latent_max=100) == 24
    msla = MultiScaleLatentAttention(emb_dim=32, heads=4, latent_min=3, latent_max=5, max_bands=64)
    assert msla.n_latents(16) == 3 and msla.n_latents(64) == 5


@pytest.mark.parametrize("t", [15, 30, 200])
@pytest.mark.parametrize("p", [7, 11])
def test_shapes(t, p):
    torch.manual_seed(0)
    model = models.build_model("claresnet_tiny", n_bands=t, n_classes=16, patch_size=p)
    x = torch.randn(2, t, p, p)
    assert model(x).shape == (2, 16)
    assert model.embed(x).shape == (2, 32)


def test_paper_configuration_shapes_and_sequence():
    torch.manual_seed(0)
    model = models.build_model("claresnet", n_bands=30, n_classes=16, patch_size=11).eval()
    x = torch.randn(2, 30, 11, 11)
    with torch.no_grad():
        assert model.band_encoder(x).shape == (2, 30, 256)
        assert model(x).shape == (2, 16) and model.embed(x).shape == (2, 256)
    assert len(model.layers) == 3 and len(model.band_encoder.blocks) == 4
    assert [b.body[4].dilation for b in model.band_encoder.blocks] == [
        (1, 1),
        (2, 2),
        (3, 3),
        (4, 4),
    ]
    assert model.layers[0].msla.scales == (1, 2, 4) and model.layers[0].msla.n_latents(30) == 14


def test_parameter_count_matches_the_paper():
    model = models.build_model("claresnet", n_bands=30, n_classes=16, patch_size=11)
    counts = parameter_counts(model, 30)
    assert abs(counts["total"] - 17.3e6) / 17.3e6 < 0.02, counts
    # never used at T = 30: 3 tables x (5000 - 30) rows x 128, 3 latent pools x (64 - 14) rows x 256
    assert counts["never_used"] == 3 * (5000 - 30) * 128 + 3 * (64 - 14) * 256
    small = models.build_model("claresnet", n_bands=30, n_classes=16, max_bands=30)
    assert parameter_counts(small, 30)["used"] == counts["used"]


def test_released_cbam_spatial_head_parameter_count():
    paper = models.build_model("claresnet", n_bands=30, n_classes=16, patch_size=11)
    released = models.build_model(
        "claresnet", n_bands=30, n_classes=16, patch_size=11, cbam_spatial="released"
    )
    assert paper.cfg.cbam_spatial == "paper"
    assert parameter_counts(paper, 30)["total"] == 17_325_844
    # 7x7 conv 4 -> 2, BN(2), GELU, 7x7 conv 2 -> 1 (no biases): 392 + 4 + 98 = 494 in
    # place of the paper's single 7x7 conv 4 -> 1 (196)
    assert parameter_counts(released, 30)["total"] == 17_326_142 == 17_325_844 - 196 + 494
    head = released.band_encoder.attention.spatial
    assert [type(m) for m in head] == [nn.Conv2d, nn.BatchNorm2d, nn.GELU, nn.Conv2d]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in (head[0], head[3])] == [
        (4, 2, (7, 7)),
        (2, 1, (7, 7)),
    ]
    tiny = models.build_model("claresnet_tiny", n_bands=12, n_classes=3, cbam_spatial="released")
    assert tiny(torch.randn(2, 12, 11, 11)).shape == (2, 3)


def test_gradients_reach_every_parameter_of_the_paper_model():
    torch.manual_seed(0)
    model = models.build_model("claresnet", n_bands=30, n_classes=16, max_bands=64)
    model(torch.randn(2, 30, 11, 11)).logsumexp(dim=1).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing
    # rows of the positional table beyond T get exactly zero gradient
    grad = model.layers[0].msla.position.learned.grad
    assert grad[30:].abs().sum() == 0 and grad[:30].abs().sum() > 0


def test_eval_mode_is_deterministic_and_finite():
    torch.manual_seed(0)
    model = models.build_model("claresnet_tiny", n_bands=30, n_classes=16).eval()
    x = torch.randn(5, 30, 11, 11) * 10
    with torch.no_grad():
        a, b = model(x), model(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert torch.isfinite(a).all()
    # a sample's output does not depend on the rest of the batch in eval mode
    with torch.no_grad():
        torch.testing.assert_close(model(x[:1]), a[:1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "hparams",
    [
        {"rnn": "lstm"},
        {"rnn": "gru"},
        {"rnn": "none"},
        {"use_cbam": False, "use_multiscale_stem": False},
        {"dilations": [1, 1, 2], "scales": [1, 3]},
        {"n_layers": 1, "scales": (1,)},
    ],
)
def test_search_variants_build_and_run(hparams):
    model = models.build_model("claresnet_tiny", n_bands=20, n_classes=3, patch_size=5, **hparams)
    assert model(torch.randn(2, 20, 5, 5)).shape == (2, 3)
    if "dilations" in hparams:
        assert len(model.band_encoder.blocks) == 3
    if hparams.get("rnn") == "none":
        assert len(model.layers[0].rnns) == 0


@pytest.mark.parametrize(
    ("hparams", "needle"),
    [
        ({"emb_dim": 100, "heads": 8}, "emb_dim=100 must be even and divisible by heads=8"),
        ({"base_channels": 10}, "base_channels=10 must be divisible by 4"),
        ({"cbam_spatial": "code"}, "cbam_spatial='code' must be one of paper, released"),
        ({"n_layers": 0}, "n_layers=0 must be a positive integer"),
        ({"dilations": ()}, "dilations=() must be a non-empty tuple of positive integers"),
        ({"scales": (1, 0)}, "scales=(1, 0) must be a non-empty tuple"),
        ({"scales": (2, 2)}, "must not repeat a scale"),
        ({"latent_min": 70}, "latent_min=70 must not exceed latent_max=64"),
        ({"dropout": 1.0}, "dropout=1.0 must be a number in [0, 1)"),
        ({"rnn": "transformer"}, "rnn='transformer' must be one of lstm+gru, lstm, gru, none"),
        ({"use_cbam": "yes"}, "use_cbam='yes' must be True or False"),
        ({"latents": 8}, "Unknown CLAReSNet hyperparameter(s) 'latents'"),
        ({"max_bands": 20}, "n_bands=30 exceeds max_bands=20"),
    ],
)
def test_invalid_hyperparameters_name_the_value(hparams, needle):
    with pytest.raises(HyperparameterError) as err:
        models.build_model("claresnet", n_bands=30, n_classes=16, **hparams)
    assert needle in str(err.value)


def test_config_round_trips_for_the_record():
    cfg = CLAReSNetConfig.from_hparams(dilations=[1, 2], emb_dim=128)
    assert cfg.dilations == (1, 2) and CLAReSNetConfig(**cfg.as_dict()) == cfg


def test_too_many_bands_at_forward_time():
    model = models.build_model("claresnet_tiny", n_bands=30, n_classes=3, max_bands=40)
    with pytest.raises(
        ValueError, match="input has 50 bands but the positional tables hold max_bands=40"
    ):
        model(torch.randn(1, 50, 5, 5))
