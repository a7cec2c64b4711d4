"""SpectralFormer: shapes, GSE grouping, CAF, parameter counts, validation, learning, recipes."""

from __future__ import annotations

import pytest
import torch

import models
from models import HyperparameterError
from models.recipes import UNIFIED
from models.spectralformer import (
    SpectralFormerConfig,
    caf_parameter_count,
    group_indices,
    parameter_count,
)

VARIANTS = ("spectralformer", "spectralformer_pixel", "spectralformer_tiny")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize(
    ("t", "p"),
    [(30, 11), (200, 7), (200, 1), (1, 3), (2, 5)],
    ids=["unified", "published-patch", "published-pixel", "one-band", "two-bands"],
)
def test_shapes(name, t, p):
    torch.manual_seed(0)
    model = models.build_model(name, n_bands=t, n_classes=16, patch_size=p).eval()
    x = torch.randn(2, t, p, p)
    with torch.no_grad():
        logits, feats = model(x), model.embed(x)
    dim = 32 if name.endswith("tiny") else 64
    assert logits.shape == (2, 16) and feats.shape == (2, dim)
    assert torch.isfinite(logits).all()
    pixels = 1 if name == "spectralformer_pixel" else p * p
    assert model.to_embedding.in_features == 3 * pixels
    assert model.pos_embedding.shape == (1, t + 1, dim)


def test_published_configuration():
    model = models.build_model("spectralformer", n_bands=200, n_classes=16)
    assert model.patch_size == 7 and model.cfg == SpectralFormerConfig()
    assert len(model.layers) == 5 and len(model.fusions) == 3
    assert model.to_embedding.in_features == 147 and model.to_embedding.out_features == 64
    attn = model.layers[0].attn
    assert attn.to_qkv.bias is None and attn.to_qkv.out_features == 3 * 4 * 16
    assert model.layers[0].ff[0].out_features == 8
    assert model.fusions[0].conv.weight.shape == (201, 201, 1, 2)
    pixel = models.build_model("spectralformer_pixel", n_bands=200, n_classes=16)
    assert pixel.cfg.mode == "pixel" and pixel.to_embedding.in_features == 3


def test_parameter_counts():
    # T = 200, P = 7, C = 16, band_patches 3 (GSE 147 -> 64)
    gse = 147 * 64 + 64
    tokens = 64 + 201 * 64
    layer = 2 * 128 + 64 * 192 + (64 * 64 + 64) + (64 * 8 + 8) + (8 * 64 + 64)
    head = 128 + 64 * 16 + 16
    caf = 3 * (2 * 201 * 201 + 201)
    assert caf == caf_parameter_count(200, 5) == 243_009
    expected = gse + tokens + 5 * layer + caf + head
    model = models.build_model("spectralformer", n_bands=200, n_classes=16, patch_size=7)
    assert parameter_count(model) == expected == 355_577
    pixel = models.build_model("spectralformer_pixel", n_bands=200, n_classes=16)
    assert parameter_count(pixel) == expected - gse + (3 * 64 + 64) == 346_361


@pytest.mark.parametrize(("t", "depth"), [(200, 5), (30, 5), (12, 3), (12, 2), (5, 1)])
def test_caf_switch_changes_exactly_the_conv_parameters(t, depth):
    on = models.build_model("spectralformer", n_bands=t, n_classes=4, depth=depth)
    off = models.build_model("spectralformer", n_bands=t, n_classes=4, depth=depth, caf=False)
    assert parameter_count(on) - parameter_count(off) == caf_parameter_count(t, depth)
    assert len(on.fusions) == max(depth - 2, 0) and len(off.fusions) == 0


def test_caf_changes_the_output_and_fuses_layer_inputs_two_back():
    torch.manual_seed(0)
    model = models.build_model("spectralformer_tiny", n_bands=6, n_classes=3, patch_size=3).eval()
    x = torch.randn(2, 6, 3, 3)
    seen = []
    hook = model.fusions[0].register_forward_hook(lambda m, args, out: seen.append(args))
    layer_inputs = []
    hooks = [
        layer.register_forward_pre_hook(lambda m, args: layer_inputs.append(args[0]))
        for layer in model.layers
    ]
    with torch.no_grad():
        with_caf = model(x)
    hook.remove()
    for h in hooks:
        h.remove()
    current, skip = seen[0]
    # layer 3 fuses the output of layer 2 with the tokens that arrived at layer 1
    out_layer2 = model.layers[1](layer_inputs[1])
    torch.testing.assert_close(current, out_layer2)
    torch.testing.assert_close(skip, layer_inputs[0])
    conv = model.fusions[0].conv
    manual = (
        torch.einsum("ij,njd->nid", conv.weight[:, :, 0, 0], current)
        + torch.einsum("ij,njd->nid", conv.weight[:, :, 0, 1], skip)
        + conv.bias[None, :, None]
    )
    torch.testing.assert_close(layer_inputs[2], manual, rtol=1e-5, atol=1e-5)
    # the same weights without CAF give another output
    plain = models.build_model(
        "spectralformer_tiny", n_bands=6, n_classes=3, patch_size=3, caf=False
    ).eval()
    plain.load_state_dict(
        {k: v for k, v in model.state_dict().items() if not k.startswith("fusions")}
    )
    with torch.no_grad():
        assert not torch.allclose(plain(x), with_caf)


