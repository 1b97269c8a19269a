"""The catalogue behind the viewer, over HTTP: ranking, one object in full, neighbours in
latent space, labels that persist and re-rank; and the bad input each gets."""

import threading

import numpy as np
import pandas as pd
import pytest

from lcad.models.catalogue import label_relevance
from lcad.models.synthetic import inject, synthetic_dataset, to_frame
from lcad.service.labels import LabelStore
from tests.conftest import SYNTH
from tests.service.conftest import make_client, series_json


@pytest.fixture(scope="module")
def catalogue_csv(tmp_path_factory):
    rng = np.random.default_rng(5)
    curves, _ = synthetic_dataset(10, seed=77, **SYNTH)
    inject(curves[3], "flare", rng, amplitude=8)  # in place
    inject(curves[7], "dip", rng, amplitude=6)
    path = tmp_path_factory.mktemp("catalogue") / "field.csv"
    to_frame(curves).drop(columns=["band"]).to_csv(path, index=False)
    return path, curves


def wait_ready(c, path="/v1/catalogue", headers=None):
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        r = c.get(path, headers=headers or {})
        if r.status_code != 503:
            return r
        time.sleep(0.2)
    raise AssertionError(r.text)


@pytest.fixture()
def viewer(tiny_detector, catalogue_csv, tmp_path):
    path, curves = catalogue_csv
    with make_client(tiny_detector, catalogue=str(path),
                     labels_path=str(tmp_path / "labels.db")) as c:
        wait_ready(c)
        yield c, curves, tmp_path / "labels.db"


def test_catalogue_ranks_every_object_flagged_first(viewer):
    c, curves, _ = viewer
    body = c.get("/v1/catalogue").json()
    assert body["n_objects"] == len(curves) and body["n_labels"] == 0
    rows = body["objects"]
    assert [r["rank"] for r in rows] == list(range(1, len(curves) + 1))
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)  # no labels: the anomaly score decides
    top = {r["object_id"] for r in rows[:2]}
    assert top == {curves[3].object_id, curves[7].object_id}
    assert all(r["x"] is not None and r["y"] is not None for r in rows)
    flagged = c.get("/v1/catalogue", params={"anomalous": "true"}).json()["objects"]
    assert flagged and all(r["is_anomalous"] for r in flagged)
    one = c.get("/v1/catalogue", params={"q": curves[3].object_id}).json()
    assert [r["object_id"] for r in one["objects"]] == [curves[3].object_id]


def test_one_object_in_full_matches_what_score_says(viewer):
    c, curves, _ = viewer
    oid = curves[3].object_id
    d = c.get(f"/v1/catalogue/{oid}", params={"k": 3}).json()
    scored = c.post("/v1/score", json={"series": [series_json(curves[3])],
                                       "include": ["point_scores", "reconstruction",
                                                   "intervals"]}).json()["results"][0]
    assert d["score"] == pytest.approx(scored["score"], rel=1e-5)
    n = len(curves[3])
    pts = d["points"]
    assert all(len(pts[k]) == n for k in ("time", "flux", "flux_err", "reconstruction",
                                          "residual", "score", "is_anomaly", "band"))
    np.testing.assert_allclose(pts["reconstruction"], scored["reconstruction"], rtol=1e-5)
    np.testing.assert_allclose(np.array(pts["score"], float),
                               np.array(scored["point_scores"], float), rtol=1e-5)
    assert len(d["intervals"]) == len(scored["intervals"]) >= 1
    assert all(iv["p_value"] is not None for iv in d["intervals"])
    assert len(d["neighbours"]) == 3 and oid not in {n["object_id"] for n in d["neighbours"]}
    dists = [n["distance"] for n in d["neighbours"]]
    assert dists == sorted(dists)
    assert d["position"]["x"] is not None and d["label"] is None


def test_similar_finds_the_same_curve_first_and_view_scores_a_posted_one(viewer):
    c, curves, _ = viewer
    r = c.post("/v1/similar", params={"k": 4}, json={"series": [series_json(curves[5])]})
    assert r.status_code == 200, r.text
    (res,) = r.json()["results"]
    assert res["neighbours"][0]["object_id"] == curves[5].object_id
    assert res["neighbours"][0]["distance"] == pytest.approx(0, abs=1e-4)
    assert len(res["neighbours"]) == 4 and res["position"]["x"] is not None
    csv = to_frame([curves[5]]).drop(columns=["band"]).to_csv(index=False)
    v = c.post("/v1/view", content=csv, headers={"Content-Type": "text/csv"})
    assert v.status_code == 200, v.text
    (d,) = v.json()["results"]
    assert len(d["points"]["time"]) == len(curves[5])
    assert d["neighbours"][0]["object_id"] == curves[5].object_id


