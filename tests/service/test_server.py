"""A real `lcad serve` process: readiness, real Kepler data, concurrency, clients, SIGTERM."""

import importlib.util
import json
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from lcad.models.lightcurve import LightCurve
from lcad.service.client import LcadClient
from tests.conftest import (
    assert_serves_like,
    kepler_slices,
    lcad_serve,
    sigterm_with_requests_in_flight,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(kepler_bundle, tmp_path_factory):
    _, bundle = kepler_bundle
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with lcad_serve(bundle, log, env={**os.environ, "LCAD_MAX_WAIT_MS": "5"}) as (url, proc):
        yield url, proc, log


def test_scores_real_kepler_slices(server, kepler_bundle):
    url, _, _ = server
    det, _ = kepler_bundle
    series = kepler_slices(3)
    resp = httpx.post(url + "/v1/score", json={"series": series, "include": ["point_scores"]},
                      timeout=60)
    assert resp.status_code == 200, resp.text
    for s, r in zip(series, resp.json()["results"], strict=True):
        lc = LightCurve.from_arrays(s["id"], s["time"], s["flux"], emit_warnings=False)
        want = det.score([lc]).curves[0]
        got = np.array([np.nan if v is None else v for v in r["point_scores"]])
        assert_array_equal(got, want.point_score)
    assert httpx.get(url + "/v1/model").json()["source"].endswith("bundle")


def test_32_concurrent_clients_get_their_own_unbatched_answers(server, kepler_bundle):
    url, _, _ = server
    det, _ = kepler_bundle
    series = kepler_slices(32, length=300)
    before = _batch_count(url)

    def call(s):
        with httpx.Client(timeout=120) as c:
            return c.post(url + "/v1/score", json={"series": [s], "include": ["point_scores"]})

    with ThreadPoolExecutor(32) as pool:
        responses = list(pool.map(call, series))
    for s, resp in zip(series, responses, strict=True):
        assert resp.status_code == 200, resp.text
        lc = LightCurve.from_arrays(s["id"], s["time"], s["flux"], emit_warnings=False)
        want = det.score([lc]).curves[0]
        got = resp.json()["results"][0]
        assert got["id"] == s["id"]
        # micro-batching changes which padded batch size a window goes through, and float32
        # kernels round differently per batch size (relative differences ~1e-10 after scoring):
        # equal to 1e-7, which another client's answer is nowhere near
        assert_allclose(np.array([np.nan if v is None else v for v in got["point_scores"]]),
                        want.point_score, rtol=1e-7, atol=1e-9)
        assert got["score"] == pytest.approx(want.score, rel=1e-7)
    assert _batch_count(url) - before < 32  # requests shared network calls


def _batch_count(url):
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith("lcad_batch_rows_count"):
            return float(line.split()[-1])
    return 0.0


def test_mlflow_client_and_python_client(server, kepler_bundle):
    from mlflow.pyfunc.scoring_server.client import ScoringServerClient

    url, _, _ = server
    det, _ = kepler_bundle
    port = int(url.rsplit(":", 1)[1])
    s = kepler_slices(1)[0]
    frame = pd.DataFrame({"object_id": s["id"], "time": s["time"], "flux": s["flux"]})
    client = ScoringServerClient("127.0.0.1", port)
    client.wait_server_ready(timeout=10)
    preds = client.invoke(frame).get_predictions()
    lc = LightCurve.from_arrays(s["id"], s["time"], s["flux"], emit_warnings=False)
    want = det.score([lc]).points_frame()
    assert_array_equal(preds["score"].to_numpy(float), want["score"].to_numpy(float))

    with LcadClient(url) as lc_client:
        assert lc_client.ready()
        frames = lc_client.score(frame)
        assert frames.objects.loc[0, "id"] == s["id"]
        assert_array_equal(frames.points["score"].to_numpy(), want["score"].to_numpy(float))
        assert len(lc_client.encode(frame)) == det.prepare(lc).win.n_windows
        assert len(lc_client.reconstruct(frame)) == len(s["time"])
        assert lc_client.model()["window"] == 32


def _readme_score_pipeline():
    """The README's `curl .../v1/score` command (with the line feeding it)."""
    text = (Path(__file__).parents[2] / "README.md").read_text()
    block = text.split("## Serve\n\n```bash\n", 1)[1].split("```", 1)[0]
    lines = block.splitlines()
    i = next(k for k, line in enumerate(lines) if "/v1/score" in line)
    return lines[i - 1] + "\n" + lines[i]  # as pasted, comment and all


def test_readme_curl_example_scores_the_demo_file_for_real(server, tmp_path):
    from lcad.models.io import read_curves
    from lcad.models.synthetic import to_frame
    from lcad.training.demo import DEMO_DATA

    url, _, _ = server
    # the file `make demo` writes, in its format (empty flux_err column, band column)
    curves = read_curves(DEMO_DATA)
    (tmp_path / "lcad-output").mkdir()
    to_frame(curves).to_csv(tmp_path / "lcad-output" / "demo-evaluation.csv", index=False)
    command = _readme_score_pipeline().replace("localhost:8000", url.split("//", 1)[1])
    done = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)["results"]
    assert result["score"] is not None and result["threshold"] is not None


