"""HybridSN and SSRN: published sizes, shapes at every setting, errors, recipes, learning."""

from __future__ import annotations

import pytest
import torch

import models
from models import HyperparameterError
from models.hybridsn import HybridSNConfig
from models.recipes import UNIFIED
from models.ssrn import SSRNConfig

pytestmark = pytest.mark.usefixtures("one_thread")


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ----------------------------------------------------------------------------- HybridSN


def test_hybridsn_parameter_count_matches_the_paper():
    model = models.build_model("hybridsn", n_bands=30, n_classes=16, patch_size=25)
    assert n_params(model) == 5_122_176
    assert model.spectral_depth == 18 and model.conv2d.in_channels == 576  # 19 x 19 x 576
    assert model.flat_features == 64 * 17 * 17 and model.input_padding == (0, 0)
    assert [c.kernel_size for c in model.conv3d] == [(7, 3, 3), (5, 3, 3), (3, 3, 3)]
    assert [c.out_channels for c in model.conv3d] == [8, 16, 32]
    assert [d.out_features for d in model.dense] == [256, 128] and model.dropout.p == 0.4


@pytest.mark.parametrize(
    ("t", "p", "depth", "flat", "padding"),
    [
        (30, 11, 18, 64 * 3 * 3, (0, 0)),  # unified
        (30, 25, 18, 64 * 17 * 17, (0, 0)),  # published, Indian Pines
        (15, 25, 3, 64 * 17 * 17, (0, 0)),  # published, Salinas / Pavia University
        (13, 9, 1, 64, (0, 0)),  # the smallest unpadded input
        (12, 7, 1, 64, (1, 2)),  # below the minimum, with small_input="pad": 13 x 9 x 9
    ],
)
def test_hybridsn_shapes_at_every_setting(t, p, depth, flat, padding):
    torch.manual_seed(0)
    model = models.build_model(
        "hybridsn", n_bands=t, n_classes=16, patch_size=p, small_input="pad"
    ).eval()
    assert (model.spectral_depth, model.flat_features, model.input_padding) == (
        depth,
        flat,
        padding,
    )
    x = torch.randn(2, t, p, p)
    with torch.no_grad():
        assert model(x).shape == (2, 16)
        assert model.embed(x).shape == (2, 128)


@pytest.mark.parametrize(("t", "p"), [(30, 11), (15, 25), (12, 7)])
def test_hybridsn_tiny_shapes(t, p):
    torch.manual_seed(0)
    model = models.build_model("hybridsn_tiny", n_bands=t, n_classes=5, patch_size=p).eval()
    x = torch.randn(3, t, p, p)
    with torch.no_grad():
        assert model(x).shape == (3, 5) and model.embed(x).shape == (3, 16)
    assert n_params(model) < n_params(
        models.build_model("hybridsn", n_bands=t, n_classes=5, patch_size=p, small_input="pad")
    )


def test_hybridsn_padding_is_zeros_around_the_cube():
    model = models.build_model("hybridsn_tiny", n_bands=12, n_classes=5, patch_size=7)
    padded = model._pad(torch.ones(1, 12, 7, 7))
    assert padded.shape == (1, 13, 9, 9)
    assert padded.sum() == 12 * 7 * 7 and padded[0, :12, 1:8, 1:8].eq(1).all()


@pytest.mark.parametrize(
    ("size", "needle"),
    [
        ({"n_bands": 12, "patch_size": 25}, "n_bands=12 is too few"),
        ({"n_bands": 12, "patch_size": 25}, "T must be >= 13"),
        ({"n_bands": 30, "patch_size": 8}, "patch_size=8 is too small"),
        ({"n_bands": 30, "patch_size": 8}, "P must be >= 9"),
    ],
)
def test_hybridsn_refuses_too_small_inputs_by_default(size, needle):
    with pytest.raises(HyperparameterError) as err:
        models.build_model("hybridsn", n_classes=16, **size)
    assert needle in str(err.value) and "small_input='pad'" in str(err.value)
    # the minimum follows the kernels
    models.build_model("hybridsn", n_bands=7, n_classes=3, patch_size=9, spectral_kernels=(3, 3, 3))


