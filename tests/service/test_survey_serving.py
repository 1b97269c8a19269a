"""Serving a survey model (whole-curve mode with its object model) over HTTP: what was chosen
is on GET /v1/model, scores and embeddings match the Python API, and a multi-band JSON body
works as the CSV files do."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from tests.conftest import shared_data
from tests.service.conftest import make_client


def survey_json(curve):
    return {"id": curve.object_id, "time": curve.time.tolist(), "flux": curve.flux.tolist(),
            "flux_err": curve.flux_err.tolist(), "band": curve.band_labels().tolist()}


@pytest.fixture(scope="module")
def survey():
    from lcad.models.config import DetectorConfig
    from lcad.models.fit import fit_detector
    from lcad.models.io import read_curves

    curves = read_curves(shared_data("rrlyrae", "stripe82_rrlyrae.csv"))[:100]
    det, _ = fit_detector(curves[:90], DetectorConfig.from_dict({
        "preprocess": {"window": 16}, "train": {"epochs": 2},
        "scoring": {"min_calibration_objects": 5}, "objects": {"periods": False}}))
    return det, curves[90:]


def test_survey_model_over_http(survey):
    det, held = survey
    with make_client(det, model_name="survey") as client:
        info = client.get("/v1/model").json()
        assert info["mode"] == "whole" and info["embedding_dim"] == 8
        assert "through an autoencoder, then an Isolation Forest and the 20 nearest" in \
            info["representation"]
        body = {"series": [survey_json(c) for c in held[:4]]}
        resp = client.post("/v1/score", json=body)
        assert resp.status_code == 200, resp.text
        want = det.score(held[:4])
        got = resp.json()["results"]
        assert_allclose([r["score"] for r in got], [c.score for c in want], rtol=1e-5)
        assert_allclose([r["p_value"] for r in got], [c.p_value for c in want], rtol=1e-6)
        enc = client.post("/v1/encode", json=body)
        assert enc.status_code == 200, enc.text
        codes = np.array(enc.json()["results"][1]["latent"]["codes"])
        assert codes.shape == (1, 8)
        assert_allclose(codes, det.encode(held[:4])[1].latent, rtol=1e-5, atol=1e-6)


def test_a_series_listed_band_by_band_scores_as_the_time_ordered_one(survey):
    """Survey exports list each band's epochs in turn: the API takes that layout (each band
    in time order) and gives the time-ordered series' answer; a band out of order is a 422
    naming the band."""
    det, held = survey
    c = held[5]
    order = np.lexsort((c.time, c.band_labels()))  # by band, then time
    grouped = {key: np.asarray(v)[order].tolist() for key, v in survey_json(c).items()
               if key != "id"}
    with make_client(det, model_name="survey") as client:
        a = client.post("/v1/score", json={"series": [survey_json(c)]}).json()
        b = client.post("/v1/score", json={"series": [{"id": c.object_id, **grouped}]})
        assert b.status_code == 200, b.text
        assert b.json()["results"][0]["score"] == pytest.approx(a["results"][0]["score"])
        grouped["time"][1], grouped["time"][2] = grouped["time"][2], grouped["time"][1]
        bad = client.post("/v1/score", json={"series": [{"id": c.object_id, **grouped}]})
        assert bad.status_code == 422
        assert f"times of band {grouped['band'][1]!r} are not sorted" in bad.text


def test_concurrent_requests_to_a_survey_model_get_their_own_answers(survey):
    """Survey models prepare and finish one request at a time (GIL-bound steps,
    service/pipeline.py): four clients at once each get the answers the Python API gives."""
    from concurrent.futures import ThreadPoolExecutor

    det, held = survey
    bodies = [{"series": [survey_json(c) for c in held[i: i + 2]]} for i in range(0, 8, 2)]
    with make_client(det, model_name="survey") as client, ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda b: client.post("/v1/score", json=b), bodies * 2))
    for i, resp in enumerate(replies):
        assert resp.status_code == 200, resp.text
        want = det.score(held[2 * (i % 4): 2 * (i % 4) + 2])
        assert [r["id"] for r in resp.json()["results"]] == [c.object_id for c in want]
        assert_allclose([r["score"] for r in resp.json()["results"]],
                        [c.score for c in want], rtol=1e-5)
