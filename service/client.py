"""A small Python client for the lcad service (httpx) that returns pandas frames."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pandas as pd


class LcadAPIError(Exception):
    """An error answer: status, code, message and details from the envelope."""

    def __init__(self, status: int, code: str, message: str, details: Any = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details


@dataclass
class ScoreFrames:
    objects: pd.DataFrame  # one row per series
    points: pd.DataFrame  # one row per point (when point scores were asked for)
    intervals: pd.DataFrame
    raw: dict[str, Any]


def series_payload(data: pd.DataFrame | Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Long-format frame (object_id, time, flux[, flux_err][, band]) or dicts -> series."""
    if not isinstance(data, pd.DataFrame):
        return [dict(s) for s in data]
    out = []
    for oid, g in data.groupby("object_id", sort=False):
        s: dict[str, Any] = {"id": str(oid), "time": g["time"].astype(float).tolist(),
                             "flux": g["flux"].astype(float).tolist()}
        if "flux_err" in g and g["flux_err"].notna().all():
            s["flux_err"] = g["flux_err"].astype(float).tolist()
        if "band" in g:
            s["band"] = g["band"].astype(str).tolist()
        out.append(s)
    return out


class LcadClient:
    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None):
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout,
                                  transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LcadClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._check(self._http.post(path, json=body))

    @staticmethod
    def _check(resp: httpx.Response) -> dict[str, Any]:
        if resp.status_code >= 400:
            try:
                err = resp.json()["error"]
            except (ValueError, KeyError, TypeError):
                err = {"code": "http_error", "message": resp.text[:500], "details": None}
            raise LcadAPIError(resp.status_code, err.get("code", "error"),
                               err.get("message", ""), err.get("details"))
        data: dict[str, Any] = resp.json()
        return data

    def ready(self) -> bool:
        return self._http.get("/health/ready").status_code == 200

    def model(self) -> dict[str, Any]:
        return self._check(self._http.get("/v1/model"))

    def score(self, data: pd.DataFrame | Iterable[dict[str, Any]],
              include: Sequence[str] = ("point_scores", "reconstruction"),
              threshold: float | None = None, look_for: str | None = None) -> ScoreFrames:
        """`look_for`: "events" or "shapes", the point score asked of the model (GET
        /v1/model's `look_for`); None: its own."""
        series = series_payload(data)
        body: dict[str, Any] = {"series": series, "include": list(include)}
        if threshold is not None:
            body["threshold"] = threshold
        if look_for is not None:
            body["look_for"] = look_for
        raw = self._post("/v1/score", body)
        objects = pd.DataFrame([{k: r[k] for k in ("id", "score", "p_value", "is_anomalous")}
                                | {"n_intervals": len(r["intervals"])} for r in raw["results"]])
        point_rows = []
        for s, r in zip(series, raw["results"], strict=True):
            if "point_scores" not in r:
                continue
            frame = pd.DataFrame({"object_id": r["id"], "time": s["time"], "flux": s["flux"],
                                  "score": _nan(r["point_scores"]),
                                  "p_value": _nan(r["point_p_values"])})
            if "reconstruction" in r:
                frame["reconstruction"] = _nan(r["reconstruction"])
            # the server's flags (novelty's narrowed intervals); older servers sent none
            frame["is_anomaly"] = np.asarray(r["point_flags"], bool) if "point_flags" in r \
                else frame["score"] > r["threshold"]
            point_rows.append(frame)
        intervals = pd.DataFrame([{"object_id": r["id"], **i} for r in raw["results"]
                                  for i in r["intervals"]])
        points = pd.concat(point_rows, ignore_index=True) if point_rows else pd.DataFrame()
        return ScoreFrames(objects, points, intervals, raw)

    def encode(self, data: pd.DataFrame | Iterable[dict[str, Any]]) -> pd.DataFrame:
        raw = self._post("/v1/encode", {"series": series_payload(data)})
        frames = []
        for r in raw["results"]:
            lat = r["latent"]
            f = pd.DataFrame(lat["codes"], columns=[f"z{i}" for i in
                                                    range(len(lat["codes"][0]))])
            f.insert(0, "window_end", lat["window_end"])
            f.insert(0, "window_start", lat["window_start"])
            f.insert(0, "object_id", r["id"])
            frames.append(f)
        return pd.concat(frames, ignore_index=True)

    def reconstruct(self, data: pd.DataFrame | Iterable[dict[str, Any]]) -> pd.DataFrame:
        raw = self._post("/v1/reconstruct", {"series": series_payload(data)})
        return pd.concat([pd.DataFrame({"object_id": r["id"], "time": r["time"],
                                        "reconstruction": _nan(r["reconstruction"])})
                          for r in raw["results"]], ignore_index=True)


def _nan(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)
