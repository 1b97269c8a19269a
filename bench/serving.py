"""Benchmark 1: lcad's service vs `mlflow models serve` of the very same Keras network.

    .venv/bin/python bench/serving.py [--runs 3]

A user without lcad logs the autoencoder with MLflow's Keras flavor, serves it with
`mlflow models serve`, cuts the windows (and mask channel) on the client, and gets back
reconstructions of windows only. lcad gets the raw light curve and answers with scores,
p-values, intervals, latent codes and point-aligned reconstructions. Payloads: one
1,000-point curve; 100 such curves in one request. Concurrency 1 and 16, from a separate
load-generator process. Latency percentiles over all requests of all runs; points/s per run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent


def curves_json(n: int, length: int = 1000) -> list[dict]:
    import pandas as pd

    frame = pd.read_csv(ROOT / "training" / "data" / "kepler_demo.csv")
    out = []
    for i in range(n):
        star = frame[frame.object_id == frame.object_id.unique()[i % 2]]
        lo = (i * 53) % (len(star) - length)
        g = star.iloc[lo: lo + length]
        out.append({"id": f"c{i}", "time": g.time.tolist(), "flux": g.flux.tolist()})
    return out


def load(url: str, body: Path, ctype: str, conc: int, n: int) -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "loadgen.py"), url, str(body),
                          ctype, "--concurrency", str(conc), "--requests", str(n),
                          "--timeout", "900"],
                         capture_output=True, text=True, timeout=3600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    import keras
    import mlflow

    from bench.common import machine, table
    from lcad.models.autoencoder import inference_model
    from lcad.models.config import DetectorConfig
    from lcad.models.detector import Detector
    from lcad.models.fit import fit_detector
    from lcad.models.io import read_curves
    from lcad.models.lightcurve import LightCurve
    from lcad.training.demo import DEMO_DATA
    from tests.conftest import free_port, wait_http

    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--big-runs", type=int, default=1,
                    help="runs of the 100-curve cells (MLflow needs minutes per run)")
    ap.add_argument("--skip-big", action="store_true", help="only the 1-curve payload")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="lcad-bench-"))
    det, _ = fit_detector(read_curves(DEMO_DATA), DetectorConfig.from_dict(
        {"train": {"epochs": 2}}))
    bundle = det.save(tmp / "bundle")
    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlruns.db'}")
    with mlflow.start_run():
        # the deterministic network lcad serves (encoder -> z_mean -> decoder), reconstruction
        # output only: the variational training graph's Sampling layer is lcad's own class,
        # which MLflow's Keras flavor cannot load without lcad installed
        infer = inference_model(Detector.load(bundle).model)
        net = keras.Model(infer.inputs, infer.outputs[1], name="reconstruction")
        info = mlflow.keras.log_model(net, name="keras-ae")

    payloads = {}
    for label, n in (("1 curve", 1), ("100 curves", 100))[: 1 if args.skip_big else 2]:
        series = curves_json(n)
        lc_body = tmp / f"lcad-{n}.json"
        lc_body.write_text(json.dumps({"series": series,
                                       "include": ["latent", "reconstruction",
                                                   "point_scores"]}))
        # the MLflow user's client: preprocess and cut windows itself with lcad's own code
        windows = []
        for s in series:
            p = det.prepare(LightCurve.from_arrays(s["id"], s["time"], s["flux"],
                                                   emit_warnings=False))
            windows.append(p.model_input())
        ml_body = tmp / f"mlflow-{n}.json"
        ml_body.write_text(json.dumps({"inputs": np.concatenate(windows).tolist()}))
        payloads[label] = (lc_body, ml_body, n * 1000)

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    lp, mp = free_port(), free_port()
    procs = [
        subprocess.Popen([str(BIN / "lcad"), "serve", "--model", str(bundle), "--port", str(lp)],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([str(BIN / "mlflow"), "models", "serve", "-m", info.model_uri, "-p",
                          str(mp), "--env-manager", "local", "-h", "127.0.0.1"],
                         env={**env, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlruns.db'}"},
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    rows, summary = [], {}
    try:
        wait_http(f"http://127.0.0.1:{lp}/health/ready", timeout=300, proc=procs[0])
        wait_http(f"http://127.0.0.1:{mp}/ping", timeout=300, proc=procs[1])
        for label, (lc_body, ml_body, points) in payloads.items():
            for conc in (1, 16):
                n_req = (20 if conc == 1 else 64) if points == 1000 else (3 if conc == 1 else 16)
                for server, url, body in (
                        ("lcad", f"http://127.0.0.1:{lp}/v1/score", lc_body),
                        ("mlflow", f"http://127.0.0.1:{mp}/invocations", ml_body)):
                    lat, errors, rates = [], 0, []
                    reasons: set[str] = set()
                    load(url, body, "application/json", conc, min(n_req, 4))  # warm
                    for _ in range(args.runs if points == 1000 else args.big_runs):
                        r = load(url, body, "application/json", conc, n_req)
                        lat += r["latencies"]
                        errors += len(r["errors"])
                        reasons.update(str(e)[:200] for e in r["errors"])
                        rates.append(len(r["latencies"]) * points / r["wall"])
                    p50, p99 = (np.percentile(lat, [50, 99]) if lat else (np.nan, np.nan))
                    summary[(label, conc, server)] = (p50, statistics.median(rates))
                    rows.append([label, conc, server, f"{p50 * 1000:.1f}", f"{p99 * 1000:.1f}",
                                 f"{statistics.median(rates):,.0f} ({min(rates):,.0f}-"
                                 f"{max(rates):,.0f})", errors])
                    if reasons:  # say why, not only how many
                        print(f"{label} x {conc} {server} errors: {sorted(reasons)}", flush=True)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)
    print(f"machine: {machine()}\nmodel: window {det.window}, hidden {det.config.model.hidden}, "
          f"latent {det.latent_dim}; {args.runs} runs per 1-curve cell, {args.big_runs} per "
          "100-curve cell\n")
    print(table(["payload", "concurrency", "server", "p50 ms", "p99 ms",
                 "points/s median (min-max)", "errors"], rows))
    print()
    ratios = []
    for label in payloads:
        for conc in (1, 16):
            lc, ml = summary[(label, conc, "lcad")], summary[(label, conc, "mlflow")]
            p50 = f"{lc[0] / ml[0]:.3f}" if np.isfinite(ml[0]) else "mlflow failed"
            rate = f"{lc[1] / ml[1]:.1f}x" if ml[1] > 0 else "mlflow failed"
            ratios.append([label, conc, p50, rate])
    print(table(["payload", "concurrency", "p50 lcad / mlflow (target <= 0.05 for 1 curve)",
                 "points/s lcad / mlflow (target >= 10x at 16)"], ratios))


if __name__ == "__main__":
    main()
