"""The model registry: one factory per architecture variant, looked up by name.

A factory is registered with :func:`register_model` and built with
:func:`build_model`. Each entry carries what the harness needs to feed the model
(its input kind, default patch size and spectral preprocessing) so that a trial
can be planned before the model exists.

    @register_model("claresnet", input="patch", patch_size=11, n_components=30)
    def claresnet(n_bands, n_classes, patch_size, **hparams) -> nn.Module: ...

    model = build_model("claresnet", n_bands=30, n_classes=16, patch_size=11)
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .recipes import RECIPE_NAMES, Recipe


class UnknownModelError(KeyError):
    """A model name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class HyperparameterError(ValueError):
    """A hyperparameter outside its allowed values (the message names both)."""


@dataclass(frozen=True)
class ModelEntry:
    """A registered model variant.

    Attributes:
        name: registry name.
        factory: ``factory(n_bands, n_classes, patch_size, **hparams)`` -> model.
        input: "patch" (N x T x P x P cubes) or "spectrum" (N x T centre-pixel vectors).
        patch_size: default spatial window P (1 for spectral models).
        n_components: default PCA components; None means raw bands.
        family: the architecture (variants of one architecture share it).
        tiny: True for the small variants used by fast tests and the smoke suite.
        description: one line.
        kind: "torch" (an ``nn.Module`` with ``forward`` and ``embed``) or "sklearn"
            (an estimator with ``fit`` and ``predict_proba``).
        recipes: the "unified" and "published" recipes.
    """

    name: str
    factory: Callable[..., Any]
    input: Literal["patch", "spectrum"]
    patch_size: int
    n_components: int | None
    family: str
    tiny: bool
    description: str
    kind: Literal["torch", "sklearn"]
    recipes: dict[str, Recipe]

    def recipe(self, name: str) -> Recipe:
        """The recipe called ``name`` ("unified" or "published")."""
        if name not in self.recipes:
            raise HyperparameterError(
                f"recipe={name!r} is not one of {', '.join(RECIPE_NAMES)} (model '{self.name}')."
            )
        return self.recipes[name]


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    *,
    input: Literal["patch", "spectrum"],
    patch_size: int,
    n_components: int | None,
    family: str | None = None,
    tiny: bool = False,
    kind: Literal["torch", "sklearn"] = "torch",
    recipes: dict[str, Recipe] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering a model factory under ``name``.

    ``recipes`` maps "unified" and "published" to :class:`Recipe`; missing ones
    default to the unified recipe with this model's patch size and components.
    """
    if input not in ("patch", "spectrum"):
        raise ValueError(f"input={input!r} must be 'patch' or 'spectrum'")
    if kind not in ("torch", "sklearn"):
        raise ValueError(f"kind={kind!r} must be 'torch' or 'sklearn'")
    from .recipes import UNIFIED

    default = UNIFIED.with_(patch_size=patch_size, n_components=n_components)
    book = {"unified": default, "published": default.with_(name="published")}
    book.update(recipes or {})
    if set(book) != set(RECIPE_NAMES):
        raise ValueError(f"recipes of {name!r} must be exactly {RECIPE_NAMES}, got {sorted(book)}")

    def wrap(factory: Callable[..., Any]) -> Callable[..., Any]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        doc = (factory.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = ModelEntry(
            name=name,
            factory=factory,
            input=input,
            patch_size=patch_size,
            n_components=n_components,
            family=family or name,
            tiny=tiny,
            description=doc[0] if doc else "",
            kind=kind,
            recipes=book,
        )
        return factory

    return wrap


_INFRASTRUCTURE = {"registry", "recipes"}
_loaded = False


def _ensure_loaded() -> None:
    """Import every architecture module of the package once (importing registers them)."""
    global _loaded
    if _loaded:
        return
    import importlib
    import pkgutil

    from . import __path__ as package_path

    for info in pkgutil.iter_modules(package_path):
        if info.name not in _INFRASTRUCTURE and not info.name.startswith("_"):
            importlib.import_module(f"{__package__}.{info.name}")
    _loaded = True


def list_models(include_tiny: bool = True) -> list[str]:
    """Names of the registered models (tiny variants included unless told otherwise)."""
    _ensure_loaded()
    return sorted(n for n, e in _REGISTRY.items() if include_tiny or not e.tiny)


def get_model_entry(name: str) -> ModelEntry:
    """The registry entry of ``name``.

    Raises:
        UnknownModelError: with close matches and the list of available models.
    """
    _ensure_loaded()
    if name in _REGISTRY:
        return _REGISTRY[name]
    available = sorted(_REGISTRY)
    close = difflib.get_close_matches(str(name), available, n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownModelError(f"Unknown model {name!r}.{hint} Available: {', '.join(available)}.")


def build_model(
    name: str, n_bands: int, n_classes: int, patch_size: int | None = None, **hparams: Any
) -> Any:
    """Build a registered model.

    Args:
        name: registry name (see :func:`list_models`).
        n_bands: spectral length T of the input (e.g. PCA components).
        n_classes: number of classes C.
        patch_size: spatial window P; the model's default when None.
        **hparams: the architecture's hyperparameters (validated by the factory).

    Raises:
        UnknownModelError: unknown name.
        HyperparameterError: invalid sizes or hyperparameters (names the value and range).
    """
    entry = get_model_entry(name)
    for label, value in (("n_bands", n_bands), ("n_classes", n_classes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise HyperparameterError(f"{label}={value!r} must be a positive integer.")
    if n_classes < 2:
        raise HyperparameterError(f"n_classes={n_classes!r} must be at least 2.")
    p = entry.patch_size if patch_size is None else patch_size
    if isinstance(p, bool) or not isinstance(p, int) or p < 1:
        raise HyperparameterError(f"patch_size={p!r} must be a positive integer.")
    return entry.factory(n_bands=n_bands, n_classes=n_classes, patch_size=p, **hparams)
