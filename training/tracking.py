"""MLflow tracking for lcad runs: the URI, the run, per-epoch metrics, artifacts, registry."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from lcad._meta import __version__, git_commit
from lcad.models.config import DetectorConfig
from lcad.models.detector import Detector
from lcad.models.devices import devices
from lcad.models.errors import LcadError
from lcad.models.fit import RefitSteps
from lcad.models.lightcurve import LightCurve
from lcad.registry import (
    TrackingError,
    check_reachable,
    check_tracking,
    load_detector,
    tracking_uri,
)

__all__ = ["TrackingError", "check_reachable", "check_tracking", "load_detector",
           "tracking_uri"]


# a dead server must cost seconds, not MLflow's default minutes of retries per call; the
# user's own settings win
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}


def connect() -> str:
    """Point MLflow at the tracking URI (checked first) with short HTTP retries."""
    import mlflow

    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    uri = tracking_uri()
    check_tracking(uri)
    mlflow.set_tracking_uri(uri)
    return uri


def setup(experiment: str) -> str:
    import mlflow

    uri = connect()
    exp = mlflow.set_experiment(experiment)
    if EXPERIMENT_KIND not in (exp.tags or {}):
        # MLflow 3 opens an untyped experiment on its GenAI overview; lcad's are model runs
        mlflow.MlflowClient().set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND,
                                                 "custom_model_development")
    return uri


EXPERIMENT_KIND = "mlflow.experimentKind"


def chosen_tags(det: Detector) -> dict[str, str]:
    """What training decided from the data ("auto" settings), as run tags."""
    pcfg = det.config.preprocess
    tags = {"lcad.point_score": det.point_method, "lcad.normalization": pcfg.normalization,
            "lcad.mode": pcfg.mode, "lcad.window": str(pcfg.window),
            "lcad.representation": det.representation}
    if det.info.point_score_reason:
        tags["lcad.point_score_reason"] = det.info.point_score_reason
    if det.look_for:  # what `lcad score --look-for` can ask of it, its own first
        tags["lcad.look_for"] = ",".join(det.look_for)
    if det.info.autoencoder.get("status"):  # learned | white-noise | constant | little
        tags["lcad.autoencoder"] = str(det.info.autoencoder["status"])
    if det.novelty_views:  # the views the training curves were long enough for
        tags["lcad.novelty_views"] = ",".join(map(str, det.novelty_views))
    for factor, view in det.info.autoencoder.get("views", {}).items():  # coarse_networks
        tags[f"lcad.autoencoder_view{factor}"] = str(view["status"])
    return tags


def resolved_params(det: Detector) -> dict[str, str]:
    """What the run actually used where the config said "auto" or nothing (the cadence,
    the representation, the normalisation, the point score), as `resolved.*` params."""
    pcfg = det.config.preprocess
    out = {"resolved.mode": pcfg.mode, "resolved.window": str(pcfg.window),
           "resolved.normalization": pcfg.normalization,
           "resolved.point_score": det.point_method,
           "resolved.input_dim": str(det.input_dim), "resolved.bands": ",".join(det.bands)}
    if not det.whole_curves:
        out["resolved.cadence"] = f"{det.preprocessor.cadence:.6g}"
    if det.info.split_by:
        out["resolved.split_by"] = str(det.info.split_by)
    if det.novelty_views:
        out["resolved.novelty_views"] = ",".join(map(str, det.novelty_views))
    return out


def log_evaluation(result: dict[str, Any], det: Detector, experiment: str,
                   params: dict[str, Any]) -> str:
    """`lcad evaluate` as a run of its own: `eval.*` metrics (the names train's demo and the
    sweep use), what was evaluated as params, the evaluated model's training run as a tag
    (`lcad.evaluated_run`), the whole result as `evaluation.json`."""
    import mlflow

    from lcad.training.evaluate import eval_metrics

    setup(experiment)
    with mlflow.start_run(run_name="evaluate") as run:
        mlflow.set_tags(run_tags() | {"lcad.evaluated_run": det.info.run_id or "",
                                      "lcad.evaluated_model": det.info.model_uri or ""})
        mlflow.log_params({k: str(v) for k, v in params.items()}
                          | {"n_objects": result["n_objects"],
                             "n_labelled_objects": result["n_labelled_objects"]})
        mlflow.log_metrics(eval_metrics(result))
        mlflow.log_dict(result, "evaluation.json")
        return str(run.info.run_id)


def model_summary(det: Detector) -> str:
    """The network as Keras prints it, for the run's `model_summary.txt`."""
    lines: list[str] = []
    det.model.summary(print_fn=lambda line, *a, **k: lines.append(line))
    return "\n".join(lines) + "\n"