def test_labels_rerank_persist_and_survive_a_restart(viewer, tiny_detector, catalogue_csv):
    c, curves, db = viewer
    before = [r["object_id"] for r in c.get("/v1/catalogue").json()["objects"]]
    last, first = before[-1], before[0]
    r = c.post("/v1/labels", json={"object_id": last, "label": "anomaly", "note": "odd"})
    assert r.status_code == 200, r.text
    assert r.json()["rank"] == 1
    r = c.post("/v1/labels", json={"object_id": first, "label": "normal"})
    assert r.json()["rank"] == len(curves)
    after = c.get("/v1/catalogue").json()
    assert after["n_labels"] == 2
    order = [r["object_id"] for r in after["objects"]]
    assert order[0] == last and order[-1] == first
    assert {r["object_id"]: r["label"] for r in after["objects"]}[last] == "anomaly"
    # the latest label wins
    c.post("/v1/labels", json={"object_id": first, "label": "anomaly"})
    labels = c.get("/v1/labels").json()
    assert labels["n_labels"] == 2
    assert {x["object_id"]: x["label"] for x in labels["labels"]} == {last: "anomaly",
                                                                     first: "anomaly"}
    # a new server on the same file sees them
    with make_client(tiny_detector, catalogue=str(catalogue_csv[0]),
                     labels_path=str(db)) as again:
        body = wait_ready(again).json()
        assert body["n_labels"] == 2
        assert {r["object_id"] for r in body["objects"][:2]} == {last, first}
    assert c.delete(f"/v1/labels/{first}").json()["deleted"] is True
    assert c.get("/v1/labels").json()["n_labels"] == 1


def test_concurrent_label_writers_lose_nothing(tmp_path):
    path = tmp_path / "labels.db"
    stores = [LabelStore(path, "cat") for _ in range(4)]
    errors = []

    def write(k):
        try:
            for i in range(25):
                stores[k].put(f"obj{k}-{i}", "anomaly" if i % 2 else "normal")
        except Exception as exc:  # pragma: no cover - what the test looks for
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(LabelStore(path, "cat").all()) == 100
    assert LabelStore(path, "other").all() == []


def test_a_label_lifts_its_neighbours():
    rng = np.random.default_rng(0)
    unit = np.vstack([rng.normal(0, 1, (40, 3)), rng.normal(8, 0.3, (5, 3))])
    ids = [f"o{i}" for i in range(45)]
    rel = label_relevance(unit, ids, {"o40": "anomaly"})
    assert rel[41:45].min() > 0.3  # the labelled one's cluster
    assert np.abs(rel[:40]).max() < 0.01  # far away: unchanged
    rel = label_relevance(unit, ids, {"o40": "normal"})
    assert rel[41:45].max() < -0.3
    assert not label_relevance(unit, ids, {}).any()


def test_bad_requests_get_clear_errors(viewer, tiny_detector):
    c, curves, _ = viewer
    r = c.get("/v1/catalogue/no-such-star")
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_object"
    r = c.post("/v1/labels", json={"object_id": "no-such-star", "label": "anomaly"})
    assert r.status_code == 404 and "not in the catalogue" in r.json()["error"]["message"]
    r = c.post("/v1/labels", json={"object_id": curves[0].object_id, "label": "weird"})
    assert r.status_code == 422 and "label" in r.text
    r = c.post("/v1/labels", json={"object_id": curves[0].object_id})
    assert r.status_code == 422
    assert c.get("/v1/catalogue", params={"limit": 0}).status_code == 422
    assert c.post("/v1/similar", params={"k": 0},
                  json={"series": [series_json(curves[0])]}).status_code == 422
    r = c.post("/v1/similar", json={"series": [{"id": "x", "time": [1, 2], "flux": [1, None]}]})
    assert r.status_code == 422
    with make_client(tiny_detector) as bare:  # no catalogue configured: says how to get one
        r = bare.get("/v1/catalogue")
        assert r.status_code == 404 and "--catalogue" in r.json()["error"]["message"]
        assert bare.get("/v1/labels").status_code == 404


