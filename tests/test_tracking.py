"""``--track mlflow``: each trial mirrored to MLflow, read back with MLflow's own client.

One real run (the session Ray, ``run_specs`` as ``python -m harness.run`` calls it)
of two smoke trials, Random Forest and CLAReSNet with 2 epochs, plus a trial that
fails at every attempt (Tune retries it once), into a local MLflow file store in the
test's tmp dir; then the MLflow store is compared with the results database, the
source of truth. The other tests need neither Ray nor training.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from harness import run as run_cli
from harness import run_flags
from harness.metrics import one_class_note
from harness.store import ResultStore

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("random_forest_tiny", "claresnet_tiny")
EPOCHS = 2


@pytest.fixture
def mlflow_file_store(monkeypatch, tmp_path):
    """A local MLflow file store in ``tmp_path`` (MLflow 3 keeps its file store behind
    ``MLFLOW_ALLOW_FILE_STORE``; set here so that nothing leaks to other tests)."""
    import mlflow

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    before = mlflow.get_tracking_uri()
    yield f"file://{tmp_path / 'mlruns'}"
    mlflow.set_tracking_uri(before)  # Ray's callback sets the process-wide URI


@pytest.fixture
def tracked_run(ray_session, shared_data, mlflow_file_store, tmp_path):
    from harness.execute.context import run_specs
    from harness.execute.options import RunOptions
    from harness.suites import SuiteOptions, get_suite

    specs = get_suite("smoke").build(
        SuiteOptions(data_dir=str(shared_data), models=MODELS, epochs=EPOCHS)
    )
    assert sorted(s.model for s in specs) == sorted(MODELS)
    deep = next(s for s in specs if s.model == "claresnet_tiny")
    bad = deep.with_(hparams={"emb_dim": 30})  # refused when the model is built
    db = tmp_path / "results.db"
    options = RunOptions(
        db=str(db),
        command="pytest tracking",
        suite="smoke",
        data_dir=str(shared_data),
        storage_path=str(tmp_path / "tune"),
        max_failures=1,
        track="mlflow",
        tracking_uri=mlflow_file_store,
    )
    summary = run_specs([*specs, bad], options, out=None)
    return db, summary, specs, bad, mlflow_file_store


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_each_trial_is_mirrored_to_mlflow(tracked_run, tmp_path):
    from mlflow.tracking import MlflowClient

    db, summary, specs, bad, uri = tracked_run
    assert set(summary.completed) == {s.spec_hash for s in specs}
    assert set(summary.failed) == {bad.spec_hash}

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("hsi-smoke")  # the default: hsi-SUITE
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    with ResultStore(db, readonly=True) as store:
        rows = store.trials()
        # one MLflow run per stored trial: two completed, two failed attempts
        assert len(runs) == len(rows) == 4
        by_trial = {int(r.data.tags["hsi.trial_id"]): r for r in runs}
        assert set(by_trial) == {row["id"] for row in rows}
        for row in rows:
            run = by_trial[row["id"]]
            spec = next(s for s in [*specs, bad] if s.spec_hash == row["spec_hash"])
            params, tags = run.data.params, run.data.tags
            assert run.info.run_name == (
                f"{spec.model}-{spec.scene}-s{spec.seed}-{spec.spec_hash[:8]}"
            )
            assert tags["hsi.spec_hash"] == spec.spec_hash
            assert tags["hsi.db"] == str(db) and tags["hsi.run_id"] == str(summary.run_id)
            assert tags["hsi.attempt"] == str(row["attempt"])
            # the spec, flattened into short strings; not the Tune config
            assert params["model"] == spec.model and params["scene"] == spec.scene
            assert params["seed"] == str(spec.seed) and params["spec_hash"] == spec.spec_hash
            assert params["protocol"] == spec.protocol
            assert params["training.epochs"] == str(spec.training.epochs)
            assert params["training.lr"] == str(spec.training.lr)
            assert not {"spec", "resources", "writer", "config"} & set(params)
            assert not any(k.startswith(("resources.", "resources/", "config/")) for k in params)
            assert all(len(v) <= 500 for v in params.values())
            if row["status"] == "failed":
                assert run.info.status == "FAILED" and tags["hsi.status"] == "failed"
                assert "emb_dim=30" in tags["hsi.error"] and row["error"] == tags["hsi.error"]
                assert params["hparams.emb_dim"] == "30"
                continue

            assert row["status"] == "completed" and run.info.status == "FINISHED"
            assert tags["hsi.status"] == "completed"
            trial = store.trial(row["id"])
            # the final metrics are the database's
            for split in ("test", "val"):
                for name, value in trial["metrics"][split].items():
                    if value is not None:
                        assert run.data.metrics[f"{split}_{name}"] == pytest.approx(value), name
            assert run.data.metrics["test_oa"] == pytest.approx(trial["metrics"]["test"]["oa"])
            # a trial that is not a result says so
            note = one_class_note(
                *(
                    trial["metrics"]["test"].get(m)
                    for m in ("oa", "majority_rate", "top_prediction_share")
                )
            )
            assert tags.get("hsi.not_a_result") == note
            if note:
                assert tags["mlflow.note.content"] == f"NOT A RESULT: {note}"

            # the per-epoch metrics: one point per epoch, step = epoch, the stored curves
            history = client.get_metric_history(run.info.run_id, "val_acc")
            loss = client.get_metric_history(run.info.run_id, "train_loss")
            if spec.model == "claresnet_tiny":
                curves = store.artifact(row["id"], "curves")
                assert sorted(m.step for m in history) == list(range(1, EPOCHS + 1))
                assert len(loss) == EPOCHS
                by_step = {m.step: m.value for m in history}
                assert [by_step[e] for e in range(1, EPOCHS + 1)] == pytest.approx(
                    curves["val_acc"]
                )
            else:
                assert history == [] and loss == []  # a tree model has no epochs

            # the saved model: the same files (sha256) as the database's rows
            files = store.model_files(row["id"])
            assert {f["kind"] for f in files} == {"model", "preprocessing", "manifest"}
            local = Path(
                client.download_artifacts(
                    run.info.run_id, "model", str(tmp_path / f"dl{row['id']}")
                )
            )
            logged = {p.name: _sha256(p) for p in local.iterdir() if p.name != "files.json"}
            assert sorted(logged.values()) == sorted(f["sha256"] for f in files)
            assert {name.split(".")[0] for name in logged} == {f["kind"] for f in files}


def test_tracking_flags_reach_the_run_options(tmp_path):
    base = ["--suite", "smoke", "--db", str(tmp_path / "r.db")]
    args = run_flags.parser().parse_args(
        [*base, "--track", "mlflow", "--tracking-uri", "sqlite:///x.db", "--experiment", "e1"]
    )
    run = run_flags.config_from_args(args).run
    assert (run.track, run.tracking_uri, run.experiment) == ("mlflow", "sqlite:///x.db", "e1")
    assert run.experiment_name == "e1"
    run = run_flags.config_from_args(
        run_flags.parser().parse_args([*base, "--track", "mlflow"])
    ).run
    assert run.tracking_uri is None and run.experiment_name == "hsi-smoke"
    assert run_flags.config_from_args(run_flags.parser().parse_args(base)).run.track is None


@pytest.mark.parametrize("flag", ["--tracking-uri", "--experiment"])
def test_tracking_flags_need_track(flag, tmp_path, capsys):
    argv = ["--suite", "smoke", "--db", str(tmp_path / "r.db"), flag, "x"]
    assert run_cli.main(argv) == run_cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert f"{flag} 'x' applies with --track mlflow only" in err and "Fix:" in err
    assert not (tmp_path / "r.db").exists()


def test_missing_mlflow_names_the_flag_and_the_fix(tmp_path):
    """Without mlflow (an import that fails, as in an environment without the extra)
    the run stops before anything is planned, opened or trained."""
    db = tmp_path / "r.db"
    code = (
        "import sys; sys.modules['mlflow'] = None\n"  # `import mlflow` raises ImportError
        "from harness.run import main\n"
        f"sys.exit(main(['--suite', 'smoke', '--db', {str(db)!r}, '--track', 'mlflow']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == run_cli.EXIT_USAGE, proc.stderr
    assert "--track mlflow needs the mlflow package" in proc.stderr
    assert "pip install -e '.[mlflow]'" in proc.stderr
    assert not db.exists()


def test_unusable_tracking_store_fails_before_any_training(tmp_path):
    """A tracking store MLflow cannot open is an error of --tracking-uri; no run is
    recorded and Ray is not started."""
    import ray

    from harness.execute.context import run_specs
    from harness.execute.options import OptionError, RunOptions

    db = tmp_path / "r.db"
    (tmp_path / "a_file").write_text("not a folder")
    missing = tmp_path / "a_file" / "mlflow.db"
    options = RunOptions(
        db=str(db), suite="smoke", track="mlflow", tracking_uri=f"sqlite:///{missing}"
    )
    was_running = ray.is_initialized()
    with pytest.raises(OptionError, match="--tracking-uri sqlite:///.*Fix:"):
        run_specs([], options, out=None)
    assert not missing.exists()
    assert ray.is_initialized() == was_running
    with ResultStore(db, readonly=True) as store:
        assert store.runs() == []


def test_spec_params_are_short_flat_strings():
    from test_store import make_test_spec

    from harness.execute.tracking import MAX_PARAM_CHARS, run_name, spec_params

    spec = make_test_spec().with_(hparams={"emb_dim": 64, "blocks": [1, 2]})
    params = spec_params(spec)
    assert all(isinstance(v, str) and len(v) <= MAX_PARAM_CHARS for v in params.values())
    assert params["hparams.emb_dim"] == "64" and params["hparams.blocks"] == "[1, 2]"
    assert params["spec_hash"] == spec.spec_hash and params["model"] == spec.model
    assert "training.lr" in params and "training" not in params
    assert run_name(spec) == f"{spec.model}-{spec.scene}-s{spec.seed}-{spec.spec_hash[:8]}"
