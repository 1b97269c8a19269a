"""The "auto" point-score rule decided leave-one-family-out (issue 17).

`scoring.point: auto` picks the residual scan when the held-out residuals look white
(|lag-1 autocorrelation| <= `LAG1_LIMIT`, 0.1) and the training fluxes have noise, and
nearest-neighbour novelty otherwise (`models.point_scores.choose_point_method`). The 0.1 was
set on the dev suites together. Here every model of every suite is scored both ways (the
training, the calibration split and the lag-1 value do not depend on the point score), the
rule is replayed for every limit, and the limit is chosen on two families and judged on the
third (Kepler stars, NAB series, discords), as issue 17 asks of every default.

    .venv/bin/python -m bench.quality --no-baselines --per-star --set scoring.point=scan \\
        --out bench/results/quality-all-scan.json                               # ~6 min
    .venv/bin/python -m bench.quality --no-baselines --per-star --set scoring.point=novelty \\
        --out bench/results/quality-all-novelty.json                            # ~6 min
    .venv/bin/python -m bench.auto_rule            # the tables (bench/results/auto_rule.txt)

More families (session 18: spotted rotating Kepler stars, lcad's synthetic generator) come
as more pairs of results, each family left out in turn:

    .venv/bin/python -m bench.quality --suite kepler-var --no-baselines --per-star \
        --set scoring.point=scan --out bench/results/quality-kepler-var-scan.json  # and novelty
    .venv/bin/python -m bench.quality --suite synthetic --no-baselines \
        --set scoring.point=scan --out bench/results/quality-synthetic-scan.json   # and novelty
    .venv/bin/python -m bench.auto_rule \
        --extra bench/results/quality-kepler-var-{scan,novelty}.json \
        --extra bench/results/quality-synthetic-{scan,novelty}.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
LIMITS = np.round(np.arange(0.02, 0.62, 0.02), 2)
METRICS = ("pr_auc", "vus_pr")


def models(scan: dict[str, Any], novelty: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per model: family, lag-1, repeats, and its series' metrics under each score."""
    rows = []
    for family, res in scan["suites"].items():
        other = novelty["suites"][family]
        per = {how: {r["object"]: r for r in run["methods"]["lcad"]["per_series"]}
               for how, run in (("scan", res), ("novelty", other))}
        for key, info in res["autoencoder"].items():
            objects = key.split(",")
            lag1 = info.get("residual_lag1")
            if lag1 is None:
                raise SystemExit(f"{family}/{key}: no residual_lag1 in the results; rerun "
                                 "bench.quality (it records it since session 17)")
            rows.append({"family": family, "model": key, "lag1": float(lag1),
                         "repeats": float(info.get("repeat_fraction") or 0.0),
                         **{f"{how}.{m}": float(np.mean([per[how][o][m] for o in objects]))
                            for how in ("scan", "novelty") for m in METRICS}})
    return rows


def decide(rows: list[dict[str, Any]], limit: float, repeat_limit: float) -> list[str]:
    """The rule's choice for every model at a lag-1 `limit`."""
    return ["novelty" if abs(r["lag1"]) > limit or r["repeats"] >= repeat_limit else "scan"
            for r in rows]


def family_means(rows: list[dict[str, Any]], choice: list[str], metric: str
                 ) -> dict[str, float]:
    out: dict[str, list[float]] = {}
    for r, c in zip(rows, choice, strict=True):
        out.setdefault(r["family"], []).append(r[f"{c}.{metric}"])
    return {f: float(np.mean(v)) for f, v in out.items()}