def test_group_indices_wrap_circularly():
    assert group_indices(5, 3).tolist() == [[4, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 0]]
    assert group_indices(4, 5)[0].tolist() == [2, 3, 0, 1, 2]
    assert group_indices(1, 3).tolist() == [[0, 0, 0]]
    assert group_indices(3, 1).tolist() == [[0], [1], [2]]


def test_gse_groups_neighbouring_bands_over_the_window():
    t, p = 5, 3
    # band b, pixel (i, j) holds 100 * b + 3 * i + j: every value names its band and pixel
    x = 100 * torch.arange(t)[:, None, None] + 3 * torch.arange(p)[:, None] + torch.arange(p)
    x = x.float()[None].repeat(2, 1, 1, 1)
    model = models.build_model("spectralformer", n_bands=t, n_classes=3, patch_size=p)
    groups = model.group_bands(x)
    assert groups.shape == (2, t, 3 * p * p)
    pixels = torch.arange(p * p).float()
    for b in range(t):
        expected = torch.cat([100 * band + pixels for band in ((b - 1) % t, b, (b + 1) % t)])
        torch.testing.assert_close(groups[0, b], expected)
        torch.testing.assert_close(groups[1, b], expected)


def test_gse_pixel_mode_uses_only_the_centre_pixel():
    t, p = 5, 5
    torch.manual_seed(0)
    x = torch.randn(2, t, p, p)
    model = models.build_model("spectralformer_pixel", n_bands=t, n_classes=3).eval()
    groups = model.group_bands(x)
    centre = x[:, :, 2, 2]
    assert groups.shape == (2, t, 3)
    for b in range(t):
        torch.testing.assert_close(groups[:, b], centre[:, [(b - 1) % t, b, (b + 1) % t]])
    # changing any other pixel changes nothing; the P = 1 input gives the same logits
    y = torch.randn(2, t, p, p)
    y[:, :, 2, 2] = centre
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(y))
        torch.testing.assert_close(model(x), model(centre[:, :, None, None]))


def test_gse_embedding_is_the_linear_map_of_the_groups():
    torch.manual_seed(0)
    model = models.build_model("spectralformer", n_bands=5, n_classes=3, patch_size=3).eval()
    x = torch.randn(2, 5, 3, 3)
    seen = []
    model.to_embedding.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    with torch.no_grad():
        model(x)
    torch.testing.assert_close(seen[0], model.group_bands(x))


@pytest.mark.parametrize(
    ("hparams", "needle"),
    [
        ({"band_patches": 4}, "band_patches=4 must be a positive odd integer (e.g. 1, 3, 5"),
        ({"band_patches": 0}, "band_patches=0 must be a positive odd integer"),
        ({"mode": "voxel"}, "mode='voxel' must be one of patch, pixel"),
        ({"caf": "yes"}, "caf='yes' must be True or False"),
        ({"dropout": 1.0}, "dropout=1.0 must be a number in [0, 1)"),
        ({"emb_dropout": -0.1}, "emb_dropout=-0.1 must be a number in [0, 1)"),
        ({"dim": 0}, "dim=0 must be a positive integer"),
        ({"depth": 2.5}, "depth=2.5 must be a positive integer"),
        ({"heads": True}, "heads=True must be a positive integer"),
        ({"dim_head": -16}, "dim_head=-16 must be a positive integer"),
        ({"mlp_dim": "8"}, "mlp_dim='8' must be a positive integer"),
        ({"bandpatches": 3}, "'bandpatches' (did you mean 'band_patches'?)"),
        ({"layers": 3}, "Unknown SpectralFormer hyperparameter(s) 'layers'"),
    ],
)
def test_invalid_hyperparameters_name_the_value(hparams, needle):
    with pytest.raises(HyperparameterError) as err:
        models.build_model("spectralformer", n_bands=30, n_classes=16, **hparams)
    assert needle in str(err.value)
    if "Unknown" in needle or "did you mean" in needle:
        assert "Allowed: dim, depth" in str(err.value)


