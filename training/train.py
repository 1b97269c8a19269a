"""`train(cfg, curves)` (pure), checkpoints for --resume, and the tracked run around it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
import warnings
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np

from lcad.models.config import DetectorConfig
from lcad.models.detector import Detector
from lcad.models.fit import Splits, fit_detector, split_curves
from lcad.models.lightcurve import LightCurve
from lcad.models.point_scores import point_score_reason
from lcad.models.preprocess import Preprocessor
from lcad.training.logrun import MODEL_TAG

CHECKPOINT_DIR = ".checkpoint"


class EpochPrinter(keras.callbacks.Callback):
    """One line per epoch on stdout, lcad's own (Keras' progress lines are off): the epoch of
    the total, the losses and the time it took."""

    SHOWN = (("loss", "loss"), ("val_loss", "val_loss"), ("val_recon_loss", "val_recon"))

    def __init__(self, epochs: int, out: Any = None):
        super().__init__()
        self.epochs, self.out = epochs, out
        self._t0 = 0.0

    def on_refit(self, config: DetectorConfig, period: int | None = None) -> None:
        """Training starts again (`fit_detector`: windows of one or more periods), under
        `config`'s epochs (the scan's network on whole cycles: a multiple of the first's,
        `preprocess.scan_period_epoch_factor`)."""
        self.epochs = config.train.epochs

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        shown = "  ".join(f"{label} {float(logs[key]):.4g}" for key, label in self.SHOWN
                          if key in logs)
        print(f"epoch {epoch + 1}/{self.epochs}  {shown}  ({time.perf_counter() - self._t0:.1f} s)",
              file=self.out or sys.stdout, flush=True)


class Checkpoint(keras.callbacks.Callback):
    """Saves the model (optimizer included) and the history after every epoch.

    The architecture and compile state are saved once, when training starts; every epoch
    then copies the weights and optimizer variables (a few ms) and writes them, with the
    history, on `writer`, a one-thread executor shared with the epoch logger: an epoch is
    on disk before it is logged, so a resumed run never logs an epoch twice. A failed write
    stops training at the next epoch, as a failed synchronous save would.
    """

    def __init__(self, directory: Path, history: list[dict[str, float]], state: dict[str, Any],
                 writer: Executor):
        super().__init__()
        self.directory = directory
        self.history = history
        self.state = state
        self.writer = writer
        self._pending: list[Future[None]] = []

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        _atomic(self.directory / "model.keras", self.model.save)

    def on_refit(self, config: DetectorConfig, period: int | None = None) -> None:
        """Training starts again on another network (`fit_detector`: windows of one period):
        the history is the new network's, and a resume continues it under `config`
        (`refit_config`; `config` stays the run's, which --resume checks) and reports the
        `period` found (the metric `training_period`)."""
        self.state = {**self.state, "refit_config": config.model_dump(mode="json"),
                      "step_offset": len(self.history)}  # the run's epoch steps go on
        if period is not None:
            self.state["training_period"] = int(period)
        self.history.clear()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._raise_failed()
        self.history.append({"epoch": epoch, **{k: float(v) for k, v in (logs or {}).items()}})
        arrays = [keras.ops.convert_to_numpy(v)
                  for v in [*self.model.variables, *self.model.optimizer.variables]]
        state = {**self.state, "epoch": epoch, "history": list(self.history),
                 "n_model_variables": len(self.model.variables)}
        self._pending.append(self.writer.submit(self._write, arrays, state))

    def _write(self, arrays: list[np.ndarray], state: dict[str, Any]) -> None:
        _atomic(self.directory / WEIGHTS_FILE,
                lambda tmp: np.savez(tmp, *arrays))
        _atomic(self.directory / "state.json", lambda tmp: tmp.write_text(json.dumps(state)))

    def _raise_failed(self) -> None:
        done = [f for f in self._pending if f.done()]
        self._pending = [f for f in self._pending if not f.done()]
        for fut in done:
            fut.result()  # re-raises a failed write

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        for fut in self._pending:
            fut.result()
        self._pending.clear()


WEIGHTS_FILE = "weights.npz"


def _atomic(path: Path, write: Any) -> None:
    """`write(tmp)` then rename over `path`: a reader sees the old file or the new one."""
    tmp = path.with_name(f"{path.stem}.tmp{path.suffix}")
    write(tmp)
    os.replace(tmp, path)


def load_checkpoint(directory: Path, cfg: DetectorConfig) -> tuple[keras.Model, dict[str, Any]]:
    state = json.loads((directory / "state.json").read_text())
    if state.get("config") != cfg.model_dump(mode="json"):
        raise ValueError(f"{directory}: the checkpoint was made with another config; "
                         "rerun without --resume or with the same config")
    with warnings.catch_warnings():
        # model.keras was saved before the optimizer was built: its variables come from
        # the weights file below
        warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
        model = keras.saving.load_model(directory / "model.keras", compile=True,
                                        safe_mode=True)
    with np.load(directory / WEIGHTS_FILE) as npz:
        arrays = [npz[f"arr_{i}"] for i in range(len(npz.files))]
    n_model = int(state["n_model_variables"])
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    variables = [*model.variables, *model.optimizer.variables]
    if n_model != len(model.variables) or len(arrays) != len(variables):
        raise ValueError(f"{directory}: the checkpoint's weights do not fit its model; "
                         "rerun without --resume")
    for var, value in zip(variables, arrays, strict=True):
        var.assign(value)
    return model, state


@dataclass
class TrainRequest:
    cfg: DetectorConfig
    curves: list[LightCurve]
    output: Path
    data_source: str
    experiment: str = "lcad"
    register_as: str | None = None
    promote: bool = False
    resume: bool = False
    tracking: bool = True
    run_name: str | None = None
    extra_metrics: dict[str, float] = field(default_factory=dict)
    progress: bool = True  # one line per epoch on stdout
    processes: int = 1  # data-parallel training processes (training/distributed.py)
    initial_model: keras.Model | None = None  # start from these weights (lcad finetune)
    preprocessor: Preprocessor | None = None  # and that model's preprocessing
    tags: dict[str, str] = field(default_factory=dict)  # of the run and the model version


@dataclass
class TrainOutcome:
    detector: Detector
    metrics: dict[str, float]
    bundle: Path
    run_id: str | None = None
    logged: dict[str, Any] = field(default_factory=dict)
    not_logged: list[str] = field(default_factory=list)


def run_training(req: TrainRequest, log: Any = print) -> TrainOutcome:
    """Train with checkpoints; track in MLflow when asked; always write the bundle first."""
    cfg = req.cfg
    ckpt = req.output.parent / f".{req.output.name}{CHECKPOINT_DIR}"
    model, initial_epoch, history, run_id = None, 0, [], None
    refit_config, step_offset, period = None, 0, None
    if req.resume and (ckpt / "state.json").is_file():
        model, state = load_checkpoint(ckpt, cfg)
        initial_epoch = int(state["epoch"]) + 1
        history = list(state.get("history", []))
        run_id = state.get("run_id")
        refit_config, step_offset = state.get("refit_config"), int(state.get("step_offset", 0))
        period = state.get("training_period")
        log(f"resuming from epoch {initial_epoch} ({ckpt})")
    elif ckpt.exists():
        shutil.rmtree(ckpt)
    if model is None:
        model = req.initial_model

    splits = split_curves(req.curves, cfg)
    callbacks: list[keras.callbacks.Callback] = []
    epoch_logger = None
    not_logged: list[str] = []
    run_ctx: Any = contextlib.nullcontext()
    # checkpoints and epoch metrics are written on one background thread, in epoch order
    writer = ThreadPoolExecutor(1, thread_name_prefix="lcad-train-io")
    if req.tracking:
        from lcad.training import tracking

        tracking.setup(req.experiment)
        run_ctx = _tracked_run(run_id, req.run_name, not_logged)
    with contextlib.ExitStack() as stack:
        run = stack.enter_context(run_ctx)
        stack.callback(writer.shutdown, wait=True)  # before the run ends, even on errors
        if run is not None:
            run_id = run.info.run_id
            if initial_epoch == 0:
                try:
                    _log_start(req, splits)
                except Exception as exc:
                    not_logged.append(f"params, config and dataset ({type(exc).__name__}: "
                                      f"{exc})")
            elif history:  # epochs checkpointed but not logged before the interruption
                from lcad.training.logrun import log_missing_epochs

                try:
                    log_missing_epochs(run_id, history)
                except Exception as exc:
                    not_logged.append(f"epochs before the resume ({type(exc).__name__}: {exc})")
            epoch_logger = tracking.EpochLogger(run_id, [], writer, first_step=step_offset)
            callbacks.append(epoch_logger)
        state = {"config": cfg.model_dump(mode="json"), "run_id": run_id}
        fit_cfg = cfg
        if refit_config is not None:  # resumed in the training on windows of periods
            # (its own epochs: the scan's network there, preprocess.scan_period_epoch_factor)
            fit_cfg = DetectorConfig.from_dict(refit_config)
            state.update(refit_config=refit_config, step_offset=step_offset)
            if period is not None:
                state["training_period"] = period
        if req.progress:
            callbacks.append(EpochPrinter(fit_cfg.train.epochs))
        callbacks.insert(0, Checkpoint(ckpt, history, state, writer))
        if initial_epoch >= fit_cfg.train.epochs:
            raise ValueError(f"checkpoint already finished all {fit_cfg.train.epochs} epochs")
        detector, metrics = fit_detector(
            req.curves, fit_cfg, callbacks=callbacks, splits=splits, model=model,
            initial_epoch=initial_epoch, verbose=0, preprocessor=req.preprocessor)
        if refit_config is not None:
            # said as the uninterrupted run says it: `fit_detector`'s outer call records
            # the period's window and builds the reason against the config asked for
            # (the retrained config sets the scan its rule kept)
            metrics["window_period"] = float(fit_cfg.preprocess.window)
            if period is not None:  # checkpoints from before session 48 lack it
                metrics["training_period"] = float(period)
            detector.info.update(point_score_reason=point_score_reason(
                detector, metrics, cfg.scoring.point, cfg.preprocess.window))
        from lcad.training.evaluate import injection_check

        metrics.update(injection_check(detector, splits.validation))
        metrics.update(req.extra_metrics)
        detector.info.update(history=history, run_id=run_id, data_source=req.data_source)
        if req.register_as:
            detector.info.name = req.register_as
        bundle = detector.save(req.output)
        shutil.rmtree(ckpt, ignore_errors=True)
        outcome = TrainOutcome(detector, metrics, bundle, run_id, not_logged=not_logged)
        if epoch_logger is not None:
            epoch_logger.flush()  # fit's end flushes it too; idempotent
        if run is not None:
            if epoch_logger is not None and epoch_logger.failed:
                # the server went away mid-training: do not wait on it again for the rest
                not_logged.append(
                    f"per-epoch metrics of epochs {epoch_logger.unlogged} "
                    f"({epoch_logger.failed})")
                not_logged.append("final metrics, plots and model (the server failed earlier)")
            else:
                try:
                    outcome.logged = log_results(detector, bundle, splits, history, req,
                                                 run.info.run_id)
                    detector.info.update(**outcome.logged)
                except Exception as exc:
                    not_logged.append(f"final metrics, plots and model ({type(exc).__name__}:"
                                      f" {exc})")
    return outcome


@contextlib.contextmanager
def _tracked_run(run_id: str | None, run_name: str | None, not_logged: list[str]) -> Any:
    """An MLflow run whose end (status update) may fail without losing the trained model."""
    import mlflow

    run = mlflow.start_run(run_id=run_id, run_name=run_name if run_id is None else None,
                           log_system_metrics=True)
    status = "FAILED"
    try:
        yield run
        status = "FINISHED"
    finally:
        try:
            mlflow.end_run(status)
        except Exception as exc:
            not_logged.append(f"run status {status} ({type(exc).__name__}: {exc})")


def _log_start(req: TrainRequest, splits: Splits) -> None:
    import mlflow

    from lcad.training import tracking

    mlflow.set_tags(tracking.run_tags() | req.tags)
    mlflow.log_params(tracking.config_params(req.cfg))
    mlflow.log_params({"data.source": req.data_source, "data.n_objects": len(req.curves),
                       "data.n_points": sum(len(c) for c in req.curves),
                       "data.n_train_points": sum(len(c) for c in splits.train),
                       "data.split_by": splits.by,
                       "train.processes": req.processes,
                       "train.keras_backend": keras.backend.backend()})
    mlflow.log_text(req.cfg.to_yaml(), "config.yaml")
    tracking.log_dataset(splits.train, req.data_source, "train", "training")


def log_results(detector: Detector, bundle: Path, splits: Splits,
                history: list[dict[str, float]], req: TrainRequest, run_id: str
                ) -> dict[str, Any]:
    """Final metrics, figures and the pyfunc model (registered when asked)."""
    import mlflow

    from lcad.training import tracking

    mlflow.log_metrics(detector.metrics | req.extra_metrics)
    mlflow.set_tags(tracking.chosen_tags(detector))
    mlflow.log_params(tracking.resolved_params(detector))
    mlflow.log_text(tracking.model_summary(detector), "model_summary.txt")
    # the figures render and upload on a second thread while the model is logged
    with ThreadPoolExecutor(1, thread_name_prefix="lcad-figures") as pool:
        figures = pool.submit(tracking.log_figures, detector,
                              [c for c in splits.validation if c.mask.any()], history, run_id)
        example_curve = max(req.curves, key=len)
        example = tracking.example_frame(example_curve, detector.window)
        out = tracking.log_pyfunc(bundle, example, req.register_as, req.promote)
        figures.result()
    if req.tags and out.get("version"):  # the lineage on the model version too
        from mlflow.tracking import MlflowClient

        client = MlflowClient()
        for key, value in req.tags.items():
            client.set_model_version_tag(out["registered_model"], out["version"], key, value)
    mlflow.set_tag(MODEL_TAG, "true")
    return out
