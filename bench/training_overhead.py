"""Benchmark 3: `lcad train` windows/s vs a bare keras.Model.fit on the same arrays.

    .venv/bin/python bench/training_overhead.py [--epochs 30] [--runs 3]

30 epochs is the shipped default (early stopping is off here so that both sides train the
same number of epochs). lcad's costs outside `fit` are fixed per run, so the overhead shrinks
with longer trainings: the table reports them in seconds too.

Same data (the four Kepler stars in ../shared/data/kepler, or the bundled slice), same
splits, same architecture, optimizer and epochs. lcad is timed end to end (read splits,
preprocess, fit with per-epoch checkpoints, calibrate, validation metrics, bundle), with
MLflow tracking off and on (a local SQLite store: params, per-epoch metrics, figures, the
pyfunc model). The bare fit is timed around `model.fit` alone.

All tracked runs go to one SQLite store, made before the rounds, as a user's runs go to the
store they already have: creating a fresh store (the schema migrations) and importing MLflow
are one-off costs of a process or a store, timed and reported on their own line.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    import keras

    from bench.common import fmt, machine, summarize, table
    from lcad.models.autoencoder import build_autoencoder, make_loss, make_optimizer
    from lcad.models.config import DetectorConfig
    from lcad.models.detector import Detector
    from lcad.models.fit import split_curves, window_arrays
    from lcad.models.io import read_curves
    from lcad.models.preprocess import Preprocessor
    from lcad.training.demo import DEMO_DATA
    from lcad.training.tracking import setup as tracking_setup
    from lcad.training.train import TrainRequest, run_training

    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    data = ROOT.parent / "shared" / "data" / "kepler"
    curves = read_curves(data if data.exists() else DEMO_DATA)
    cfg = DetectorConfig.from_dict({"train": {"epochs": args.epochs, "patience": 1000}})
    splits = split_curves(curves, cfg)
    pre = Preprocessor.fit(splits.train, cfg.resolved(splits.by).preprocess)
    dim = cfg.preprocess.window * len(pre.bands)
    probe = Detector(cfg, pre, build_autoencoder(dim, cfg.model))
    x_tr, y_tr, _ = window_arrays(probe, splits.train, cfg.train.stride)
    x_va, y_va, _ = window_arrays(probe, splits.validation, cfg.train.stride)
    n_seen = x_tr.shape[0] * args.epochs

    def bare() -> float:
        keras.utils.set_random_seed(0)
        model = build_autoencoder(dim, cfg.model)
        model.compile(optimizer=make_optimizer(cfg.train, x_tr.shape[0] // 256),
                      loss=make_loss(dim, cfg.model))
        t0 = time.perf_counter()
        model.fit(x_tr, y_tr, validation_data=(x_va, y_va), epochs=args.epochs,
                  batch_size=cfg.train.batch_size, shuffle=True, verbose=0)
        return n_seen / (time.perf_counter() - t0)

    store = tempfile.TemporaryDirectory()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{store.name}/mlruns.db"
    t0 = time.perf_counter()
    import mlflow

    t_import = time.perf_counter() - t0
    t0 = time.perf_counter()
    tracking_setup("bench")
    t_store = time.perf_counter() - t0

    def lcad(tracking: bool) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            run_training(TrainRequest(cfg=cfg, curves=curves, output=Path(tmp) / "bundle",
                                      data_source=str(data), tracking=tracking,
                                      experiment="bench"), log=lambda *a: None)
            return n_seen / (time.perf_counter() - t0)

    # rounds of (bare, off, on), so that each overhead compares runs made next to each other
    # on this shared machine; the overhead is the median over rounds of the per-round ratio
    rates: dict[str, list[float]] = {"bare": [], "off": [], "on": []}
    for _ in range(args.runs):
        rates["bare"].append(bare())
        rates["off"].append(lcad(False))
        rates["on"].append(lcad(True))
    stats = {k: summarize(v) for k, v in rates.items()}
    bare_s = n_seen / stats["bare"]["median"]
    rows = [["bare keras fit", fmt(stats["bare"], " w/s"), f"{bare_s:.1f}", "-"]]
    for name, key in (("lcad train, tracking off", "off"),
                      ("lcad train, MLflow tracking on", "on")):
        secs = n_seen / stats[key]["median"]
        ratios = [b / r - 1 for b, r in zip(rates["bare"], rates[key], strict=True)]
        rows.append([name, fmt(stats[key], " w/s"), f"{secs:.1f} (+{secs - bare_s:.1f})",
                     f"{statistics.median(ratios):+.0%} ({min(ratios):+.0%} to "
                     f"{max(ratios):+.0%})"])
    print(f"machine: {machine()}\ndata: {len(curves)} curves, {x_tr.shape[0]} training windows "
          f"(window {cfg.preprocess.window}, stride {cfg.train.stride}), {args.epochs} epochs\n")
    print(table(["run", "windows/s median (min-max)", "seconds (extra)",
                 "overhead vs bare, median of rounds (min to max; target <= +15%)"], rows))
    print(f"\none-off, not in the table: import mlflow {t_import:.1f} s (once per process), "
          f"a new SQLite store {t_store:.1f} s (once per store; mlflow {mlflow.__version__})")
    store.cleanup()


if __name__ == "__main__":
    main()
