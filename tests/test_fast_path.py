"""The fast-path switches: recorded and hashed, and the same mathematics as the plain path."""

from __future__ import annotations

import json
import warnings
from types import SimpleNamespace

import pytest
import torch

import datasets
import models
from harness.spec import FAST_PATH_DEFAULTS, TrainingConfig, TrialSpec, make_spec
from harness.trial.device import fast_forward
from harness.trial.flow import run_trial

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_TORCH = ("claresnet_tiny", "hybridsn_tiny", "ssrn_tiny", "spectralformer_tiny")


def _cfg(**changes):
    return TrainingConfig(**changes)


def test_switches_at_default_keep_the_old_hash_and_change_it_when_on(ip_surrogate):
    spec = make_spec("ssrn_tiny", ip_surrogate.crop_to(0, 32, 0, 32), seed=0)
    canonical = spec.canonical()["training"]
    assert not set(FAST_PATH_DEFAULTS) & set(canonical)  # left out at their defaults
    hashes = {spec.spec_hash}
    for name in FAST_PATH_DEFAULTS:
        on = spec.with_(training=TrainingConfig(**{**spec.training.__dict__, name: True}))
        assert on.canonical()["training"][name] is True
        hashes.add(on.spec_hash)
    assert len(hashes) == 1 + len(FAST_PATH_DEFAULTS)
    # a spec stored before the switches existed reads back with them off, same hash
    old = json.loads(spec.to_json())
    for name in FAST_PATH_DEFAULTS:
        del old["training"][name]
    back = TrialSpec.from_json(json.dumps(old))
    assert back == spec and back.spec_hash == spec.spec_hash