@pytest.mark.parametrize(
    ("hparams", "needle"),
    [
        ({"filters3d": (8, 16)}, "spectral_kernels=(7, 5, 3) must have one entry per 3-D"),
        ({"filters3d": ()}, "filters3d=() must be a non-empty tuple of positive integers"),
        ({"hidden": (256, 0)}, "hidden=(256, 0) must be a non-empty tuple of positive integers"),
        ({"filters2d": 0}, "filters2d=0 must be a positive integer"),
        ({"dropout": 1.0}, "dropout=1.0 must be a number in [0, 1)"),
        ({"small_input": "crop"}, "small_input='crop' must be one of pad, error"),
        ({"filter3d": (4, 8, 8)}, "'filter3d' (did you mean 'filters3d'?)"),
    ],
)
def test_hybridsn_invalid_hyperparameters_name_the_value(hparams, needle):
    with pytest.raises(HyperparameterError) as err:
        models.build_model("hybridsn", n_bands=30, n_classes=16, patch_size=11, **hparams)
    assert needle in str(err.value)


def test_hybridsn_search_variants_and_config_round_trip():
    model = models.build_model(
        "hybridsn",
        n_bands=30,
        n_classes=4,
        patch_size=11,
        filters3d=[4, 8],
        spectral_kernels=[5, 3],
    )
    assert model.spectral_depth == 30 - 4 - 2 and model(torch.randn(2, 30, 11, 11)).shape == (2, 4)
    cfg = HybridSNConfig.from_hparams(hidden=[64])
    assert cfg.hidden == (64,) and HybridSNConfig(**cfg.as_dict()) == cfg


def test_hybridsn_keras_default_initialisation():
    model = models.build_model("hybridsn", n_bands=30, n_classes=16, patch_size=11)
    assert all(m.bias.abs().sum() == 0 for m in [*model.conv3d, model.conv2d, *model.dense])
    w = model.dense[0].weight  # Glorot uniform: bound sqrt(6 / (fan_in + fan_out))
    assert w.abs().max() <= (6 / (576 + 256)) ** 0.5


def test_hybridsn_wrong_input_shape():
    model = models.build_model("hybridsn_tiny", n_bands=30, n_classes=3, patch_size=11)
    with pytest.raises(ValueError, match=r"built for N x 30 x 11 x 11 input"):
        model(torch.randn(1, 30, 13, 13))


# ----------------------------------------------------------------------------- SSRN


def test_ssrn_sizes_at_the_published_setting():
    torch.manual_seed(0)
    model = models.build_model("ssrn", n_bands=200, n_classes=16, patch_size=7).eval()
    assert model.cfg.depth == "resnet_8" and model.spectral_depth == 97
    x = torch.randn(2, 200, 7, 7)
    with torch.no_grad():
        h = model.stem(x.unsqueeze(1))
        assert h.shape == (2, 24, 97, 7, 7)  # 7 x 7 x 97 x 24
        h = model.spectral(h)
        assert h.shape == (2, 24, 97, 7, 7)  # 'same' residual units
        h = model.collapse(h)
        assert h.shape == (2, 128, 1, 7, 7)  # 7 x 7 x 128 x 1
        h = model.spatial_stem(h.squeeze(2))
        assert h.shape == (2, 24, 5, 5)  # 5 x 5 x 24
        assert model.spatial(h).shape == (2, 24, 5, 5)
        assert model.embed(x).shape == (2, 24) and model(x).shape == (2, 16)
    conv1 = model.stem[0]
    assert conv1.kernel_size == (7, 1, 1) and conv1.stride == (2, 1, 1)
    assert model.collapse[0].kernel_size == (97, 1, 1)
    assert model.spatial_stem[0].kernel_size == (3, 3) and model.spatial_stem[0].in_channels == 128
    assert model.dropout.p == 0.5


@pytest.mark.parametrize(
    ("t", "p", "depth"),
    [(200, 7, 97), (30, 11, 12), (103, 7, 49), (12, 7, 3), (7, 3, 1)],
)
@pytest.mark.parametrize("name", ["ssrn", "ssrn_tiny"])
def test_ssrn_shapes_at_every_setting(name, t, p, depth):
    torch.manual_seed(0)
    model = models.build_model(name, n_bands=t, n_classes=9, patch_size=p).eval()
    assert model.spectral_depth == depth
    x = torch.randn(2, t, p, p)
    with torch.no_grad():
        assert model(x).shape == (2, 9)
        assert model.embed(x).shape == (2, 24 if name == "ssrn" else 8)


