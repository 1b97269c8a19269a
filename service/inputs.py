"""Request bodies -> light curves: JSON series, CSV and the MLflow shapes, all strict.

The service refuses what a file reader would repair (NaN, unsorted times, mismatched
lengths): a 422 naming the field and the problem. Tables go through the core's column
resolution (`lcad.models.frames`); every series ends in `LightCurve.from_arrays`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from lcad.models.detector import Detector, Prepared, stack_inputs
from lcad.models.errors import DataError, LightCurveError
from lcad.models.frames import resolve_columns, time_in_days
from lcad.models.lightcurve import LightCurve
from lcad.service.errors import ApiError
from lcad.service.schemas import ScoreRequest, Series
from lcad.service.settings import Settings


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


async def read_series(request: Request, settings: Settings
                      ) -> tuple[list[Series], dict[str, Any]]:
    """The series of a JSON or CSV body, and the JSON body's options (include, threshold)."""
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


def to_curves(series: Sequence[Series], det: Detector, settings: Settings) -> list[LightCurve]:
    """Every series validated (`validate_series`), within the per-request limits."""
    if len(series) > settings.max_series_per_request:
        raise ApiError(422, f"series: {len(series)} series exceed the limit of "
                       f"{settings.max_series_per_request} per request",
                       details={"limit": settings.max_series_per_request,
                                "value": len(series)})
    return [validate_series(i, s, det, settings.max_points_per_series)
            for i, s in enumerate(series)]


def prepare_all(det: Detector, curves: Sequence[LightCurve]
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
    """One series per object of a long-format frame (columns found by role)."""
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
    """`series_from_frame` of a CSV body."""
    if not body.strip():
        raise ApiError(422, "body: empty CSV")
    try:
        frame = pd.read_csv(io.BytesIO(body), encoding_errors="strict")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ApiError(422, f"body: not a readable CSV: {exc}") from None
    return series_from_frame(frame)


def invocation_frame(body: bytes, ctype: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The MLflow scoring-server input shapes, as one long-format frame and the params."""
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
