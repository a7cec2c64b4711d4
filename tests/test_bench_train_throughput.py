"""``bench/train_throughput.py``: its variants, its refusals and one tiny real run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tt():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import train_throughput

        yield train_throughput
    finally:
        sys.path.remove(str(ROOT / "bench"))


def test_variants_set_the_trial_switches(tt):
    from harness.spec import TrainingConfig

    cfg = tt.variant_training("bf16+cuda_graphs+fused", TrainingConfig(lr=3e-3))
    assert (cfg.amp, cfg.cuda_graphs, cfg.fused_optimizer, cfg.lr) == ("bf16", True, True, 3e-3)
    assert not cfg.compile and not cfg.channels_last
    with pytest.raises(ValueError, match="unknown switch 'bogus'"):
        tt.variant_training("bf16+bogus", TrainingConfig())


@pytest.mark.parametrize(
    ("variant", "message"),
    [("cuda_graphs", "apply on CUDA only"), ("bf16+tf32", "apply on CUDA only"), ("x", "bogus|x")],
)
def test_refuses_variants_that_cannot_run_here(tt, variant, message, capsys):
    with pytest.raises(SystemExit) as exc:
        tt.main(["--models", "hybridsn", "--variants", variant])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"variant {variant!r}" in err or "unknown switch" in err
    assert any(m in err for m in message.split("|"))


@pytest.mark.usefixtures("one_thread")
def test_a_tiny_run_prints_the_rates_and_the_profile(tt, capsys):
    tt.main(
        [
            "--models",
            "ssrn",
            "--steps",
            "1",
            "--repeats",
            "1",
            "--window-s",
            "0.01",
            "--variants",
            "bf16",
            "--profile",
            "ssrn",
        ]
    )
    out = capsys.readouterr().out
    assert "| ssrn | 30 | 11 | 16 | 1 |" in out  # the main table, one step per window
    assert "| ssrn | `bf16` |" in out  # the variant's row
    assert "Profile of `ssrn, harness`" in out and "Profile of `ssrn, bf16`" in out
    assert "| convolutions |" in out
