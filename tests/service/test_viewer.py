"""The viewer (/ui) in a real Chromium, driven by Playwright, against a real `lcad serve`
with a catalogue and an API key: what the page plots is what the API answers, intervals are
drawn, a label round-trips and changes the ranking, an uploaded CSV is scored and shown, and
nothing is fetched from anywhere but the service."""

import os
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest

from lcad.models.synthetic import inject, synthetic_dataset, to_frame
from tests.conftest import SYNTH, lcad_serve, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CHROMIUM = os.environ.get("LCAD_CHROMIUM", "/usr/bin/chromium")
KEY = "viewer-key"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        if os.environ.get("LCAD_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} not found (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def served(tiny_bundle, tmp_path_factory):
    root = tmp_path_factory.mktemp("viewer")
    rng = np.random.default_rng(8)
    curves, _ = synthetic_dataset(12, seed=91, **SYNTH)
    inject(curves[2], "flare", rng, amplitude=8)
    inject(curves[9], "dip", rng, amplitude=6)
    data = root / "field.csv"
    to_frame(curves).drop(columns=["band"]).to_csv(data, index=False)
    upload = root / "mine.csv"
    mine, _ = synthetic_dataset(1, seed=5, **SYNTH)
    inject(mine[0], "flare", rng, amplitude=8)
    mine[0].object_id = "my-star"
    to_frame(mine).drop(columns=["band"]).to_csv(upload, index=False)
    env = {**os.environ, "LCAD_API_KEYS": KEY}
    with lcad_serve(tiny_bundle, root / "serve.log", "--catalogue", str(data), "--labels",
                    str(root / "labels.db"), env=env) as (url, _proc):
        http = httpx.Client(base_url=url, headers={"X-API-Key": KEY}, timeout=60)
        wait_until(lambda: http.get("/v1/catalogue").status_code == 200, "catalogue", 120)
        yield url, http, curves, upload
        http.close()


def plotted(page, div):
    return page.evaluate(f"""() => {{
        const d = document.getElementById({div!r});
        return {{data: (d.data || []).map(t => ({{name: t.name, x: t.x, y: t.y, meta: t.meta,
                 err: t.error_y ? t.error_y.array : null}})),
                 shapes: ((d.layout || {{}}).shapes || []).map(s => ({{type: s.type, x0: s.x0,
                 x1: s.x1, y0: s.y0, name: s.name}}))}};
    }}""")


def close(a, b):
    a = np.array([np.nan if v is None else v for v in a], float)
    b = np.array([np.nan if v is None else v for v in b], float)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)


def test_rank_look_label_and_upload_in_a_real_browser(browser, served, tmp_path):
    url, http, curves, upload = served
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    outside = []
    page.on("request", lambda r: None if r.url.startswith(url) else outside.append(r.url))
    page.goto(f"{url}/ui")
    # the data needs the key: the page asks for it
    page.wait_for_selector("#key-form:not([hidden])")
    page.fill("#key", KEY)
    page.click("#key-form button")
    page.wait_for_selector("#objects tbody tr")
    api = http.get("/v1/catalogue").json()
    rows = page.eval_on_selector_all("#objects tbody tr", "rs => rs.map(r => r.dataset.objectId)")
    assert rows == [r["object_id"] for r in api["objects"]]
    top = api["objects"][0]["object_id"]
    assert top in {curves[2].object_id, curves[9].object_id}
    # the top object opens by itself: its plots are the API's answer
    page.wait_for_function(f"() => document.getElementById('object-title').textContent === "
                           f"{top!r}")
    detail = http.get(f"/v1/catalogue/{top}").json()
    curve = plotted(page, "curve-plot")
    kinds = {t["meta"]["kind"]: t for t in curve["data"]}
    close(kinds["flux"]["x"], detail["points"]["time"])
    close(kinds["flux"]["y"], detail["points"]["flux"])
    close(kinds["flux"]["err"], detail["points"]["flux_err"])
    close(kinds["reconstruction"]["y"], detail["points"]["reconstruction"])
    close(kinds["residual"]["y"], detail["points"]["residual"])
    rects = [s for s in curve["shapes"] if s["type"] == "rect"]
    assert len(rects) == len(detail["intervals"]) >= 1
    assert [(s["x0"], s["x1"]) for s in rects] == [(i["start"], i["end"])
                                                   for i in detail["intervals"]]
    scores = plotted(page, "score-plot")
    close(scores["data"][0]["y"], detail["points"]["score"])
    (thr,) = [s for s in scores["shapes"] if s["name"] == "threshold"]
    assert thr["y0"] == pytest.approx(detail["threshold"])
    latent = plotted(page, "map-plot")
    assert len(latent["data"][0]["x"]) == len(curves)
    assert latent["data"][1]["x"] == [pytest.approx(detail["position"]["x"])]
    neighbours = page.eval_on_selector_all("#neighbours li",
                                           "ls => ls.map(l => l.dataset.objectId)")
    assert neighbours == [n["object_id"] for n in detail["neighbours"]]
    # where else a stretch like this one occurs: the API's windows, listed
    t = float(np.median([v for v in detail["points"]["time"] if v is not None]))
    page.fill("#window-time", str(t))
    page.click("#find-windows")
    page.wait_for_selector("#similar-windows li")
    near = http.get(f"/v1/catalogue/{top}/similar-windows", params={"time": t}).json()
    listed = page.eval_on_selector_all(
        "#similar-windows li", "ls => ls.map(l => [l.dataset.objectId, +l.dataset.start])")
    assert listed == [[n["object_id"], pytest.approx(n["window_start"])]
                      for n in near["neighbours"]]
    # LCAD_VIEWER_SCREENSHOT=docs/images/viewer.png refreshes the one in the docs
    shot = Path(os.environ.get("LCAD_VIEWER_SCREENSHOT") or tmp_path / "viewer.png")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    # label the lowest-ranked object an anomaly: it goes to the top, in the page and the API
    last = rows[-1]
    page.click(f"#objects tbody tr[data-object-id='{last}']")
    page.wait_for_function(f"() => document.getElementById('object-title').textContent === "
                           f"{last!r}")
    page.click("#label-anomaly")
    page.wait_for_function(f"() => document.querySelector('#objects tbody tr').dataset.objectId "
                           f"=== {last!r}")
    assert page.text_content("#objects tbody tr td.label") == "anomaly"
    assert page.text_content("#label-state").startswith("labelled: anomaly")
    labels = http.get("/v1/labels").json()["labels"]
    assert [(x["object_id"], x["label"]) for x in labels] == [(last, "anomaly")]

    # the flagged-only filter shows flagged objects only
    page.check("#filter-anomalous")
    page.wait_for_function("() => document.getElementById('catalogue-note').textContent"
                           ".indexOf(' of ') > 0")
    flagged = http.get("/v1/catalogue", params={"anomalous": "true"}).json()["objects"]
    wait_until(lambda: page.eval_on_selector_all(
        "#objects tbody tr", "rs => rs.map(r => r.dataset.objectId)")
        == [r["object_id"] for r in flagged], "the filtered list", 20)

    # a CSV of one's own: scored, plotted, placed among the catalogue's neighbours
    page.set_input_files("#upload", str(upload))
    page.wait_for_function("() => document.getElementById('object-title').textContent === "
                           "'my-star'")
    mine = http.post("/v1/view", content=upload.read_text(),
                     headers={"Content-Type": "text/csv"}).json()["results"][0]
    curve = plotted(page, "curve-plot")
    kinds = {t["meta"]["kind"]: t for t in curve["data"]}
    close(kinds["flux"]["y"], mine["points"]["flux"])
    close(kinds["reconstruction"]["y"], mine["points"]["reconstruction"])
    assert len([s for s in curve["shapes"] if s["type"] == "rect"]) == len(mine["intervals"])
    assert page.is_hidden("#labelling")  # not a catalogue object: nothing to label
    assert page.text_content("#status") == ""
    assert outside == []  # no CDN, no fonts, nothing but the service
    page.close()