def test_page_and_plotly_load_without_a_key_the_data_needs_one(tiny_detector, catalogue_csv,
                                                              tmp_path):
    with make_client(tiny_detector, api_keys=["k1"], catalogue=str(catalogue_csv[0]),
                     labels_path=str(tmp_path / "l.db")) as c:
        page = c.get("/ui")
        assert page.status_code == 200 and "/ui/static/plotly.min.js" in page.text
        js = c.get("/ui/static/plotly.min.js")
        assert js.status_code == 200 and len(js.content) > 1_000_000
        assert c.get("/ui/static/viewer.js").status_code == 200
        assert c.get("/ui/static/..%2Fapp.py").status_code == 404
        assert c.get("/v1/catalogue").status_code == 401
        r = wait_ready(c, headers={"X-API-Key": "k1"})
        assert r.status_code == 200 and r.json()["n_objects"] == 10


def test_catalogue_that_cannot_be_read_says_why(tiny_detector, tmp_path):
    bad = tmp_path / "broken.csv"
    pd.DataFrame({"nothing": [1, 2]}).to_csv(bad, index=False)
    with make_client(tiny_detector, catalogue=str(bad)) as c:
        import time

        for _ in range(200):
            r = c.get("/v1/catalogue")
            if r.json()["error"]["code"] != "catalogue_loading":
                break
            time.sleep(0.1)
        assert r.status_code == 503 and r.json()["error"]["code"] == "catalogue_failed"
        assert "broken.csv" in r.json()["error"]["message"]


def test_a_catalogue_in_magnitudes_is_shown_in_magnitudes(viewer, tiny_detector, tmp_path):
    c, curves, _ = viewer
    frame = to_frame(curves[:3]).drop(columns=["band"])
    assert (frame["flux"] > 0).all()
    mags = pd.DataFrame({"object_id": frame["object_id"], "time": frame["time"],
                         "mag": 22.5 - 2.5 * np.log10(frame["flux"]),
                         "magerr": 1.0857 * frame["flux_err"] / frame["flux"]})
    mags.to_csv(tmp_path / "mags.csv", index=False)
    oid = curves[1].object_id
    with make_client(tiny_detector, catalogue=str(tmp_path / "mags.csv")) as m:
        wait_ready(m)
        d = m.get(f"/v1/catalogue/{oid}").json()
    assert d["unit"] == "mag"
    mine = mags[mags.object_id == oid]
    np.testing.assert_allclose(d["magnitudes"]["mag"], mine["mag"], atol=1e-9)
    np.testing.assert_allclose(d["magnitudes"]["mag_err"], mine["magerr"], rtol=2e-3)
    flux = c.get(f"/v1/catalogue/{oid}").json()  # the same curve given in flux
    assert flux["unit"] == "flux" and flux["magnitudes"] is None
    assert d["score"] == pytest.approx(flux["score"], rel=1e-4)


def test_similar_windows_finds_the_same_stretch_in_a_twin(viewer, tiny_detector, tmp_path):
    import copy

    _, curves, _ = viewer
    twin = copy.deepcopy(curves[1])
    twin.object_id = "twin"
    field = tmp_path / "twins.csv"
    to_frame([*curves[:4], twin]).drop(columns=["band"]).to_csv(field, index=False)
    oid = curves[1].object_id
    t = float(np.median(curves[1].time))
    with make_client(tiny_detector, catalogue=str(field)) as c:
        wait_ready(c)
        r = c.get(f"/v1/catalogue/{oid}/similar-windows", params={"time": t, "k": 4})
        assert r.status_code == 200, r.text
        body = r.json()
        w = body["window"]
        assert w["object_id"] == oid and w["window_start"] <= t <= w["window_end"]
        first = body["neighbours"][0]
        assert first["object_id"] == "twin" and first["distance"] == pytest.approx(0, abs=1e-4)
        assert first["window_start"] == pytest.approx(w["window_start"])
        dists = [n["distance"] for n in body["neighbours"]]
        assert len(dists) == 4 and dists == sorted(dists)
        for n in body["neighbours"]:  # none overlaps the window asked about
            assert n["object_id"] != oid or n["window_end"] <= w["window_start"] \
                or n["window_start"] >= w["window_end"]
        assert c.get("/v1/catalogue/nope/similar-windows",
                     params={"time": t}).status_code == 404
        assert c.get(f"/v1/catalogue/{oid}/similar-windows").status_code == 422  # no time
