"""Shared fixtures: a tiny detector trained for seconds on synthetic curves."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

SYNTH: dict[str, Any] = dict(n_points=800, kinds=("sinusoid",), period_range=(0.5, 0.7))
TINY_CONFIG = {
    "preprocess": {"window": 32},
    "model": {"hidden": [64], "latent": 8},
    "train": {"epochs": 30, "stride": 2, "patience": 5},
}


@pytest.fixture(scope="session")
def tiny_config():
    from lcad.models.config import DetectorConfig

    return DetectorConfig.from_dict(TINY_CONFIG)


@pytest.fixture(scope="session")
def tiny_detector(tiny_config):
    from lcad.models.fit import fit_detector
    from lcad.models.synthetic import synthetic_dataset

    curves, _ = synthetic_dataset(30, seed=1, **SYNTH)
    detector, _ = fit_detector(curves, tiny_config)
    return detector


@pytest.fixture(scope="session")
def tiny_bundle(tiny_detector, tmp_path_factory):
    path = tmp_path_factory.mktemp("bundles") / "tiny"
    tiny_detector.save(path)
    return path


def as_ztf_alerts(frame: pd.DataFrame) -> pd.DataFrame:
    """Long-format curves (positive fluxes, with errors) written as ZTF alerts would hold
    them: magpsf the size of each point's difference from a reference flux (the object's
    mean), isdiffpos its sign, magnr and distnr the reference; ALeRCE's correction gives
    the curves back (`frames.difference_magnitudes`)."""
    from lcad.models.lightcurve import MAG_ZERO_POINT

    flux = frame["flux"].to_numpy()
    ref = frame.groupby("object_id")["flux"].transform("mean").to_numpy()
    diff = flux - ref  # a fading below the mean is a negative difference
    assert (flux > 0).all() and (diff < 0).any() and (diff > 0).any()
    return pd.DataFrame({
        "oid": frame["object_id"], "mjd": frame["time"],
        **({"fid": frame["band"]} if "band" in frame else {}),
        "magpsf": MAG_ZERO_POINT - 2.5 * np.log10(np.abs(diff)),
        "sigmapsf": 2.5 / np.log(10) * frame["flux_err"].to_numpy() / np.abs(diff),
        "isdiffpos": np.where(diff > 0, "t", "f"),
        "magnr": MAG_ZERO_POINT - 2.5 * np.log10(ref), "distnr": 0.4})


@pytest.fixture()
def rng():
    return np.random.default_rng(1234)


def shared_data(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(condition: Any, what: str, timeout: float = 60.0, interval: float = 0.1,
               proc: Any = None) -> Any:
    """Poll `condition()` until it returns something truthy, and return that; TimeoutError
    naming `what` after `timeout` s, RuntimeError as soon as `proc` (a Popen) has exited."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} while waiting for {what}")
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(interval)


def wait_http(url: str, timeout: float = 90.0, proc=None) -> None:
    """Until `url` answers 200."""
    import urllib.request

    def answers() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    wait_until(answers, f"{url} to answer", timeout, 0.3, proc)


BIN = Path(__import__("sys").executable).parent


@contextlib.contextmanager
def lcad_serve(bundle: Path, log: Path, *args: str, env: dict[str, str] | None = None
               ) -> Iterator[tuple[str, Any]]:
    """A real `lcad serve --model BUNDLE` process on a free port, output in `log`; yields
    (url, process) once /health/ready answers, and kills it on the way out if still running."""
    import subprocess

    port = free_port()
    with open(log, "w") as out:
        proc = subprocess.Popen([str(BIN / "lcad"), "serve", "--model", str(bundle), "--port",
                                 str(port), *args], stdout=out, stderr=subprocess.STDOUT,
                                env=os.environ if env is None else env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/health/ready", timeout=120, proc=proc)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server over HTTP (SQLite store, proxied artifacts)."""
    import subprocess

    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    log = open(root / "server.log", "w")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "artifacts"), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/health", proc=proc)
        yield url
    finally:
        stop_process_group(proc)
        log.close()


