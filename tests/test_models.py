"""One parametrised test over every registered model, and the registry itself."""

from __future__ import annotations

import pytest
import torch

import models
from models import HyperparameterError, UnknownModelError

# large enough for every architecture's valid convolutions (HybridSN needs T >= 13, P >= 9)
T_TEST, P_TEST = 16, 11


def tiny_input(
    entry: models.ModelEntry, n: int = 3, t: int = T_TEST, p: int = P_TEST
) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if entry.input == "spectrum":
        return torch.randn(n, t, generator=g)
    return torch.randn(n, t, p, p, generator=g)


TORCH_MODELS = [n for n in models.list_models() if models.get_model_entry(n).kind == "torch"]
SKLEARN_MODELS = [n for n in models.list_models() if models.get_model_entry(n).kind == "sklearn"]


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_every_model_builds_runs_and_backpropagates(name):
    entry = models.get_model_entry(name)
    torch.manual_seed(0)
    model = models.build_model(name, n_bands=T_TEST, n_classes=5, patch_size=P_TEST)
    x = tiny_input(entry)
    model.train()
    logits = model(x)
    assert logits.shape == (3, 5) and torch.isfinite(logits).all()
    logits.sum().backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad[:5]}"
    model.eval()
    with torch.no_grad():
        feats = model.embed(x)
    assert feats.ndim == 2 and feats.shape[0] == 3 and torch.isfinite(feats).all()


def test_registry_lists_and_describes_models():
    names = models.list_models()
    assert "claresnet" in names and "claresnet_tiny" in names
    assert "claresnet_tiny" not in models.list_models(include_tiny=False)
    entry = models.get_model_entry("claresnet")
    assert entry.input == "patch" and entry.patch_size == 11 and entry.n_components == 30
    assert models.get_model_entry("claresnet_tiny").family == "claresnet"
    assert entry.description.startswith("CLAReSNet")


def test_unknown_model_suggests_names():
    with pytest.raises(UnknownModelError) as err:
        models.build_model("claresnett", n_bands=30, n_classes=16)
    assert "Did you mean 'claresnet'" in str(err.value) and "Available:" in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"n_bands": 0}, "n_bands=0 must be a positive integer"),
        ({"n_classes": 1}, "n_classes=1 must be at least 2"),
        ({"patch_size": -3}, "patch_size=-3 must be a positive integer"),
    ],
)
def test_build_model_checks_sizes(kwargs, needle):
    args = {"n_bands": 30, "n_classes": 16, "patch_size": 11, **kwargs}
    with pytest.raises(HyperparameterError, match=needle):
        models.build_model("claresnet_tiny", **args)


TINY_TORCH_MODELS = [n for n in TORCH_MODELS if models.get_model_entry(n).tiny]


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("name", TINY_TORCH_MODELS)
def test_every_tiny_model_overfits_a_few_dozen_samples(name):
    torch.manual_seed(0)
    n, t, p, c = 32, 12, 7, 4
    x = torch.randn(n, t, p, p)
    y = torch.arange(n) % c
    x += y.float()[:, None, None, None] * 0.5  # learnable but not trivial
    model = models.build_model(name, n_bands=t, n_classes=c, patch_size=p)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.eval()
    with torch.no_grad():
        first = loss_fn(model(x), y).item()
    model.train()
    for _ in range(60):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        final = loss_fn(model(x), y).item()
        acc = (model(x).argmax(1) == y).float().mean().item()
    assert final < 0.3 * first and acc > 0.9, (first, final, acc)


@pytest.mark.parametrize("name", SKLEARN_MODELS)
def test_every_tree_model_fits_and_predicts_probabilities(name):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 12, generator=g).numpy()
    y = (torch.arange(60) % 5).numpy()
    x[:, 0] += y  # learnable
    model = models.build_model(name, n_bands=12, n_classes=6, patch_size=1)
    model.fit(x[:40], y[:40], x[40:], y[40:])
    proba = model.predict_proba(x)
    assert proba.shape == (60, 6)  # every class has a column, even one absent from training
    assert abs(proba.sum(axis=1) - 1).max() < 1e-6 and (proba[:, 5] == 0).all()


@pytest.mark.parametrize("name", models.list_models())
def test_every_model_has_both_recipes(name):
    entry = models.get_model_entry(name)
    for recipe in ("unified", "published"):
        r = entry.recipe(recipe)
        assert r.name == recipe and r.epochs >= 1 and r.batch_size >= 1
    unified = entry.recipe("unified")
    # the CLAReSNet paper's pipeline; claresnet_lite is the one model whose name says
    # its input is lighter (15 components, 7 x 7 windows)
    window = (7, 15) if name == "claresnet_lite" else (11, 30)
    if entry.kind == "torch":
        assert (
            unified.patch_size,
            unified.n_components,
            unified.lr,
            unified.batch_size,
            unified.epochs,
        ) == (*window, 1e-4, 16, 40)
