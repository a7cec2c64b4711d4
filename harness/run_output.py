"""What ``python -m harness.run`` prints: the planned trials (``--dry-run``), a study's
plan, and the run's summary with its leaderboard."""

from __future__ import annotations

from .analysis import seeds
from .analysis.tables import left_out_note


def human_size(n: int) -> str:
    """``n`` bytes in B, KiB, MiB or GiB."""
    if n < 1024:
        return f"{n} B"
    units = ("KiB", "MiB", "GiB")
    power = min(len(units), (n.bit_length() - 1) // 10)
    return f"{n / 1024**power:.1f} {units[power - 1]}"


def fold_of(spec) -> str:
    """A cross-validation trial's test fold as "f/k" ("-" for other protocols)."""
    import datasets

    name = datasets.FOLD_PARAMS.get(spec.protocol)
    if name is None:
        return "-"
    return f"{spec.protocol_params[name]}/{spec.protocol_params['k']}"


def print_dry_run(specs: list, done: set[str], fresh: bool) -> int:
    # columns as wide as their longest value (a user scene's or a fixed split's name)
    wm = max([22, *(len(s.model) + 1 for s in specs)])
    ws = max([14, *(len(s.scene) + 1 for s in specs)])
    wp = max([9, *(len(s.protocol) + 1 for s in specs)])
    folds = any(fold_of(s) != "-" for s in specs)  # a fold column for cross-validations only
    print(
        f"{'spec_hash':<14} {'done':<5} {'model':<{wm}} {'scene':<{ws}} {'source':<10} "
        f"{'protocol':<{wp}} " + ("seed  fold" if folds else "seed")
    )
    for s in specs:
        mark = "yes" if s.spec_hash in done else "no"
        seed = f"{s.seed:<4}  {fold_of(s)}" if folds else str(s.seed)
        print(
            f"{s.spec_hash[:12]:<14} {mark:<5} {s.model:<{wm}} {s.scene:<{ws}} {s.source:<10} "
            f"{s.protocol:<{wp}} {seed}"
        )
    return sum(s.spec_hash not in done or fresh for s in specs)


def print_search_plan(plans: list, store) -> None:
    import json

    from .store import StoreError

    for plan in plans:
        try:
            stored = store.study_trials(plan.study)
        except StoreError:
            stored = []
        told = sum(t["status"] in ("completed", "pruned") for t in stored)
        b = plan.base_spec
        print(f"study {plan.study}")
        print(
            f"  {b.model} on {b.scene} ({b.source}), protocol {b.protocol}, split seed {b.seed}, "
            f"{plan.epochs} epochs per trial, objective: maximise validation OA"
            + (f" (test fold {fold_of(b)})" if fold_of(b) != "-" else "")
        )
        print(f"  sampler: {json.dumps(plan.sampler_info())}")
        print(f"  early stopping: {json.dumps(plan.scheduler_info())}")
        print("  search space:")
        for name, dist in plan.space.items():
            shown = {k: v for k, v in dist.items() if k != "target"}
            print(f"    {name:<12} {json.dumps(shown)}")
        print(
            f"  {told} of {plan.n_trials} trials stored, {max(plan.n_trials - told, 0)} to run; "
            f"then the best configuration with seeds {list(plan.final_seeds)} on the test split"
            + (
                f", every fold of each ({b.protocol_params['k']} trials a seed)"
                if fold_of(b) != "-"
                else ""
            )
        )


def oa_or_note(metrics: dict) -> str:
    """A leaderboard row's mean test OA, or why it is not a result ("predicts one
    class", with the OA and the test set's majority-class rate beside it)."""
    from .metrics import one_class_note

    mean = {name: (metrics.get(name) or {}).get("mean") for name in metrics}
    oa = mean["oa"]
    note = one_class_note(oa, mean.get("majority_rate"), mean.get("top_prediction_share"))
    if note is None:
        return f"{oa:.4f}"
    majority = mean.get("majority_rate")
    rate = f", majority class {majority:.3f}" if majority is not None else ""
    return f"{note.upper()} (OA {oa:.3f}{rate}: not a result)"


def shown_oa(rows: list[dict]) -> str:
    """The OA of each leaderboard row of one scene and model; where the run put the
    model in several groups (protocols, PCA fits, ...), each is named by what differs."""
    from .spec import GROUP_KEY

    differ = [f for f in GROUP_KEY if len({r[f] for r in rows}) > 1]
    parts = []
    for r in rows:
        where = ", ".join(f"{f} {r[f]}" for f in differ)
        label = r["label"] if r["label"] != r["model"] else ""
        tag = " ".join(t for t in (where, label) if t)
        shown = oa_or_note(r["metrics"]) + (f" ({left})" if (left := left_out_note(r)) else "")
        parts.append(f"{tag}: {shown}" if tag else shown)
    return "  ".join(parts)


def print_summary(store, summary) -> None:
    """A table of this run's trials per scene and model, then the failures."""
    from collections import Counter

    from .metric_table import LEADERBOARD_METRICS
    from .metrics import COLLAPSE_METRICS

    rows = [t for t in store.trials() if t["run_id"] == summary.run_id]
    if rows:
        board = seeds.leaderboard(
            store,
            run_id=summary.run_id,
            study=None,
            metrics=(*LEADERBOARD_METRICS, *COLLAPSE_METRICS),
        )
        counts: dict[tuple[str, str, str], Counter] = {}
        for t in rows:
            key = (t["scene"], t["model"], t["study"])
            counts.setdefault(key, Counter())[t["status"]] += 1
        print(
            f"\n{'scene':<14} {'model':<22} {'study':<12} {'done':>5} {'pruned':>6} "
            f"{'failed':>6} {'other':>5}  test OA (mean over seeds)"
        )
        for (scene, model, study), c in sorted(counts.items()):
            other = sum(c.values()) - c["completed"] - c["pruned"] - c["failed"]
            shown = shown_oa(
                [
                    b
                    for b in board
                    if b["scene"] == scene
                    and b["model"] == model
                    and b["metrics"]["oa"]["mean"] is not None
                ]
            )
            shown = shown if shown and not study else "-"
            tag = "yes" if study else ""
            print(
                f"{scene:<14} {model:<22} {tag:<12} {c['completed']:>5} {c['pruned']:>6} "
                f"{c['failed']:>6} {other:>5}  {shown}"
            )
    for name, best in summary.studies.items():
        print(f"study {name}: best val OA {best['best_value']:.4f}, {best['best_params']}")
    saved = [t for t in rows if t["status"] == "completed" and store.model_files(t["id"])]
    if saved:
        size = sum(
            f["size"] for t in saved for f in store.model_files(t["id"]) if f["kind"] == "model"
        )
        from datasets.cli_options import python_command

        predict = python_command(
            f"harness.predict --db {store.location} --trial {saved[-1]['id']} --cube FILE "
            "--out map.tif"
        )
        print(
            f"models: {len(saved)} trained model{'' if len(saved) == 1 else 's'} kept "
            f"({human_size(size)}) in "
            f"{store.artifact_store(summary.run_id).root}; apply one to a cube with: {predict}"
        )
