"""Response bodies: the JSON of scores, codes and reconstructions, and the documented
error responses."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from fastapi.responses import JSONResponse

from lcad.models.results import finite_or_none
from lcad.service.schemas import EXAMPLE_CSV, ErrorEnvelope

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorEnvelope, "description": desc} for code, desc in {
        401: "API key missing", 403: "API key invalid", 413: "body too large",
        415: "unsupported content type", 422: "invalid series (the field and the problem)",
        503: "model not ready, or overloaded (Retry-After)", 504: "request timed out"}.items()}


def body_doc(schema_ref: str) -> dict[str, Any]:
    """OpenAPI request body of a route that parses its body itself (JSON or CSV)."""
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}},
        "text/csv": {"schema": {"type": "string"}, "example": EXAMPLE_CSV}}}}


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
        "warnings": c.warnings, "training_curve": bool(c.training_curve),
    }
    if "point_scores" in include:
        out["point_scores"] = _floats(c.point_score)
        out["point_p_values"] = _floats(c.point_p_value)
        out["point_flags"] = np.ascontiguousarray(c.is_anomaly, dtype=bool)
    if "reconstruction" in include:
        out["reconstruction"] = _floats(c.reconstruction)
    if "uncertainty" in include and c.uncertainty is not None:
        out["uncertainty"] = c.uncertainty.to_json(points="point_scores" in include)
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