def config_params(cfg: DetectorConfig) -> dict[str, str]:
    """The config as MLflow params: `section.key` -> value, lists and mappings as JSON."""
    return {k: json.dumps(v) if isinstance(v, list | dict) else str(v)
            for k, v in cfg.flat().items()}


def run_tags() -> dict[str, str]:
    return {"lcad.version": __version__, "git.commit": git_commit(),
            "keras.backend": keras.backend.backend(), "device": ",".join(devices())}


class EpochLogger(RefitSteps, keras.callbacks.Callback):
    """Logs each epoch's metrics to the run from a background thread (training does not wait
    on the tracking server); keeps training if the server goes away: after the first failure
    the remaining epochs are only listed in `unlogged`. Training's end waits for what is
    queued (`flush`). `writer` (a one-thread executor) may be shared with the checkpoints,
    so that an epoch is logged only after it is saved."""

    def __init__(self, run_id: str, history: list[dict[str, float]],
                 writer: Executor | None = None, first_step: int = 0):
        keras.callbacks.Callback.__init__(self)
        # a second training in one fit (windows of one period) logs after the first's steps,
        # not over them; `first_step`: a resumed second training's, from its checkpoint
        RefitSteps.__init__(self, first_step)
        self.run_id = run_id
        self.history = history
        self.failed: str | None = None
        self.unlogged: list[int] = []
        self._writer = writer
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        epoch = self.step(epoch)
        row = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, int | float)}
        with contextlib.suppress(Exception):
            row["learning_rate"] = float(keras.ops.convert_to_numpy(
                self.model.optimizer.learning_rate))
        if self.failed:
            self.unlogged.append(epoch)
            return
        pool = self._writer
        if pool is None:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="lcad-epoch-log")
            pool = self._pool
        self._pending.append(pool.submit(self._log, epoch, row, int(time.time() * 1000)))

    def _log(self, epoch: int, row: dict[str, float], ts: int) -> None:
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient

        if self.failed:  # an earlier epoch failed: do not wait on the server again
            self.unlogged.append(epoch)
            return
        try:
            MlflowClient().log_batch(
                self.run_id, metrics=[Metric(k, v, ts, epoch) for k, v in row.items()],
                synchronous=True)
        except Exception as exc:
            self.failed = f"{type(exc).__name__}: {exc}"
            self.unlogged.append(epoch)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.flush()

    def flush(self) -> None:
        """Wait until every queued epoch is logged (or known not to be)."""
        for fut in self._pending:
            fut.result()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.unlogged.sort()


def input_schema() -> Any:
    """Long format (a number per cell) or one row per object (a list per cell): the point
    columns take either, and the pyfunc checks what it gets (training/mlflow_model.py)."""
    from mlflow.types.schema import AnyType, ColSpec, Schema

    return Schema([
        ColSpec("string", "object_id"),
        ColSpec(AnyType(), "time"),
        ColSpec(AnyType(), "flux"),
        ColSpec(AnyType(), "flux_err", required=False),
        ColSpec(AnyType(), "band", required=False),
    ])


def param_schema() -> Any:
    from mlflow.types.schema import ParamSchema, ParamSpec

    return ParamSchema([ParamSpec("threshold", "double", None),
                        ParamSpec("output", "string", "points"),
                        ParamSpec("samples", "long", 0),
                        # "events" | "shapes" (`Detector.looking_for`); "": as trained
                        ParamSpec("look_for", "string", "")])


def example_frame(curve: LightCurve, window: int) -> pd.DataFrame:
    """A short real slice, long enough for a few windows."""
    n = min(len(curve), max(4 * window, 200))
    frame = pd.DataFrame({"object_id": curve.object_id, "time": curve.time[:n],
                          "flux": curve.flux[:n]})
    if curve.flux_err is not None:
        frame["flux_err"] = curve.flux_err[:n]
    if curve.band is not None:
        frame["band"] = curve.band[:n]
    return frame.dropna()