def test_openapi_examples_get_real_answers(server):
    """What /docs offers to "Try it out": a quiet star with one flare, as JSON and as CSV."""
    from lcad.service.schemas import EXAMPLE_CADENCE

    url, _, _ = server
    spec = httpx.get(url + "/openapi.json").json()
    example = spec["components"]["schemas"]["ScoreRequest"]["examples"][0]
    csv = spec["paths"]["/v1/score"]["post"]["requestBody"]["content"]["text/csv"]["example"]
    answers = [httpx.post(url + "/v1/score", json=example, timeout=60),
               httpx.post(url + "/v1/score", content=csv,
                          headers={"content-type": "text/csv"}, timeout=60)]
    span = 255 * EXAMPLE_CADENCE
    flare = 160 * EXAMPLE_CADENCE
    for resp in answers:
        assert resp.status_code == 200, resp.text
        (r,) = resp.json()["results"]
        assert r["score"] is not None and r["is_anomalous"], r
        covering = [iv for iv in r["intervals"] if iv["start"] - 0.05 <= flare <= iv["end"]]
        assert covering, r["intervals"]
        assert sum(iv["end"] - iv["start"] for iv in r["intervals"]) < 0.25 * span


def test_sigterm_answers_every_accepted_request(server):
    url, proc, log = server
    results = sigterm_with_requests_in_flight(url, 8, lambda: proc.send_signal(signal.SIGTERM))
    assert results == [200] * 8, log.read_text()[-2000:]
    # uvicorn re-raises SIGTERM after a graceful shutdown: the conventional exit by that signal
    assert proc.wait(60) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in log.read_text()


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_serve_backend_jax_scores_like_tensorflow(kepler_bundle, tmp_path):
    """`lcad serve --backend jax` (the CPU image's fast start): the same bundle, the same
    answers as the TensorFlow detector that trained it, and /v1/model says which backend."""
    det, bundle = kepler_bundle
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "LCAD_BACKEND")}
    with lcad_serve(bundle, tmp_path / "serve.log", "--backend", "jax", env=env) as (url, _):
        assert httpx.get(url + "/v1/model").json()["keras_backend"] == "jax"
        assert_serves_like(url, det)


def test_serve_backend_not_installed_is_a_cli_error(tmp_path):
    from lcad.cli import CliError, serve_backend

    assert serve_backend(None) is None
    assert serve_backend("auto") in ("jax", "tensorflow")
    if importlib.util.find_spec("jax") is None:
        with pytest.raises(CliError, match="backend jax is not installed"):
            serve_backend("jax")
    else:
        assert serve_backend("jax") == "jax"
