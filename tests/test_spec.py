"""Trial specs: canonical form and hash."""

from __future__ import annotations

import warnings

import pytest

import datasets
from harness.spec import (
    ADDED_FIELD_DEFAULTS,
    PROTOCOL_VERSION,
    SpecError,
    TrainingConfig,
    TrialSpec,
    make_spec,
)


def fixed_spec(**changes) -> TrialSpec:
    base = TrialSpec(
        model="claresnet",
        recipe="unified",
        hparams={"dilations": (1, 2, 3, 4)},
        scene="indian_pines",
        source="real",
        scene_fingerprint="0" * 64,
        protocol="paper",
        protocol_params={"test": 0.2, "val": 0.1},
        seed=3,
        n_components=30,
        pca_fit="scene",
        scale="none",
        whiten=False,
        patch_size=11,
        pad_mode="reflect",
        training=TrainingConfig(),
    )
    return base.with_(**changes)


def test_hash_is_stable_across_machines_and_versions():
    # a literal: the canonical form must not drift silently (bump PROTOCOL_VERSION instead)
    assert PROTOCOL_VERSION == 1
    assert (
        fixed_spec().spec_hash == "295597ad73bae2ab5e29723a7ab929ce594d21a8cdd4d6521fba5697e4acf4b7"
    )


@pytest.mark.parametrize(
    "change",
    [
        {"seed": 4},
        {"model": "hybridsn"},
        {"recipe": "published"},
        {"hparams": {"dilations": (1, 2, 4, 8)}},
        {"scene_fingerprint": "1" * 64},
        {"source": "surrogate"},
        {"protocol_params": {"test": 0.3, "val": 0.1}},
        {"n_components": 15},
        {"pca_fit": "train"},
        {"patch_size": 9},
        {"training": TrainingConfig(epochs=39)},
        {"training": TrainingConfig(lr=2e-4)},
        {"training": TrainingConfig(optimizer_params={"betas": (0.9, 0.98)})},
        {"training": TrainingConfig(model_param_groups=True)},
        {"crop": (0, 10, 0, 10)},
        {"max_train_per_class": 5},
        {"protocol_version": 2},
    ],
)
def test_every_number_changing_field_changes_the_hash(change):
    assert fixed_spec(**change).spec_hash != fixed_spec().spec_hash


def test_added_training_fields_at_their_defaults_are_left_out_of_the_hash():
    canonical = fixed_spec().canonical()["training"]
    assert not set(ADDED_FIELD_DEFAULTS) & set(canonical)
    on = fixed_spec(training=TrainingConfig(optimizer_params={"eps": 1e-8}))
    assert on.canonical()["training"]["optimizer_params"] == {"eps": 1e-8}
    back = TrialSpec.from_json(on.to_json())
    assert back == on and back.spec_hash == on.spec_hash


BLOCK_CV = {"k": 5, "fold": 0, "patch_size": 11, "block_size": 16, "val": 0.1}


def test_a_fold_is_its_own_trial_but_shares_the_configuration():
    """The k folds x seeds of one block_cv configuration: one spec hash each, one config
    hash (so one leaderboard row); k, like any other parameter, changes both."""
    folds = [
        fixed_spec(protocol="block_cv", protocol_params={**BLOCK_CV, "fold": f}) for f in range(5)
    ]
    assert len({s.spec_hash for s in folds}) == 5
    assert len({s.config_hash for s in folds}) == 1
    assert folds[0].with_(seed=4).config_hash == folds[3].config_hash
    assert folds[0].canonical()["protocol_params"]["fold"] == 0  # hashed, not dropped
    other_k = fixed_spec(protocol="block_cv", protocol_params={**BLOCK_CV, "k": 4})
    assert other_k.config_hash != folds[0].config_hash
    assert fixed_spec().config_hash != folds[0].config_hash  # another protocol


def test_config_hash_of_other_protocols_is_unchanged():
    # literals from before block_cv existed: a "fold" parameter is dropped for block_cv only
    assert (
        fixed_spec().config_hash
        == "bc2158c1b5dd47214adb3f151814c6157ae824bc0b4cf4241d12fa620df827ac"
    )
    disjoint = fixed_spec(
        protocol="disjoint",
        protocol_params={"patch_size": 11, "block_size": 16, "train": 0.72, "val": 0.08},
    )
    assert disjoint.config_hash == (
        "6e891b89b6e45dcdaa26c2e8dde1a9d8d06b8752f7e56f9966729afd8738b2b9"
    )


def test_study_is_stored_but_not_hashed():
    tagged = fixed_spec(study="latent-search")
    assert tagged.spec_hash == fixed_spec().spec_hash
    assert TrialSpec.from_json(tagged.to_json()).study == "latent-search"