def test_ssrn_both_depths_build_and_resnet_12_is_larger():
    sizes = {}
    for depth, units in (("resnet_8", 1), ("resnet_12", 2)):
        model = models.build_model("ssrn", n_bands=200, n_classes=16, patch_size=7, depth=depth)
        assert len(model.spectral) - 2 == units and len(model.spatial) - 2 == units
        assert model(torch.randn(2, 200, 7, 7)).shape == (2, 16)
        sizes[depth] = n_params(model)
    # the second unit per branch: 2 convs + 2 BN (pre-activation) in each of two branches
    per_unit_spectral = 2 * (24 * 24 * 7 + 24) + 2 * 48
    per_unit_spatial = 2 * (24 * 24 * 9 + 24) + 2 * 48
    assert sizes["resnet_12"] == sizes["resnet_8"] + per_unit_spectral + per_unit_spatial
    assert sizes["resnet_12"] > sizes["resnet_8"]


def test_ssrn_released_graph_has_the_trained_models_parameter_count():
    paper = models.build_model("ssrn", n_bands=200, n_classes=16, patch_size=7)
    released = models.build_model(
        "ssrn", n_bands=200, n_classes=16, patch_size=7, variant="released"
    )
    assert paper.cfg.variant == "paper" and n_params(paper) == 345_448
    # the authors' released Indian Pines model: 346,144 trainable parameters
    assert n_params(released) == 346_144
    # = a 1x1x1 projection (24 * 24 + 24) + a second BN (2 * 24) at the end of each branch
    assert n_params(released) - n_params(paper) == (24 * 24 + 24) + 2 * 48
    proj = released.spatial[0].shortcut
    assert (
        isinstance(proj, torch.nn.Conv2d) and proj.kernel_size == (1, 1) and proj.bias is not None
    )
    assert isinstance(released.spectral[0].shortcut, torch.nn.Identity)
    assert isinstance(paper.spatial[0].shortcut, torch.nn.Identity)
    tail = [type(m) for m in released.spatial[1:]]
    assert tail == [torch.nn.BatchNorm2d, torch.nn.ReLU] * 2
    assert [type(m) for m in released.spectral[1:]] == [torch.nn.BatchNorm3d, torch.nn.ReLU] * 2
    deep = models.build_model(
        "ssrn", n_bands=200, n_classes=16, patch_size=7, variant="released", depth="resnet_12"
    )
    assert n_params(deep) == 364_168 + 2 * (24 * 24 + 24) + 2 * 48  # a projection per unit
    x = torch.randn(2, 200, 7, 7)
    assert released(x).shape == (2, 16) and deep(x).shape == (2, 16)


def test_ssrn_paper_graph_keeps_its_weight_names():
    # saved models of the paper's graph (every SSRN before the variants) load unchanged
    model = models.build_model("ssrn_tiny", n_bands=30, n_classes=4, patch_size=11)
    names = set(model.state_dict())
    assert not [n for n in names if "shortcut" in n]
    assert "spectral.1.weight" in names and "spectral.3.weight" not in names


@pytest.mark.parametrize(
    ("size", "needle"),
    [
        ({"n_bands": 6, "patch_size": 7}, "n_bands=6 is too few"),
        ({"n_bands": 6, "patch_size": 7}, "T must be >= 7"),
        ({"n_bands": 200, "patch_size": 2}, "patch_size=2 is too small"),
        ({"n_bands": 200, "patch_size": 2}, "P must be >= 3"),
    ],
)
def test_ssrn_refuses_too_small_inputs(size, needle):
    with pytest.raises(HyperparameterError) as err:
        models.build_model("ssrn", n_classes=16, **size)
    assert needle in str(err.value)


@pytest.mark.parametrize(
    ("hparams", "needle"),
    [
        ({"depth": "resnet_18"}, "depth='resnet_18' must be one of resnet_8, resnet_12"),
        ({"filters": 0}, "filters=0 must be a positive integer"),
        ({"spectral_kernel": 6}, "spectral_kernel=6 must be odd"),
        ({"dropout": -0.1}, "dropout=-0.1 must be a number in [0, 1)"),
        ({"dept": "resnet_8"}, "'dept' (did you mean 'depth'?)"),
        ({"variant": "keras"}, "variant='keras' must be one of paper, released"),
    ],
)
def test_ssrn_invalid_hyperparameters_name_the_value(hparams, needle):
    with pytest.raises(HyperparameterError) as err:
        models.build_model("ssrn", n_bands=200, n_classes=16, patch_size=7, **hparams)
    assert needle in str(err.value)


