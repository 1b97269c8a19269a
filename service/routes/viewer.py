"""The catalogue behind the viewer: ranked objects, one object in full, nearest neighbours in
latent space, labels that re-rank; and the viewer page itself (/ui, served from the package:
no CDN, works offline; plotly.min.js is plotly.js v4.1.1, MIT, as the plotly package ships it,
kept here so the serving image does not carry the 39 MB Python package for one file)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from lcad.models.catalogue import Catalogue, embedding_of
from lcad.models.errors import LcadError
from lcad.models.lightcurve import to_magnitudes
from lcad.models.results import finite_or_none
from lcad.service.catalogue_state import CatalogueState
from lcad.service.deps import ApiKey, ReadyDetector
from lcad.service.errors import ApiError
from lcad.service.inputs import one_option, read_curves
from lcad.service.pipeline import each, scores
from lcad.service.responses import ERROR_RESPONSES, FastJSONResponse, body_doc
from lcad.service.routes.scoring import ScoringDep, asked_for
from lcad.service.schemas import LOOK_FOR_DOC, LookFor

router = APIRouter(tags=["catalogue"], responses=ERROR_RESPONSES)
UI = Path(__file__).parents[1] / "static" / "ui"
MAX_K = 100


def get_catalogue_state(request: Request) -> CatalogueState:
    return request.app.state.catalogue


CatalogueDep = Annotated[CatalogueState, Depends(get_catalogue_state)]
K = Annotated[int, Query(ge=1, le=MAX_K, description="how many neighbours")]


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"object_id": "kplr008462852", "label": "anomaly", "note": "dip at 1520"}]})
    object_id: str = Field(..., min_length=1, max_length=500)
    label: Literal["anomaly", "normal"]
    note: str = Field("", max_length=2000)


def _neighbours(cat: Catalogue, raw: np.ndarray, k: int, labels: dict[str, str],
                exclude: str | None = None) -> list[dict[str, Any]]:
    try:
        found = cat.similar(raw, k, exclude=exclude)
    except LcadError as exc:
        raise ApiError(422, str(exc), code="no_embedding") from None
    out = []
    for oid, dist in found:
        s = cat.scores[cat.index(oid)]
        out.append({"object_id": oid, "distance": dist, "score": finite_or_none(s.score),
                    "p_value": finite_or_none(s.p_value), "is_anomalous": bool(s.is_anomalous),
                    "label": labels.get(oid)})
    return out


def _position(cat: Catalogue, raw: np.ndarray) -> dict[str, float | None]:
    xy = cat.place(raw)[0]
    return {"x": finite_or_none(xy[0]), "y": finite_or_none(xy[1])}


@router.get("/v1/catalogue")
async def catalogue(det: ReadyDetector, cs: CatalogueDep, _key: ApiKey,
                    anomalous: Annotated[bool | None, Query(
                        description="only objects flagged (true) or not (false)")] = None,
                    min_score: Annotated[float | None, Query()] = None,
                    q: Annotated[str | None, Query(max_length=200,
                                                   description="object id contains")] = None,
                    labelled: Annotated[bool | None, Query()] = None,
                    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
                    offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    """The catalogue's objects, best first: the anomaly score's percentile plus what the
    labels say of their neighbourhood (labelled anomalies first, labelled normals last)."""
    cat = await cs.ready(det)
    labels = cs.store().mapping()
    rows = cat.ranking(labels)
    if anomalous is not None:
        rows = [r for r in rows if r["is_anomalous"] == anomalous]
    if min_score is not None:
        rows = [r for r in rows if r["score"] is not None and r["score"] >= min_score]
    if q:
        rows = [r for r in rows if q.lower() in r["object_id"].lower()]
    if labelled is not None:
        rows = [r for r in rows if (r["label"] is not None) == labelled]
    return FastJSONResponse({
        "source": cs.source, "n_objects": len(cat.scores), "n_matching": len(rows),
        "n_labels": len(labels), "skipped": cat.skipped,
        "objects": rows[offset: offset + limit]})


def _floats(a: Any) -> list[float | None]:
    a = np.asarray(a, dtype=float)
    return [float(v) if np.isfinite(v) else None for v in a]


def detail(s: Any, err: np.ndarray | None, unit: str, cat: Catalogue | None,
           labels: dict[str, str], k: int, exclude: str | None = None) -> dict[str, Any]:
    """Everything the viewer shows of one scored curve (a CurveScore); a curve given in
    magnitudes also gets them back (`magnitudes`: the points, errors and reconstruction)."""
    raw = embedding_of(s.latent)
    err = err if err is not None and err.size == s.time.size else None
    mags = None
    if unit == "mag":
        mag, mag_err = to_magnitudes(s.flux, err)
        recon, _ = to_magnitudes(s.reconstruction)
        mags = {"mag": _floats(mag), "mag_err": None if mag_err is None else _floats(mag_err),
                "reconstruction": _floats(recon), "residual": _floats(mag - recon)}
    placed = cat is not None and np.isfinite(raw).all() and raw.size == cat.raw.shape[1]
    return {
        "object_id": s.object_id, "score": finite_or_none(s.score),
        "p_value": finite_or_none(s.p_value), "is_anomalous": bool(s.is_anomalous),
        "threshold": finite_or_none(s.threshold), "bands": [str(b) for b in s.bands],
        "points": {"time": _floats(s.time), "band": [str(b) for b in s.band],
                   "flux": _floats(s.flux),
                   "flux_err": None if err is None else _floats(err),
                   "reconstruction": _floats(s.reconstruction),
                   "residual": _floats(np.asarray(s.flux, float) - s.reconstruction),
                   "score": _floats(s.point_score), "p_value": _floats(s.point_p_value),
                   "is_anomaly": [bool(v) for v in s.is_anomaly]},
        "intervals": [{"start": iv.start, "end": iv.end, "peak_time": iv.peak_time,
                       "peak_score": finite_or_none(iv.peak_score),
                       "p_value": finite_or_none(iv.p_value), "n_points": iv.n_points}
                      for iv in s.intervals],
        "position": _position(cat, raw) if placed and cat is not None else None,
        "neighbours": _neighbours(cat, raw, k, labels, exclude)
        if placed and cat is not None else [],
        "label": labels.get(s.object_id) if exclude is not None else None,
        "unit": unit, "magnitudes": mags, "warnings": list(s.warnings)}


@router.get("/v1/catalogue/{object_id:path}/similar-windows")
async def similar_windows(object_id: str, det: ReadyDetector, cs: CatalogueDep, _key: ApiKey,
                          time: Annotated[float, Query(description="a time in the window")],
                          k: K = 5) -> Response:
    """The window of a catalogue object around `time`, and the `k` catalogue windows (of
    any object, none overlapping it) nearest it in latent space: where else a stretch like
    this one occurs."""
    cat = await cs.ready(det)
    try:
        window, near = cat.similar_windows(object_id, time, k)
    except KeyError:
        raise ApiError(404, f"object_id: {object_id!r} is not in the catalogue",
                       code="unknown_object") from None
    except LcadError as exc:
        raise ApiError(422, str(exc), code="no_windows") from None
    return FastJSONResponse({"window": window, "neighbours": near})


@router.get("/v1/catalogue/{object_id:path}")
async def catalogue_object(object_id: str, det: ReadyDetector, cs: CatalogueDep,
                           _key: ApiKey, k: K = 5) -> Response:
    """One object in full: every point (flux, error, reconstruction, residual, point score,
    flag) with its band, the threshold, the flagged intervals with their p-values, its place
    on the latent map, its nearest neighbours and its label."""
    cat = await cs.ready(det)
    try:
        i = cat.index(object_id)
    except KeyError:
        raise ApiError(404, f"object_id: {object_id!r} is not in the catalogue",
                       code="unknown_object") from None
    labels = cs.store().mapping()
    return FastJSONResponse(detail(cat.scores[i], cat.errors[i], cat.units[i], cat, labels, k,
                                   exclude=cat.scores[i].object_id))


@router.post("/v1/view", openapi_extra=body_doc("SeriesRequest"))
async def view(request: Request, s: ScoringDep, cs: CatalogueDep, k: K = 5,
               look_for: Annotated[LookFor | None, Query(
                   description=f"text/csv bodies: {LOOK_FOR_DOC}")] = None) -> Response:
    """What the viewer shows of each series in the body (JSON or CSV, as /v1/score): its
    points with reconstruction, residual and point scores, the threshold, the intervals, and,
    when a catalogue is served, its place on the latent map and its nearest neighbours.
    `look_for` (in the body or the query) as /v1/score's."""
    det = s.det
    curves, opts = await read_curves(request, det, s.settings)
    cat = cs.catalogue if cs.status == "ready" and cs.detector is det else None
    labels = cs.labels.mapping() if cs.labels is not None else {}
    given = {c.object_id: c for c in curves}
    asked = asked_for(det, one_option("look_for", opts.get("look_for"), look_for))
    results = await s.answer_raw(curves, scores(asked, None, lambda c: c))
    return FastJSONResponse({"model": s.state.ref(), "point_score": asked.point_method,
                             "results": [
        detail(c, given[c.object_id].flux_err, given[c.object_id].unit, cat, labels, k)
        for c in results]})


