"""`lcad sweep`: grid, random, coarse-to-fine or TPE search over config keys as nested
MLflow runs; the best trial's model saved, logged to the parent run and registered when asked.

Coarse-to-fine (the lectures' recipe for hyper-parameters): a coarse stage of random trials
over the whole ranges (log-uniform where a range says `log: true`: learning rates, sizes),
then a fine stage of random trials in ranges narrowed around the coarse stage's best
(`shrink` of each range's width, in log space where the range is logarithmic; categorical
keys fixed to the best trial's values).

TPE (`method: tpe`, Optuna's Tree-structured Parzen Estimator through its ask-and-tell
interface): `startup_trials` random trials, then each trial drawn where the good trials so far
are dense; with `pruner: median` a trial whose validation loss at an epoch is worse than the
median of earlier trials at that epoch stops there (Optuna's MedianPruner), logged as pruned
and never the best."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import keras
import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lcad.models.config import DetectorConfig
from lcad.models.errors import ConfigError
from lcad.models.fit import RefitSteps, fit_detector, split_curves
from lcad.training.logrun import MODEL_TAG


class Range(BaseModel):
    """A numeric range to sample from (random and coarse-to-fine search)."""

    model_config = ConfigDict(extra="forbid")
    low: float
    high: float
    log: bool = False
    integer: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0 (got {self.low:g})")
        return self

    def _to(self, v: float) -> float:
        return math.log(v) if self.log else v

    def _back(self, u: float) -> float | int:
        v = math.exp(u) if self.log else u
        v = min(max(v, self.low), self.high)
        return round(v) if self.integer else float(f"{v:.4g}")

    def sample(self, rng: np.random.Generator) -> float | int:
        return self._back(rng.uniform(self._to(self.low), self._to(self.high)))

    def around(self, best: float, shrink: float) -> Range:
        """`shrink` of this range's width (log width for log ranges) centred on `best`,
        kept inside this range."""
        lo, hi = self._to(self.low), self._to(self.high)
        half = 0.5 * shrink * (hi - lo)
        c = min(max(self._to(best), lo + half), hi - half)
        new_lo, new_hi = self._back(c - half), self._back(c + half)
        if not new_lo < new_hi:  # integers narrowed to one value
            new_lo, new_hi = new_lo, new_lo + 1
        return Range(low=new_lo, high=new_hi, log=self.log, integer=self.integer)


class SweepSpec(BaseModel):
    """The sweep YAML (examples/sweep.yaml, examples/sweep_coarse_to_fine.yaml)."""

    model_config = ConfigDict(extra="forbid")
    data: str
    experiment: str = "lcad-sweep"
    method: str = Field("grid", pattern="^(grid|random|coarse-to-fine|tpe)$")
    trials: int | None = Field(None, ge=1, description="grid: a cap; random, tpe: how many "
                               "(tpe default 12); coarse-to-fine: the coarse stage's trials "
                               "(default 8)")
    startup_trials: int = Field(4, ge=1, description="tpe: random trials before the "
                                "estimator proposes")
    pruner: str = Field("none", pattern="^(none|median)$", description="tpe: 'median' stops a "
                        "trial whose per-epoch validation loss is worse than the median of "
                        "earlier trials at that epoch (metric best_val_loss only)")
    pruning_warmup: int = Field(2, ge=0, description="tpe: epochs a trial runs before it can "
                                "be pruned")
    fine_trials: int | None = Field(None, ge=1, description="coarse-to-fine: the fine "
                                    "stage's trials (default: as many as the coarse stage)")
    shrink: float = Field(0.25, gt=0, lt=1, description="coarse-to-fine: the fine ranges' "
                          "width as a share of the coarse ones")
    metric: str = "best_val_loss"
    goal: str = Field("minimize", pattern="^(minimize|maximize)$")
    seed: int = 0
    base: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, list[Any] | Range]
    register_as: str | None = Field(None, description="register the best trial's model")
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
        if isinstance(values, Range):
            if spec.method == "grid":
                raise ConfigError(f"{path}: parameters.{key} is a range: a grid needs a list "
                                  "of values (or use method: random / coarse-to-fine)")
        elif not values:
            raise ConfigError(f"{path}: parameters.{key} must be a non-empty list")
    if spec.pruner != "none" and (spec.method != "tpe" or spec.metric != "best_val_loss"):
        raise ConfigError(
            f"{path}: pruner: {spec.pruner} compares trials by their validation loss epoch by "
            "epoch: it needs method: tpe and metric: best_val_loss (other metrics are known "
            "only when a trial ends)")
    return spec


def sample_plans(parameters: dict[str, list[Any] | Range], n: int,
                 rng: np.random.Generator) -> list[dict[str, Any]]:
    """`n` random trials: ranges sampled, lists drawn from."""
    return [{k: v.sample(rng) if isinstance(v, Range) else v[int(rng.integers(len(v)))]
             for k, v in parameters.items()} for _ in range(n)]


def narrowed(spec: SweepSpec, best: dict[str, Any]) -> dict[str, list[Any] | Range]:
    """The fine stage's parameters: ranges narrowed around `best`, lists fixed to it."""
    return {k: v.around(best[k], spec.shrink) if isinstance(v, Range) else [best[k]]
            for k, v in spec.parameters.items()}


