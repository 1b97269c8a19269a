"""lcad: light-curve anomaly detection with dense autoencoders.

    import lcad
    curves = lcad.read_curves("light_curves.csv")
    detector = lcad.Detector.fit(curves, train={"epochs": 10})
    result = detector.score(curves)

The names below are imported on first use, so `import lcad` stays cheap (no Keras).
The subpackages: `lcad.models` (the core), `lcad.training` (files, fitting runs, MLflow),
`lcad.service` (the FastAPI app); `lcad.cli` is the `lcad` command.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lcad._meta import __version__

if TYPE_CHECKING:
    from lcad.models.config import DetectorConfig
    from lcad.models.detector import Detector
    from lcad.models.io import read_curves
    from lcad.models.lightcurve import LightCurve
    from lcad.models.results import ScoreResult

__all__ = ["Detector", "DetectorConfig", "LightCurve", "ScoreResult", "__version__",
           "read_curves"]

_LAZY = {
    "Detector": "lcad.models.detector",
    "DetectorConfig": "lcad.models.config",
    "LightCurve": "lcad.models.lightcurve",
    "ScoreResult": "lcad.models.results",
    "read_curves": "lcad.models.io",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lcad' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
