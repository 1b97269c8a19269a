"""Could the "auto" switch choose its point score by injected anomalies? (issue 17, session 46)

Unsupervised model selection for time series often injects synthetic anomalies into data
held out from training and keeps the detector that finds them best. Here each model is
trained once with the defaults (one a series) and calibrated both ways (the residual scan,
novelty), as `bench.combine` does. Copies of its held-out parts (the validation and
calibration parts; where none holds two windows, the two together, else the training series
itself) each get one anomaly of one of the five kinds of Lai et al. (NeurIPS 2021,
"Revisiting time series outlier detection"), twice each: a global point (3-5 standard
deviations of the part), a contextual point (2-3 of its window), a shapelet (the window
replaced by a sine of 2-4 cycles), a seasonal change (the window played 1.3-2x faster or
0.5-0.75x slower) and a trend (a ramp to 1-2 standard deviations), one window long. Each
copy is scored as calibration scores its own part (novelty without the reference windows
overlapping it in time). Two measures of how well a score finds them: the point average
precision over the injected windows ("AP"), and the event AUC (the share of points a window
or more from the anomaly that score below its highest point, "event"). The rule replayed:
keep the score with the larger measure; against the test part's real anomalies (PR-AUC),
the better of the two scores per series is what a perfect rule would give.

    .venv/bin/python -m bench.auto_injection --deciding \\
        --out bench/results/auto_injection-deciding.json   # 6 min; the deciding network (window 64)
    .venv/bin/python -m bench.auto_injection   # the networks after the period retrain (the
        # results file holds the deciding run; session 46 ran this one as a scratch script)

`--deciding` keeps the network that `auto` decides on (no retraining on windows of one or
two periods): that is where the choice is made.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.combine import FAMILIES as ALL_FAMILIES
from bench.combine import families, recalibrated_scores
from bench.common import machine, run_or_report, table
from bench.quality import metrics

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
KINDS = ("global", "contextual", "shapelet", "seasonal", "trend")
FAMILIES = ("kepler", "kepler-var", "nab-artificial", "nab-real", "discord", "synthetic")
DECIDING = ["preprocess.window_from_period=false", "preprocess.window_from_period_scan=false"]
SCORES = ("scan", "novelty")


def inject(curve: Any, length: int, kind: str, rng: np.random.Generator
           ) -> tuple[Any, tuple[float, float]] | None:
    """A copy of `curve` with one anomaly of `kind` over `length` observed points, and the
    times it spans; None when the curve holds fewer than two lengths."""
    from lcad.models.lightcurve import LightCurve

    ok = np.flatnonzero(curve.mask)
    n = ok.size
    if n < 2 * length:
        return None
    f = curve.flux.astype(np.float64).copy()
    values = f[ok]
    sd = float(np.std(values))
    lo = int(rng.integers(length // 2, n - length - length // 2 + 1))
    idx = ok[lo: lo + length]
    sign = float(rng.choice([-1.0, 1.0]))
    if kind == "global":
        idx = ok[lo + length // 2: lo + length // 2 + 1]
        f[idx] = np.median(values) + sign * rng.uniform(3, 5) * sd
    elif kind == "contextual":
        around = f[idx]
        idx = ok[lo + length // 2: lo + length // 2 + 1]
        f[idx] = around.mean() + sign * rng.uniform(2, 3) * around.std()
    elif kind == "shapelet":
        part = f[idx]
        cycles = rng.uniform(2, 4)
        f[idx] = part.mean() + np.sqrt(2) * part.std() * np.sin(
            2 * np.pi * cycles * np.arange(length) / length)
    elif kind == "seasonal":
        rate = rng.uniform(0.5, 0.75) if rng.random() < 0.5 else rng.uniform(1.33, 2.0)
        f[idx] = np.interp(np.clip(lo + np.arange(length) * rate, 0, n - 1), np.arange(n),
                           values)
    elif kind == "trend":
        f[idx] = f[idx] + sign * rng.uniform(1, 2) * sd * np.linspace(0, 1, length)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    copy = LightCurve(curve.object_id, curve.time.copy(), f,
                      None if curve.flux_err is None else curve.flux_err.copy(),
                      None if curve.band is None else curve.band.copy(), curve.mask.copy())
    return copy, (float(curve.time[idx[0]]), float(curve.time[idx[-1]]))


def held_parts(case: Any, splits: Any, length: int) -> tuple[list[Any], str]:
    """The held-out parts long enough for two windows, and where they come from."""
    parts = [c for c in [*splits.calibration, *splits.validation]
             if c.mask.sum() >= 2 * length]
    if parts:
        return parts, "held-out"
    joined = case.train.slice_time(float(splits.validation[0].time.min()), np.inf)
    if joined.mask.sum() >= 2 * length:
        return [joined], "validation+calibration"
    return [case.train], "in-sample"


def injected_measures(det: Any, reference: list[Any], copies: list[Any]
                      ) -> tuple[float, float]:
    """(point AP over the injected windows, mean event AUC) of the calibrated point score."""
    from sklearn.metrics import average_precision_score

    scorer = det.point_scorer
    ids = [r.object_id for r in reference]
    cadence = det.preprocessor.cadence
    ys, ss, events = [], [], []
    for copy, (t0, t1) in copies:
        prepared, _ = det._prepare_all([copy], "skip")
        if not prepared:
            continue
        ((z, red),) = det._run_reduced(prepared)
        p = prepared[0]
        own = ids.index(copy.object_id) if (scorer.name == "novelty"
                                            and copy.object_id in ids) else None
        s = scorer.grid_scores(det, p, red, z, ref_curve=own)
        t = p.res.grid_time
        y = (t >= t0 - cadence / 2) & (t <= t1 + cadence / 2)
        near = (t >= t0 - det.window * cadence) & (t <= t1 + det.window * cadence)
        ok = np.isfinite(s)
        ys.append(y[ok])
        ss.append(s[ok])
        if (y & ok).any() and (~near & ok).any():
            top, rest = np.max(s[y & ok]), s[~near & ok]
            events.append(float(np.mean(rest < top) + 0.5 * np.mean(rest == top)))
    y, s = np.concatenate(ys), np.concatenate(ss)
    return float(average_precision_score(y, s)), float(np.mean(events))


def run(overrides: list[str], command: str, only: list[str], draws: int = 2,
        log: Any = print) -> dict[str, Any]:
    from lcad.models.config import DetectorConfig
    from lcad.models.fit import calibration_curves, fit_detector, split_curves

    warnings.simplefilter("ignore")
    out: dict[str, Any] = {"machine": machine(), "date": time.strftime("%Y-%m-%d"),
                           "command": command, "overrides": overrides, "families": {}}
    t0 = time.perf_counter()
    for family, cases in families().items():
        if family not in only:
            continue
        rows = []
        for c in cases:
            det, _ = fit_detector([c.train], DetectorConfig().with_overrides(overrides))
            cal_state = det.calibration
            row: dict[str, Any] = {"series": c.object_id, "auto": det.point_method,
                                   "window": det.window, "lag1": None if cal_state is None
                                   else cal_state.residual_lag1}
            splits = split_curves([c.train], det.config)
            cal, _ = calibration_curves(det, splits, [c.train])
            parts, row["injected_into"] = held_parts(c, splits, det.window)
            rng = np.random.default_rng(det.config.train.seed)
            copies = [got for _ in range(draws) for kind in KINDS for part in parts
                      if (got := inject(part, det.window, kind, rng)) is not None]
            for how in SCORES:
                s, _ = recalibrated_scores(det, c, cal, how, {})
                row[f"{how}_pr_auc"] = metrics([c], [s])["mean_pr_auc"]
                scoring = det.config.scoring
                det.config = det.config.model_copy(update={
                    "scoring": scoring.model_copy(update={"point": how})})
                try:
                    det.calibrate(cal, [c.train])
                    row[f"{how}_ap"], row[f"{how}_event"] = injected_measures(
                        det, [c.train], copies)
                finally:
                    det.config = det.config.model_copy(update={"scoring": scoring})
            rows.append(row)
            log(f"  {family}: {c.object_id} ({time.perf_counter() - t0:.0f} s)")
        out["families"][family] = rows
    out["seconds"] = time.perf_counter() - t0
    return out


def _pick(row: dict[str, Any], measure: str) -> str:
    return "scan" if row[f"scan_{measure}"] > row[f"novelty_{measure}"] else "novelty"


def _better(row: dict[str, Any]) -> str:
    """The score with the larger PR-AUC on the test part's real anomalies."""
    return _pick(row, "pr_auc")


