"""`lcad demo`: train on the bundled Kepler slice, evaluate injections, register, point onward."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lcad.models.config import DetectorConfig
from lcad.models.io import read_curves
from lcad.models.lightcurve import LightCurve

DEMO_DATA = Path(__file__).with_name("data") / "kepler_demo.csv"
DEMO_CONFIG: dict[str, Any] = {
    "preprocess": {"window": 64},
    "train": {"epochs": 25, "stride": 2},
}
EVENTS_PER_STAR = 6


def split_reference_evaluation(curves: list[LightCurve], fraction: float = 0.75
                               ) -> tuple[list[LightCurve], list[LightCurve]]:
    ref, ev = [], []
    for c in curves:
        cut = float(np.quantile(c.time, fraction))
        ref.append(c.slice_time(-np.inf, cut))
        ev.append(c.slice_time(cut, np.inf))
    return ref, ev


def run_demo(output: Path, register_as: str = "lcad", epochs: int | None = None) -> None:
    from lcad.training.evaluate import evaluate, format_table, inject_events
    from lcad.training.tracking import tracking_uri
    from lcad.training.train import TrainRequest, run_training

    cfg = DetectorConfig.from_dict(DEMO_CONFIG)
    if epochs is not None:
        cfg = cfg.with_overrides([f"train.epochs={epochs}"])
    curves = read_curves(DEMO_DATA)
    reference, evaluation = split_reference_evaluation(curves)
    injected, labels, injections = inject_events(evaluation, cfg.preprocess.window,
                                                 per_curve=EVENTS_PER_STAR)
    print(f"demo data: {DEMO_DATA.name}: {len(curves)} Kepler stars, "
          f"{sum(len(c) for c in curves)} points; training on the first 75 %")
    outcome = run_training(TrainRequest(
        cfg=cfg, curves=reference, output=output, data_source=str(DEMO_DATA),
        experiment="lcad-demo", register_as=register_as, promote=True, run_name="demo"))
    result = evaluate(outcome.detector, injected, labels, far=0.01, baselines=True)
    _log_evaluation(outcome.run_id, result)
    eval_file = output.parent / "demo-evaluation.csv"
    from lcad.models.synthetic import to_frame

    to_frame(injected).to_csv(eval_file, index=False)
    labels_file = output.parent / "demo-labels.csv"
    pd.DataFrame([{"object_id": i.object_id, "start": i.start, "end": i.end, "kind": i.kind}
                  for i in injections]).to_csv(labels_file, index=False)

    print(f"\ninjection recovery on the held-out 25 % ({len(injections)} injected events):")
    print(format_table(result))
    print(f"\nbundle:            {outcome.bundle}")
    if outcome.run_id:
        print(f"mlflow run:        {outcome.run_id} (experiment lcad-demo)")
    if "version" in outcome.logged:
        print(f"registered model:  models:/{register_as}@champion "
              f"(version {outcome.logged['version']})")
    if outcome.not_logged:
        print("not logged: " + "; ".join(outcome.not_logged))
    uri = tracking_uri()
    bindir = Path(sys.executable).parent
    lcad = bindir / "lcad"
    print("\nnext:")
    if uri.startswith("sqlite:///"):
        print(f"  {bindir / 'mlflow'} ui --backend-store-uri {uri}      # compare runs")
    else:
        print(f"  open {uri}      # compare runs")
    print(f"  {lcad} score --model models:/{register_as}@champion --data {eval_file} "
          f"--output lcad-output/scores.csv")
    print(f"  {lcad} evaluate --model {outcome.bundle} --data {eval_file} "
          f"--labels {labels_file} --baselines")


def _log_evaluation(run_id: str | None, result: dict[str, Any]) -> None:
    if not run_id:
        return
    from mlflow.tracking import MlflowClient

    from lcad.training.evaluate import eval_metrics

    client = MlflowClient()
    for key, value in eval_metrics(result).items():
        client.log_metric(run_id, key, value)