def test_wrong_input_shapes_are_refused():
    model = models.build_model("spectralformer_tiny", n_bands=10, n_classes=3, patch_size=5)
    with pytest.raises(
        ValueError, match="input has 12 bands but the model was built for n_bands=10"
    ):
        model(torch.randn(1, 12, 5, 5))
    with pytest.raises(ValueError, match="built for patch_size=5. Fix: build it with patch_size=7"):
        model(torch.randn(1, 10, 7, 7))
    with pytest.raises(ValueError, match="expects N x T x P x P input"):
        model(torch.randn(1, 10, 25))


def test_other_hyperparameters_build_and_run():
    model = models.build_model(
        "spectralformer",
        n_bands=9,
        n_classes=3,
        patch_size=3,
        band_patches=5,
        dim=24,
        heads=3,
        dim_head=8,
        mlp_dim=12,
        depth=4,
    )
    assert model(torch.randn(2, 9, 3, 3)).shape == (2, 3) and len(model.fusions) == 2
    assert model.to_embedding.in_features == 5 * 9


def test_config_round_trips_for_the_record():
    cfg = SpectralFormerConfig.from_hparams(band_patches=5, caf=False, mode="pixel")
    assert SpectralFormerConfig(**cfg.as_dict()) == cfg and cfg.dim == 64


def test_eval_mode_is_deterministic_and_batch_independent():
    torch.manual_seed(0)
    for name in ("spectralformer_tiny", "spectralformer_pixel"):
        model = models.build_model(name, n_bands=30, n_classes=16, patch_size=11).eval()
        x = torch.randn(5, 30, 11, 11) * 10
        with torch.no_grad():
            a, b = model(x), model(x)
            torch.testing.assert_close(a, b, rtol=0, atol=0)
            torch.testing.assert_close(model(x[:1]), a[:1], rtol=1e-5, atol=1e-5)
        assert torch.isfinite(a).all()
    # train mode uses dropout
    model.train()
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))


def test_registry_entries_and_recipes():
    patch = models.get_model_entry("spectralformer")
    pixel = models.get_model_entry("spectralformer_pixel")
    tiny = models.get_model_entry("spectralformer_tiny")
    assert (patch.patch_size, pixel.patch_size, patch.n_components) == (7, 1, None)
    assert {patch.family, pixel.family, tiny.family} == {"spectralformer"} and tiny.tiny
    assert "spectralformer_tiny" not in models.list_models(include_tiny=False)
    # the authors' README commands for Indian Pines: patch-wise 300 epochs, weight decay
    # 5e-3; pixel-wise 290 epochs, weight decay 0; StepLR step epochs // 10
    for entry, p, wd, epochs, step in (
        (patch, 7, 5e-3, 300, 30),
        (pixel, 1, 0.0, 290, 29),
        (tiny, 7, 5e-3, 300, 30),
    ):
        assert entry.recipe("unified") == UNIFIED
        r = entry.recipe("published")
        assert (r.patch_size, r.n_components, r.scale, r.pca_fit, r.pad_mode) == (
            p,
            None,
            "minmax",
            "scene",
            "symmetric",
        )
        assert (r.optimizer, r.lr, r.weight_decay, r.batch_size, r.epochs) == (
            "adam",
            5e-4,
            wd,
            64,
            epochs,
        )
        assert r.scheduler == {"name": "step", "step_size": step, "gamma": 0.9}
        assert r.optimizer_params is None and not r.model_param_groups
        assert not r.augment and r.select_on == "last"
        assert "695 training pixels" in r.notes and "symmetric" in r.notes
        assert f"{epochs} epochs" in r.notes and f"= {step} and" in r.notes


@pytest.mark.parametrize(
    ("name", "wd", "epochs", "step"),
    [("spectralformer", 5e-3, 300, 30), ("spectralformer_pixel", 0.0, 290, 29)],
)
def test_published_optimizer_and_schedule_as_the_trials_build_them(
    ip_surrogate, name, wd, epochs, step
):
    from harness.spec import make_spec
    from harness.trial.optim import make_optimizer, make_scheduler

    spec = make_spec(name, ip_surrogate.crop_to(0, 32, 0, 32), recipe="published")
    cfg = spec.training
    assert (cfg.epochs, cfg.weight_decay) == (epochs, wd)
    model = models.build_model(name, n_bands=200, n_classes=16, patch_size=spec.patch_size)
    opt = make_optimizer(model, cfg)
    assert isinstance(opt, torch.optim.Adam) and not isinstance(opt, torch.optim.AdamW)
    assert len(opt.param_groups) == 1  # decay on every parameter, as the authors' script
    group = opt.param_groups[0]
    assert (group["lr"], group["weight_decay"]) == (5e-4, wd)
    assert len(group["params"]) == len(list(model.parameters()))
    sched, when = make_scheduler(opt, cfg)
    assert isinstance(sched, torch.optim.lr_scheduler.StepLR) and when == "epoch"
    assert (sched.step_size, sched.gamma) == (step, 0.9)
