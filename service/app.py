"""`create_app(settings, detector)`: the FastAPI scoring service.

Routes are thin: parse and validate, then the Detector does the work (prepare, one batched
network call, finish). Nothing here re-implements preprocessing or scoring.
"""


import asyncio
import hmac
import io
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

import numpy as np
import orjson
import pandas as pd
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import APIKeyHeader
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from lcad._meta import __version__
from lcad.models.detector import Detector, Prepared, split_outputs, stack_inputs
from lcad.models.errors import LcadError, LightCurveError
from lcad.models.lightcurve import LightCurve
from lcad.models.results import finite_or_none
from lcad.registry import TrackingError
from lcad.service import errors
from lcad.service.batching import MicroBatcher, OverloadedError
from lcad.service.errors import ApiError
from lcad.service.metrics import ServiceMetrics
from lcad.service.model_state import ModelState
from lcad.service.schemas import (
    EncodeResponse,
    ErrorEnvelope,
    ReconstructResponse,
    ScoreRequest,
    ScoreResponse,
    Series,
    SeriesRequest,
)
from lcad.service.settings import Settings

log = logging.getLogger("lcad.service")
OPEN_PATHS = ("/health/live", "/health/ready", "/metrics", "/ping", "/version")
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorEnvelope, "description": desc} for code, desc in {
        401: "API key missing", 403: "API key invalid", 413: "body too large",
        415: "unsupported content type", 422: "invalid series (the field and the problem)",
        503: "model not ready, or overloaded (Retry-After)", 504: "request timed out"}.items()}


def _body_doc(schema_ref: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}},
        "text/csv": {"schema": {"type": "string"}, "example":
                     "object_id,time,flux\nstar-1,0.00,10.1\nstar-1,0.02,10.3\n"}}}}


