"""The MLflow scoring protocol (/ping, /version, /invocations), as `mlflow models serve`
answers it, so MLflow clients can call lcad unchanged."""

from __future__ import annotations

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from lcad._meta import __version__
from lcad.service import errors
from lcad.service.deps import ApiKey, BatcherDep, MetricsDep, ReadyDetector, SettingsDep, StateDep
from lcad.service.errors import ApiError
from lcad.service.inputs import curves_from_table, invocation_frame, read_body
from lcad.service.pipeline import run, scores
from lcad.service.responses import ERROR_RESPONSES

router = APIRouter(tags=["mlflow"])


@router.get("/ping")
async def ping(state: StateDep) -> Response:
    if state.status != "ready":
        return errors.envelope(503, "not_ready", state.reason)
    return PlainTextResponse("\n")


@router.get("/version")
async def version() -> Response:
    return PlainTextResponse(__version__)


@router.post("/invocations", responses=ERROR_RESPONSES)
async def invocations(request: Request, det: ReadyDetector, settings: SettingsDep,
                      metrics: MetricsDep, batcher: BatcherDep, _key: ApiKey) -> Response:
    """MLflow clients' shapes (dataframe_split, dataframe_records, instances, inputs, CSV):
    long-format rows in, per-point scores out, as `mlflow models serve` would answer."""
    body = await read_body(request, settings.max_body_bytes)
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
    frame, params = invocation_frame(body, ctype)
    thr = params.get("threshold")
    if thr is not None and not (isinstance(thr, int | float) and thr > 0):
        raise ApiError(422, "params.threshold: must be a positive number")
    curves = curves_from_table(frame, det, settings)
    frames = await run(det, curves, scores(det, thr, lambda c: c.points_frame()),
                       batcher=batcher, metrics=metrics, settings=settings)
    out = pd.concat(frames, ignore_index=True)
    records = out.astype(object).where(out.notna(), None).to_dict(orient="records")
    return JSONResponse({"predictions": records})