def _under(rule: Callable[[dict[str, Any]], str], per: list[dict[str, Any]]) -> str:
    """A family's mean PR-AUC with each series scored as `rule` picks, and how many picks
    were the better score."""
    picks = [rule(r) for r in per]
    right = sum(p == _better(r) for p, r in zip(picks, per, strict=True))
    value = np.mean([r[f"{p}_pr_auc"] for p, r in zip(picks, per, strict=True)])
    return f"{value:.3f} ({right}/{len(per)})"


def report(res: dict[str, Any]) -> str:
    lines = [f"# {res['command']}", res["machine"], "", "Per series (PR-AUC on the test "
             "part's real anomalies; AP and event on the injected ones):", ""]
    rows = []
    for family, per in res["families"].items():
        for r in per:
            best = _better(r)
            rows.append([family, r["series"], r["auto"], f"{r['lag1']:+.3f}",
                         r["injected_into"], f"{r['scan_pr_auc']:.3f}",
                         f"{r['novelty_pr_auc']:.3f}", f"{r['scan_ap']:.3f}",
                         f"{r['novelty_ap']:.3f}", f"{r['scan_event']:.3f}",
                         f"{r['novelty_event']:.3f}", best,
                         _pick(r, "ap") + ("" if _pick(r, "ap") == best else " (wrong)"),
                         _pick(r, "event") + ("" if _pick(r, "event") == best else " (wrong)")])
    lines.append(table(["family", "series", "auto (lag-1)", "lag-1", "injected into",
                        "scan PR-AUC", "novelty PR-AUC", "scan AP", "novelty AP",
                        "scan event", "novelty event", "better", "by AP", "by event"], rows))
    lines += ["", "Mean PR-AUC a family under each rule (right picks / series):", ""]
    rules: list[Callable[[dict[str, Any]], str]] = [
        lambda r: str(r["auto"]), lambda r: _pick(r, "ap"), lambda r: _pick(r, "event"),
        lambda r: "scan", lambda r: "novelty", _better]
    summary = [[family, *(_under(rule, per) for rule in rules)]
               for family, per in res["families"].items()]
    lines.append(table(["family", "auto (lag-1)", "by injected AP", "by injected event",
                        "always scan", "always novelty", "the better per series"], summary))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", nargs="?", choices=["run", "report"], default="run")
    ap.add_argument("--family", action="append", choices=ALL_FAMILIES,
                    help=f"families to run (default: {', '.join(FAMILIES)})")
    ap.add_argument("--deciding", action="store_true",
                    help="the deciding network: no retraining on windows of the period")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--draws", type=int, default=2, help="anomalies of each kind a part")
    ap.add_argument("--out", type=Path, default=RESULTS / "auto_injection.json")
    args = ap.parse_args(argv)
    overrides = [*(DECIDING if args.deciding else []), *args.set]
    command = "python -m bench.auto_injection " + " ".join(argv if argv is not None
                                                          else sys.argv[1:])
    return run_or_report(args.action, args.out, lambda: run(
        overrides, command, args.family or list(FAMILIES), args.draws), report)


if __name__ == "__main__":
    sys.exit(main())
