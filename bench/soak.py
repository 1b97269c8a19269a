"""Soak: C concurrent clients for D minutes against a real `lcad serve`, mixed payloads.

    .venv/bin/python -m bench.soak --minutes 10 --concurrency 16

Payloads: 1 to 100 Kepler curves of 200-1,000 points per request, and about 1 in 10
requests deliberately invalid (NaN flux, unsorted times, a too-short series, a wrong type,
an unknown field value). Reports: requests, errors of valid requests (must be 0), invalid
requests answered with a 4xx envelope (must be all of them), p50/p99 latency per minute,
and the server's RSS at the start and the end (a leak shows as growth).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def payloads(seed: int = 0) -> tuple[list[bytes], list[bytes]]:
    """Pre-built bodies: valid ones of 1-100 curves, and invalid ones of every kind."""
    import pandas as pd

    frame = pd.read_csv(ROOT / "training" / "data" / "kepler_demo.csv")
    stars = [g for _, g in frame.groupby("object_id")]
    rng = np.random.default_rng(seed)

    def curve(i: int) -> dict[str, Any]:
        g = stars[i % len(stars)]
        n = int(rng.integers(200, 1001))
        lo = int(rng.integers(0, len(g) - n))
        part = g.iloc[lo: lo + n]
        return {"id": f"c{i}", "time": part.time.tolist(), "flux": part.flux.tolist()}

    valid = []
    for k in (1, 1, 2, 5, 10, 25, 50, 100):
        valid.append(json.dumps({"series": [curve(i) for i in range(k)]}).encode())
    bad_nan = curve(0)
    bad_nan["flux"][3] = None
    bad_sorted = curve(1)
    bad_sorted["time"] = bad_sorted["time"][::-1]
    short = curve(2)
    short["time"], short["flux"] = short["time"][:3], short["flux"][:3]
    wrong_type = curve(3)
    wrong_type["flux"] = "lots"
    invalid = [json.dumps({"series": [c]}).encode() for c in (bad_nan, bad_sorted, short,
                                                              wrong_type)]
    invalid += [b"{not json", json.dumps({"series": []}).encode()]
    return valid, invalid


def run(url: str, minutes: float, concurrency: int, invalid_share: float, pid: int
        ) -> dict[str, Any]:
    valid, invalid = payloads()
    proc = psutil.Process(pid)
    rss_start = proc.memory_info().rss
    t_end = time.monotonic() + minutes * 60
    t0 = time.monotonic()
    lock = threading.Lock()
    rows: list[tuple[float, float, bool, int]] = []  # (t, latency, valid, status)
    failures: list[str] = []

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        with httpx.Client(timeout=120) as client:
            while time.monotonic() < t_end:
                is_valid = rng.random() >= invalid_share
                body = (valid[rng.integers(len(valid))] if is_valid
                        else invalid[rng.integers(len(invalid))])
                t = time.monotonic()
                try:
                    r = client.post(url, content=body,
                                    headers={"content-type": "application/json"})
                    status = r.status_code
                    good = (status == 200) if is_valid else (
                        400 <= status < 500 and "error" in r.json())
                    why = "" if good else f"{status}: {r.text[:200]}"
                except httpx.HTTPError as exc:
                    status, good, why = 0, False, repr(exc)
                with lock:
                    rows.append((t - t0, time.monotonic() - t, is_valid, status))
                    if not good:
                        failures.append(why)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    rss_samples = []
    for th in threads:
        th.start()
    while any(th.is_alive() for th in threads):
        rss_samples.append((time.monotonic() - t0, proc.memory_info().rss))
        time.sleep(5)
    for th in threads:
        th.join()
    arr = np.array([(t, lat, v, s) for t, lat, v, s in rows], dtype=float)
    per_minute = []
    for m in range(int(np.ceil(minutes))):
        sel = (arr[:, 0] >= 60 * m) & (arr[:, 0] < 60 * (m + 1)) & (arr[:, 2] == 1)
        if sel.any():
            p50, p99 = np.percentile(arr[sel, 1], [50, 99])
            in_minute = [r for t, r in rss_samples if 60 * m <= t < 60 * (m + 1)]
            per_minute.append({"minute": m + 1, "requests": int(sel.sum()),
                               "p50_ms": 1000 * p50, "p99_ms": 1000 * p99,
                               "rss_max_mb": max(in_minute, default=0) / 2**20})
    n_valid = int((arr[:, 2] == 1).sum())
    valid_errors = int(((arr[:, 2] == 1) & (arr[:, 3] != 200)).sum())
    invalid_ok = int(((arr[:, 2] == 0) & (arr[:, 3] >= 400) & (arr[:, 3] < 500)).sum())
    rss = [r for _, r in rss_samples]
    settle = rss[len(rss) // 10] if rss else rss_start  # after warm-up allocations
    return {"requests": len(rows), "valid": n_valid, "valid_errors": valid_errors,
            "invalid": len(rows) - n_valid, "invalid_answered_4xx": invalid_ok,
            "failures": failures[:10], "per_minute": per_minute,
            "rss_start_mb": rss_start / 2**20, "rss_after_warmup_mb": settle / 2**20,
            "rss_end_mb": proc.memory_info().rss / 2**20,
            "rss_max_mb": max(rss, default=rss_start) / 2**20}


def main() -> None:
    from bench.cold_start import small_bundle
    from bench.common import machine, table
    from tests.conftest import BIN, free_port, wait_http

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--invalid-share", type=float, default=0.1)
    ap.add_argument("--model", help="bundle to serve (default: a demo model trained here)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "soak.json")
    args = ap.parse_args()
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        bundle = args.model or str(small_bundle(Path(tmp)))
        port = free_port()
        server = subprocess.Popen([str(BIN / "lcad"), "serve", "--model", bundle, "--port",
                                   str(port), "--log-level", "warning"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_http(f"http://127.0.0.1:{port}/health/ready", timeout=300, proc=server)
            res = run(f"http://127.0.0.1:{port}/v1/score", args.minutes, args.concurrency,
                      args.invalid_share, server.pid)
        finally:
            server.terminate()
            server.wait(60)
    res.update(machine=machine(), date=time.strftime("%Y-%m-%d"), minutes=args.minutes,
               concurrency=args.concurrency)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    print(f"machine: {res['machine']}\n{args.minutes:g} min, {args.concurrency} clients: "
          f"{res['requests']} requests ({res['valid']} valid, {res['invalid']} invalid)\n"
          f"valid requests failed: {res['valid_errors']}; invalid answered 4xx: "
          f"{res['invalid_answered_4xx']}/{res['invalid']}\n"
          f"RSS MB: start {res['rss_start_mb']:.0f}, after warm-up "
          f"{res['rss_after_warmup_mb']:.0f}, end {res['rss_end_mb']:.0f}, max "
          f"{res['rss_max_mb']:.0f}\n")
    print(table(["minute", "requests", "p50 ms", "p99 ms", "server RSS max MB"],
                [[m["minute"], m["requests"], f"{m['p50_ms']:.0f}", f"{m['p99_ms']:.0f}",
                  f"{m['rss_max_mb']:.0f}"] for m in res["per_minute"]]))
    for f in res["failures"]:
        print("failure:", f)


if __name__ == "__main__":
    main()