def test_json_round_trip_keeps_identity():
    spec = fixed_spec(crop=(1, 5, 2, 9))
    back = TrialSpec.from_json(spec.to_json())
    assert back == spec and back.spec_hash == spec.spec_hash


def test_tuples_and_lists_hash_alike():
    assert fixed_spec(hparams={"dilations": [1, 2, 3, 4]}).spec_hash == fixed_spec().spec_hash


def test_non_finite_numbers_are_refused():
    with pytest.raises(SpecError, match="non-finite"):
        _ = fixed_spec(training=TrainingConfig(lr=float("nan"))).spec_hash


@pytest.fixture(scope="module")
def crop(shared_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SurrogateWarning)
        return datasets.load_scene(
            "indian_pines", source="surrogate", data_dir=shared_data
        ).crop_to(0, 40, 0, 40)


def test_make_spec_resolves_the_recipe(crop):
    spec = make_spec("hybridsn", crop, recipe="published", seed=2)
    assert (spec.patch_size, spec.pad_mode, spec.whiten, spec.n_components) == (
        25,
        "constant",
        True,
        30,
    )
    assert spec.training.batch_size == 256 and spec.training.select_on == "train_acc"
    assert spec.scene_fingerprint == crop.fingerprint and spec.crop == (0, 40, 0, 40)
    unified = make_spec("hybridsn", crop, seed=2)
    assert unified.patch_size == 11 and unified.spec_hash != spec.spec_hash
    disjoint = make_spec("ssrn", crop, recipe="published", protocol="disjoint")
    assert disjoint.protocol_params["patch_size"] == 7  # the buffer follows the model's window
    cv = make_spec(
        "ssrn", crop, recipe="published", protocol="block_cv", protocol_params={"fold": 2}
    )
    assert cv.protocol_params == {**BLOCK_CV, "fold": 2, "patch_size": 7}


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"training": {"epoch": 3}}, "unknown training field(s) ['epoch']"),
        ({"seed": -1}, "seed=-1 must be a non-negative integer"),
        ({"protocol_params": {"block": 4}}, "has no parameter(s) ['block']"),
        ({"pca_fit": "test"}, "pca_fit='test' must be 'scene' or 'train'"),
        ({"max_train_per_class": 0}, "max_train_per_class=0 must be a positive integer"),
        (
            {"training": {"optimizer_params": {"alpha": 0.9}}},
            "optimizer_params ['alpha'] do not apply to 'adamw'",
        ),
        ({"training": {"optimizer_params": [0.9]}}, "must be a mapping"),
    ],
)
def test_make_spec_errors(crop, kwargs, needle):
    with pytest.raises(SpecError) as err:
        make_spec("claresnet_tiny", crop, **kwargs)
    assert needle in str(err.value)


def test_added_training_fields_stay_out_of_the_other_recipes_specs(crop):
    # only SSRN's published recipe sets the authors' optimizer settings; every other
    # spec keeps the canonical form (and so the hash) it had before they existed
    for model in ("claresnet", "hybridsn", "ssrn", "spectralformer", "random_forest", "xgboost"):
        for recipe in ("unified", "published"):
            training = make_spec(model, crop, recipe=recipe).canonical()["training"]
            if (model, recipe) != ("ssrn", "published"):
                assert not set(ADDED_FIELD_DEFAULTS) & set(training), (model, recipe)


def test_ssrn_specs_have_a_new_identity(crop):
    # SSRN's unified trials now decay every parameter (before: its convolution kernels
    # only, through its parameter groups), so their specs must not hash as the stored
    # ones: the recipe names the graph it builds
    spec = make_spec("ssrn", crop, seed=1)
    assert spec.hparams == {"variant": "paper"} and spec.training.model_param_groups is False
    before = spec.with_(hparams={})  # the spec the same call made before
    assert spec.spec_hash != before.spec_hash
    published = make_spec("ssrn", crop, recipe="published", seed=1)
    assert published.canonical()["training"]["optimizer_params"] == {"alpha": 0.9, "eps": 1e-8}
    assert published.canonical()["training"]["model_param_groups"] is True
    assert published.hparams == {"depth": "resnet_8", "variant": "released"}


def test_make_spec_refuses_a_fold_outside_the_folds(crop):
    """Before any trial runs: the fold must be one of the k folds."""
    with pytest.raises(datasets.ProtocolError, match=r"fold=5 must be an integer from 0 to 4"):
        make_spec("claresnet_tiny", crop, protocol="block_cv", protocol_params={"fold": 5})
    with pytest.raises(datasets.ProtocolError, match=r"Fix: pass a fold in 0\.\.2"):
        make_spec("claresnet_tiny", crop, protocol="block_cv", protocol_params={"k": 3, "fold": 3})
