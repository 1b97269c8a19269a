"""Liveness, readiness and Prometheus metrics (open without an API key)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lcad.service import errors
from lcad.service.deps import MetricsDep, StateDep
from lcad.service.schemas import ErrorEnvelope

router = APIRouter(tags=["health"])


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "alive"}


@router.get("/health/ready", responses={503: {"model": ErrorEnvelope}})
async def ready(state: StateDep) -> Response:
    if state.status != "ready":
        return errors.envelope(503, "not_ready", state.reason, {"status": state.status},
                               headers={"Retry-After": "5"})
    return JSONResponse({"status": "ready", **state.ref()})


@router.get("/metrics")
async def prometheus(metrics: MetricsDep) -> Response:
    return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
