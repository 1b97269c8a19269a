"""A load generator, run as its own process: N requests over C threads, latencies out.

    python bench/loadgen.py URL BODY_FILE CONTENT_TYPE --concurrency 16 --requests 64
Prints one JSON line: latencies (s) of successful requests, errors, wall seconds.
"""

from __future__ import annotations

import argparse
import json
import threading
import time

import httpx


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("body")
    ap.add_argument("content_type")
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()
    with open(args.body, "rb") as fh:
        body = fh.read()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    remaining = [args.requests]

    def worker() -> None:
        with httpx.Client(timeout=args.timeout) as client:
            while True:
                with lock:
                    if remaining[0] == 0:
                        return
                    remaining[0] -= 1
                t0 = time.perf_counter()
                try:
                    r = client.post(args.url, content=body,
                                    headers={"content-type": args.content_type})
                    ok = r.status_code == 200
                    why = f"{r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, why = False, repr(exc)
                dt = time.perf_counter() - t0
                with lock:
                    (latencies.append(dt) if ok else errors.append(why))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"latencies": latencies, "errors": errors,
                      "wall": time.perf_counter() - t0}))


if __name__ == "__main__":
    main()
