"""Scan, novelty, the "auto" switch between them, or both at once? Decided on thirteen families,
each left out in turn (issue 17).

Every model is trained once with the defaults; its point score is then calibrated as the
residual scan and as novelty (same network, same held-out data), and the test part scored
both ways. "auto" takes the one the rule picks; "min p" scores each point by the smaller of
its two calibrated p-values (as -log10), so that either kind of evidence counts without a
switch (Tippett's method); "fisher" by the sum of both -log10 p (Fisher's method: evidence
in both adds up, a point one of them finds ordinary is not lifted by the other alone as
much). `--set` trains every model with a config override. Novelty is spread from windows
to points by the largest ("novelty", "auto": the default before session 18), the mean and
the smallest of the windows covering a point
(`scoring.novelty_spread`). Families: Kepler stars (one model each), the same stars made
spotted rotators, both again with long events (`LONG_KINDS`, session 28) and with kinds no
earlier suite held (`OTHER_KINDS`, session 38) and with changes that hold (`REGIME_KINDS`,
session 40), the rotators made slow (5-20 days, session 41), NAB artificial, NAB real,
discords, lcad's synthetic generator. `--family F` (repeatable) runs only those.

    .venv/bin/python -m bench.combine        # ~30 min on 2 cores; bench/results/combine.{json,txt}
    .venv/bin/python -m bench.combine --set train.min_batches=16 \
        --out bench/results/combine-min-batches-16.json   # the network trained 16 updates an epoch
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import family_mean, leave_one_family_out, machine, run_or_report, table
from bench.quality import (
    KEPLER_SUITES,
    Case,
    discord_cases,
    kepler_suite,
    metrics,
    nab_cases,
    synthetic_cases,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
# novelty spread over the windows covering a point by the largest (default), mean, smallest
SPREADS = ("max", "mean", "min")
HOWS = ("scan", "novelty", "novelty, mean spread", "novelty, min spread", "auto",
        "auto, mean spread", "auto, min spread", "min p", "min p, mean spread",
        "fisher, mean spread")


FAMILIES = (*KEPLER_SUITES, "nab-artificial", "nab-real", "discord", "synthetic")


def families() -> dict[str, list[Case]]:
    nab = nab_cases()
    return {**{suite: kepler_suite(suite) for suite in KEPLER_SUITES},
            "nab-artificial": [c for c in nab if c.object_id.startswith("art_")],
            "nab-real": [c for c in nab if not c.object_id.startswith("art_")],
            "discord": discord_cases(),
            "synthetic": synthetic_cases()}


def _scores(det: Any, case: Case) -> tuple[np.ndarray, np.ndarray]:
    """The point scores and their log10 p-values (computed as logarithms: the p-values of
    scores far past a narrow calibration tail underflow to 0 and would tie; until session
    37 "min p" and "fisher" ranked those ties)."""
    (s,) = det.score([case.test], on_error="raise")
    return s.point_score, det.calibration.point.log10_p_values(s.point_score)


def recalibrated_scores(det: Any, case: Case, cal: list[Any], point: str,
                        update: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The test part's point scores and p-values with the same network, its point score
    `point` recalibrated on `cal` with the scoring keys in `update`; the detector's own
    scoring config is put back afterwards."""
    base = det.config.scoring
    det.config = det.config.model_copy(update={"scoring": base.model_copy(
        update={"point": point, **update})})
    try:
        det.calibrate(cal, [case.train])
        return _scores(det, case)
    finally:
        det.config = det.config.model_copy(update={"scoring": base})


def run(overrides: list[str], command: str, log: Any = print,
        only: list[str] | None = None) -> dict[str, Any]:
    from lcad.models.fit import calibration_curves, fit_detector, split_curves

    out: dict[str, Any] = {"machine": machine(), "date": time.strftime("%Y-%m-%d"),
                           "command": command, "families": {}}
    t0 = time.perf_counter()
    from lcad.models.config import DetectorConfig

    for family, cases in families().items():
        if only and family not in only:
            continue
        scores: dict[str, list[np.ndarray]] = {h: [] for h in HOWS}
        chosen = {}
        for c in cases:
            det, _ = fit_detector([c.train], DetectorConfig().with_overrides(overrides))
            chosen[c.object_id] = det.point_method
            splits = split_curves([c.train], det.config)
            cal, _ = calibration_curves(det, splits, [c.train])
            got = {}
            for how, spread in [("scan", "max"), *(("novelty", sp) for sp in SPREADS)]:
                got[how if how == "scan" or spread == "max" else f"{how}, {spread} spread"] = \
                    recalibrated_scores(det, c, cal, how, {"novelty_spread": spread})
            for how in HOWS:
                if how in got:
                    scores[how].append(got[how][0])
            pick = chosen[c.object_id]
            for spread in SPREADS:
                tail = "" if spread == "max" else f", {spread} spread"
                scores[f"auto{tail}"].append(got["scan" if pick == "scan"
                                                else f"novelty{tail}"][0])
            for name, nov in (("", "novelty"), (", mean spread", "novelty, mean spread")):
                scores[f"min p{name}"].append(-np.fmin(got["scan"][1], got[nov][1]))
            # Fisher's method: both p-values' evidence added up (-log10 p1 - log10 p2)
            scores["fisher, mean spread"].append(
                -got["scan"][1] - got["novelty, mean spread"][1])
            log(f"  {family}: {c.object_id} ({chosen[c.object_id]}) done "
                f"({time.perf_counter() - t0:.0f} s)")
        out["families"][family] = {
            "series": [c.object_id for c in cases], "auto_chose": chosen,
            "methods": {h: metrics(cases, s, buffer=64) for h, s in scores.items()}}
    out["seconds"] = time.perf_counter() - t0
    return out


def report(res: dict[str, Any]) -> str:
    fams = list(res["families"])
    lines = [f"machine: {res['machine']}; date {res['date']}; {res['command']}", ""]
    rows = []
    # a JSON written before a score was added lacks it
    hows = [h for h in HOWS if all(h in res["families"][f]["methods"] for f in fams)]
    for how in hows:
        row: list[Any] = [how]
        for f in fams:
            m = res["families"][f]["methods"][how]
            row.append(f"{family_mean(res, f, how):.3f} / {m['event_recall']:.2f}")
        row.append(f"{np.mean([family_mean(res, f, how) for f in fams]):.3f}")
        row.append(f"{min(family_mean(res, f, how) for f in fams):.3f}")
        rows.append(row)
    lines += ["Mean point PR-AUC over a family's series / event recall at 1 % false alarms:",
              "", table(["score", *fams, "mean of families", "worst family"], rows), ""]
    loo = [[f, pick, f"{there:.3f}", top]
           for f, pick, there, top, _ in leave_one_family_out(res, hows)]
    lines += ["Leave one family out: the score with the best mean on the others, judged "
              "on the one left out:", "",
              table(["left out", "chosen", "its PR-AUC there", "best there"], loo), ""]
    lines += ["What auto chose: " + "; ".join(
        f"{f} " + ", ".join(f"{v} {list(res['families'][f]['auto_chose'].values()).count(v)}"
                            for v in ("scan", "novelty")) for f in fams)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", nargs="?", default="run", choices=["run", "report"])
    ap.add_argument("--out", type=Path, default=RESULTS / "combine.json")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a config override for every model (e.g. train.min_batches=16)")
    ap.add_argument("--family", action="append", default=[], choices=list(FAMILIES),
                    help="only this family (repeat for several; default every family)")
    args = ap.parse_args(argv)
    command = " ".join(["python -m bench.combine", *(f"--set {o}" for o in args.set),
                        *(f"--family {f}" for f in args.family)])
    return run_or_report(args.action, args.out,
                         lambda: run(args.set, command, only=args.family), report)

if __name__ == "__main__":
    sys.exit(main())