@router.post("/v1/similar", openapi_extra=body_doc("SeriesRequest"))
async def similar(request: Request, s: ScoringDep, cs: CatalogueDep, k: K = 5) -> Response:
    """Nearest catalogue objects, in the model's latent space, of each series in the body
    (JSON or CSV, as /v1/encode), with its place on the catalogue's latent map."""
    det = s.det
    cat = await cs.ready(det)
    curves, _ = await read_curves(request, det, s.settings)
    labels = cs.store().mapping()
    encodings = await s.answer_raw(curves, each(lambda p, z, r: det.finish_encode(p, z)))
    results = []
    for e in encodings:
        raw = embedding_of(e.latent)
        results.append({"object_id": e.object_id, "position": _position(cat, raw),
                        "neighbours": _neighbours(cat, raw, k, labels),
                        "warnings": e.warnings})
    return FastJSONResponse({"model": s.state.ref(), "results": results})


@router.post("/v1/labels")
async def put_label(label: LabelIn, det: ReadyDetector, cs: CatalogueDep, _key: ApiKey
                    ) -> dict[str, Any]:
    """Label a catalogue object (the latest label wins); the ranking uses it at once."""
    cat = await cs.ready(det)
    try:
        cat.index(label.object_id)
    except KeyError:
        raise ApiError(404, f"object_id: {label.object_id!r} is not in the catalogue",
                       code="unknown_object") from None
    row = cs.store().put(label.object_id, label.label, label.note)
    rank = next(r["rank"] for r in cat.ranking(cs.store().mapping())
                if r["object_id"] == label.object_id)
    return {**row, "rank": rank}


@router.get("/v1/labels")
async def get_labels(cs: CatalogueDep, _key: ApiKey) -> dict[str, Any]:
    """Every label given to the catalogue's objects, oldest first."""
    rows = cs.store().all()
    return {"n_labels": len(rows), "labels": rows}


@router.delete("/v1/labels/{object_id:path}")
async def delete_label(object_id: str, cs: CatalogueDep, _key: ApiKey) -> dict[str, Any]:
    if not cs.store().delete(object_id):
        raise ApiError(404, f"object_id: {object_id!r} has no label", code="unknown_object")
    return {"object_id": object_id, "deleted": True}


# ----- the page
ASSET = re.compile(r"^[a-z0-9_.-]+\.(js|css|png)$")


@router.get("/ui", include_in_schema=False)
async def ui() -> HTMLResponse:
    return HTMLResponse((UI / "index.html").read_text())


@router.get("/ui/static/{name}", include_in_schema=False)
async def ui_asset(name: str) -> FileResponse:
    if not ASSET.match(name) or not (UI / name).is_file():
        raise ApiError(404, f"no such asset {name!r}")
    return FileResponse(UI / name, media_type="text/javascript" if name.endswith(".js")
                        else None)