def trial_overrides(spec: SweepSpec, trials: int | None) -> list[dict[str, Any]]:
    """The trials of grid and random search (and of the coarse stage of coarse-to-fine)."""
    n = trials or spec.trials
    rng = np.random.default_rng(spec.seed)
    if spec.method == "tpe":  # proposed one by one as the trials end (run_sweep)
        return [{} for _ in range(n or 12)]
    if spec.method == "coarse-to-fine":
        return sample_plans(spec.parameters, n or 8, rng)
    if any(isinstance(v, Range) for v in spec.parameters.values()):  # random over ranges
        if not n:
            raise ConfigError("random search over a range needs `trials` (or --trials)")
        return sample_plans(spec.parameters, n, rng)
    keys = list(spec.parameters)
    lists: list[list[Any]] = [v for v in spec.parameters.values() if isinstance(v, list)]
    grid = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*lists)]
    if spec.method == "random":
        n = n or len(grid)
        return [grid[i] for i in rng.choice(len(grid), size=min(n, len(grid)), replace=False)]
    return grid[:n] if n else grid


def run_sweep(path: Path, trials: int | None = None, progress: Any = lambda line: None,
              register_as: str | None = None, promote: bool = False,
              output: Path | None = None) -> dict[str, Any]:
    """Every trial as a nested run; `progress` gets one line per finished trial. The best
    trial's model is saved (`output`, default lcad-output/sweep-RUN), logged to the parent
    run as its model and registered as `register_as` (or the file's `register_as`)."""
    import mlflow

    from lcad.models.io import read_curves
    from lcad.training import tracking
    from lcad.training.evaluate import eval_metrics, evaluate, injection_check

    spec = load_spec(path)
    register_as = register_as or spec.register_as
    if promote and not register_as:
        raise ConfigError("--promote needs a name to register under (--register-as NAME or "
                          "register_as: in the sweep file)")
    base = DetectorConfig.from_dict(spec.base)
    plans = trial_overrides(spec, trials)
    n_fine = (spec.fine_trials or len(plans)) if spec.method == "coarse-to-fine" else 0
    for plan in [*plans, *corners(spec.parameters)]:  # every planned config (and every
        config_of(base, plan)                             # range's ends) valid before training
    curves = read_curves(spec.data)
    evaluation = None
    if spec.evaluation:
        from lcad.training.evaluate import read_labels

        evaluation = (read_curves(spec.evaluation["data"]),
                      read_labels(Path(spec.evaluation["labels"])))
    tracking.setup(spec.experiment)
    sign = 1 if spec.goal == "minimize" else -1
    best: dict[str, Any] = {}
    total = len(plans) + n_fine
    done = 0

    def trial(plan: dict[str, Any], stage: str, parent_id: str,
              pruning: Any = None) -> float | None:
        """One nested run; its metric's value, or None when `pruning` (an Optuna trial)
        stopped it."""
        nonlocal done
        cfg = config_of(base, plan)
        with mlflow.start_run(run_name=f"trial-{done}", nested=True) as child:
            mlflow.log_params({k: str(v) for k, v in cfg.flat().items()})
            mlflow.set_tags({"sweep.parent": parent_id, "sweep.stage": stage})
            splits = split_curves(curves, cfg)  # once: training and the injection check
            pruner = PruneOnValLoss(pruning) if pruning is not None else None
            det, metrics = fit_detector(curves, cfg, splits=splits, callbacks=[
                tracking.EpochLogger(child.info.run_id, []), *([pruner] if pruner else [])])
            if pruner is not None and pruner.pruned_at:
                mlflow.log_metrics(metrics | {"pruned_at_epoch": float(pruner.pruned_at)})
                mlflow.set_tags({"sweep.pruned": "true"})
                done += 1
                progress(f"trial {done}/{total}: pruned at epoch {pruner.pruned_at} "
                         f"(val_loss {pruner.last:.5g} worse than the median of earlier "
                         f"trials) {plan}")
                return None
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
                best.update(run_id=child.info.run_id, value=value, overrides=plan,
                            metric=spec.metric, config=cfg, detector=det, stage=stage)
        done += 1
        progress(f"trial {done}/{total}: {spec.metric}={value:.5g} "
                 f"(best so far {best['value']:.5g}) {plan}"
                 + (f" [{stage}]" if n_fine else ""))
        return float(value)

    with mlflow.start_run(run_name=f"sweep:{path.stem}") as parent:
        pid = parent.info.run_id
        mlflow.set_tags(tracking.run_tags())
        mlflow.log_params({"sweep.method": spec.method, "sweep.metric": spec.metric,
                           "sweep.goal": spec.goal, "sweep.trials": total,
                           "data.source": spec.data}
                          | ({"sweep.shrink": spec.shrink} if n_fine else {})
                          | ({"sweep.startup_trials": spec.startup_trials,
                              "sweep.pruner": spec.pruner} if spec.method == "tpe" else {}))
        mlflow.log_text(path.read_text(), "sweep.yaml")
        if spec.method == "tpe":
            tpe_search(spec, total, lambda plan, ot: trial(plan, "tpe", pid, ot))
        else:
            for plan in plans:
                trial(plan, "coarse" if n_fine else spec.method, pid)
        if n_fine:
            fine = narrowed(spec, best["overrides"])
            mlflow.log_params({f"fine.{k}": describe(v) for k, v in fine.items()})
            progress("fine stage around the best coarse trial: "
                     + ", ".join(f"{k} {describe(v)}" for k, v in fine.items()))
            for plan in sample_plans(fine, n_fine, np.random.default_rng(spec.seed + 1)):
                trial(plan, "fine", pid)
        mlflow.set_tags({"best_run_id": best["run_id"], "best_stage": best["stage"]})
        mlflow.log_metric(f"best_{spec.metric}", best["value"])
        mlflow.log_params({f"best.{k}": str(v) for k, v in best["overrides"].items()})
        mlflow.log_text(best["config"].to_yaml(), "best_config.yaml")
        det = best.pop("detector")
        bundle = output or Path("lcad-output") / f"sweep-{pid[:8]}"
        det.save(bundle)
        example = tracking.example_frame(max(curves, key=len), det.window)
        best.update(tracking.log_pyfunc(bundle, example, register_as, promote),
                    bundle=str(bundle), parent_run_id=pid)
        mlflow.set_tag(MODEL_TAG, "true")
    return best