def test_ssrn_param_groups_decay_the_convolution_kernels_only():
    model = models.build_model("ssrn", n_bands=30, n_classes=16, patch_size=11, depth="resnet_12")
    decayed, rest = model.param_groups(2e-4)
    assert decayed["weight_decay"] == 2e-4 and rest["weight_decay"] == 0.0
    all_ids = [id(p) for g in (decayed, rest) for p in g["params"]]
    assert sorted(all_ids) == sorted(id(p) for p in model.parameters())  # each exactly once
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Conv3d)]
    assert len(decayed["params"]) == len(convs) == 1 + 4 + 1 + 1 + 4
    assert all(p.ndim >= 4 for p in decayed["params"])
    torch.optim.RMSprop(model.param_groups(2e-4), lr=3e-4)  # usable as is


def test_ssrn_he_normal_initialisation():
    torch.manual_seed(0)
    model = models.build_model("ssrn", n_bands=200, n_classes=16, patch_size=7)
    w = model.collapse[0].weight  # 128 x 24 x 97 x 1 x 1, fan_in 24 * 97
    assert abs(w.std().item() / (2 / (24 * 97)) ** 0.5 - 1) < 0.05
    assert model.collapse[0].bias.abs().sum() == 0


def test_ssrn_wrong_band_count():
    model = models.build_model("ssrn_tiny", n_bands=30, n_classes=3, patch_size=11)
    assert model(torch.randn(1, 30, 7, 7)).shape == (1, 3)  # any window >= 3 is pooled
    with pytest.raises(ValueError, match=r"built for N x 30 x P x P input"):
        model(torch.randn(1, 31, 11, 11))


def test_ssrn_config_round_trip():
    cfg = SSRNConfig.from_hparams(depth="resnet_12", filters=16, variant="released")
    assert cfg.units == 2 and SSRNConfig(**cfg.as_dict()) == cfg
    assert cfg.spectral_positions(200) == 97 and cfg.spectral_positions(7) == 1


# ----------------------------------------------------------------------------- recipes


def test_hybridsn_published_recipe():
    for name in ("hybridsn", "hybridsn_tiny"):
        entry = models.get_model_entry(name)
        # the unified pipeline with the authors' whitened components (no normalisation
        # layer: it does not train on unscaled components of digital numbers)
        assert entry.recipe("unified") == UNIFIED.with_(
            whiten=True, notes=entry.recipe("unified").notes
        )
        assert entry.family == "hybridsn"
        r = entry.recipe("published")
    assert (r.patch_size, r.pad_mode, r.whiten, r.pca_fit, r.scale) == (
        25,
        "constant",
        True,
        "scene",
        "none",
    )
    assert r.components_for("indian_pines") == 30 and r.components_for("salinas") == 15
    assert r.components_for("pavia_university") == 15
    assert (r.optimizer, r.lr, r.weight_decay, r.batch_size, r.epochs) == (
        "adam",
        1e-3,
        0,
        256,
        100,
    )
    assert r.scheduler == {"name": "inverse_time", "decay": 1e-6}
    assert r.augment is False and r.select_on == "train_acc" and "30 %" in r.notes


def test_ssrn_published_recipe_builds_its_model():
    for name in ("ssrn", "ssrn_tiny"):
        entry = models.get_model_entry(name)
        # the unified pipeline, naming the paper's graph (the network it always built)
        assert entry.recipe("unified") == UNIFIED.with_(
            hparams={"variant": "paper"}, notes=entry.recipe("unified").notes
        )
        assert entry.family == "ssrn"
        r = entry.recipe("published")
    assert (r.patch_size, r.n_components, r.scale, r.pca_fit, r.whiten) == (
        7,
        None,
        "standard",
        "scene",
        False,
    )
    assert (r.optimizer, r.lr, r.weight_decay, r.batch_size, r.epochs) == (
        "rmsprop",
        3e-4,
        2e-4,
        16,
        200,
    )
    assert r.select_on == "val_loss" and r.augment is False and r.scheduler is None
    assert r.optimizer_params == {"alpha": 0.9, "eps": 1e-8} and r.model_param_groups
    model = models.build_model("ssrn", n_bands=200, n_classes=16, patch_size=7, **r.hparams)
    assert (model.cfg.depth, model.cfg.variant) == ("resnet_8", "released")
    assert n_params(model) == 346_144  # the authors' trained Indian Pines model
    assert "param_groups" in r.notes and "20 %" in r.notes and "346,144" in r.notes


def _ssrn_spec(scene, recipe):
    from harness.spec import make_spec

    return make_spec("ssrn", scene.crop_to(0, 32, 0, 32), recipe=recipe)


