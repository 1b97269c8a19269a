"""Request and response bodies of the HTTP API (pydantic)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Include = Literal["latent", "reconstruction", "point_scores", "intervals"]

EXAMPLE_SERIES: Any = {
    "id": "star-1",
    "time": [0.02 * i for i in range(80)],
    "flux": [round(10 + ((i % 30) / 30.0), 3) for i in range(80)],
}


class Series(BaseModel):
    """One light curve: times, fluxes, optional errors and bands (same length)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_SERIES]})
    id: str = Field(..., min_length=1, max_length=256)
    time: list[float] = Field(..., min_length=1)
    flux: list[float] = Field(..., min_length=1)
    flux_err: list[float] | None = None
    band: list[str] | None = None


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"series": [EXAMPLE_SERIES], "include": ["point_scores", "intervals"]}]})
    series: list[Series] = Field(..., min_length=1)
    include: list[Include] = Field(default_factory=list)
    threshold: float | None = Field(None, gt=0, allow_inf_nan=False)


class SeriesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"series": [EXAMPLE_SERIES]}]})
    series: list[Series] = Field(..., min_length=1)


class IntervalOut(BaseModel):
    start: float
    end: float
    peak_time: float
    peak_score: float
    p_value: float | None
    sign: Literal["dimming", "brightening"]
    n_points: int


class LatentOut(BaseModel):
    window_start: list[float]
    window_end: list[float]
    codes: list[list[float]]


class ModelRef(BaseModel):
    name: str | None
    version: str | None
    run_id: str | None


class SeriesScore(BaseModel):
    id: str
    score: float | None
    p_value: float | None
    is_anomalous: bool
    threshold: float
    intervals: list[IntervalOut]
    point_scores: list[float | None] | None = None
    point_p_values: list[float | None] | None = None
    reconstruction: list[float | None] | None = None
    latent: LatentOut | None = None
    warnings: list[str] = Field(default_factory=list)


class ScoreResponse(BaseModel):
    model: ModelRef
    results: list[SeriesScore]


class SeriesLatent(BaseModel):
    id: str
    latent: LatentOut
    warnings: list[str] = Field(default_factory=list)


class EncodeResponse(BaseModel):
    model: ModelRef
    results: list[SeriesLatent]


class SeriesReconstruction(BaseModel):
    id: str
    time: list[float]
    reconstruction: list[float | None]
    warnings: list[str] = Field(default_factory=list)


class ReconstructResponse(BaseModel):
    model: ModelRef
    results: list[SeriesReconstruction]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict] | dict | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody
