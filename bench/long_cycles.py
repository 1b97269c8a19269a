"""Cycles longer than the window: which point score, at which window (issue 17, session 36).

Where a series repeats with a period longer than the window and `auto` keeps the residual
scan (its window-long stretches reconstruct to the noise), the scan can miss a distorted
cycle (a discord) and still serve short events (flares, dips) on periodic stars. Per series
(one model each, defaults otherwise), on the discords at a 300-point cycle (bench.quality's
generator, 27,000 points, the first third trained) and the spotted rotators (kepler-var,
cycles of 70-128 points), the test part is scored
- "scan at 64": the window given (`preprocess.window_from_period_scan` off; the default
  until session 36);
- "novelty at the period": trained on windows of one period, novelty;
- "scan at the period": the same windows, the scan (the default since session 36);
- "min p": each point's smaller p-value of the first two (Tippett), and with Bonferroni's x2;
- "Fisher, both at the period": the sum of -log10 p of novelty and the scan on windows of one
  period (Fisher's combination: both scores' evidence adds).
Reported: mean PR-AUC, event recall at 1 % false alarms, located (discords: top point within
100 points of the distorted cycle).

    .venv/bin/python -m bench.long_cycles        # ~3 min on 2 cores; bench/results/long_cycles.txt
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import machine, table
from bench.quality import discord_cases, kepler_cases, located, metrics

HOWS = ("scan at 64", "novelty at the period", "scan at the period", "min p", "min p x2",
        "Fisher, both at the period")
PERIOD = 300


def families() -> dict[str, list[Any]]:
    n = 90 * PERIOD
    return {f"discords at {PERIOD}": discord_cases(seed=1, n=n, train=n // 3,
                                                   period=float(PERIOD)),
            "spotted rotators": kepler_cases(0, per_kind=15, variable=True)}


def _scored(det: Any, case: Any) -> tuple[np.ndarray, np.ndarray]:
    """The point scores and their log10 p-values (no underflow to p = 0 in the tail)."""
    (s,) = det.score([case.test], on_error="raise")
    return s.point_score, det.calibration.point.log10_p_values(s.point_score)


def run(log: Any = print) -> dict[str, Any]:
    from lcad.models.config import DetectorConfig
    from lcad.models.fit import fit_detector, period_window

    out: dict[str, Any] = {"machine": machine(), "date": time.strftime("%Y-%m-%d"),
                           "families": {}}
    t0 = time.perf_counter()
    for family, cases in families().items():
        scores: dict[str, list[np.ndarray]] = {h: [] for h in HOWS}
        notes = []
        for c in cases:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                at64 = DetectorConfig().with_overrides(
                    ["preprocess.window_from_period_scan=false"])
                det, _ = fit_detector([c.train], at64)
                period = period_window(at64, det.preprocessor, [c.train])
                if period is None or det.point_method != "scan" or det.window != 64:
                    notes.append(f"{c.object_id}: {det.point_method} at {det.window} "
                                 "(the rule does not apply: every row is the default)")
                    s0, _p = _scored(det, c)
                    for how in HOWS:
                        scores[how].append(s0)
                    continue
                by = {}
                for how, point in (("novelty at the period", "novelty"),
                                   ("scan at the period", "scan")):
                    other, _ = fit_detector([c.train], DetectorConfig().with_overrides(
                        [f"preprocess.window={period}", f"scoring.point={point}"]))
                    by[how] = _scored(other, c)
            s0, p0 = _scored(det, c)
            scores["scan at 64"].append(s0)
            for how, (s, _p) in by.items():
                scores[how].append(s)
            low = np.fmin(p0, by["novelty at the period"][1])  # log10 p
            scores["Fisher, both at the period"].append(
                -by["novelty at the period"][1] - by["scan at the period"][1])
            scores["min p"].append(-low)
            scores["min p x2"].append(-np.fmin(0.0, np.log10(2.0) + low))
            log(f"  {family}: {c.object_id} (period {period}) done "
                f"({time.perf_counter() - t0:.0f} s)")
        res = {}
        for how, got in scores.items():
            m = metrics(cases, got, buffer=64)
            res[how] = {"mean_pr_auc": m["mean_pr_auc"], "event_recall": m["event_recall"],
                        "located": located(cases, got, margin=100), "n": len(cases)}
        out["families"][family] = {"methods": res, "notes": notes}
    out["seconds"] = time.perf_counter() - t0
    return out


def report(out: dict[str, Any]) -> str:
    fams = list(out["families"])
    rows = [[how, *(f"{out['families'][f]['methods'][how]['mean_pr_auc']:.3f} / "
                    f"{out['families'][f]['methods'][how]['event_recall']:.2f} / "
                    f"{out['families'][f]['methods'][how]['located']} of "
                    f"{out['families'][f]['methods'][how]['n']}" for f in fams)]
            for how in HOWS]
    notes = [n for f in fams for n in out["families"][f]["notes"]]
    return (f"machine: {out['machine']}; date {out['date']}; python -m bench.long_cycles; "
            f"{out['seconds']:.0f} s\n\nMean PR-AUC / event recall at 1 % false alarms / "
            "located (top point within 100 points of the event):\n\n"
            + table(["score", *fams], rows)
            + ("\n\n" + "\n".join(notes) if notes else "") + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("bench/results/long_cycles.txt"))
    args = ap.parse_args()
    text = report(run())
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