def create_app(settings: Settings | None = None, detector: Detector | None = None) -> FastAPI:
    """The app; `detector` (tests, notebooks) skips loading from LCAD_MODEL_URI."""
    settings = settings or Settings()
    metrics = ServiceMetrics()
    state = ModelState()
    batcher = MicroBatcher(settings.max_batch_rows, settings.max_wait_ms / 1000.0,
                           settings.max_queue, metrics.observe_batch)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        loader: asyncio.Task[None] | None = None
        if detector is not None:
            if settings.warmup:
                from lcad.service.model_state import warm_up

                await asyncio.to_thread(warm_up, detector, settings.max_batch_rows)
            state.use(detector, "in-process", {"name": settings.model_name})
            metrics.ready.set(1)
        elif settings.model_uri:
            loader = asyncio.create_task(_load(settings.model_uri))
        watcher = (asyncio.create_task(_watch(settings.model_uri, settings.poll_seconds))
                   if detector is None and settings.model_uri and settings.poll_seconds > 0
                   else None)
        try:
            yield
        finally:
            for task in (loader, watcher):
                if task is not None and not task.done():
                    task.cancel()
            await batcher.stop()

    async def _watch(uri: str, every: float) -> None:
        """Reload when the alias moves or the bundle changes, or retry a failed load."""
        from lcad.service.model_state import fingerprint

        while True:
            await asyncio.sleep(every)
            if state.status == "loading":
                continue
            try:
                now = await asyncio.to_thread(fingerprint, uri)
            except Exception as exc:  # the registry is down: keep serving, try again later
                log.warning("model poll of %s failed: %s", uri, exc)
                continue
            if now is None:
                continue
            if now != state.loaded_fingerprint or state.status == "failed":
                log.info("model at %s changed (%s); reloading", uri, now)
                await _load(uri)

    async def _load(uri: str) -> None:
        try:
            await state.load(uri, settings.model_name, settings.warmup, settings.max_batch_rows)
        except Exception as exc:
            log.error("model load failed: %s", exc)
        metrics.ready.set(1 if state.status == "ready" else 0)
        if state.load_seconds is not None:
            metrics.load_seconds.set(state.load_seconds)

    app = FastAPI(
        title="lcad", version=__version__, lifespan=lifespan,
        description="Light-curve anomaly detection: latent codes, reconstructions and "
                    "reconstruction-error anomaly scores from a dense autoencoder.")
    app.state.settings, app.state.model, app.state.metrics = settings, state, metrics
    app.state.batcher = batcher
    errors.install(app)
    api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                                  description="required when LCAD_API_KEYS is set")

    # ---- middleware: metrics outermost, then authentication -------------------------------
    @app.middleware("http")
    async def authenticate(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                           ) -> Response:
        if settings.api_keys and not request.url.path.startswith(OPEN_PATHS):
            key = request.headers.get("x-api-key")
            auth = request.headers.get("authorization", "")
            if key is None and auth.lower().startswith("bearer "):
                key = auth[7:].strip()
            if not key:
                return errors.envelope(401, "unauthorized", "API key required (X-API-Key "
                                       "header or Authorization: Bearer)",
                                       headers={"WWW-Authenticate": "Bearer"})
            if not _key_ok(key, settings.api_keys):
                return errors.envelope(403, "forbidden", "API key not accepted")
        return await call_next(request)

    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                      ) -> Response:
        t0 = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            path = getattr(route, "path", "unmatched")
            metrics.requests.labels(path, request.method, str(status)).inc()
            metrics.latency.labels(path, request.method).observe(time.perf_counter() - t0)

    def ready_detector() -> Detector:
        if state.status != "ready" or state.detector is None:
            raise ApiError(503, f"model not ready: {state.reason}", code="not_ready",
                           headers={"Retry-After": "5"})
        return state.detector

    ReadyDetector = Annotated[Detector, Depends(ready_detector)]
    ApiKey = Annotated[str | None, Depends(api_key_header)]

    # ---- the shared pipeline --------------------------------------------------------------
    async def run(det: Detector, curves: list[LightCurve],
                  finish: Callable[[Prepared, np.ndarray, np.ndarray], Any]) -> list[Any]:
        async def work() -> list[Any]:
            prepared, inputs = await asyncio.to_thread(_prepare, det, curves)
            try:
                z, r = await batcher.submit(det, det.predict_arrays, inputs)
            except OverloadedError as exc:
                metrics.rejected.inc()
                raise ApiError(503, f"overloaded: {exc}; retry shortly", code="overloaded",
                               headers={"Retry-After": "1"}) from None
            pairs = split_outputs(prepared, z, r)
            return await asyncio.to_thread(
                lambda: [finish(p, zz, rr) for p, (zz, rr) in zip(prepared, pairs, strict=True)])

        try:
            with batcher.expect():
                out = await asyncio.wait_for(work(), settings.request_timeout_s)
        except TimeoutError:
            raise ApiError(504, f"request took longer than {settings.request_timeout_s:g} s",
                           code="timeout") from None
        metrics.series.inc(len(curves))
        metrics.points.inc(sum(len(c) for c in curves))
        return out

    async def read_series(request: Request) -> tuple[list[Series], dict[str, Any]]:
        body = await read_body(request, settings.max_body_bytes)
        ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
        if ctype == "text/csv":
            return series_from_csv(body), {}
        if ctype not in ("application/json", ""):
            raise ApiError(415, f"content type {ctype!r} not supported; send application/json "
                           "or text/csv")
        try:
            payload = ScoreRequest.model_validate_json(body) if body else None
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        if payload is None:
            raise ApiError(422, "body: empty request body")
        return payload.series, {"include": payload.include, "threshold": payload.threshold}

    def to_curves(series: Sequence[Series], det: Detector) -> list[LightCurve]:
        if len(series) > settings.max_series_per_request:
            raise ApiError(422, f"series: {len(series)} series exceed the limit of "
                           f"{settings.max_series_per_request} per request",
                           details={"limit": settings.max_series_per_request,
                                    "value": len(series)})
        return [validate_series(i, s, det, settings.max_points_per_series)
                for i, s in enumerate(series)]

    # ---- routes ---------------------------------------------------------------------------
    @app.post("/v1/score", response_model=ScoreResponse, responses=ERROR_RESPONSES,
              openapi_extra=_body_doc("ScoreRequest"), tags=["scoring"])
    async def score(request: Request, det: ReadyDetector, _key: ApiKey,
                    include: Annotated[list[str] | None, Query(
                        description="text/csv bodies: what to include")] = None,
                    threshold: Annotated[float | None, Query(gt=0)] = None) -> Response:
        """Scores, p-values, verdicts and intervals per series; more on request."""
        series, opts = await read_series(request)
        wanted = set(opts.get("include") or include or [])
        thr = one_threshold(opts.get("threshold"), threshold)
        curves = to_curves(series, det)
        results = await run(det, curves,
                            lambda p, z, r: score_json(det.finish_score(p, z, r, thr), wanted))
        return FastJSONResponse({"model": state.ref(), "results": results})

    @app.post("/v1/encode", response_model=EncodeResponse, responses=ERROR_RESPONSES,
              openapi_extra=_body_doc("SeriesRequest"), tags=["scoring"])
    async def encode(request: Request, det: ReadyDetector, _key: ApiKey) -> Response:
        """Latent code of every window, with the window's start and end times."""
        series, _ = await read_series(request)
        curves = to_curves(series, det)
        results = await run(det, curves, lambda p, z, r: encode_json(det.finish_encode(p, z)))
        return FastJSONResponse({"model": state.ref(), "results": results})

    @app.post("/v1/reconstruct", response_model=ReconstructResponse,
              responses=ERROR_RESPONSES, openapi_extra=_body_doc("SeriesRequest"),
              tags=["scoring"])
    async def reconstruct(request: Request, det: ReadyDetector, _key: ApiKey) -> Response:
        """Reconstructed flux at every input time."""
        series, _ = await read_series(request)
        curves = to_curves(series, det)
        results = await run(det, curves,
                            lambda p, z, r: reconstruct_json(det.finish_reconstruct(p, r)))
        return FastJSONResponse({"model": state.ref(), "results": results})

    @app.get("/v1/model", tags=["model"], responses=ERROR_RESPONSES)
    async def model_info(det: ReadyDetector, _key: ApiKey) -> dict[str, Any]:
        """What is being served: name, version, source, config, window, bands, threshold, and
        what the point score is ("scan" or "novelty", chosen in training)."""
        import keras

        from lcad.models.devices import devices

        cal = det.calibration
        return {
            **state.ref(), "source": state.source, "lcad_version": __version__,
            "keras_backend": keras.backend.backend(), "devices": devices(),
            "window": det.window, "bands": det.bands, "latent_dim": det.latent_dim,
            "cadence": det.preprocessor.cadence,
            "threshold": None if cal is None else cal.point_threshold,
            "point_score": det.point_method, "novelty_views": det.novelty_views,
            "target_false_alarm_rate": None if cal is None else cal.target_far,
            "config": det.config.model_dump(mode="json"), "training_metrics": det.metrics,
            "load_seconds": state.load_seconds,
        }

    @app.post("/v1/model/reload", tags=["model"], responses=ERROR_RESPONSES)
    async def reload(_key: ApiKey, uri: Annotated[str | None, Query(
            description="new model URI (default: the configured one)")] = None
                     ) -> dict[str, Any]:
        """Load the model again (or another one); the old one serves until the new is warm."""
        target = uri or settings.model_uri or state.source
        if not target or target == "in-process":
            raise ApiError(422, "uri: no model URI configured to reload")
        try:
            await state.load(target, settings.model_name, settings.warmup,
                             settings.max_batch_rows)
        except TrackingError as exc:  # the registry is down: try again later
            raise ApiError(503, f"reload failed: {exc}", code="reload_failed",
                           headers={"Retry-After": "30"}) from None
        except LcadError as exc:  # no model there, or not a usable bundle: the caller's URI
            raise ApiError(422, f"uri: cannot load model {target!r}: {exc}",
                           code="model_not_loadable", details={"uri": target}) from None
        except Exception as exc:
            raise ApiError(503, f"reload failed: {exc}", code="reload_failed") from None
        finally:
            metrics.ready.set(1 if state.status == "ready" else 0)
        return {"status": state.status, **state.ref(), "source": state.source}

    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/health/ready", tags=["health"], responses={503: {"model": ErrorEnvelope}})
    async def ready() -> Response:
        if state.status != "ready":
            return errors.envelope(503, "not_ready", state.reason, {"status": state.status},
                                   headers={"Retry-After": "5"})
        return JSONResponse({"status": "ready", **state.ref()})

    @app.get("/metrics", tags=["health"])
    async def prometheus() -> Response:
        return PlainTextResponse(generate_latest(metrics.registry),
                                 media_type=CONTENT_TYPE_LATEST)

    # ---- the MLflow scoring protocol ------------------------------------------------------
    @app.get("/ping", tags=["mlflow"])
    async def ping() -> Response:
        if state.status != "ready":
            return errors.envelope(503, "not_ready", state.reason)
        return PlainTextResponse("\n")

    @app.get("/version", tags=["mlflow"])
    async def version() -> Response:
        return PlainTextResponse(__version__)

    @app.post("/invocations", tags=["mlflow"], responses=ERROR_RESPONSES)
    async def invocations(request: Request, det: ReadyDetector, _key: ApiKey) -> Response:
        """MLflow clients' shapes (dataframe_split, dataframe_records, instances, inputs, CSV):
        long-format rows in, per-point scores out, as `mlflow models serve` would answer."""
        body = await read_body(request, settings.max_body_bytes)
        ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
        frame, params = invocation_frame(body, ctype)
        thr = params.get("threshold")
        if thr is not None and not (isinstance(thr, int | float) and thr > 0):
            raise ApiError(422, "params.threshold: must be a positive number")
        series = series_from_frame(frame)
        curves = to_curves(series, det)
        frames = await run(det, curves,
                           lambda p, z, r: det.finish_score(p, z, r, thr).points_frame())
        out = pd.concat(frames, ignore_index=True)
        records = out.astype(object).where(out.notna(), None).to_dict(orient="records")
        return JSONResponse({"predictions": records})

    def openapi() -> dict[str, Any]:
        """The generated spec plus the request bodies the routes parse themselves."""
        if app.openapi_schema:
            return app.openapi_schema
        from fastapi.openapi.utils import get_openapi

        spec = get_openapi(title=app.title, version=app.version, description=app.description,
                           routes=app.routes)
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        for model in (ScoreRequest, SeriesRequest):
            js = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(js.pop("$defs", {}))
            schemas[model.__name__] = js
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory: `uvicorn service.app:app_from_env --factory`."""
    logging.basicConfig(level=logging.INFO)
    return create_app(Settings())


# ---- helpers (pure) ----------------------------------------------------------------------
def _key_ok(key: str, keys: Sequence[str]) -> bool:
    ok = False
    for k in keys:  # compare against every key: time does not depend on which one matched
        ok |= hmac.compare_digest(key.encode(), k.encode())
    return ok


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 before it is read past `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"body of {declared} bytes exceeds the limit of {limit} bytes",
                       details={"limit": limit, "value": int(declared)})
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"body exceeds the limit of {limit} bytes",
                           details={"limit": limit})
        chunks.append(chunk)
    return b"".join(chunks)


def _prepare(det: Detector, curves: Sequence[LightCurve]
             ) -> tuple[list[Prepared], np.ndarray]:
    """Prepared curves and their stacked network inputs (cut here, off the event loop)."""
    out = []
    for i, c in enumerate(curves):
        try:
            out.append(det.prepare(c))
        except LightCurveError as exc:
            raise ApiError(422, f"series[{i}] ({c.object_id}): {exc.message}",
                           details=[{"field": f"series[{i}].{exc.field or 'time'}",
                                     "problem": exc.message}]) from None
    return out, stack_inputs(out)


def validate_series(i: int, s: Series, det: Detector, max_points: int) -> LightCurve:
    """The service is strict: NaN, mismatched lengths, unsorted times are 422s, not repairs."""
    where = f"series[{i}]"
    n = len(s.time)

    def bad(field: str, problem: str) -> ApiError:
        return ApiError(422, f"{where}.{field}: {problem}",
                        details=[{"field": f"{where}.{field}", "problem": problem}])

    if n > max_points:
        raise ApiError(422, f"{where}: {n} points exceed the limit of {max_points} per series",
                       details={"field": f"{where}.time", "limit": max_points, "value": n})
    t = np.asarray(s.time, dtype=np.float64)
    arrays = {"flux": s.flux, "flux_err": s.flux_err, "band": s.band}
    for name, values in arrays.items():
        if values is not None and len(values) != n:
            raise bad(name, f"has {len(values)} values but time has {n}")
    for name, arr in (("time", t), ("flux", np.asarray(s.flux, dtype=np.float64)),
                      ("flux_err", None if s.flux_err is None
                       else np.asarray(s.flux_err, dtype=np.float64))):
        if arr is None:
            continue
        nonfinite = np.flatnonzero(~np.isfinite(arr))
        if nonfinite.size:
            k = int(nonfinite[0])
            kind = "NaN" if np.isnan(arr[k]) else "infinite"
            raise bad(f"{name}[{k}]", f"is {kind} ({nonfinite.size} non-finite value(s))")
    if s.flux_err is not None and (np.asarray(s.flux_err) <= 0).any():
        k = int(np.flatnonzero(np.asarray(s.flux_err) <= 0)[0])
        raise bad(f"flux_err[{k}]", "must be positive")
    back = np.flatnonzero(np.diff(t) < 0)
    if back.size:
        k = int(back[0]) + 1
        raise bad("time", f"times are not sorted (time[{k}]={t[k]:g} < time[{k - 1}]="
                          f"{t[k - 1]:g})")
    if s.band is not None:
        unknown = sorted(set(s.band) - set(det.bands))
        if unknown:
            raise bad("band", f"unknown band(s) {unknown}; the model knows {det.bands}")
    elif det.bands != ["default"] and len(det.bands) > 1:
        raise bad("band", f"the model is multi-band {det.bands}: give a band for every point")
    band = s.band if s.band is not None else (None if det.bands == ["default"]
                                              else [det.bands[0]] * n)
    try:
        return LightCurve.from_arrays(s.id, t, s.flux, s.flux_err, band, emit_warnings=False)
    except LightCurveError as exc:
        raise bad(exc.field or "time", exc.message) from None


def one_threshold(body: float | None, query: float | None) -> float | None:
    """The threshold asked for, in the body or as `?threshold=`; two different ones: 422."""
    if body is not None and query is not None and body != query:
        raise ApiError(422, f"threshold: the body says {body:g} and ?threshold= says "
                       f"{query:g}; give one")
    return body if body is not None else query


def series_from_frame(frame: pd.DataFrame) -> list[Series]:
    from lcad.models.errors import DataError
    from lcad.models.frames import resolve_columns, time_in_days

    try:
        cmap = resolve_columns("body", [str(c) for c in frame.columns])
    except DataError as exc:
        raise ApiError(422, str(exc)) from None
    if cmap.unit == "mag":
        raise ApiError(422, "body: magnitudes are not accepted here; send flux")
    ids = frame[cmap.object_id].astype(str) if cmap.object_id else pd.Series(["series"] *
                                                                              len(frame))
    out = []
    for oid in pd.unique(ids):
        g = frame[ids.to_numpy() == oid]
        try:
            t = time_in_days(g[cmap.time], "body")
            f = pd.to_numeric(g[cmap.flux], errors="raise").to_numpy(float)
            e = None if cmap.flux_err is None else pd.to_numeric(
                g[cmap.flux_err], errors="raise").to_numpy(float)
        except (ValueError, TypeError, DataError) as exc:
            raise ApiError(422, f"body: non-numeric values for {oid!r}: {exc}") from None
        out.append(Series.model_construct(
            id=str(oid), time=t.tolist(), flux=f.tolist(),
            flux_err=None if e is None else e.tolist(),
            band=None if cmap.band is None else g[cmap.band].astype(str).tolist()))
    if not out:
        raise ApiError(422, "body: no rows")
    return out


def series_from_csv(body: bytes) -> list[Series]:
    if not body.strip():
        raise ApiError(422, "body: empty CSV")
    try:
        frame = pd.read_csv(io.BytesIO(body), encoding_errors="strict")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ApiError(422, f"body: not a readable CSV: {exc}") from None
    return series_from_frame(frame)


def invocation_frame(body: bytes, ctype: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The MLflow scoring-server input shapes, as one long-format frame and the params."""
    import json

    if ctype == "text/csv":
        try:
            return pd.read_csv(io.BytesIO(body)), {}
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise ApiError(422, f"body: not a readable CSV: {exc}") from None
    if ctype not in ("application/json", ""):
        raise ApiError(415, f"content type {ctype!r} not supported; send application/json "
                       "or text/csv")
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ApiError(422, "body: expected a JSON object with one of dataframe_split, "
                       "dataframe_records, instances, inputs")
    params = payload.get("params") or {}
    if not isinstance(params, dict):
        raise ApiError(422, "params: expected a JSON object")
    try:
        if "dataframe_split" in payload:
            d = payload["dataframe_split"]
            return pd.DataFrame(d["data"], columns=d.get("columns")), params
        if "dataframe_records" in payload:
            return pd.DataFrame.from_records(payload["dataframe_records"]), params
        for key in ("instances", "inputs"):
            if key in payload:
                data = payload[key]
                frame = pd.DataFrame(data) if isinstance(data, dict) else \
                    pd.DataFrame.from_records(data)
                return frame, params
    except (KeyError, TypeError, ValueError) as exc:
        raise ApiError(422, f"body: malformed MLflow input: {exc}") from None
    raise ApiError(422, "body: expected one of dataframe_split, dataframe_records, instances, "
                   f"inputs; got keys {sorted(payload)}")


