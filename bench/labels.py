"""What labels buy (issue 22): anomalies found by a person who inspects the viewer's ranking
from the top and labels what they see, with the ranking re-computed after every label
(models/catalogue.py: score percentile + the labels' kernel relevance in latent space),
against going down the unchanged ranking.

Tasks (bench/objects.py): `rare` (RR Lyrae, 10 c among 195 ab), `injected` (12 odd among the
ab stars: flares, eclipses, shuffled times, constants), `kepler-survey` (survey-sampled Kepler
segments, 6 % with an event); `--draws` random draws of each. lcad with its defaults is
trained on the task's curves; the oracle labels each inspected object with its truth.
Reported per budget n (10, 20, 50 objects inspected): anomalies found in the first n
(with feedback vs without), and precision at 10 of the ranking of the objects not yet
inspected after n labels (does the rest get better?).

    python -m bench.labels            # ~25 min on 2 cores
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from bench.common import machine, report, table
from bench.objects import injected_task, kepler_survey_task, rr_lyrae
from lcad.models.catalogue import Catalogue
from lcad.models.config import DetectorConfig
from lcad.models.lightcurve import LightCurve

BUDGETS = (10, 20, 50)
TASKS = ("rare", "injected", "kepler-survey")


def session(cat: Catalogue, truth: dict[str, bool], budget: int, feedback: bool
            ) -> tuple[list[bool], list[float]]:
    """Inspect `budget` objects from the top; returns whether each inspected one was an
    anomaly, and after each label the precision at 10 among the objects not yet inspected."""
    labels: dict[str, str] = {}
    found: list[bool] = []
    rest_p10: list[float] = []
    static = [r["object_id"] for r in cat.ranking()]
    for _ in range(budget):
        order = [r["object_id"] for r in cat.ranking(labels)] if feedback else static
        nxt = next(o for o in order if o not in labels)
        labels[nxt] = "anomaly" if truth[nxt] else "normal"
        found.append(truth[nxt])
        rest = [o for o in ([r["object_id"] for r in cat.ranking(labels)] if feedback
                            else static) if o not in labels][:10]
        rest_p10.append(float(np.mean([truth[o] for o in rest])) if rest else np.nan)
    return found, rest_p10


def run_task(curves: list[LightCurve], y: np.ndarray, seed: int) -> dict[str, dict[int, float]]:
    from lcad.models.fit import fit_detector

    det, _ = fit_detector(curves, DetectorConfig().with_overrides([f"train.seed={seed}"]))
    cat = Catalogue.build(det, curves)
    truth = {c.object_id: bool(v) for c, v in zip(curves, y, strict=True)}
    truth = {oid: truth.get(oid, False) for oid in cat.ids}
    out: dict[str, dict[int, float]] = {}
    top = max(BUDGETS)
    for name, fb in (("static", False), ("feedback", True)):
        found, rest = session(cat, truth, top, fb)
        out[f"found:{name}"] = {n: float(np.sum(found[:n])) for n in BUDGETS}
        out[f"rest_p10:{name}"] = {n: rest[n - 1] for n in BUDGETS}
    out["n_anomalies"] = {0: float(sum(truth.values()))}
    print(f"  {det.representation}; {int(sum(truth.values()))} anomalies of {len(truth)}; "
          + ", ".join(f"{k} {v}" for k, v in out.items() if k.startswith("found")))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--out", type=Path, default=Path("bench/results/labels.txt"))
    args = ap.parse_args(argv)
    curves, is_c = rr_lyrae()
    rng = np.random.default_rng(0)
    ab, cc = np.flatnonzero(~is_c), np.flatnonzero(is_c)
    rows = []
    for task in args.tasks:
        runs = []
        for d in range(args.draws):
            if task == "rare":
                idx = np.concatenate([ab, rng.choice(cc, 10, replace=False)])
                t, y = [curves[i] for i in idx], is_c[idx]
            elif task == "injected":
                t, y = injected_task(curves, is_c, d)
            else:
                t, y = kepler_survey_task(d)
            print(f"task {task}, draw {d + 1}/{args.draws}: {len(t)} objects")
            runs.append(run_task(t, y, d))
        n_anom = np.mean([r["n_anomalies"][0] for r in runs])

        def cell(key: str, n: int, runs: list = runs) -> str:
            v = np.array([r[key][n] for r in runs])
            return f"{v.mean():.2f} ± {v.std():.2f}"

        for n in BUDGETS:
            rows.append([f"{task} ({n_anom:.0f} anomalies)", str(n),
                         cell("found:static", n), cell("found:feedback", n),
                         cell("rest_p10:static", n), cell("rest_p10:feedback", n)])
    text = (f"# python -m bench.labels --draws {args.draws}\n{machine()}\n\n"
            + table(["task", "labels (inspected)", "found, no feedback", "found, re-ranked",
                     "p@10 of the rest, no feedback", "p@10 of the rest, re-ranked"], rows))
    report(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
