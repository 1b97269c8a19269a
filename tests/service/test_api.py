"""Every endpoint and every documented error, through the ASGI app with a tiny detector."""

import json

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from lcad.models.lightcurve import LightCurve
from lcad.models.synthetic import to_frame
from tests.conftest import wait_until
from tests.service.conftest import make_client, series_json


def _failed(c):
    """/health/ready's body once the model load has failed, else None."""
    body = c.get("/health/ready").json()
    return body if body.get("error", {}).get("details", {}).get("status") == "failed" else None


def _error(resp, status, code=None):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    if code:
        assert body["error"]["code"] == code
    assert "Traceback" not in resp.text
    return body["error"]


def test_score_returns_everything_aligned(client, service_curves, tiny_detector):
    curves, flare = service_curves
    body = {"series": [series_json(c) for c in curves[:2]],
            "include": ["latent", "reconstruction", "point_scores", "intervals"]}
    resp = client.post("/v1/score", json=body)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert data["model"]["name"] == "tiny"
    first, second = data["results"]
    assert first["id"] == curves[0].object_id and first["is_anomalous"] is True
    assert len(first["point_scores"]) == len(curves[0]) == len(first["reconstruction"])
    assert any(i["start"] <= flare.end and i["end"] >= flare.start for i in first["intervals"])
    assert {"start", "end", "peak_time", "peak_score", "p_value", "sign",
            "n_points"} <= set(first["intervals"][0])
    lat = first["latent"]
    assert len(lat["codes"]) == len(lat["window_start"]) and len(lat["codes"][0]) == 8
    want = tiny_detector.score(curves[:2])
    assert_allclose(np.array(first["point_scores"], float), want.curves[0].point_score)
    assert second["score"] == pytest.approx(want.curves[1].score)
    assert not second["is_anomalous"]


def test_score_with_uncertainty(client, service_curves, tiny_detector):
    """include "uncertainty": the spread over random passes (the tiny model is variational:
    its latent code is sampled), as JSON and as CSV; the answer itself does not move."""
    curves, _ = service_curves
    body = {"series": [series_json(c) for c in curves[:2]], "samples": 6,
            "include": ["uncertainty", "point_scores"]}
    resp = client.post("/v1/score", json=body)
    assert resp.status_code == 200, resp.text
    plain = tiny_detector.score(curves[:2])
    for r, want, c in zip(resp.json()["results"], plain, curves[:2], strict=True):
        assert r["score"] == pytest.approx(want.score)
        u = r["uncertainty"]
        assert u["samples"] == 6 and u["sources"] == ["latent"]
        assert u["score_std"] is not None and u["score_std"] >= 0
        assert len(u["point_score_std"]) == len(c) == len(u["point_score_mean"])
    csv = to_frame(curves[:1]).drop(columns=["band"]).to_csv(index=False)
    resp = client.post("/v1/score?include=uncertainty&samples=3", content=csv,
                       headers={"content-type": "text/csv"})
    assert resp.status_code == 200, resp.text
    u = resp.json()["results"][0]["uncertainty"]
    assert u["samples"] == 3 and "point_score_std" not in u  # points only with point_scores
    bad = client.post("/v1/score", json={**body, "samples": 1})
    assert bad.status_code == 422 and "samples" in bad.text


def test_uncertainty_from_a_model_without_randomness_is_a_422(tiny_detector, service_curves):
    from tests.models.test_uncertainty import deterministic

    curves, _ = service_curves
    with make_client(deterministic(tiny_detector)) as c:
        resp = c.post("/v1/score", json={"series": [series_json(curves[0])],
                                         "include": ["uncertainty"]})
    assert resp.status_code == 422, resp.text
    err = resp.json()["error"]
    assert err["code"] == "no_uncertainty" and "model.dropout" in err["message"]


def test_score_default_is_compact(client, service_curves):
    curves, _ = service_curves
    r = client.post("/v1/score", json={"series": [series_json(curves[1])]}).json()["results"][0]
    assert "point_scores" not in r and "latent" not in r and "intervals" in r