@pytest.mark.parametrize("name", TINY_TORCH)
def test_channels_last_gives_the_same_logits(name):
    torch.manual_seed(0)
    plain = models.build_model(name, n_bands=12, n_classes=5, patch_size=7).eval()
    fast = models.build_model(name, n_bands=12, n_classes=5, patch_size=7).eval()
    fast.load_state_dict(plain.state_dict())
    forward, applied = fast_forward(fast, _cfg(channels_last=True), torch.device("cpu"))
    assert applied["channels_last"] and not applied["compiled"]
    x = torch.randn(6, 12, 7, 7)
    with torch.no_grad():
        torch.testing.assert_close(forward(x), plain(x), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_compiled_model_gives_the_same_logits_and_gradients():
    torch.manual_seed(0)
    plain = models.build_model("ssrn_tiny", n_bands=8, n_classes=4, patch_size=7).eval()
    fast = models.build_model("ssrn_tiny", n_bands=8, n_classes=4, patch_size=7).eval()
    fast.load_state_dict(plain.state_dict())
    forward, applied = fast_forward(fast, _cfg(compile=True), torch.device("cpu"))
    assert applied["compiled"] and forward is not fast
    x = torch.randn(4, 8, 7, 7)
    with torch.no_grad():
        torch.testing.assert_close(forward(x), plain(x), rtol=1e-4, atol=1e-5)
    # parameters are shared: the optimizer and state_dict keep using the plain module
    assert {k for k in fast.state_dict()} == {k for k in plain.state_dict()}


def test_fused_optimizer_only_on_cuda():
    net = models.build_model("ssrn_tiny", n_bands=8, n_classes=4, patch_size=7)
    cfg = _cfg(fused_optimizer=True)
    _, applied = fast_forward(net, cfg, torch.device("cpu"))
    assert applied["fused_optimizer"] is False  # recorded as not applied on the CPU
    _, applied = fast_forward(net, cfg, SimpleNamespace(type="cuda"))
    assert applied["fused_optimizer"] is True


def test_a_short_run_learns_the_same_with_channels_last(shared_data):
    """Same spec but the switch: the same training within float noise (the test
    accuracies of two 3-epoch runs of hybridsn_tiny agree to a few points)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SurrogateWarning)
        scene = datasets.load_scene("indian_pines", source="surrogate", data_dir=shared_data)
    crop = scene.crop_to(28, 60, 68, 100)
    training = {"epochs": 3, "batch_size": 32, "lr": 1e-3}
    plain = make_spec("hybridsn_tiny", crop, seed=2, max_train_per_class=15, training=training)
    fast = make_spec(
        "hybridsn_tiny",
        crop,
        seed=2,
        max_train_per_class=15,
        training={**training, "channels_last": True},
    )
    a, b = run_trial(plain), run_trial(fast)
    assert b.info["fast_path"]["channels_last"] and not a.info["fast_path"]["channels_last"]
    assert abs(a.metrics["test"]["oa"] - b.metrics["test"]["oa"]) <= 0.05
    assert a.curves["train_loss"] == pytest.approx(b.curves["train_loss"], rel=1e-3)


def test_cli_fast_path_switches_reach_the_deep_specs(shared_data, tmp_path, capsys):
    from harness import run as run_cli
    from harness import run_flags
    from harness.suites import SuiteOptions, get_suite

    args = run_flags.parser().parse_args(
        ["--suite", "smoke", "--fast-path", "channels_last", "compile", "--amp", "bf16"]
    )
    cfg = run_flags.config_from_args(args)
    assert dict(cfg.training) == {"channels_last": True, "compile": True, "amp": "bf16"}
    specs = get_suite("smoke").build(SuiteOptions(training=cfg.training))
    for spec in specs:
        deep = models.get_model_entry(spec.model).kind == "torch"
        assert spec.training.channels_last is deep and spec.training.compile is deep
        assert spec.training.amp == ("bf16" if deep else None)
    code = run_cli.main(["--suite", "smoke", "--fast-path", "turbo", "--db", str(tmp_path / "r")])
    assert code == run_cli.EXIT_USAGE
    assert "--fast-path 'turbo' is not a switch" in capsys.readouterr().err


@pytest.mark.parametrize("name", TINY_TORCH)
def test_bf16_autocast_on_the_cpu_stays_close_to_float32(name):
    """bf16 keeps 8 bits of mantissa: the logits agree to about a per cent of their scale."""
    torch.manual_seed(0)
    net = models.build_model(name, n_bands=12, n_classes=5, patch_size=7).eval()
    x = torch.randn(6, 12, 7, 7)
    with torch.no_grad():
        plain = net(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = net(x).float()
    scale = plain.abs().max()
    assert (low - plain).abs().max() <= 0.05 * scale
    assert not torch.equal(low, plain)  # it did run in bf16


def test_cuda_graphs_and_backend_flags_only_on_cuda():
    from harness.trial.device import backend_flags

    net = models.build_model("ssrn_tiny", n_bands=8, n_classes=4, patch_size=7)
    cfg = _cfg(cuda_graphs=True, tf32=True, cudnn_benchmark=True)
    forward, applied = fast_forward(net, cfg, torch.device("cpu"))
    assert forward is net and not applied["cuda_graphs"] and not applied["compiled"]
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark)
    with backend_flags(cfg, torch.device("cpu")) as flags:
        assert flags == {"tf32": False, "cudnn_benchmark": False}
        assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark) == saved
    # on CUDA: set for the trial and restored after it, also when the trial fails
    cuda = SimpleNamespace(type="cuda")
    with pytest.raises(RuntimeError, match="inside"), backend_flags(cfg, cuda) as flags:
        assert flags == {"tf32": True, "cudnn_benchmark": True}
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.benchmark
        raise RuntimeError("inside")
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.benchmark) == saved
    forward, applied = fast_forward(net, cfg, cuda)  # torch.compile is lazy: nothing runs yet
    assert applied["cuda_graphs"] and applied["compiled"] and forward is not net


def test_a_short_run_learns_the_same_in_bf16_on_the_cpu(shared_data):
    """``amp="bf16"`` runs CPU autocast (recorded in info) and trains to the same
    accuracy within noise; fp16 has no CPU autocast here and is recorded as not run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.SurrogateWarning)
        scene = datasets.load_scene("indian_pines", source="surrogate", data_dir=shared_data)
    crop = scene.crop_to(28, 60, 68, 100)
    training = {"epochs": 3, "batch_size": 32, "lr": 1e-3}

    def spec(**extra):
        return make_spec(
            "hybridsn_tiny", crop, seed=2, max_train_per_class=15, training={**training, **extra}
        )

    plain, low, half = run_trial(spec()), run_trial(spec(amp="bf16")), run_trial(spec(amp="fp16"))
    assert plain.info["amp"] is None and low.info["amp"] == "bf16" and half.info["amp"] is None
    assert abs(plain.metrics["test"]["oa"] - low.metrics["test"]["oa"]) <= 0.1
    assert low.curves["train_loss"] != plain.curves["train_loss"]  # bf16 did change the sums
    assert low.curves["train_loss"] == pytest.approx(plain.curves["train_loss"], rel=0.05)
    assert half.curves["train_loss"] == plain.curves["train_loss"]  # fp16: float32 on the CPU


def test_cli_help_names_every_fast_path_switch(capsys):
    from harness.run import main

    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for switch in FAST_PATH_DEFAULTS:
        assert switch in help_text, switch
