"""Dependencies: what routes need, read from `app.state` (set once by `create_app`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from lcad.models.detector import Detector
from lcad.service.batching import MicroBatcher
from lcad.service.errors import ApiError
from lcad.service.metrics import ServiceMetrics
from lcad.service.model_state import ModelState
from lcad.service.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_state(request: Request) -> ModelState:
    return request.app.state.model


def get_metrics(request: Request) -> ServiceMetrics:
    return request.app.state.metrics


def get_batcher(request: Request) -> MicroBatcher:
    return request.app.state.batcher


SettingsDep = Annotated[Settings, Depends(get_settings)]
StateDep = Annotated[ModelState, Depends(get_state)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]
BatcherDep = Annotated[MicroBatcher, Depends(get_batcher)]


def ready_detector(state: StateDep) -> Detector:
    """The served detector, or 503 (with Retry-After) while there is none."""
    if state.status != "ready" or state.detector is None:
        raise ApiError(503, f"model not ready: {state.reason}", code="not_ready",
                       headers={"Retry-After": "5"})
    return state.detector


ReadyDetector = Annotated[Detector, Depends(ready_detector)]
# documents the key in OpenAPI; the middleware enforces it (lcad.service.middleware)
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="required when LCAD_API_KEYS is set")
ApiKey = Annotated[str | None, Depends(api_key_header)]
