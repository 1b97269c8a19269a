"""POST /v1/score, /v1/encode, /v1/reconstruct: the Detector's verbs over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from lcad.models.detector import Detector, Prepared
from lcad.models.errors import ConfigError
from lcad.models.lightcurve import LightCurve
from lcad.models.uncertainty import MAX_SAMPLES, NoUncertaintyError
from lcad.service.deps import (
    ApiKey,
    BatcherDep,
    MetricsDep,
    ReadyDetector,
    SettingsDep,
    StateDep,
)
from lcad.service.errors import ApiError
from lcad.service.inputs import one_option, read_curves
from lcad.service.pipeline import FinishAll, each, run, scores
from lcad.service.responses import (
    ERROR_RESPONSES,
    FastJSONResponse,
    body_doc,
    encode_json,
    reconstruct_json,
    score_json,
)
from lcad.service.schemas import (
    DEFAULT_SAMPLES,
    LOOK_FOR_DOC,
    EncodeResponse,
    LookFor,
    ReconstructResponse,
    ScoreResponse,
)

router = APIRouter(tags=["scoring"], responses=ERROR_RESPONSES)


class Scoring:
    """What every scoring route needs, gathered once per request."""

    def __init__(self, det: ReadyDetector, state: StateDep, settings: SettingsDep,
                 metrics: MetricsDep, batcher: BatcherDep, _key: ApiKey):
        self.det, self.state, self.settings = det, state, settings
        self.metrics, self.batcher = metrics, batcher

    async def answer_raw(self, curves: list[LightCurve], finish: FinishAll) -> list[Any]:
        """The answers `finish` gives every curve (`pipeline.each`, `pipeline.scores`), in
        order."""
        return await run(self.det, curves, finish, batcher=self.batcher,
                         metrics=self.metrics, settings=self.settings)

    async def answer(self, curves: list[LightCurve], finish: FinishAll,
                     extra: dict[str, Any] | None = None) -> Response:
        results = await self.answer_raw(curves, finish)
        return FastJSONResponse({"model": self.state.ref(), **(extra or {}),
                                 "results": results})


ScoringDep = Annotated[Scoring, Depends(Scoring)]


@router.post("/v1/score", response_model=ScoreResponse, openapi_extra=body_doc("ScoreRequest"))
async def score(request: Request, s: ScoringDep,
                include: Annotated[list[str] | None, Query(
                    description="text/csv bodies: what to include")] = None,
                threshold: Annotated[float | None, Query(gt=0)] = None,
                samples: Annotated[int | None, Query(
                    ge=2, le=MAX_SAMPLES, description="text/csv bodies: random passes for "
                    "include=uncertainty")] = None,
                look_for: Annotated[LookFor | None, Query(
                    description=f"text/csv bodies: {LOOK_FOR_DOC}")] = None) -> Response:
    """Scores, p-values, verdicts and intervals per series; more on request.
    `include: ["uncertainty"]`: the mean and spread of the scores over `samples` random
    passes of the network (Monte-Carlo dropout, the variational posterior)."""
    curves, opts = await read_curves(request, s.det, s.settings)
    wanted = set(opts.get("include") or include or [])
    thr = one_option("threshold", opts.get("threshold"), threshold)
    # the networks run batched as the model's own (`s.answer`); the points are scored with
    # the point score asked for
    det = asked_for(s.det, one_option("look_for", opts.get("look_for"), look_for))
    used = {"point_score": det.point_method}
    if "uncertainty" not in wanted:
        return await s.answer(curves, scores(det, thr, lambda c: score_json(c, wanted)), used)
    n = opts.get("samples") or samples or DEFAULT_SAMPLES
    try:
        network = det.stochastic_network(n)
    except NoUncertaintyError as exc:
        raise ApiError(422, f"include: {exc}", code="no_uncertainty") from None

    def with_spread(prepared: list[Prepared], z: np.ndarray, r: np.ndarray) -> list[dict]:
        cs = det.finish_scores(prepared, z, r, thr)
        det.attach_spread(prepared, cs, n, network, thr)
        return [score_json(c, wanted) for c in cs]

    return await s.answer(curves, with_spread, used)


def asked_for(det: Detector, look_for: str | None) -> Detector:
    """`det` asked for `look_for` (`Detector.looking_for`); one it cannot give: 422."""
    try:
        return det.looking_for(look_for)
    except ConfigError as exc:
        raise ApiError(422, f"look_for: {exc}", code="cannot_look_for",
                       details=[{"field": "look_for", "problem": str(exc),
                                 "can": det.look_for}]) from None


@router.post("/v1/encode", response_model=EncodeResponse, openapi_extra=body_doc("SeriesRequest"))
async def encode(request: Request, s: ScoringDep) -> Response:
    """Latent code of every window, with the window's start and end times."""
    det = s.det
    curves, _ = await read_curves(request, det, s.settings)
    return await s.answer(curves, each(lambda p, z, r: encode_json(det.finish_encode(p, z))))


@router.post("/v1/reconstruct", response_model=ReconstructResponse,
             openapi_extra=body_doc("SeriesRequest"))
async def reconstruct(request: Request, s: ScoringDep) -> Response:
    """Reconstructed flux at every input time."""
    det = s.det
    curves, _ = await read_curves(request, det, s.settings)
    return await s.answer(curves, each(
        lambda p, z, r: reconstruct_json(det.finish_reconstruct(p, r))))