def best_limit(rows: list[dict[str, Any]], families: list[str], metric: str,
               repeat_limit: float) -> float:
    """The limit with the highest mean of the `families`' means; ties: the middle of the
    widest run of best limits (the decision least sensitive to the exact value)."""
    keep = [r for r in rows if r["family"] in families]
    value = np.array([np.mean(list(family_means(keep, decide(keep, lim, repeat_limit),
                                                metric).values())) for lim in LIMITS])
    best = np.flatnonzero(value >= value.max() - 1e-12)
    runs = np.split(best, np.flatnonzero(np.diff(best) > 1) + 1)
    run = max(runs, key=len)
    return float(LIMITS[run[len(run) // 2]])


def report(rows: list[dict[str, Any]], current: float, repeat_limit: float) -> str:
    families = sorted({r["family"] for r in rows})
    lines = ["Per model (mean over its series):", ""]
    lines.append(table(["family", "model", "lag-1", "repeats", "scan PR-AUC", "novelty PR-AUC",
                        "scan VUS-PR", "novelty VUS-PR", f"auto ({current})"],
                       [[r["family"], r["model"][:40], f"{r['lag1']:+.3f}",
                         f"{r['repeats']:.2f}", f"{r['scan.pr_auc']:.3f}",
                         f"{r['novelty.pr_auc']:.3f}", f"{r['scan.vus_pr']:.3f}",
                         f"{r['novelty.vus_pr']:.3f}", c]
                        for r, c in zip(rows, decide(rows, current, repeat_limit),
                                        strict=True)]))
    for metric in METRICS:
        body = []
        for held in families:
            train = [f for f in families if f != held]
            lim = best_limit(rows, train, metric, repeat_limit)
            test = [r for r in rows if r["family"] == held]

            def score(choice: list[str], test: list[dict[str, Any]] = test,
                      metric: str = metric, held: str = held) -> float:
                return family_means(test, choice, metric)[held]

            oracle = [("novelty" if r[f"novelty.{metric}"] > r[f"scan.{metric}"] else "scan")
                      for r in test]
            body.append([held, f"{lim:.2f}", f"{score(decide(test, lim, repeat_limit)):.3f}",
                         f"{score(decide(test, current, repeat_limit)):.3f}",
                         f"{score(['scan'] * len(test)):.3f}",
                         f"{score(['novelty'] * len(test)):.3f}", f"{score(oracle):.3f}"])
        lines += ["", f"Leave one family out, {metric}: the limit chosen on the other "
                  "families, judged on the held-out one:", ""]
        lines.append(table(["held-out family", "limit chosen", "auto at it",
                            f"auto at {current}", "always scan", "always novelty",
                            "best per model"], body))
        sweep = [[f"{lim:.2f}", *(f"{v:.3f}" for v in family_means(
            rows, decide(rows, lim, repeat_limit), metric).values())]
            for lim in LIMITS[::2]]
        lines += ["", f"{metric} per family against the limit:", "",
                  table(["limit", *family_means(rows, decide(rows, current, repeat_limit),
                                                metric)], sweep)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from lcad.models.novelty import LAG1_LIMIT, REPEAT_LIMIT

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scan", type=Path, default=RESULTS / "quality-all-scan.json")
    ap.add_argument("--novelty", type=Path, default=RESULTS / "quality-all-novelty.json")
    ap.add_argument("--extra", nargs=2, action="append", default=[], type=Path,
                    metavar=("SCAN", "NOVELTY"),
                    help="more families: another pair of bench.quality results (e.g. "
                    "--suite kepler-var or synthetic, scored both ways)")
    ap.add_argument("--out", type=Path, default=RESULTS / "auto_rule.txt")
    args = ap.parse_args(argv)
    rows = models(json.loads(args.scan.read_text()), json.loads(args.novelty.read_text()))
    for scan, novelty in args.extra:
        rows += models(json.loads(scan.read_text()), json.loads(novelty.read_text()))
    text = report(rows, LAG1_LIMIT, REPEAT_LIMIT)
    print(text)
    extra = "".join(f" --extra {a} {b}" for a, b in args.extra)
    args.out.write_text(f"# .venv/bin/python -m bench.auto_rule{extra}\n" + text + "\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
