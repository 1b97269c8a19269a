"""Survey throughput (issue 18): objects per second for 50-epoch two-band curves.

An alert broker sees ~1 M ZTF alerts a night (~10 M from LSST), each with a short multi-band
history. The set: synthetic survey objects, two bands (g, r), 50 epochs each, irregular over
three years with nights and seasonal gaps, pulsating or constant stars with 1 % errors. A
detector is trained with the defaults (which pick whole-curve mode for such curves) on 1,000
of them; then all are scored:
- batch: `lcad score --processes 1` (the program, end to end, from a Parquet file), the
  same with `--processes 2` (what the program picks by itself from 4M rows on), and its
  in-process part (`training.scoring.score_to_file`, model already loaded); the program
  also on a file `--copies` times as large (the same objects again under other names),
  and its rate once running, without its start (loading the model,
  starting the scoring processes: seconds): the extra objects of the large file over the
  extra time it takes (an estimate for a catalogue of millions; `--catalogue` measures one);
- service: a real `lcad serve`, requests of 100 objects (JSON), 1 and 4 clients at once.

    .venv/bin/python -m bench.survey_throughput --objects 5000 --requests 10   # ~5 min, 2 cores
    .venv/bin/python -m bench.survey_throughput --objects 20000 --catalogue 50  # + 1M: ~20 min

`--catalogue 50` adds the number the target is about: a catalogue of 1,000,000 objects
scored by the program with no flags, start to end.

Target (issue 18): >= 2,000 objects/s in batch scoring on this 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pandas as pd

from bench.common import machine, table

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EPOCHS, BANDS, SPAN_DAYS = 50, ("g", "r"), 3 * 365.25


def survey_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """`n` objects in long format: object_id, time, flux, flux_err, band."""
    rng = np.random.default_rng(seed)
    nights = np.arange(SPAN_DAYS)
    nights = nights[(nights % 365.25) < 240]  # a 4-month season gap each year
    ids, times, fluxes, errs, bands = [], [], [], [], []
    for i in range(n):
        t = np.sort(rng.choice(nights, EPOCHS, replace=False) + rng.uniform(0.1, 0.3, EPOCHS))
        period, amp = rng.uniform(0.3, 20), rng.uniform(0, 0.3) * (i % 3 > 0)
        for k, b in enumerate(BANDS):
            level = 1.0 + 0.3 * k
            f = level * (1 + amp * np.sin(2 * np.pi * t / period + k)) \
                + rng.normal(0, 0.01 * level, EPOCHS)
            ids.append(np.full(EPOCHS, f"obj{i:07d}"))
            times.append(t + 0.002 * k)
            fluxes.append(f)
            errs.append(np.full(EPOCHS, 0.01 * level))
            bands.append(np.full(EPOCHS, b))
    return pd.DataFrame({"object_id": np.concatenate(ids), "time": np.concatenate(times),
                         "flux": np.concatenate(fluxes), "flux_err": np.concatenate(errs),
                         "band": np.concatenate(bands)})


def serve_rate(bundle: Path, body: Path, n_objects: int, conc: int, requests: int,
               tmp: Path) -> float:
    from tests.conftest import free_port, wait_http

    port = free_port()
    proc = subprocess.Popen([str(BIN / "lcad"), "serve", "--model", str(bundle), "--port",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/health/ready", 120)
        out = subprocess.run([sys.executable, str(ROOT / "bench" / "loadgen.py"),
                              url + "/v1/score", str(body), "application/json",
                              "--concurrency", str(conc), "--requests", str(requests)],
                             capture_output=True, text=True, timeout=1800)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        if res["errors"]:
            raise RuntimeError(f"service errors: {res['errors'][:3]}")
        return n_objects * len(res["latencies"]) / res["wall"]
    finally:
        proc.terminate()
        proc.wait(30)


def write_copies(frame: pd.DataFrame, copies: int, path: Path) -> None:
    """`frame`'s objects `copies` times under other names, one copy at a time (a catalogue
    larger than memory would allow at once), grouped by object."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    try:
        for k in range(copies):
            part = pa.Table.from_pandas(frame.assign(
                object_id=frame.object_id.str.replace("obj", f"c{k}-")), preserve_index=False)
            writer = writer or pq.ParquetWriter(path, part.schema)
            writer.write_table(part)
    finally:
        if writer is not None:
            writer.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objects", type=int, default=5_000)
    ap.add_argument("--requests", type=int, default=10, help="service requests per cell")
    ap.add_argument("--copies", type=int, default=5,
                    help="the large file: this many copies of the objects")
    ap.add_argument("--catalogue", type=int, default=0, metavar="COPIES",
                    help="also a catalogue of this many copies (50: 1,000,000 objects at "
                         "--objects 20000), scored by the program with no flags")
    args = ap.parse_args(argv)
    from lcad.models.detector import Detector
    from lcad.models.frames import curves_from_frame
    from lcad.training.scoring import score_to_file

    tmp = Path(tempfile.mkdtemp(prefix="lcad-survey-"))
    frame = survey_frame(args.objects)
    data = tmp / "survey.parquet"
    frame.to_parquet(data, index=False)
    large = tmp / "survey-large.parquet"  # the same objects again, under other names
    write_copies(frame, args.copies, large)
    train = curves_from_frame(frame[frame.object_id < "obj0001000"])
    det = Detector.fit(train, train={"epochs": 5})
    bundle = det.save(tmp / "bundle")
    mode = f"{det.representation}; point score {det.point_method}"
    print(f"{args.objects} objects x {len(BANDS)} bands x {EPOCHS} epochs; detector: {mode}")

    t0 = time.perf_counter()
    summary = score_to_file(det, data, tmp / "inproc.parquet")
    inproc = time.perf_counter() - t0
    def program(path: Path, *extra: str) -> float:
        t0 = time.perf_counter()
        subprocess.run([str(BIN / "lcad"), "score", "--model", str(bundle), "--data",
                        str(path), "--output", str(tmp / "cli.parquet"), *extra], check=True,
                       capture_output=True)
        return time.perf_counter() - t0

    # explicit: without --processes the program picks 2 for the large file (4M+ rows)
    cli, cli2 = program(data, "--processes", "1"), program(data, "--processes", "2")
    big, big2 = program(large, "--processes", "1"), program(large, "--processes", "2")
    n = summary["n_objects"]
    n_big = n * args.copies
    catalogue_rows = []
    if args.catalogue:
        path = tmp / "catalogue.parquet"
        write_copies(frame, args.catalogue, path)
        large.unlink()
        wall = program(path)  # what a user runs: the program picks its processes
        catalogue_rows = [[f"lcad score, no flags, {n * args.catalogue:,} objects "
                           "(end to end)", f"{n * args.catalogue / wall:,.0f}",
                           f"{wall:.1f} s"]]

    body = tmp / "batch.json"
    head = frame[frame.object_id < "obj0000100"].sort_values(["object_id", "band", "time"])
    # (band by band, each band in time order, as survey exports list them)
    body.write_text(json.dumps({"series": [
        {"id": oid, "time": g.time.tolist(), "flux": g.flux.tolist(),
         "flux_err": g.flux_err.tolist(), "band": g.band.tolist()}
        for oid, g in head.groupby("object_id", sort=False)]}))
    rates = {c: serve_rate(bundle, body, 100, c, args.requests, tmp) for c in (1, 4)}
    rows = [["lcad score --processes 1 (program: start, load, read, score, write)",
             f"{n / cli:,.0f}",
             f"{cli:.1f} s"],
            ["lcad score --processes 2 (the same, chunks in 2 processes)", f"{n / cli2:,.0f}",
             f"{cli2:.1f} s"],
            [f"lcad score --processes 1, {n_big:,} objects", f"{n_big / big:,.0f}",
             f"{big:.1f} s"],
            [f"lcad score --processes 2, {n_big:,} objects", f"{n_big / big2:,.0f}",
             f"{big2:.1f} s"],
            ["lcad score --processes 1, once running (the extra objects over the extra time)",
             f"{(n_big - n) / (big - cli):,.0f}", "-"],
            ["lcad score --processes 2, once running (the same)",
             f"{(n_big - n) / (big2 - cli2):,.0f}", "-"],
            *catalogue_rows,
            ["score_to_file (model loaded)", f"{n / inproc:,.0f}", f"{inproc:.1f} s"],
            ["lcad serve, 100 objects a request, 1 client", f"{rates[1]:,.0f}", "-"],
            ["lcad serve, 100 objects a request, 4 clients", f"{rates[4]:,.0f}", "-"]]
    print(machine())
    print(table(["path", "objects/s", "wall"], rows))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
