"""A novelty detector (structured series) through `lcad serve` and `lcad score`: the same
point scores as in-process scoring, the anomaly found."""

import json
import os
import subprocess

import httpx
import numpy as np
import pandas as pd
import pytest

from lcad.models.config import DetectorConfig
from lcad.models.fit import fit_detector
from lcad.models.lightcurve import LightCurve
from lcad.service.client import LcadClient
from lcad.training.evaluate import evaluate, read_labels
from tests.conftest import BIN, lcad_serve
from tests.models.test_novelty import CFG, _nab

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def novelty_bundle(tmp_path_factory):
    t, f, truth = _nab("art_daily_jumpsup")
    cut = int(0.15 * t.size)
    train = LightCurve.from_arrays("jumps", t[:cut], f[:cut], emit_warnings=False)
    det, _ = fit_detector([train], DetectorConfig.from_dict(CFG))
    assert det.point_method == "novelty" and det.novelty_views == [1, 4]
    path = det.save(tmp_path_factory.mktemp("novelty") / "bundle")
    return det, path, t[cut:], f[cut:], truth[cut:]


def test_served_novelty_scores_equal_in_process_ones(novelty_bundle, tmp_path):
    det, path, t, f, truth = novelty_bundle
    env = {**os.environ, "LCAD_MAX_WAIT_MS": "5"}
    with lcad_serve(path, tmp_path / "serve.log", env=env) as (url, _):
        body = {"series": [{"id": "jumps", "time": t.tolist(), "flux": f.tolist()},
                           {"id": "new", "time": t.tolist(), "flux": f.tolist()}],
                "include": ["point_scores"]}
        resp = httpx.post(url + "/v1/score", json=body, timeout=120)
        model = httpx.get(url + "/v1/model").json()
        assert model["point_score"] == "novelty" and model["novelty_views"] == det.novelty_views
        # why, as `lcad train` says it (session 46), with the key for added events
        assert model["point_score_reason"] == det.info.point_score_reason
        assert model["point_score_reason"].startswith("novelty (each window's distance")
        assert "--look-for events (scoring.point=scan)" in model["point_score_reason"]
        assert "`lcad score --look-for events` (/v1/score's look_for) asks this model" in \
            model["point_score_reason"]
        assert model["autoencoder"] == det.info.autoencoder  # what the network learned
    assert resp.status_code == 200, resp.text
    got, new = resp.json()["results"]
    # "jumps" is the training curve's id (its test part, later in time, meets no window of
    # its own); "new" is not one
    assert got["training_curve"] is True and new["training_curve"] is False
    assert new["point_scores"] == got["point_scores"]
    want = det.score([LightCurve.from_arrays("jumps", t, f, emit_warnings=False)])[0]
    scores = np.array([np.nan if v is None else v for v in got["point_scores"]])
    np.testing.assert_allclose(scores, want.point_score, rtol=1e-5)
    # the jump is inside a reported interval
    onset = t[truth][len(t[truth]) // 2]
    assert any(iv["start"] <= onset <= iv["end"] for iv in got["intervals"]), got["intervals"]
    # the points flagged, as `lcad score` writes them: above the threshold, and inside an
    # interval (novelty's runs narrowed to their core, session 47)
    flags = np.array(got["point_flags"], bool)
    np.testing.assert_array_equal(flags, want.is_anomaly)
    assert flags.any() and (flags <= (scores > got["threshold"])).all()
    half = float(np.median(np.diff(t))) / 2  # grid times against the observed ones
    assert all(any(iv["start"] - half <= x <= iv["end"] + half for iv in got["intervals"])
               for x in t[flags])


def test_batch_scoring_a_novelty_bundle_matches_in_process(novelty_bundle, tmp_path):
    det, path, t, f, _ = novelty_bundle
    data = tmp_path / "jumps.csv"
    pd.DataFrame({"object_id": "jumps", "time": t, "flux": f}).to_csv(data, index=False)
    out = tmp_path / "points.csv"
    proc = subprocess.run([str(BIN / "lcad"), "score", "--model", str(path), "--data",
                           str(data), "--output", str(out)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    points = pd.read_csv(out)
    want = det.score([LightCurve.from_arrays("jumps", t, f, emit_warnings=False)])[0]
    np.testing.assert_allclose(points["score"].to_numpy(), want.point_score, rtol=1e-5)


def test_a_novelty_model_asked_for_events_over_http_and_the_cli(novelty_bundle, tiny_bundle,
                                                                tmp_path):
    """`look_for` in a JSON body or as `?look_for=` on CSV, `lcad score --look-for`: the
    scan's points, as in-process; a model that cannot be asked: 422 and exit 2, naming what
    to train instead."""
    det, path, t, f, truth = novelty_bundle
    asked = det.looking_for("events")
    curve = LightCurve.from_arrays("jumps", t, f, emit_warnings=False)
    want = asked.score([curve])[0].point_score
    series = {"id": "jumps", "time": t.tolist(), "flux": f.tolist()}
    csv = "object_id,time,flux\n" + "".join(
        f"jumps,{a!r},{b!r}\n" for a, b in zip(t.tolist(), f.tolist(), strict=True))
    with lcad_serve(path, tmp_path / "serve.log") as (url, _):
        model = httpx.get(url + "/v1/model").json()
        as_trained = httpx.post(url + "/v1/score", json={"series": [series]}, timeout=120)
        resp = httpx.post(url + "/v1/score", json={
            "series": [series], "include": ["point_scores"], "look_for": "events"},
            timeout=120)
        by_csv = httpx.post(url + "/v1/score?look_for=events&include=point_scores",
                            content=csv, headers={"content-type": "text/csv"}, timeout=120)
        bad = httpx.post(url + "/v1/score", json={"series": [series], "look_for": "flares"})
        viewed = httpx.post(url + "/v1/view", json={"series": [series], "look_for": "events"},
                            timeout=120)
        with LcadClient(url, timeout=120) as client:  # the Python client's keyword
            framed = client.score(pd.DataFrame({"object_id": "jumps", "time": t, "flux": f}),
                                  look_for="events")
    assert model["look_for"] == ["shapes", "events"] and model["point_score"] == "novelty"
    assert as_trained.json()["point_score"] == "novelty"
    for got in (resp, by_csv):
        assert got.status_code == 200, got.text
        body = got.json()
        assert body["point_score"] == "scan"
        scores = np.array([np.nan if v is None else v for v in body["results"][0]["point_scores"]])
        np.testing.assert_allclose(scores, want, rtol=1e-5)
        assert body["results"][0]["threshold"] == pytest.approx(asked.calibration.point_threshold)
    assert bad.status_code == 422 and "look_for" in bad.text
    np.testing.assert_allclose(framed.points["score"].to_numpy(), want, rtol=1e-5)
    # the viewer's answer for a series given: the same points
    assert viewed.status_code == 200, viewed.text
    assert viewed.json()["point_score"] == "scan"
    shown = viewed.json()["results"][0]["points"]["score"]
    np.testing.assert_allclose(np.array([np.nan if v is None else v for v in shown]),
                               asked.score([curve])[0].point_score, rtol=1e-5)
    # a scan model asked for shapes
    with lcad_serve(tiny_bundle, tmp_path / "serve-tiny.log") as (url, _):
        assert httpx.get(url + "/v1/model").json()["look_for"] == ["events"]
        refused = httpx.post(url + "/v1/score", json={"series": [series], "look_for": "shapes"})
    assert refused.status_code == 422, refused.text
    err = refused.json()["error"]
    assert err["code"] == "cannot_look_for" and "--look-for shapes" in err["message"]
    assert err["details"][0]["can"] == ["events"]
    # the CLI: the scan's points, and the line that says so
    data = tmp_path / "jumps.csv"
    data.write_text(csv)
    out = tmp_path / "points.csv"
    proc = subprocess.run([str(BIN / "lcad"), "score", "--model", str(path), "--data",
                           str(data), "--output", str(out), "--look-for", "events"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "point score: the residual scan" in proc.stdout
    assert "asked for when scoring (look for events" in proc.stdout
    np.testing.assert_allclose(pd.read_csv(out)["score"].to_numpy(), want, rtol=1e-5)
    # lcad evaluate, asked for events: the metrics of the scan's points
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"object_id": "jumps", "time": t, "label": truth.astype(int)}).to_csv(
        labels, index=False)
    proc = subprocess.run([str(BIN / "lcad"), "evaluate", "--model", str(path), "--data",
                           str(data), "--labels", str(labels), "--look-for", "events",
                           "--no-tracking", "--output", str(tmp_path / "m.json")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "point score: the residual scan" in proc.stdout
    got = json.loads((tmp_path / "m.json").read_text())["methods"]["lcad"]
    mine = evaluate(asked, [curve], read_labels(labels))["methods"]["lcad"]
    own = evaluate(det, [curve], read_labels(labels))["methods"]["lcad"]
    assert got["pr_auc"] == pytest.approx(mine["pr_auc"], rel=1e-6) != own["pr_auc"]
    proc = subprocess.run([str(BIN / "lcad"), "score", "--model", str(tiny_bundle), "--data",
                           str(data), "--output", str(tmp_path / "no.csv"), "--look-for",
                           "shapes"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "--look-for shapes" in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "no.csv").exists()
    # what it scores already: said, and scored as it is
    proc = subprocess.run([str(BIN / "lcad"), "score", "--model", str(tiny_bundle), "--data",
                           str(data), "--output", str(tmp_path / "own.csv"), "--look-for",
                           "events"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "point score: the model's own, scan (it looks for events)" in proc.stdout


def test_a_served_default_of_what_to_look_for(novelty_bundle, tiny_bundle, tmp_path):
    """`lcad serve --look-for events` (LCAD_LOOK_FOR): the model answers with the scan unless
    a request asks for shapes; a model that cannot give it is not served, and says why."""
    from tests.conftest import wait_until
    from tests.service.conftest import make_client

    det, path, t, f, _ = novelty_bundle
    curve = LightCurve.from_arrays("jumps", t, f, emit_warnings=False)
    series = {"id": "jumps", "time": t.tolist(), "flux": f.tolist()}
    with lcad_serve(path, tmp_path / "serve.log", "--look-for", "events") as (url, _):
        model = httpx.get(url + "/v1/model").json()
        plain = httpx.post(url + "/v1/score", json={"series": [series],
                                                    "include": ["point_scores"]}, timeout=120)
        shapes = httpx.post(url + "/v1/score", json={
            "series": [series], "include": ["point_scores"], "look_for": "shapes"}, timeout=120)
    assert model["point_score"] == "scan" and model["look_for"] == ["events", "shapes"]
    assert model["point_score_reason"].startswith("the residual scan")
    for resp, want, method in ((plain, det.looking_for("events"), "scan"),
                               (shapes, det, "novelty")):
        body = resp.json()
        assert resp.status_code == 200 and body["point_score"] == method, resp.text
        got = np.array([np.nan if v is None else v for v in body["results"][0]["point_scores"]])
        np.testing.assert_allclose(got, want.score([curve])[0].point_score, rtol=1e-5)
    # a scan model asked by the server for shapes: not ready, the reason says what to train
    with make_client(None, model_uri=str(tiny_bundle), look_for="shapes") as c:
        err = wait_until(lambda: (lambda e: e if e and e["details"]["status"] == "failed"
                                  else None)(c.get("/health/ready").json().get("error")),
                         "the load to fail")
        assert "--look-for shapes" in err["message"], err