def test_ssrn_published_optimizer_is_keras_rmsprop_on_the_kernel_groups(ip_surrogate):
    from harness.trial.optim import make_optimizer

    spec = _ssrn_spec(ip_surrogate, "published")
    assert spec.training.optimizer_params == {"alpha": 0.9, "eps": 1e-8}
    assert spec.training.model_param_groups is True
    model = models.build_model("ssrn", n_bands=200, n_classes=16, patch_size=7, **spec.hparams)
    opt = make_optimizer(model, spec.training)
    assert isinstance(opt, torch.optim.RMSprop)
    decayed, rest = opt.param_groups
    for group in (decayed, rest):
        assert (group["lr"], group["alpha"], group["eps"]) == (3e-4, 0.9, 1e-8)
        assert group["momentum"] == 0 and group["centered"] is False
    assert (decayed["weight_decay"], rest["weight_decay"]) == (2e-4, 0.0)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Conv3d)]
    # stem, 2 spectral, collapse, spatial stem, 2 spatial and the released projection
    assert len(convs) == 8 and model.spatial[0].shortcut in convs
    assert {id(p) for p in decayed["params"]} == {id(m.weight) for m in convs}
    assert len(decayed["params"]) + len(rest["params"]) == len(list(model.parameters()))


@pytest.mark.parametrize("name", ["ssrn", "ssrn_tiny"])
def test_ssrn_unified_optimizer_decays_every_parameter_like_every_model(ip_surrogate, name):
    from harness.spec import make_spec
    from harness.trial.optim import make_optimizer

    spec = make_spec(name, ip_surrogate.crop_to(0, 32, 0, 32))
    assert spec.training.model_param_groups is False and spec.training.optimizer_params is None
    assert spec.hparams == {"variant": "paper"}
    model = models.build_model(name, n_bands=30, n_classes=16, patch_size=11, **spec.hparams)
    opt = make_optimizer(model, spec.training)
    assert isinstance(opt, torch.optim.AdamW) and len(opt.param_groups) == 1
    group = opt.param_groups[0]
    assert (group["lr"], group["weight_decay"]) == (1e-4, 1e-2)
    assert len(group["params"]) == len(list(model.parameters()))


def test_model_param_groups_needs_a_model_that_defines_them():
    from harness.spec import TrainingConfig
    from harness.trial.errors import TrialError
    from harness.trial.optim import make_optimizer

    model = models.build_model("hybridsn_tiny", n_bands=30, n_classes=3, patch_size=11)
    with pytest.raises(TrialError, match="defines no parameter groups"):
        make_optimizer(model, TrainingConfig(model_param_groups=True))


def test_torch_rmsprop_with_alpha_and_eps_is_keras_rmsprop():
    # standalone Keras 2: a = rho * a + (1 - rho) * g^2 (a from 0); w -= lr * g / (sqrt(a) + eps)
    torch.manual_seed(0)
    w = torch.randn(50, dtype=torch.float64, requires_grad=True)
    grads = [torch.randn(50, dtype=torch.float64) * 10 ** (-k) for k in range(6)]
    opt = torch.optim.RMSprop([w], lr=3e-4, alpha=0.9, eps=1e-8)
    ref = w.detach().clone()
    acc = torch.zeros_like(ref)
    for g in grads:
        w.grad = g.clone()
        opt.step()
        acc = 0.9 * acc + 0.1 * g**2
        ref = ref - 3e-4 * g / (acc.sqrt() + 1e-8)
    torch.testing.assert_close(w.detach(), ref, rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------------------------- behaviour


@pytest.mark.parametrize("name", ["hybridsn", "hybridsn_tiny", "ssrn", "ssrn_tiny"])
def test_eval_mode_is_deterministic_and_batch_independent(name):
    torch.manual_seed(0)
    t, p = (30, 11)
    model = models.build_model(name, n_bands=t, n_classes=16, patch_size=p)
    model.train()
    model(torch.randn(8, t, p, p))  # move the BN running statistics off their start
    model.eval()
    x = torch.randn(5, t, p, p) * 3
    with torch.no_grad():
        a, b = model(x), model(x)
        one = model(x[:1])
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert torch.isfinite(a).all()
    torch.testing.assert_close(one, a[:1], rtol=1e-5, atol=1e-5)


def test_gradients_reach_every_parameter_at_the_published_settings():
    torch.manual_seed(0)
    for name, t, p in (("hybridsn", 15, 25), ("ssrn", 200, 7)):
        model = models.build_model(name, n_bands=t, n_classes=16, patch_size=p)
        model(torch.randn(2, t, p, p)).logsumexp(dim=1).sum().backward()
        assert not [n for n, q in model.named_parameters() if q.grad is None], name
