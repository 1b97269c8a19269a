"""Benchmark 2: `lcad score` on 10 million points from Parquet vs the CPU's matmul roofline.

    .venv/bin/python bench/batch_scoring.py [--points 10000000] [--runs 3]

Each run is a fresh process that scores the file with the real `score_to_file` path
(window 64, stride 1), with timers wrapped around its stages: read, preprocess, model,
scoring, write. Its peak RSS comes from getrusage. The roofline, measured in the same run,
is a plain numpy float32 matmul chain of the model's own layer shapes over the same number
of windows (the practical limit of this CPU for this network).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def layer_shapes(det: Any) -> list[tuple[int, int]]:
    import keras

    shapes = []
    for sub in ("encoder", "decoder"):
        for layer in det.model.get_layer(sub).layers:
            if isinstance(layer, keras.layers.Dense):
                k = layer.kernel.shape
                shapes.append((int(k[0]), int(k[1])))
    return shapes


def roofline(shapes: list[tuple[int, int]], n: int, chunk: int = 65536) -> tuple[float, float]:
    """Seconds and GFLOP/s of the matmul chain over n windows (every Dense layer the
    inference runs, the variational encoder's z_mean and z_log_var heads included)."""
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=s).astype(np.float32) for s in shapes]
    x0 = rng.normal(size=(chunk, shapes[0][0])).astype(np.float32)
    flops = 2.0 * n * sum(a * b for a, b in shapes)
    t0 = time.perf_counter()
    done = 0
    while done < n:
        m = min(chunk, n - done)
        acts = [x0[:m]]
        for w in weights:  # a layer takes the latest activation of its width (VAE heads
            src = next(h for h in reversed(acts) if h.shape[1] == w.shape[0])  # branch)
            acts.append(src @ w)
        done += m
    dt = time.perf_counter() - t0
    return dt, flops / dt / 1e9


def generate(path: Path, points: int, objects: int) -> None:
    import pandas as pd

    kepler = pd.read_csv(ROOT / "training" / "data" / "kepler_demo.csv")["flux"].to_numpy()
    per = points // objects
    frames = []
    for i in range(objects):
        flux = np.resize(np.roll(kepler, i * 997), per)
        frames.append(pd.DataFrame({"object_id": f"obj{i}", "time": 131.5 + 0.0204 * np.arange(per),
                                    "flux": flux}))
    pd.concat(frames, ignore_index=True).to_parquet(path)


def run_once(bundle: Path, data: Path, out: Path) -> dict[str, Any]:
    """Score with the real path, timing each stage (runs in its own process)."""
    from lcad.models import io
    from lcad.models.detector import Detector
    from lcad.models.results import CurveScore
    from lcad.training import scoring

    det = Detector.load(bundle)
    times: dict[str, float] = defaultdict(float)

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                times[name] += time.perf_counter() - t0
        return wrapper

    for owner, name, stage in ((io, "read_table", "read"), (io, "frame_to_curves", "read"),
                               (det, "prepare", "preprocess"), (det, "network", "model"),
                               (det, "reduce_into", "scoring"),
                               (det, "finish_score_reduced", "scoring"),
                               (CurveScore, "points_frame", "write"),
                               (scoring.TableWriter, "write", "write")):
        setattr(owner, name, timed(stage, getattr(owner, name)))
    def cpu() -> float:
        use = resource.getrusage(resource.RUSAGE_SELF)
        return use.ru_utime + use.ru_stime

    c0, t0 = cpu(), time.perf_counter()
    summary = scoring.score_to_file(det, data, out)
    total = time.perf_counter() - t0
    return {"total": total, "stages": dict(times), "points": summary["n_points"],
            "cpu": cpu() - c0,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=10_000_000)
    ap.add_argument("--objects", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_once(*map(Path, args.child))))
        return

    from bench.common import machine, table
    from lcad.models.config import DetectorConfig
    from lcad.models.detector import Detector
    from lcad.models.fit import fit_detector
    from lcad.models.io import read_curves
    from lcad.training.demo import DEMO_DATA

    tmp = Path(tempfile.mkdtemp(prefix="lcad-batch-"))
    det, _ = fit_detector(read_curves(DEMO_DATA), DetectorConfig.from_dict(
        {"train": {"epochs": 1}}))
    bundle = det.save(tmp / "bundle")
    data = tmp / "points.parquet"
    generate(data, args.points, args.objects)
    det = Detector.load(bundle)
    shapes = layer_shapes(det)
    n_windows = args.points  # stride 1: one window per grid point, give or take the edges
    results, roof = [], []
    for i in range(args.runs):  # alternate: each scoring run next to its own roofline run
        proc = subprocess.run([sys.executable, __file__, "--child", str(bundle), str(data),
                               str(tmp / f"out{i}.parquet")], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        roof.append(roofline(shapes, n_windows))
    flops = 2.0 * n_windows * sum(a * b for a, b in shapes)

    def med(xs: list[float]) -> str:
        return f"{statistics.median(xs):.3g} ({min(xs):.3g}-{max(xs):.3g})"

    rows = [["end to end", med([r["total"] for r in results]),
             med([r["points"] / r["total"] for r in results]),
             med([flops / r["total"] / 1e9 for r in results])]]
    for stage in ("read", "preprocess", "model", "scoring", "write"):
        rows.append([f"  {stage}", med([r["stages"].get(stage, 0.0) for r in results]), "", ""])
    rows.append(["numpy matmul chain (roofline)", med([r[0] for r in roof]), "",
                 med([r[1] for r in roof])])
    shares = [roof_s / r["total"] for r, (roof_s, _g) in zip(results, roof, strict=True)]
    share = statistics.median(shares)
    print(f"machine: {machine()}\n{args.points:,} points in {args.objects} objects "
          f"(Parquet), window {det.window}, stride 1; layers {shapes}; {args.runs} runs\n")
    print(table(["stage", "seconds median (min-max)", "points/s", "GFLOP/s"], rows))
    print(f"\nstage seconds are summed over the scoring threads ({scoring_workers()} chunks at "
          f"once), so they add up to more than the end-to-end time; CPU used while scoring: "
          f"{med([r['cpu'] for r in results])} s ({med([r['cpu'] / r['total'] for r in results])}"
          f" cores)")
    print(f"end to end = {share:.1%} of the roofline, median of the {args.runs} side-by-side "
          f"pairs ({min(shares):.1%}-{max(shares):.1%}; target >= 50%); peak RSS "
          f"{med([r['rss_mb'] for r in results])} MB (target < 2,000 MB)")


def scoring_workers() -> int:
    from lcad.training.scoring import WORKERS

    return WORKERS


if __name__ == "__main__":
    main()