def stop_process_group(proc, timeout: float = 20) -> None:
    """SIGTERM a process started with start_new_session=True and everything it spawned
    (mlflow server runs uvicorn and job consumers as children); SIGKILL what is left."""
    import contextlib
    import signal
    import subprocess

    try:
        own_group = os.getpgid(proc.pid) == proc.pid
    except ProcessLookupError:
        own_group = False
    if not own_group:  # not a group leader: only the process itself
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # children that outlived the parent
    proc.wait()


@pytest.fixture(scope="session")
def synth_csv(tmp_path_factory):
    """Twelve synthetic curves in long-format CSV, and the curves themselves."""
    from lcad.models.synthetic import synthetic_dataset, to_frame

    curves, _ = synthetic_dataset(12, seed=3, **SYNTH)
    path = tmp_path_factory.mktemp("data") / "synth.csv"
    to_frame(curves).drop(columns=["band"]).to_csv(path, index=False)
    return path


SMALL_TRAIN = ["--set", "preprocess.window=32", "--set", "model.hidden=[32]",
               "--set", "model.latent=4", "--set", "train.epochs=3"]


@pytest.fixture(scope="session")
def kepler_bundle(tmp_path_factory):
    """A small detector trained on real Kepler data (first 3,000 points of two stars)."""
    import pandas as pd

    from lcad.models.config import DetectorConfig
    from lcad.models.fit import fit_detector
    from lcad.models.lightcurve import LightCurve

    curves = []
    for star in ("Kepler1871056", "Kepler2307415"):
        f = pd.read_csv(shared_data("kepler", f"{star}.csv")).iloc[:3000]
        curves.append(LightCurve.from_arrays(star, f.time, f.flux, emit_warnings=False))
    cfg = DetectorConfig.from_dict({"preprocess": {"window": 32},
                                    "model": {"hidden": [32], "latent": 4},
                                    "train": {"epochs": 3}})
    det, _ = fit_detector(curves, cfg)
    path = tmp_path_factory.mktemp("kepler") / "bundle"
    det.save(path)
    return det, path


def kepler_slices(n, start=3000, length=600):
    import pandas as pd

    frame = pd.read_csv(shared_data("kepler", "Kepler3231341.csv"))
    out = []
    for i in range(n):
        lo = start + i * 97
        g = frame.iloc[lo: lo + length]
        out.append({"id": f"k{i}", "time": g.time.tolist(), "flux": g.flux.tolist()})
    return out


def sigterm_with_requests_in_flight(url: str, n: int, terminate: Any) -> list[int]:
    """Send n `/v1/score` requests at once (Kepler slices, 4 rows each), call `terminate()`
    (the SIGTERM) once the service counts one in flight, and return every status code."""
    import threading

    import httpx

    results: list[int] = []
    started = threading.Barrier(n + 1)

    def call(s: dict) -> None:
        with httpx.Client(timeout=120) as c:
            started.wait()
            results.append(c.post(url + "/v1/score", json={"series": [s] * 4}).status_code)

    threads = [threading.Thread(target=call, args=(s,)) for s in kepler_slices(n, length=2000)]
    for t in threads:
        t.start()
    started.wait()

    def in_flight() -> bool:
        text = httpx.get(url + "/metrics", timeout=10).text
        return any(line.startswith("lcad_requests_in_flight ") and float(line.split()[1]) >= 1
                   for line in text.splitlines())

    wait_until(in_flight, "requests in flight", timeout=60)
    terminate()
    for t in threads:
        t.join(120)
    return results


def assert_serves_like(url: str, det: Any, rtol: float = 5e-3) -> None:
    """`/v1/score` at `url` on two real Kepler slices gives the scores and point scores of the
    in-process detector `det` (another Keras backend, or out of a container)."""
    import httpx

    from lcad.models.lightcurve import LightCurve

    series = kepler_slices(2)
    got = httpx.post(url + "/v1/score", json={"series": series, "include": ["point_scores"]},
                     timeout=120)
    assert got.status_code == 200, got.text
    want = det.score([LightCurve.from_arrays(s["id"], s["time"], s["flux"],
                                             emit_warnings=False) for s in series])
    for g, w in zip(got.json()["results"], want, strict=True):
        np.testing.assert_allclose(g["score"], w.score, rtol=rtol)
        ps = np.array([np.nan if v is None else v for v in g["point_scores"]], float)
        np.testing.assert_allclose(ps, w.point_score, rtol=rtol, atol=1e-3)