class FastJSONResponse(JSONResponse):
    """orjson with numpy arrays passed through; NaN and inf become null."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def _floats(a: np.ndarray) -> np.ndarray:
    """A contiguous float64 array: orjson writes it as a list, with null for NaN/inf."""
    return np.ascontiguousarray(a, dtype=np.float64)


def score_json(c: Any, include: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": c.object_id, "score": finite_or_none(c.score), "p_value": finite_or_none(c.p_value),
        "is_anomalous": bool(c.is_anomalous), "threshold": float(c.threshold),
        "intervals": [{"start": i.start, "end": i.end, "peak_time": i.peak_time,
                       "peak_score": i.peak_score, "p_value": finite_or_none(i.p_value),
                       "sign": i.sign, "n_points": i.n_points} for i in c.intervals],
        "warnings": c.warnings,
    }
    if "point_scores" in include:
        out["point_scores"] = _floats(c.point_score)
        out["point_p_values"] = _floats(c.point_p_value)
    if "reconstruction" in include:
        out["reconstruction"] = _floats(c.reconstruction)
    if "latent" in include:
        out["latent"] = {"window_start": _floats(c.window_start),
                         "window_end": _floats(c.window_end),
                         "codes": np.ascontiguousarray(c.latent, dtype=np.float32)}
    return out


def encode_json(e: Any) -> dict[str, Any]:
    return {"id": e.object_id, "latent": {"window_start": _floats(e.window_start),
                                          "window_end": _floats(e.window_end),
                                          "codes": np.ascontiguousarray(e.latent,
                                                                        dtype=np.float32)},
            "warnings": e.warnings}


def reconstruct_json(r: Any) -> dict[str, Any]:
    return {"id": r.object_id, "time": _floats(r.time),
            "reconstruction": _floats(r.reconstruction), "warnings": r.warnings}