def test_a_curve_of_ones_own_scored_for_what_the_user_looks_for(browser, tmp_path):
    """A model that scores novelty can be asked for events (the scan calibrated beside it):
    the page offers the choice GET /v1/model lists, and a curve uploaded with "events"
    chosen is plotted with the scan's points, as /v1/view?look_for=events answers."""
    import pandas as pd

    from lcad.models.config import DetectorConfig
    from lcad.models.fit import fit_detector
    from lcad.models.lightcurve import LightCurve
    from tests.models.test_novelty import CFG, _nab

    t, f, _ = _nab("art_daily_jumpsup")
    cut = int(0.15 * t.size)
    det, _ = fit_detector([LightCurve.from_arrays("jumps", t[:cut], f[:cut],
                                                  emit_warnings=False)],
                          DetectorConfig.from_dict(CFG))
    assert det.look_for == ["shapes", "events"]
    bundle = det.save(tmp_path / "novelty")
    field = tmp_path / "field.csv"
    pd.DataFrame({"object_id": "jumps", "time": t, "flux": f}).to_csv(field, index=False)
    upload = tmp_path / "mine.csv"
    pd.DataFrame({"object_id": "mine", "time": t[cut:], "flux": f[cut:]}).to_csv(upload,
                                                                               index=False)
    with lcad_serve(bundle, tmp_path / "serve.log", "--catalogue", str(field)) as (url, _):
        http = httpx.Client(base_url=url, timeout=120)
        wait_until(lambda: http.get("/v1/catalogue").status_code == 200, "catalogue", 120)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/ui")
        page.wait_for_selector("#look-for-choice:not([hidden])")
        options = page.eval_on_selector_all("#look-for option", "os => os.map(o => o.value)")
        assert options == ["shapes", "events"]
        page.select_option("#look-for", "events")
        page.set_input_files("#upload", str(upload))
        page.wait_for_function("() => document.getElementById('object-title').textContent "
                               "=== 'mine'")
        scores = {t["meta"]["kind"]: t for t in plotted(page, "score-plot")["data"]}["score"]
        want = http.post("/v1/view?look_for=events", content=upload.read_text(),
                         headers={"Content-Type": "text/csv"}).json()
        own = http.post("/v1/view", content=upload.read_text(),
                        headers={"Content-Type": "text/csv"}).json()
        assert want["point_score"] == "scan" and own["point_score"] == "novelty"
        close(scores["y"], want["results"][0]["points"]["score"])
        assert not np.allclose(*(np.array([np.nan if v is None else v for v in a["results"][0][
            "points"]["score"]], float) for a in (want, own)), equal_nan=True)
        assert page.text_content("#status") == ""
        page.close()
        http.close()
