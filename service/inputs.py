"""Request bodies -> light curves: JSON series, CSV and the MLflow shapes, all strict.

The service refuses what a file reader would repair (NaN, unsorted times, mismatched
lengths): a 422 naming the field and the problem. Tables go through the core's column
resolution (`lcad.models.frames`); every series ends in `LightCurve.from_arrays`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from lcad.models.detector import Detector, Prepared, stack_inputs
from lcad.models.errors import DataError, LightCurveError
from lcad.models.frames import (
    FIRST_LINE_BYTES,
    csv_options,
    frame_to_curves,
    headerless_frame,
    resolve_columns,
    table_start,
    values_in_first_line,
)
from lcad.models.lightcurve import DEFAULT_BAND, MAG_ZERO_POINT, LightCurve
from lcad.service.errors import ApiError
from lcad.service.schemas import ScoreRequest, Series
from lcad.service.settings import Settings

T = TypeVar("T")


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


async def read_curves(request: Request, det: Detector, settings: Settings
                      ) -> tuple[list[LightCurve], dict[str, Any]]:
    """The curves of a JSON or CSV body, checked for the model, and the JSON body's options
    (include, threshold, samples, look_for)."""
    body = await read_body(request, settings.max_body_bytes)
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if ctype == "text/csv":
        return curves_from_table(read_csv_body(body), det, settings), {}
    if ctype not in ("application/json", ""):
        raise ApiError(415, f"content type {ctype!r} not supported; send application/json "
                       "or text/csv")
    try:
        payload = ScoreRequest.model_validate_json(body) if body else None
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    if payload is None:
        raise ApiError(422, "body: empty request body")
    check_count(len(payload.series), settings)
    curves = [curve_of_series(i, s, settings.max_points_per_series)
              for i, s in enumerate(payload.series)]
    return ([for_model(i, c, det) for i, c in enumerate(curves)],
            {"include": payload.include, "threshold": payload.threshold,
             "samples": payload.samples, "look_for": payload.look_for})


def check_count(n: int, settings: Settings) -> None:
    if n > settings.max_series_per_request:
        raise ApiError(422, f"series: {n} series exceed the limit of "
                       f"{settings.max_series_per_request} per request",
                       details={"limit": settings.max_series_per_request, "value": n})


def check_points(i: int, n: int, max_points: int) -> None:
    if n > max_points:
        raise ApiError(422, f"series[{i}]: {n} points exceed the limit of {max_points} per "
                       "series", details={"field": f"series[{i}].time", "limit": max_points,
                                          "value": n})


def prepare_all(det: Detector, curves: Sequence[LightCurve], first: int = 0
                ) -> tuple[list[Prepared], np.ndarray]:
    """Prepared curves and their stacked network inputs (cut here, off the event loop);
    with an object model, its answers for these curves in one batch. `first`: the index of
    curves[0] in the request (errors name series[i])."""
    out = []
    for i, (c, p) in enumerate(zip(curves, det.prepare_many(curves), strict=True),
                               start=first):
        if isinstance(p, LightCurveError):
            raise ApiError(422, f"series[{i}] ({c.object_id}): {p.message}",
                           details=[{"field": f"series[{i}].{p.field or 'time'}",
                                     "problem": p.message}])
        out.append(p)
    det.assess_objects(out)
    return out, stack_inputs(out)


def _bad(i: int, field: str, problem: str) -> ApiError:
    where = f"series[{i}].{field}"
    return ApiError(422, f"{where}: {problem}", details=[{"field": where, "problem": problem}])


def curve_of_series(i: int, s: Series, max_points: int) -> LightCurve:
    """A JSON series through the core's strict path: NaN, mismatched lengths, unsorted
    times are 422s naming the field, not repairs."""
    check_points(i, len(s.time), max_points)
    try:
        return LightCurve.from_arrays(s.id or f"series-{i}", s.time, s.flux, s.flux_err, s.band,
                                      emit_warnings=False, strict=True)
    except LightCurveError as exc:
        raise _bad(i, exc.field or "time", exc.message) from None


def for_model(i: int, curve: LightCurve, det: Detector) -> LightCurve:
    """Bands the model knows; a one-band model's band filled in when none is given."""
    if curve.band is not None:
        unknown = sorted(set(curve.bands) - set(det.bands))
        if unknown:
            raise _bad(i, "band", f"unknown band(s) {unknown}; the model knows {det.bands}")
    elif len(det.bands) > 1:
        raise _bad(i, "band", f"the model is multi-band {det.bands}: give a band for every "
                   "point")
    elif det.bands != [DEFAULT_BAND]:
        curve.band = np.full(len(curve), det.bands[0], dtype=object)
    return curve


def one_option(name: str, body: T | None, query: T | None) -> T | None:
    """An option asked for in the JSON body or as `?name=` (CSV bodies); two different
    ones: 422."""
    if body is not None and query is not None and body != query:
        show = (lambda v: f"{v:g}") if isinstance(body, float) else str
        raise ApiError(422, f"{name}: the body says {show(body)} and ?{name}= says "
                       f"{show(query)}; give one")
    return body if body is not None else query


def curves_from_table(frame: pd.DataFrame, det: Detector, settings: Settings
                      ) -> list[LightCurve]:
    """A long-format table (CSV, MLflow shapes) through the core's one frame -> curves path,
    strictly; then the same checks as JSON series."""
    try:
        cmap = resolve_columns("body", [str(c) for c in frame.columns],
                               naming="rename a column to one of these")
        if cmap.unit == "mag":
            raise ApiError(422, f"body: column {cmap.flux!r} holds magnitudes; the HTTP API "
                           "takes flux (`lcad score` converts magnitudes itself): send "
                           f"flux = 10**(-0.4 * (mag - {MAG_ZERO_POINT:g})) and its error "
                           "flux * 0.921 * magerr, lcad's conversion (a model trained on "
                           "magnitudes saw fluxes on that scale)")
        curves = frame_to_curves(frame, cmap, "body", strict=True)
    except DataError as exc:
        raise ApiError(422, str(exc)) from None
    if not curves:
        raise ApiError(422, "body: no rows")
    check_count(len(curves), settings)
    for i, c in enumerate(curves):
        check_points(i, len(c), settings.max_points_per_series)
    return [for_model(i, c, det) for i, c in enumerate(curves)]


def read_csv_body(body: bytes) -> pd.DataFrame:
    """A CSV body as a frame; without a header row (the first line all numbers), as files
    without one are read (`io.headerless_frame`: one value a row, or time, value, error)."""
    if not body.strip():
        raise ApiError(422, "body: empty CSV")
    start = table_start(body[:FIRST_LINE_BYTES], cut=len(body) > FIRST_LINE_BYTES)
    try:
        if values_in_first_line(start.first) is not None:
            return headerless_frame(io.BytesIO(body), start, "body")
        return pd.read_csv(io.BytesIO(body), encoding_errors="strict",
                           **csv_options(start, text=False))
    except DataError as exc:
        raise ApiError(422, str(exc)) from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError,
            ValueError) as exc:
        raise ApiError(422, f"body: not a readable CSV: {exc}") from None


def invocation_frame(body: bytes, ctype: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The MLflow scoring-server input shapes, as one long-format frame and the params."""
    if ctype == "text/csv":
        return read_csv_body(body), {}
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
