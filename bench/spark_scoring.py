"""Benchmark 7: Spark batch scoring (`score_spark`) with 1 and 2 executor cores, beside
`lcad score` on the same data (benchmark 2's 10 million points).

    .venv/bin/python -m bench.spark_scoring [--points 10000000] [--objects 10] [--runs 1]
    .venv/bin/python -m bench.spark_scoring --survey 2000   # benchmark 6's survey objects

Each measurement is a fresh process: `lcad score`'s `score_to_file`, or a local[N] Spark
session that first scores a one-object file (session start, Python workers, TensorFlow and
the model loaded: the fixed overhead) and then the whole set (the job). A sampler polls the
process tree's resident memory (the JVM, the Python workers) every 0.2 s: the peak of the
largest Python worker is the per-task memory that must stay bounded however long an object
is (benchmark 2's objects hold a million points each).
"""

from __future__ import annotations

import argparse
import atexit
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class MemorySampler:
    """Peak RSS of this process tree: in all, and of the largest Python worker."""

    def __init__(self) -> None:
        import psutil

        self.me = psutil.Process()
        self.peak_total = 0
        self.peak_worker = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.wait(0.2):
            total, worker = 0, 0
            for p in [self.me, *self.me.children(recursive=True)]:
                try:
                    rss = p.memory_info().rss
                    name = " ".join(p.cmdline()[:3])
                except psutil.Error:
                    continue
                total += rss
                if p.pid != self.me.pid and "pyspark" in name:
                    worker = max(worker, rss)
            self.peak_total = max(self.peak_total, total)
            self.peak_worker = max(self.peak_worker, worker)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return {"rss_total_mb": self.peak_total / 2**20, "rss_worker_mb": self.peak_worker / 2**20}


def child(kind: str, bundle: str, data: str, warm: str, out: str) -> dict[str, Any]:
    sampler = MemorySampler()
    t0 = time.perf_counter()
    if kind == "lcad-score":
        from lcad.models.detector import Detector
        from lcad.training.scoring import score_to_file

        det = Detector.load(bundle)
        ready = time.perf_counter()
        summary = score_to_file(det, data, Path(out) / "points.parquet")
    else:
        from lcad.training.spark import score_spark, spark_session

        spark = spark_session(kind)
        score_spark(warm, bundle, Path(out) / "warm", spark=spark)
        ready = time.perf_counter()
        summary = score_spark(data, bundle, Path(out) / "all", spark=spark)
        spark.stop()
    done = time.perf_counter()
    return {"overhead": ready - t0, "job": done - ready, "total": done - t0,
            "points": summary["n_points"], "objects": summary["n_objects"], **sampler.stop()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=10_000_000)
    ap.add_argument("--objects", type=int, default=10)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--survey", type=int, metavar="N", help="instead: N survey objects "
                    "(2 bands x 50 epochs, bench.survey_throughput's), whole-curve model")
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return

    import pandas as pd

    from bench.batch_scoring import generate
    from bench.common import machine, table
    from lcad.models.config import DetectorConfig
    from lcad.models.fit import fit_detector
    from lcad.models.io import read_curves
    from lcad.training.demo import DEMO_DATA

    tmp = Path(tempfile.mkdtemp(prefix="lcad-spark-bench-"))
    atexit.register(shutil.rmtree, tmp, True)  # ~1 GB of data and outputs per run
    data = tmp / "points.parquet"
    if args.survey:
        from bench.survey_throughput import survey_frame
        from lcad.models.detector import Detector
        from lcad.models.frames import curves_from_frame

        frame = survey_frame(args.survey)
        frame.to_parquet(data, index=False)
        det = Detector.fit(curves_from_frame(frame[frame.object_id < "obj0001000"]),
                           train={"epochs": 5})
        what = f"{args.survey:,} survey objects (2 bands x 50 epochs); {det.representation}"
    else:
        det, _ = fit_detector(read_curves(DEMO_DATA), DetectorConfig.from_dict(
            {"train": {"epochs": 1}}))
        generate(data, args.points, args.objects)
        what = f"{args.points:,} points in {args.objects} objects (Parquet), window {det.window}"
    bundle = det.save(tmp / "bundle")
    warm = tmp / "warm.parquet"
    pd.read_parquet(data).head(500).to_parquet(warm)
    kinds = ["lcad-score", "local[1]", "local[2]"]
    results: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    for i in range(args.runs):
        for kind in kinds:
            out = tmp / f"out-{kind.replace('[', '').replace(']', '')}-{i}"
            out.mkdir()
            proc = subprocess.run([sys.executable, "-m", "bench.spark_scoring", "--child", kind,
                                   str(bundle), str(data), str(warm), str(out)],
                                  capture_output=True, text=True, cwd=ROOT)
            if proc.returncode != 0:
                raise SystemExit(proc.stderr[-3000:])
            results[kind].append(json.loads(proc.stdout.strip().splitlines()[-1]))

    def med(xs: list[float], fmt: str = ".3g") -> str:
        m = statistics.median(xs)
        return f"{m:{fmt}}" if len(xs) == 1 else f"{m:{fmt}} ({min(xs):{fmt}}-{max(xs):{fmt}})"

    rows = []
    base = statistics.median(r["job"] for r in results["lcad-score"])
    one = statistics.median(r["job"] for r in results["local[1]"])
    for kind in kinds:
        rs = results[kind]
        job = statistics.median(r["job"] for r in rs)
        rows.append([kind if kind == "lcad-score" else f"score_spark {kind}",
                     med([r["overhead"] for r in rs]), med([r["job"] for r in rs]),
                     med([r["points"] / r["job"] for r in rs], ",.0f"),
                     med([r["objects"] / r["job"] for r in rs], ",.1f"),
                     f"{base / job:.2f}", "" if kind == "lcad-score" else f"{one / job:.2f}",
                     med([r["rss_total_mb"] for r in rs], ",.0f"),
                     "" if kind == "lcad-score" else med([r["rss_worker_mb"] for r in rs],
                                                         ",.0f")])
    print(f"machine: {machine()}\n{what}; {args.runs} run(s) of each, fresh processes\n")
    print(table(["path", "overhead s", "job s", "points/s", "objects/s", "vs lcad score",
                 "vs 1 core", "peak RSS MB (tree)", "largest worker MB"], rows))
    print("\noverhead: process start to a warm scorer (lcad score: the model loaded; Spark: "
          "session, workers, model, a 500-row job). job: the whole set, tables written.")


if __name__ == "__main__":
    main()
