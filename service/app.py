"""`create_app(settings, detector)`: the FastAPI scoring service.

Routes are thin (service/routes/): parse and validate (service/inputs.py), then the Detector
does the work through one batched network call (service/pipeline.py). Nothing here
re-implements preprocessing or scoring.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from lcad._meta import __version__
from lcad.models.detector import Detector
from lcad.service import errors, middleware
from lcad.service.batching import MicroBatcher
from lcad.service.catalogue_state import CatalogueState
from lcad.service.lifecycle import lifespan
from lcad.service.metrics import ServiceMetrics
from lcad.service.model_state import ModelState
from lcad.service.routes import health, mlflow, model, scoring, viewer
from lcad.service.schemas import ScoreRequest, SeriesRequest
from lcad.service.settings import Settings


def create_app(settings: Settings | None = None, detector: Detector | None = None) -> FastAPI:
    """The app; `detector` (tests, notebooks) skips loading from LCAD_MODEL_URI."""
    settings = settings or Settings()
    metrics = ServiceMetrics()
    state = ModelState()
    catalogue = CatalogueState.from_settings(settings)
    batcher = MicroBatcher(settings.max_batch_rows, settings.max_wait_ms / 1000.0,
                           settings.max_queue, metrics.observe_batch)
    app = FastAPI(
        title="lcad", version=__version__, docs_url=None, redoc_url=None,
        lifespan=lifespan(settings, state, metrics, batcher, detector, catalogue),
        description="Light-curve anomaly detection: latent codes, reconstructions and "
                    "reconstruction-error anomaly scores from a dense autoencoder.")
    app.state.settings, app.state.model, app.state.metrics = settings, state, metrics
    app.state.batcher, app.state.catalogue = batcher, catalogue
    errors.install(app)
    middleware.install(app, settings, metrics)
    for router in (scoring.router, model.router, health.router, mlflow.router, viewer.router):
        app.include_router(router)
    app.openapi = lambda: openapi(app)  # type: ignore[method-assign]
    install_docs(app)
    return app


SWAGGER = Path(__file__).with_name("static") / "swagger"


def install_docs(app: FastAPI) -> None:
    """`/docs` with Swagger UI served from the package (FastAPI's default loads it from a
    CDN: a blank page without internet). ReDoc, CDN-only too, is not offered."""
    from fastapi.openapi.docs import (
        get_swagger_ui_html,
        get_swagger_ui_oauth2_redirect_html,
    )
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles

    app.mount("/static/swagger", StaticFiles(directory=SWAGGER), name="swagger")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
            oauth2_redirect_url="/docs/oauth2-redirect")

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


def openapi(app: FastAPI) -> dict[str, Any]:
    """The generated spec plus the request bodies the routes parse themselves."""
    if app.openapi_schema:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    spec = get_openapi(title=app.title, version=app.version, description=app.description,
                       routes=app.routes)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for model_ in (ScoreRequest, SeriesRequest):
        js = model_.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(js.pop("$defs", {}))
        schemas[model_.__name__] = js
    app.openapi_schema = spec
    return spec


def app_from_env() -> FastAPI:
    """uvicorn factory: `uvicorn lcad.service.app:app_from_env --factory`."""
    logging.basicConfig(level=logging.INFO)
    return create_app(Settings())
