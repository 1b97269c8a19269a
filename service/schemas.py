"""Request and response bodies of the HTTP API (pydantic)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import AliasChoices, BaseModel, ConfigDict, Field

Include = Literal["latent", "reconstruction", "point_scores", "intervals", "uncertainty"]
LookFor = Literal["events", "shapes"]
LOOK_FOR_DOC = ("the point score that finds events added to a series (flares, dips, transits: "
                "the residual scan) or shapes and regimes that changed (novelty), instead of "
                "the model's own; GET /v1/model's look_for lists what it can be asked")
DEFAULT_SAMPLES = 20  # random passes for include=["uncertainty"] when `samples` is not given

def _example_flux(n: int = 256, flare_at: int = 160) -> list[float]:
    """A quiet star (unit noise, as Kepler's standardised fluxes) with one flare: the /docs
    example gets a real answer from a model trained on such data (one short interval)."""
    rng = np.random.default_rng(0)
    flux = rng.normal(0.0, 1.0, n)
    after = np.arange(n) - flare_at
    flux += np.where(after >= 0, 12.0 * np.exp(-np.maximum(after, 0) / 3.0), 0.0)
    return [round(float(v), 3) for v in flux]


EXAMPLE_CADENCE = 0.0204  # days: Kepler's 29.4-minute long cadence
EXAMPLE_SERIES: Any = {
    "id": "star-1",
    "time": [round(EXAMPLE_CADENCE * i, 4) for i in range(256)],
    "flux": _example_flux(),
}
EXAMPLE_CSV = "object_id,time,flux\n" + "".join(
    f"star-1,{t},{f}\n" for t, f in zip(EXAMPLE_SERIES["time"], EXAMPLE_SERIES["flux"],
                                        strict=True))


class Series(BaseModel):
    """One light curve: times, fluxes, optional errors and bands (same length)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_SERIES]})
    # `object_id` too: the name of the column in lcad's CSV files and in the service's CSV body
    id: str | None = Field(None, min_length=1, max_length=256,
                           validation_alias=AliasChoices("id", "object_id"),
                           description="the series' name in the answer (default: series-I, "
                           "I its place in the request from 0)")
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
    samples: int | None = Field(
        None, ge=2, le=200, description='random passes for include ["uncertainty"] '
        f"(Monte-Carlo dropout, the variational posterior; default {DEFAULT_SAMPLES}): each "
        "costs about one scoring of the request")
    look_for: LookFor | None = Field(None, description=LOOK_FOR_DOC)


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


class UncertaintyOut(BaseModel):
    """Mean and spread of the scores over `samples` random passes of the network."""

    samples: int
    sources: list[Literal["dropout", "latent"]]
    score_mean: float | None
    score_std: float | None
    point_score_mean: list[float | None] | None = None  # with include "point_scores"
    point_score_std: list[float | None] | None = None
    notes: list[str] = Field(default_factory=list)


class SeriesScore(BaseModel):
    id: str
    score: float | None
    p_value: float | None
    is_anomalous: bool
    threshold: float
    intervals: list[IntervalOut]
    point_scores: list[float | None] | None = None
    point_p_values: list[float | None] | None = None
    # with "point_scores": the points flagged (above the threshold and, where novelty
    # scores, inside an interval: `scoring.novelty_intervals`)
    point_flags: list[bool] | None = None
    reconstruction: list[float | None] | None = None
    latent: LatentOut | None = None
    uncertainty: UncertaintyOut | None = None
    warnings: list[str] = Field(default_factory=list)
    # one of the model's training curves (its id): novelty compared its windows with the
    # training windows apart from them in time (a self-join), not with themselves
    training_curve: bool = False


class ScoreResponse(BaseModel):
    model: ModelRef
    # what scored the points: "scan" (looks for events) or "novelty" (shapes)
    point_score: str
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
