"""`lcad sweep`: grid or random search over config keys as nested MLflow runs."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lcad.models.config import DetectorConfig
from lcad.models.errors import ConfigError
from lcad.models.fit import fit_detector, split_curves


class SweepSpec(BaseModel):
    """The sweep YAML."""

    model_config = ConfigDict(extra="forbid")
    data: str
    experiment: str = "lcad-sweep"
    method: str = Field("grid", pattern="^(grid|random)$")
    trials: int | None = Field(None, ge=1)
    metric: str = "best_val_loss"
    goal: str = Field("minimize", pattern="^(minimize|maximize)$")
    seed: int = 0
    base: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, list[Any]]
    evaluation: dict[str, str] | None = Field(
        None, description="{data: PATH, labels: PATH}: adds eval.* metrics to every trial")


def load_spec(path: Path) -> SweepSpec:
    if not path.is_file():
        raise ConfigError(f"sweep file {path} not found")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        spec = SweepSpec.model_validate(raw)
    except (yaml.YAMLError, ValidationError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    base = path.parent
    spec.data = str((base / spec.data).resolve()) if not Path(spec.data).is_absolute() \
        else spec.data
    if spec.evaluation:
        spec.evaluation = {k: str((base / v).resolve()) for k, v in spec.evaluation.items()}
    for key, values in spec.parameters.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{path}: parameters.{key} must be a non-empty list")
    return spec


def trial_overrides(spec: SweepSpec, trials: int | None) -> list[dict[str, Any]]:
    keys = list(spec.parameters)
    grid = [dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(spec.parameters[k] for k in keys))]
    n = trials or spec.trials
    if spec.method == "random":
        rng = np.random.default_rng(spec.seed)
        n = n or len(grid)
        return [grid[i] for i in rng.choice(len(grid), size=min(n, len(grid)), replace=False)]
    return grid[:n] if n else grid


def run_sweep(path: Path, trials: int | None = None,
              progress: Any = lambda line: None) -> dict[str, Any]:
    """Every trial as a nested run; `progress` gets one line per finished trial."""
    import mlflow

    from lcad.training import tracking
    from lcad.training.evaluate import eval_metrics, evaluate, injection_check
    from lcad.training.io import read_curves

    spec = load_spec(path)
    base = DetectorConfig.from_dict(spec.base)
    plans = trial_overrides(spec, trials)
    configs = [base.with_overrides([f"{k}={yaml.safe_dump(v, default_flow_style=True).strip()}"
                                    for k, v in o.items()]) for o in plans]
    curves = read_curves(spec.data)
    evaluation = None
    if spec.evaluation:
        from lcad.training.evaluate import read_labels

        evaluation = (read_curves(spec.evaluation["data"]),
                      read_labels(Path(spec.evaluation["labels"])))
    tracking.setup(spec.experiment)
    sign = 1 if spec.goal == "minimize" else -1
    best: dict[str, Any] = {}
    with mlflow.start_run(run_name=f"sweep:{path.stem}") as parent:
        mlflow.set_tags(tracking.run_tags())
        mlflow.log_params({"sweep.method": spec.method, "sweep.metric": spec.metric,
                           "sweep.goal": spec.goal, "sweep.trials": len(configs),
                           "data.source": spec.data})
        mlflow.log_text(path.read_text(), "sweep.yaml")
        for i, (plan, cfg) in enumerate(zip(plans, configs, strict=True)):
            with mlflow.start_run(run_name=f"trial-{i}", nested=True) as child:
                mlflow.log_params({k: str(v) for k, v in cfg.flat().items()})
                mlflow.set_tags({"sweep.parent": parent.info.run_id})
                splits = split_curves(curves, cfg)  # once: training and the injection check
                det, metrics = fit_detector(curves, cfg, splits=splits, callbacks=[
                    tracking.EpochLogger(child.info.run_id, [])])
                metrics.update(injection_check(det, splits.validation))
                if evaluation is not None:  # lcad alone (no baselines): eval.<metric>
                    metrics.update(eval_metrics(evaluate(det, evaluation[0], evaluation[1])))
                mlflow.log_metrics(metrics)
                mlflow.set_tags(tracking.chosen_tags(det))
                mlflow.log_params(tracking.resolved_params(det))
                value = metrics.get(spec.metric)
                if value is None:
                    raise ConfigError(f"metric {spec.metric!r} not produced; available: "
                                      f"{sorted(metrics)}")
                if not best or sign * value < sign * best["value"]:
                    best = {"run_id": child.info.run_id, "value": value, "overrides": plan,
                            "metric": spec.metric, "config": cfg}
                progress(f"trial {i + 1}/{len(configs)}: {spec.metric}={value:.5g} "
                         f"(best so far {best['value']:.5g}) {plan}")
        mlflow.set_tags({"best_run_id": best["run_id"]})
        mlflow.log_metric(f"best_{spec.metric}", best["value"])
        mlflow.log_params({f"best.{k}": str(v) for k, v in best["overrides"].items()})
        mlflow.log_text(best["config"].to_yaml(), "best_config.yaml")
    return best
