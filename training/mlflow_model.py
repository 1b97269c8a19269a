"""The lcad pyfunc, logged as code (MLflow "models from code"): nothing is pickled.

It loads the bundle shipped as the `bundle` artifact with `Detector.load` (Keras safe mode)
and takes light curves in either of two layouts:

- long format, one row per point: object_id, time, flux[, flux_err][, band]; the answer is
  one row per point (`params={"output": "objects"}`: one row per object instead;
  `params={"samples": N}`: the scores' mean and spread over N random passes as well;
  `params={"look_for": "events"}`: the point score that finds events, where the model was
  trained for shapes: `lcad score --look-for`);
- one row per object, its points as arrays (`time`, `flux`[, `flux_err`][, `band`] hold
  lists, as a Spark array column or an alert broker's history does); the answer is one row
  per input row, in order: object_id, score, p_value, is_anomalous, latent (the object's
  mean latent code, its embedding for an object model), error (why a row has no score; empty
  when it has one: spark_udf turns a missing string into the text "None").
  This is the layout of `mlflow.pyfunc.spark_udf`, which hands the model batches of rows:
  an object must be one row there, not many.
"""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from lcad.models.detector import Detector
from lcad.models.errors import LcadError
from lcad.models.frames import curves_from_frame

ARRAY_COLUMNS = ("time", "flux", "flux_err", "band")
OBJECT_OUTPUT = ["object_id", "score", "p_value", "is_anomalous", "latent", "error"]
# the struct to pass as spark_udf's result_type (an input example alone gave no signature
# and spark_udf then returned one double)
SPARK_RESULT_TYPE = ("object_id string, score double, p_value double, is_anomalous boolean, "
                     "latent array<double>, error string")


def is_per_object(frame: pd.DataFrame) -> bool:
    """True when the `time` cells hold sequences (one row per object)."""
    if "time" not in frame.columns or frame.empty:
        return False
    first = frame["time"].dropna()
    return bool(len(first)) and isinstance(first.iloc[0], (list, tuple, np.ndarray))


def object_rows(result: Any) -> dict[str, dict[str, Any]]:
    """object_id -> its row of the per-object answer."""
    rows = {}
    for c in result.curves:
        latent = np.asarray(c.latent, dtype=np.float64)
        code = latent.mean(axis=0) if latent.ndim == 2 and len(latent) else latent.ravel()
        rows[c.object_id] = {"object_id": c.object_id, "score": c.score, "p_value": c.p_value,
                             "is_anomalous": bool(c.is_anomalous),
                             "latent": [float(v) for v in code],
                             "error": "" if np.isfinite(c.score)
                             else "no window had enough observed grid points"}
        if c.uncertainty is not None:
            rows[c.object_id].update(score_mean=c.uncertainty.score_mean,
                                     score_std=c.uncertainty.score_std)
    for oid, why in result.skipped.items():
        rows[oid] = {"object_id": oid, "score": np.nan, "p_value": np.nan,
                     "is_anomalous": False, "latent": [], "error": why}
    return rows


def score_per_object(det: Detector, frame: pd.DataFrame, threshold: float | None,
                     samples: int = 0) -> pd.DataFrame:
    """One answer row per input row: each row is exploded into a long frame of its own,
    so an unreadable row gets its reason and the others their scores."""
    curves, errors, ids = [], {}, []
    for i, row in enumerate(frame.itertuples(index=False)):
        values = row._asdict()
        oid = str(values.get("object_id", i))
        ids.append(oid)
        long = {k: np.asarray(values[k]) for k in ARRAY_COLUMNS
                if k in values and values[k] is not None
                and not (np.isscalar(values[k]) and pd.isna(values[k]))}
        try:
            if "time" not in long or "flux" not in long:
                raise LcadError("time and flux must be arrays of the object's points")
            one = pd.DataFrame({"object_id": oid, **long})
            curves += curves_from_frame(one, source=f"row {i}", emit_warnings=False)
        except (LcadError, ValueError) as exc:
            errors[oid] = str(exc)
    result = det.score(curves, threshold=threshold, on_error="skip",
                       samples=samples) if curves else None
    rows = object_rows(result) if result is not None else {}
    for oid, why in errors.items():
        rows[oid] = {"object_id": oid, "score": np.nan, "p_value": np.nan,
                     "is_anomalous": False, "latent": [], "error": why}
    return pd.DataFrame([rows[oid] for oid in ids], columns=output_columns(samples))


def output_columns(samples: int) -> list[str]:
    """The per-object answer's columns (`samples`: the score's mean and spread too)."""
    return OBJECT_OUTPUT + (["score_mean", "score_std"] if samples else [])


class LcadPyfuncModel(PythonModel):
    """Scores of every light curve in the input frame (either layout, see the module)."""

    detector: Detector

    def load_context(self, context: Any) -> None:
        self.detector = Detector.load(context.artifacts["bundle"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None
                ) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        params = params or {}
        threshold = params.get("threshold")
        samples = int(params.get("samples") or 0)  # >= 2: the mean and spread of the scores
        det = self.detector.looking_for(params.get("look_for") or None)
        if is_per_object(frame):
            return score_per_object(det, frame, threshold, samples)
        for optional in ("flux_err", "band"):
            if optional in frame.columns and frame[optional].isna().all():
                frame = frame.drop(columns=optional)
        curves = curves_from_frame(frame, emit_warnings=False)
        result = det.score(curves, threshold=threshold, samples=samples)
        if params.get("output") == "objects":
            rows = object_rows(result)
            return pd.DataFrame([rows[c.object_id] for c in curves if c.object_id in rows],
                                columns=output_columns(samples))
        return result.points_frame()


mlflow.models.set_model(LcadPyfuncModel())