def test_score_accepts_csv(client, service_curves, tiny_detector):
    curves, _ = service_curves
    csv = to_frame(curves[:2]).drop(columns=["flux_err", "band"]).to_csv(index=False)
    resp = client.post("/v1/score?include=point_scores", content=csv,
                       headers={"content-type": "text/csv"})
    assert resp.status_code == 200, resp.text
    res = resp.json()["results"]
    assert [r["id"] for r in res] == [c.object_id for c in curves[:2]]
    assert len(res[1]["point_scores"]) == len(curves[1])


def test_a_csv_body_without_a_header_row_is_one_series(client, service_curves):
    """Values a line (time, flux) with no header, as files without one are read; the series
    gets an id the response names; a spreadsheet's CSV (`;`, decimal commas) under a comment
    line reads the same; five unnamed columns are a 422 saying what to add."""
    curves, _ = service_curves
    c = curves[0]
    body = "\n".join(f"{float(t)!r},{float(f)!r}" for t, f in zip(c.time, c.flux, strict=True))
    resp = client.post("/v1/score?include=point_scores", content=body,
                       headers={"content-type": "text/csv"})
    assert resp.status_code == 200, resp.text
    (r,) = resp.json()["results"]
    named = client.post("/v1/score?include=point_scores",
                        content=f"time,flux\n{body}", headers={"content-type": "text/csv"})
    assert r["point_scores"] == pytest.approx(named.json()["results"][0]["point_scores"])
    spreadsheet = "# exported\ntime;flux\n" + body.replace(",", ";").replace(".", ",")
    resp = client.post("/v1/score?include=point_scores", content=spreadsheet,
                       headers={"content-type": "text/csv"})  # `;` and decimal commas
    assert resp.status_code == 200, resp.text
    assert resp.json()["results"][0]["point_scores"] == pytest.approx(r["point_scores"])
    err = _error(client.post("/v1/score", content=b"1,2,3,4,5\n6,7,8,9,10\n",
                             headers={"content-type": "text/csv"}), 422)
    assert "5 columns of numbers and no header row" in err["message"]
    long_line = "  ".join(f"{v:.9e}" for v in np.sin(np.arange(20_000) / 7.0))  # > 64 KiB
    resp = client.post("/v1/score?include=point_scores", content=long_line,
                       headers={"content-type": "text/csv"})
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["results"][0]["point_scores"]) == 20_000


