"""`DetectorInfo`: what a detector records about where it came from and what training
decided from the data. Stored in the bundle's config.json under "info"."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

SplitBy = Literal["object", "time"]


@dataclass
class DetectorInfo:
    split_by: SplitBy | None = None  # how training split the curves
    point_score: str | None = None  # the point scorer calibration chose (point_scores.py)
    point_score_reason: str | None = None  # why, in a sentence (`point_score_reason`)
    novelty_views: list[int] = field(default_factory=list)  # grid points per novelty view
    autoencoder: dict[str, Any] = field(default_factory=dict)  # what it learned (diagnostics)
    history: list[dict[str, float]] = field(default_factory=list)  # per-epoch metrics
    data_source: str | None = None  # what it was trained on
    run_id: str | None = None  # the MLflow run that trained it
    name: str | None = None  # registered model name
    version: str | None = None  # registered model version
    registered_model: str | None = None
    model_uri: str | None = None  # the logged MLflow model
    source: str | None = None  # the bundle it was loaded from

    def update(self, **values: Any) -> None:
        """Set fields by name; an unknown name is an error, not a silent new key."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TypeError(f"DetectorInfo has no field(s) {unknown}")
        for key, value in values.items():
            setattr(self, key, value)

    def to_dict(self) -> dict[str, Any]:
        """As stored (strict JSON): an epoch's value that was not a number (a diverged
        training: models/fit.py) is None."""
        out = asdict(self)
        out["history"] = [{k: v if not isinstance(v, float) or math.isfinite(v) else None
                           for k, v in epoch.items()} for epoch in self.history]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DetectorInfo:
        """From a bundle; keys this version does not know (a newer writer's) are left out."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
