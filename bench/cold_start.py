"""Benchmark 4: seconds from `lcad serve` process start to /health/ready answering 200.

    .venv/bin/python bench/cold_start.py [--bundle DIR]     (trains a small bundle if none)

Each backend installed (`lcad serve --backend tensorflow|jax`) is measured, alternating
runs so that both see the same machine load.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def small_bundle(where: Path) -> Path:
    from lcad.models.config import DetectorConfig
    from lcad.models.fit import fit_detector
    from lcad.models.io import read_curves
    from lcad.training.demo import DEMO_DATA

    det, _ = fit_detector(read_curves(DEMO_DATA), DetectorConfig.from_dict(
        {"train": {"epochs": 2}}))
    return det.save(where / "bundle")


def once(bundle: Path, backend: str) -> float:
    from tests.conftest import free_port

    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "lcad"), "serve", "--model",
                             str(bundle), "--port", str(port), "--backend", backend],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready",
                                            timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - t0
            except OSError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("server exited")
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    import importlib.util
    import statistics

    from bench.common import fmt, machine, table

    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    backends = [b for b in ("tensorflow", "jax") if importlib.util.find_spec(b)]
    seconds: dict[str, list[float]] = {b: [] for b in backends}
    with tempfile.TemporaryDirectory() as tmp:
        bundle = args.bundle or small_bundle(Path(tmp))
        for _ in range(args.runs):
            for b in backends:
                seconds[b].append(once(bundle, b))
    rows = []
    for b, xs in seconds.items():
        stat = {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}
        rows.append([f"`lcad serve --backend {b}`: start -> /health/ready 200",
                     fmt(stat, " s"), "< 15 s"])
    print(f"machine: {machine()}\n")
    print(table(["measure", "median (min-max)", "target"], rows))


if __name__ == "__main__":
    main()
