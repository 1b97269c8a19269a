"""The Python client against a scripted server (httpx.MockTransport): requests it sends,
frames it builds, errors it raises."""

import json

import httpx
import numpy as np
import pandas as pd
import pytest

from lcad.service.client import LcadAPIError, LcadClient

FRAME = pd.DataFrame({"object_id": ["a", "a", "a", "b", "b", "b"],
                      "time": [0.0, 1.0, 2.0, 0.0, 1.0, 2.0],
                      "flux": [1.0, 2.0, 1.0, 5.0, 5.0, 9.0],
                      "flux_err": [0.1] * 6})


def server(seen):
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/health/ready":
            return httpx.Response(503, json={"error": {"code": "not_ready", "message": "loading",
                                                       "details": None}})
        if request.url.path == "/v1/model":
            return httpx.Response(403, json={"error": {"code": "forbidden",
                                                       "message": "API key not accepted",
                                                       "details": None}})
        body = json.loads(request.content)
        results = []
        for s in body["series"]:
            n = len(s["time"])
            results.append({
                "id": s["id"], "score": 2.5, "p_value": None, "is_anomalous": s["id"] == "b",
                "threshold": 3.0, "warnings": [],
                "intervals": [{"start": 2.0, "end": 2.0, "peak_time": 2.0, "peak_score": 4.0,
                               "p_value": 0.001, "sign": "brightening", "n_points": 1}]
                if s["id"] == "b" else [],
                "point_scores": [1.0] * (n - 1) + [4.0], "point_p_values": [0.5] * n,
                "reconstruction": [None] + [1.5] * (n - 1),
                "latent": {"window_start": [0.0], "window_end": [2.0], "codes": [[0.1, 0.2]]},
                "time": s["time"]})
        return httpx.Response(200, json={"model": {"name": "m"}, "results": results})

    return httpx.MockTransport(handle)


def test_score_sends_series_and_builds_frames():
    seen = []
    with LcadClient("http://lcad", api_key="k1", transport=server(seen)) as client:
        frames = client.score(FRAME, threshold=3.0)
        client.score(FRAME, look_for="events")
    sent = json.loads(seen[0].content)
    assert "look_for" not in sent and json.loads(seen[1].content)["look_for"] == "events"
    assert seen[0].headers["x-api-key"] == "k1" and seen[0].url.path == "/v1/score"
    assert [s["id"] for s in sent["series"]] == ["a", "b"] and sent["threshold"] == 3.0
    assert sent["series"][0]["flux_err"] == [0.1] * 3
    assert frames.objects["id"].tolist() == ["a", "b"]
    assert frames.objects["n_intervals"].tolist() == [0, 1]
    assert len(frames.points) == 6 and frames.points["is_anomaly"].sum() == 2
    # the server's own flags where it sends them (novelty's narrowed intervals)
    flagged = json.loads(json.dumps(frames.raw))
    flagged["results"][1]["point_flags"] = [False, False, False]

    def flags(request):
        return httpx.Response(200, json=flagged)

    with LcadClient("http://lcad", transport=httpx.MockTransport(flags)) as client:
        assert client.score(FRAME).points["is_anomaly"].tolist() == \
            [False, False, True, False, False, False]
    assert np.isnan(frames.points["reconstruction"].iloc[0])  # null -> NaN, not 0
    assert frames.intervals["object_id"].tolist() == ["b"]


def test_encode_and_reconstruct_frames():
    with LcadClient("http://lcad", transport=server([])) as client:
        codes = client.encode(FRAME)
        recon = client.reconstruct(FRAME)
    assert codes.columns.tolist() == ["object_id", "window_start", "window_end", "z0", "z1"]
    assert codes["object_id"].tolist() == ["a", "b"]
    assert len(recon) == 6 and recon["reconstruction"].isna().sum() == 2


def test_errors_carry_the_envelope():
    with LcadClient("http://lcad", transport=server([])) as client:
        assert client.ready() is False
        with pytest.raises(LcadAPIError) as exc:
            client.model()
    assert exc.value.status == 403 and exc.value.code == "forbidden"
    assert "API key not accepted" in str(exc.value)


def test_a_non_json_error_is_still_an_api_error():
    transport = httpx.MockTransport(lambda r: httpx.Response(502, text="bad gateway"))
    with LcadClient("http://lcad", transport=transport) as client, \
            pytest.raises(LcadAPIError, match="502 http_error: bad gateway"):
        client.model()