def test_a_series_may_name_its_id_object_id_as_the_csv_column_is(client, service_curves):
    curves, _ = service_curves
    body = series_json(curves[0])
    body["object_id"] = body.pop("id")
    resp = client.post("/v1/score", json={"series": [body]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["results"][0]["id"] == curves[0].object_id
    both = {**body, "id": "other"}  # one name, not both
    err = _error(client.post("/v1/score", json={"series": [both]}), 422, "invalid_input")
    assert err["details"][0]["field"] == "series[0].object_id"


def test_series_without_an_id_are_named_by_their_place(client, service_curves):
    curves, _ = service_curves
    named, unnamed = series_json(curves[0]), series_json(curves[1])
    unnamed.pop("id")
    resp = client.post("/v1/score", json={"series": [named, unnamed]})
    assert resp.status_code == 200, resp.text
    assert [r["id"] for r in resp.json()["results"]] == [curves[0].object_id, "series-1"]
    encoded = client.post("/v1/encode", json={"series": [unnamed]})
    assert encoded.status_code == 200 and encoded.json()["results"][0]["id"] == "series-0"
    err = _error(client.post("/v1/score", json={"series": [{**unnamed, "id": ""}]}), 422)
    assert err["details"][0]["field"] == "series[0].id"  # given, it must say something


def test_encode_and_reconstruct(client, service_curves, tiny_detector):
    curves, _ = service_curves
    enc = client.post("/v1/encode", json={"series": [series_json(curves[2])]})
    assert enc.status_code == 200
    codes = np.array(enc.json()["results"][0]["latent"]["codes"])
    assert_allclose(codes, tiny_detector.encode([curves[2]])[0].latent, rtol=1e-6)
    rec = client.post("/v1/reconstruct", json={"series": [series_json(curves[2])]})
    out = rec.json()["results"][0]
    assert out["time"] == curves[2].time.tolist()
    assert_allclose(np.array(out["reconstruction"], float),
                    tiny_detector.reconstruct([curves[2]])[0].reconstruction)


def test_model_info(client):
    info = client.get("/v1/model").json()
    assert info["window"] == 32 and info["bands"] == ["default"] and info["latent_dim"] == 8
    assert info["mode"] == "sliding"  # what auto chose for dense series
    assert info["threshold"] > 0 and info["keras_backend"] == "tensorflow"
    assert info["devices"] and info["lcad_version"]
    assert info["config"]["model"]["hidden"] == [64]
    assert "val_false_alarm_rate" in info["training_metrics"]


def test_health_and_metrics(client, service_curves):
    assert client.get("/health/live").json() == {"status": "alive"}
    assert client.get("/health/ready").json()["status"] == "ready"
    assert client.get("/ping").status_code == 200
    curves, _ = service_curves
    client.post("/v1/score", json={"series": [series_json(curves[3])]})
    text = client.get("/metrics").text
    assert 'lcad_requests_total{method="POST",route="/v1/score",status="200"}' in text
    assert "lcad_points_scored_total" in text and "lcad_inference_seconds_bucket" in text
    assert "lcad_batch_rows_count" in text and "lcad_model_ready 1.0" in text


def test_not_ready_without_a_model(tmp_path):
    with make_client(None) as c:
        err = _error(c.get("/health/ready"), 503, "not_ready")
        assert "LCAD_MODEL_URI" in err["message"]
        _error(c.post("/v1/score", json={"series": []}), 503, "not_ready")
        assert c.get("/health/live").status_code == 200


def test_failed_load_reports_the_reason(tmp_path):
    with make_client(None, model_uri=str(tmp_path / "missing")) as c:
        body = wait_until(lambda: _failed(c), "the load to fail")
        assert "bundle not found" in body["error"]["message"]
        assert c.get("/health/live").status_code == 200


@pytest.mark.parametrize(
    ("mutate", "field", "problem"),
    [
        (lambda s: s["flux"].__setitem__(3, float("nan")), "series[0].flux[3]", "NaN"),
        (lambda s: s["time"].__setitem__(0, float("inf")), "series[0].time[0]", "infinite"),
        (lambda s: s["flux"].pop(), "series[0].flux", "has 799 values but time has 800"),
        (lambda s: s["time"].__setitem__(5, -1.0), "series[0].time", "not sorted"),
        (lambda s: s.update(time=s["time"][:10], flux=s["flux"][:10]), "series[0]",
         "too short"),
        (lambda s: s.update(band=["q"] * len(s["time"])), "series[0].band", "unknown band"),
        (lambda s: s.update(flux_err=[0.0] * len(s["time"])), "series[0].flux_err[0]",
         "must be positive"),
        (lambda s: s.update(flux="abc"), "series[0].flux", "valid array"),
        (lambda s: s.update(extra=1), "series[0].extra", "Extra inputs"),
    ],
)
def test_bad_series_are_named(client, service_curves, mutate, field, problem):
    s = series_json(service_curves[0][1], errors=False)
    mutate(s)
    err = _error(client.post("/v1/score", content=json.dumps({"series": [s]}),
                             headers={"content-type": "application/json"}), 422)
    assert field in err["message"] and problem in err["message"], err


def test_limits(tiny_detector, service_curves):
    curves, _ = service_curves
    s = series_json(curves[0])
    with make_client(tiny_detector, max_series_per_request=1, max_points_per_series=500,
                     max_body_bytes=200_000) as c:
        err = _error(c.post("/v1/score", json={"series": [series_json(curves[1])] * 2}), 422)
        assert err["details"] == {"limit": 1, "value": 2}
        err = _error(c.post("/v1/score", json={"series": [s]}), 422)
        assert "800 points exceed the limit of 500" in err["message"]
        big = json.dumps({"series": [s] * 20})
        err = _error(c.post("/v1/score", content=big,
                            headers={"content-type": "application/json"}), 413)
        assert "200000" in err["message"]
    with make_client(tiny_detector, request_timeout_s=0.0001) as c:
        _error(c.post("/v1/score", json={"series": [series_json(curves[1])]}), 504, "timeout")


def test_protocol_errors(client):
    _error(client.post("/v1/score", content=b"{not json",
                       headers={"content-type": "application/json"}), 422)
    _error(client.post("/v1/score", content=b"x", headers={"content-type": "text/plain"}), 415)
    _error(client.post("/v1/score", content=b"", headers={"content-type": "application/json"}),
           422)
    _error(client.post("/v1/score", content=b"a,b\n1,2\n", headers={"content-type": "text/csv"}),
           422)
    _error(client.get("/nope"), 404, "not_found")
    _error(client.get("/v1/score"), 405)
    _error(client.post("/v1/score", json={"series": []}), 422)


def test_api_keys(tiny_detector, service_curves, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    s = series_json(service_curves[0][1])
    k1, k2, wrong = "sekret-key-one", "sekret-key-two", "wrong-sekret-key"
    with make_client(tiny_detector, api_keys=f"{k1},{k2}") as c:
        err = _error(c.post("/v1/score", json={"series": [s]}), 401, "unauthorized")
        assert "API key required" in err["message"]
        err = _error(c.post("/v1/score", json={"series": [s]}, headers={"X-API-Key": wrong}),
                     403)
        assert wrong not in json.dumps(err)
        _error(c.get("/v1/model"), 401)
        _error(c.post("/invocations", json={}), 401)
        _error(c.get("/docs"), 401)
        assert c.post("/v1/score", json={"series": [s]}, headers={"X-API-Key": k2}
                      ).status_code == 200
        model = c.get("/v1/model", headers={"Authorization": f"Bearer {k1}"})
        assert model.status_code == 200 and k1 not in model.text
        for open_path in ("/health/live", "/health/ready", "/metrics", "/ping"):
            resp = c.get(open_path)
            assert resp.status_code == 200
            assert not any(k in resp.text for k in (k1, k2, wrong))
    # keys are never logged, right or wrong
    assert not any(k in caplog.text for k in (k1, k2, wrong))


@pytest.mark.parametrize("shape", ["dataframe_split", "dataframe_records", "instances",
                                   "inputs", "csv"])
def test_invocations_accepts_mlflow_shapes(client, service_curves, tiny_detector, shape):
    curves, _ = service_curves
    frame = to_frame(curves[:2]).drop(columns=["band"])  # errors matter: scores are chi2
    if shape == "csv":
        resp = client.post("/invocations", content=frame.to_csv(index=False),
                           headers={"content-type": "text/csv"})
    else:
        payload = {"dataframe_split": frame.to_dict(orient="split"),
                   "dataframe_records": frame.to_dict(orient="records"),
                   "instances": frame.to_dict(orient="records"),
                   "inputs": frame.to_dict(orient="list")}[shape]
        if shape == "dataframe_split":
            payload.pop("index", None)
        resp = client.post("/invocations", json={shape: payload})
    assert resp.status_code == 200, resp.text
    got = pd.DataFrame(resp.json()["predictions"])
    want = tiny_detector.score(curves[:2]).points_frame()
    assert list(got.columns) == list(want.columns)
    assert_allclose(got["score"].astype(float), want["score"], rtol=1e-9)


def test_docs_page_works_offline_from_packaged_swagger_ui(client):
    """/docs references only the app's own Swagger UI files (no CDN), and they are served."""
    html = client.get("/docs")
    assert html.status_code == 200
    for external in ("cdn.jsdelivr.net", "unpkg.com", "https://"):
        assert external not in html.text
    assert "/openapi.json" in html.text
    for asset, kind, least in (("swagger-ui-bundle.js", "javascript", 1_000_000),
                               ("swagger-ui.css", "text/css", 100_000)):
        assert f"/static/swagger/{asset}" in html.text
        resp = client.get(f"/static/swagger/{asset}")
        assert resp.status_code == 200 and kind in resp.headers["content-type"]
        assert len(resp.content) > least
    assert client.get("/docs/oauth2-redirect").status_code == 200
    assert client.get("/redoc").status_code == 404  # CDN-only: not offered
    assert "/docs" not in client.get("/openapi.json").json()["paths"]


def test_openapi_documents_routes_and_examples(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for p in ("/v1/score", "/v1/encode", "/v1/reconstruct", "/v1/model", "/health/ready",
              "/metrics", "/invocations", "/ping"):
        assert p in paths
    body = paths["/v1/score"]["post"]["requestBody"]["content"]
    assert {"application/json", "text/csv"} <= set(body)
    example = spec["components"]["schemas"]["ScoreRequest"]["examples"][0]
    resp = client.post("/v1/score", json=example)  # the documented example works when pasted
    assert resp.status_code == 200, resp.text


def test_bad_bundle_at_start_then_polling_picks_up_a_good_one(tiny_bundle, tmp_path):
    import shutil

    target = tmp_path / "model"
    target.mkdir()
    (target / "config.json").write_text("{broken")
    with make_client(None, model_uri=str(target), poll_seconds=0.2) as c:
        wait_until(lambda: _failed(c), "the load to fail")
        shutil.rmtree(target)
        shutil.copytree(tiny_bundle, target)  # a good model appears; nobody calls reload
        wait_until(lambda: c.get("/health/ready").status_code == 200, "the model to load")
        first = c.get("/v1/model").json()
        # a new bundle written over it is picked up too (save is atomic: old or new)
        from lcad.models.detector import Detector

        det = Detector.load(target)
        det.info.version = "next"
        det.save(target)
        wait_until(lambda: c.get("/v1/model").json().get("version") == "next",
                   "the new bundle to load")
        assert first.get("version") != "next"


def test_bad_bundle_at_start_then_reload_recovers(tiny_bundle, tmp_path):
    import shutil

    target = tmp_path / "model"
    target.mkdir()
    (target / "config.json").write_text("{broken")
    with make_client(None, model_uri=str(target)) as c:
        err = wait_until(lambda: _failed(c), "the load to fail")["error"]
        assert "config.json: not valid JSON" in err["message"]
        assert c.get("/health/live").status_code == 200
        shutil.rmtree(target)
        shutil.copytree(tiny_bundle, target)
        resp = c.post("/v1/model/reload")
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "ready"
        assert c.get("/health/ready").status_code == 200
        assert c.get("/v1/model").json()["source"] == str(target)


def test_query_threshold_is_honoured_for_json_bodies(client, service_curves, tiny_detector):
    curves, _ = service_curves
    body = {"series": [series_json(curves[1])], "include": ["point_scores"]}
    high = 1e9
    r = client.post(f"/v1/score?threshold={high}", json=body)
    assert r.status_code == 200, r.text
    res = r.json()["results"][0]
    assert res["threshold"] == high and not res["is_anomalous"] and not res["intervals"]
    low = 1e-9
    res = client.post(f"/v1/score?threshold={low}", json=body).json()["results"][0]
    assert res["threshold"] == low and res["is_anomalous"]
    # the same in the body gives the same answer; two different ones are refused
    same = client.post(f"/v1/score?threshold={low}", json={**body, "threshold": low})
    assert same.json()["results"][0] == res
    err = _error(client.post("/v1/score?threshold=2", json={**body, "threshold": 3}), 422)
    assert "body says 3" in err["message"] and "?threshold= says 2" in err["message"]
    # what to look for, likewise: in the body or the query, not two different ones
    err = _error(client.post("/v1/score?look_for=shapes", json={**body, "look_for": "events"}),
                 422)
    assert err["message"] == ("look_for: the body says events and ?look_for= says shapes; "
                              "give one")


def test_csv_bodies_take_the_strict_path_too(client, service_curves):
    curves, _ = service_curves
    frame = to_frame(curves[:2]).drop(columns=["flux_err", "band"])
    frame.loc[5, "flux"] = float("nan")
    err = _error(client.post("/v1/score", content=frame.to_csv(index=False),
                             headers={"content-type": "text/csv"}), 422)
    assert f"light curve '{curves[0].object_id}', flux[5]: is NaN" in err["message"]
    mags = frame.rename(columns={"flux": "mag"}).dropna()
    err = _error(client.post("/v1/score", content=mags.to_csv(index=False),
                             headers={"content-type": "text/csv"}), 422)
    assert "holds magnitudes; the HTTP API takes flux" in err["message"]
    # the conversion the CLI makes, zero point included (a flux 1e9 smaller is another scale)
    assert "flux = 10**(-0.4 * (mag - 22.5))" in err["message"]
    converted = LightCurve.from_arrays("m", np.arange(3.0), np.array([20.0, 21.0, 22.5]),
                                       unit="mag", emit_warnings=False).flux
    assert converted == pytest.approx(10 ** (-0.4 * (np.array([20.0, 21.0, 22.5]) - 22.5)))


def test_service_errors_say_what_an_http_client_can_change(client):
    """The CLI repairs NaN and converts magnitudes; the API does neither, and says so in
    terms an HTTP client can act on (no CLI flags)."""
    err = _error(client.post("/v1/score", content=b"a,b\n1,2\n",
                             headers={"content-type": "text/csv"}), 422)
    assert "rename a column" in err["message"] and "--" not in err["message"]
    mags = b"object_id,time,mag\ns,0,15.1\ns,1,15.2\n"
    err = _error(client.post("/v1/score", content=mags, headers={"content-type": "text/csv"}),
                 422)
    assert "magnitudes" in err["message"] and "10**(-0.4 * (mag - 22.5))" in err["message"]
    nan = {"series": [{"id": "s", "time": [0, 1, 2], "flux": [1.0, None, 2.0]}]}
    resp = client.post("/v1/score", content=json.dumps(nan).replace("null", "NaN"),
                       headers={"content-type": "application/json"})
    assert resp.status_code == 422, resp.text
    assert "repairs nothing" in resp.text and "lcad score" in resp.text


def test_a_request_streamed_in_groups_answers_as_one(tiny_detector, service_curves):
    """With small network batches a request is scored in several groups of curves
    (service/pipeline.py): the same answers, in order, and an unusable curve in a later
    group is named by its index in the request."""
    from lcad.service.pipeline import chunks
    from lcad.service.settings import Settings

    curves, _ = service_curves
    rows = 300
    groups = chunks(list(curves), Settings().stream_batches * rows)
    assert len(groups) > 1 and [c for _, g in groups for c in g] == list(curves)
    assert [first for first, _ in groups] == [sum(len(g) for _, g in groups[:k])
                                              for k in range(len(groups))]
    want = tiny_detector.score(list(curves))
    for stream in (Settings().stream_batches, 0):  # 0: the whole request at once
        with make_client(tiny_detector, max_batch_rows=rows, stream_batches=stream) as c:
            resp = c.post("/v1/score", json={"series": [series_json(x) for x in curves],
                                             "include": ["point_scores"]})
            assert resp.status_code == 200, resp.text
            for got, w in zip(resp.json()["results"], want.curves, strict=True):
                assert got["id"] == w.object_id
                assert_allclose(np.array(got["point_scores"], float), w.point_score,
                                rtol=1e-6)
            short = {"id": "short", "time": [0.0, 0.02, 0.04], "flux": [1.0, 1.1, 0.9]}
            body = {"series": [series_json(x) for x in curves] + [short]}
            err = _error(c.post("/v1/score", json=body), 422)
            assert f"series[{len(curves)}]" in err["message"]