def log_pyfunc(bundle: Path, example: pd.DataFrame | None, register_as: str | None,
               promote: bool) -> dict[str, Any]:
    """Log the bundle as a pyfunc (models from code); register and alias it when asked."""
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.tracking import MlflowClient
    from mlflow.types.schema import ColSpec, Schema

    output = Schema([ColSpec("string", "object_id"), ColSpec("double", "time"),
                     ColSpec("string", "band"), ColSpec("double", "flux"),
                     ColSpec("double", "reconstruction"), ColSpec("double", "score"),
                     ColSpec("double", "p_value"), ColSpec("boolean", "is_anomaly")])
    code = Path(tempfile.mkdtemp(prefix="lcad-code-"))
    try:
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(Path(__file__).with_name("mlflow_model.py")),
            artifacts={"bundle": str(bundle)},
            code_paths=[str(package_copy(code))],  # the pyfunc carries the lcad it needs
            signature=ModelSignature(inputs=input_schema(), outputs=output,
                                     params=param_schema()),
            input_example=example,
            registered_model_name=register_as,
            pip_requirements=_requirements(),
        )
    finally:
        shutil.rmtree(code, ignore_errors=True)
    out: dict[str, Any] = {"model_uri": info.model_uri}
    if register_as:
        version = str(info.registered_model_version)
        client = MlflowClient()
        client.set_registered_model_alias(register_as, "candidate", version)
        if promote:
            client.set_registered_model_alias(register_as, "champion", version)
        out.update(registered_model=register_as, version=version)
    return out


def package_copy(dest: Path) -> Path:
    """A copy of the `lcad` package as imported (subpackages from wherever they are mapped:
    an editable install keeps them in the repository's top-level folders) at `dest/lcad`,
    for the pyfunc's `code_paths`; bundled data and caches stay out."""
    import lcad

    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "data")
    root = dest / "lcad"
    shutil.copytree(Path(lcad.__file__).parent, root, ignore=skip)
    for sub in ("models", "training", "service"):
        path = Path(importlib.import_module(f"lcad.{sub}").__file__ or "").parent
        if not (root / sub).exists():
            shutil.copytree(path, root / sub, ignore=skip)
    return root


def _requirements() -> list[str]:
    from importlib.metadata import version

    pins = []
    for dist in ("keras", "tensorflow", "numpy", "pandas", "pydantic", "pyyaml", "mlflow"):
        try:
            pins.append(f"{dist}=={version(dist)}")
        except Exception:  # a package not installed is not pinned  # nosec B112
            continue
    return pins


def log_figures(det: Detector, val_curves: Sequence[LightCurve],
                history: Sequence[dict[str, float]], run_id: str) -> None:
    """Diagnostic figures of the run (any thread: the run is named, not the active one)."""
    import matplotlib.pyplot as plt
    from mlflow.tracking import MlflowClient

    from lcad.training import plots

    figs = {}
    if history:
        figs["plots/loss_curves.png"] = plots.loss_curves(history)
    diag = plots.window_diagnostics(det, val_curves)
    if diag:
        figs["plots/reconstructions.png"] = plots.reconstructions(diag)
        if det.calibration is None:
            raise LcadError("detector is not calibrated")
        figs["plots/score_histogram.png"] = plots.score_histogram(
            diag["error"], det.calibration.window_threshold)
        figs["plots/latent_space.png"] = plots.latent_space(diag["latent"], diag["error"])
    client = MlflowClient()
    for name, fig in figs.items():
        client.log_figure(run_id, fig, name)
        plt.close(fig)


def dataset_digest(curves: Sequence[LightCurve]) -> str:
    """A content hash of the curves (ids, times, fluxes, errors, bands): the same data gives
    the same digest in every run, so the MLflow UI shows which runs share a training set."""
    h = hashlib.sha256()
    for c in curves:
        h.update(c.object_id.encode())
        for a in (c.time, c.flux, c.flux_err, c.band):
            if a is not None:
                h.update(a.astype(str).tobytes() if a.dtype == object else
                         np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:8]


def log_dataset(curves: Sequence[LightCurve], source: str, name: str, context: str) -> None:
    """Record the training data as a run input: source, schema and a content digest.

    No copy of the data: building and profiling a DataFrame of every point cost 1.5 s per run
    on 250,000 points, the largest fixed cost of tracking.
    """
    import mlflow
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    profile = {"num_rows": sum(len(c) for c in curves), "num_objects": len(curves)}

    class CurvesDataset(MetaDataset):
        """Metadata, content digest and a profile (points and objects) of the curves."""

        @property
        def profile(self) -> dict[str, int]:
            return profile

        def to_dict(self) -> dict[str, str]:
            return {**super().to_dict(), "profile": json.dumps(profile)}

    dataset = CurvesDataset(resolve_dataset_source(source), name=name,
                            digest=dataset_digest(curves), schema=input_schema())
    mlflow.log_input(dataset, context=context)
