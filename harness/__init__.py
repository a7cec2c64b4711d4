"""The harness: trial specs, the trial runner, metrics, the results store, reports and the CLI."""
