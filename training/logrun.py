"""`lcad log-run`: log a trained bundle to MLflow after the fact.

The bundle carries everything a run needs (config, per-epoch history, final metrics, the run
id it was started under). When that run still exists, only what it lacks is added: missing
params, epochs not logged, final metrics, the model. Nothing already logged is changed.
When it does not exist (another server, a deleted run, training with --no-tracking), a new
run is made and tagged with the original id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lcad.models.detector import Detector

MODEL_TAG = "lcad.model_logged"


def log_missing_epochs(run_id: str, history: list[dict[str, float]]) -> int:
    """Log the epochs of `history` the run does not have yet; returns how many."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    logged = {m.step for m in client.get_metric_history(run_id, "loss")}
    rows = [h for h in history if int(h.get("epoch", -1)) not in logged]
    metrics = [Metric(k, float(v), 0, int(h["epoch"])) for h in rows
               for k, v in h.items() if k != "epoch"]
    for lo in range(0, len(metrics), 500):
        client.log_batch(run_id, metrics=metrics[lo: lo + 500], synchronous=True)
    return len(rows)


def log_run(bundle: Path, experiment: str, register_as: str | None = None,
            promote: bool = False) -> dict[str, Any]:
    import mlflow
    from mlflow.entities import Param
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from lcad.training import tracking

    det = Detector.load(bundle)
    info = det.info
    tracking.connect()
    client = MlflowClient()
    original = info.run_id
    existing = None
    if original:
        try:
            existing = client.get_run(original)
        except MlflowException:
            existing = None
    if existing is not None:
        mlflow.set_experiment(experiment_id=existing.info.experiment_id)
    else:
        mlflow.set_experiment(experiment)
    added: dict[str, Any] = {"params": 0, "epochs": 0, "metrics": 0, "model": False}
    kwargs: dict[str, Any] = ({"run_id": original} if existing is not None
                              else {"run_name": f"{Path(bundle).name} (logged later)"})
    with mlflow.start_run(**kwargs) as run:
        run_id = run.info.run_id
        have_params = dict(existing.data.params) if existing else {}
        have_metrics = dict(existing.data.metrics) if existing else {}
        tags = dict(existing.data.tags) if existing else {}
        if existing is None:
            mlflow.set_tags({**tracking.run_tags(), "lcad.logged_from_bundle": "true",
                             **({"lcad.original_run_id": original} if original else {})})
            mlflow.log_text(det.config.to_yaml(), "config.yaml")
        params = tracking.config_params(det.config)
        if info.data_source:
            params["data.source"] = str(info.data_source)
        missing = [Param(k, v) for k, v in params.items() if k not in have_params]
        for lo in range(0, len(missing), 100):
            client.log_batch(run_id, params=missing[lo: lo + 100], synchronous=True)
        added["params"] = len(missing)

        added["epochs"] = log_missing_epochs(run_id, info.history)

        history_keys = {k for h in info.history for k in h}
        final = {k: float(v) for k, v in det.metrics.items()
                 if k not in have_metrics and k not in history_keys}
        if final:
            mlflow.log_metrics(final)
        mlflow.set_tags(tracking.chosen_tags(det))
        added["metrics"] = len(final)

        if tags.get(MODEL_TAG) != "true" or register_as:
            out = tracking.log_pyfunc(Path(bundle), None, register_as, promote)
            mlflow.set_tag(MODEL_TAG, "true")
            added.update(out, model=True)
    return {"run_id": run_id, "continued": existing is not None, **added}