def config_of(base: DetectorConfig, plan: dict[str, Any]) -> DetectorConfig:
    return base.with_overrides([f"{k}={yaml.safe_dump(v, default_flow_style=True).strip()}"
                                for k, v in plan.items()])


def describe(v: list[Any] | Range) -> str:
    if isinstance(v, Range):
        return f"[{v.low:g}, {v.high:g}]" + (" log" if v.log else "")
    return str(v[0]) if len(v) == 1 else str(v)


def corners(parameters: dict[str, list[Any] | Range]) -> list[dict[str, Any]]:
    """The two extreme plans (every range's low, every list's first value; then the highs
    and last values): configs the sweep may meet, checked before any trial trains."""
    def end(v: Range, high: bool) -> float | int:
        if v.integer:
            return math.floor(v.high) if high else math.ceil(v.low)
        return v.high if high else v.low

    return [{k: (end(v, high) if isinstance(v, Range) else v[-1 if high else 0])
             for k, v in parameters.items()} for high in (False, True)]


def suggest(trial: Any, key: str, values: list[Any] | Range) -> Any:
    """One parameter of an Optuna trial: ranges as floats or integers on their scale, lists
    as categories (by position when the values are not plain scalars, e.g. lists)."""
    if isinstance(values, Range):
        if values.integer:
            return trial.suggest_int(key, math.ceil(values.low), math.floor(values.high),
                                     log=values.log)
        return trial.suggest_float(key, values.low, values.high, log=values.log)
    if all(v is None or isinstance(v, str | int | float | bool) for v in values):
        return trial.suggest_categorical(key, values)
    return values[trial.suggest_categorical(key, list(range(len(values))))]


def tpe_search(spec: SweepSpec, n: int, run: Any) -> None:
    """`n` trials proposed by Optuna's TPE sampler (ask and tell: each trial is one of our
    nested MLflow runs); `run(plan, optuna_trial)` returns the metric, or None if pruned."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=spec.seed, n_startup_trials=spec.startup_trials)
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=spec.startup_trials,
                                          n_warmup_steps=spec.pruning_warmup)
              if spec.pruner == "median" else optuna.pruners.NopPruner())
    study = optuna.create_study(direction=spec.goal, sampler=sampler, pruner=pruner)
    for _ in range(n):
        ot = study.ask()
        plan = {k: suggest(ot, k, v) for k, v in spec.parameters.items()}
        value = run(plan, ot)
        if value is None:
            study.tell(ot, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(ot, value)


class PruneOnValLoss(RefitSteps, keras.callbacks.Callback):
    """Reports each epoch's validation loss to an Optuna trial and stops training when the
    trial's pruner says so (`pruned_at`: that epoch, 1-based; 0: ran to the end)."""

    def __init__(self, trial: Any) -> None:
        keras.callbacks.Callback.__init__(self)
        # a second training (windows of one period) reports after the first's steps, not
        # over them: Optuna keeps a step's first value
        RefitSteps.__init__(self)
        self.trial, self.pruned_at, self.last = trial, 0, float("nan")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        epoch = self.step(epoch)
        loss = (logs or {}).get("val_loss")
        if loss is None or not math.isfinite(float(loss)):
            return
        self.last = float(loss)
        self.trial.report(self.last, epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch + 1
            self.model.stop_training = True
