"""The lcad pyfunc, logged as code (MLflow "models from code"): nothing is pickled.

It loads the bundle shipped as the `bundle` artifact with `Detector.load` (Keras safe mode)
and scores long-format frames: object_id, time, flux[, flux_err][, band].
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from lcad.models.detector import Detector
from lcad.models.frames import curves_from_frame


class LcadPyfuncModel(PythonModel):
    """Per-point scores of every light curve in the input frame."""

    detector: Detector

    def load_context(self, context: Any) -> None:
        self.detector = Detector.load(context.artifacts["bundle"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None
                ) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        for optional in ("flux_err", "band"):
            if optional in frame.columns and frame[optional].isna().all():
                frame = frame.drop(columns=optional)
        curves = curves_from_frame(frame, emit_warnings=False)
        threshold = (params or {}).get("threshold")
        return self.detector.score(curves, threshold=threshold).points_frame()


mlflow.models.set_model(LcadPyfuncModel())
