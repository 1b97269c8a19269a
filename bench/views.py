"""What each part of the novelty score adds, with and without a network per coarser view
(issue 17), and the default decided leave-one-family-out.

Every NAB series and every discord gets one detector, trained once with the defaults plus an
autoencoder on each coarser view (`scoring.coarse_networks`); each variant below then only
recalibrates the point score on that detector and scores the test part, so the variants share
their networks and differ in the score alone. The families (NAB artificial, NAB real, the
synthetic discords) are left out one at a time: the variant with the best mean PR-AUC on the
other two is judged on the one left out. Kepler is not here: its held-out residuals are white,
`auto` keeps the residual scan, and novelty's parts do not enter (docs/quality-log.md, session 17).

    .venv/bin/python -m bench.views            # ~12 min on 2 cores; bench/results/views.{json,txt}
    .venv/bin/python -m bench.views report     # the tables again from the JSON
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import family_mean, leave_one_family_out, machine, run_or_report, table
from bench.quality import Case, discord_cases, lcad_scores, located, metrics, nab_cases

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

# name -> (scoring.novelty_parts, coarse networks used, scoring.novelty_scales)
VARIANTS: dict[str, tuple[list[str], bool, list[int]]] = {
    "input, fine view only": (["input"], False, []),
    "input + latent, fine view only": (["input", "latent"], False, []),
    "input, both views (matrix-profile-like)": (["input"], False, [4]),
    "input + latent; coarse view input only (session 6 default)": (["input", "latent"], False,
                                                                    [4]),
    "input + latent, a network per view": (["input", "latent"], True, [4]),
    "input + latent + error, a network per view": (["input", "latent", "error"], True, [4]),
    "input + error, a network per view": (["input", "error"], True, [4]),
    "latent + error, a network per view (the networks alone)": (["latent", "error"], True,
                                                                [4]),
    "error, a network per view (reconstruction alone)": (["error"], True, [4]),
    "latent, a network per view": (["latent"], True, [4]),
}


def families() -> dict[str, list[Case]]:
    nab = nab_cases()
    return {"nab-artificial": [c for c in nab if c.object_id.startswith("art_")],
            "nab-real": [c for c in nab if not c.object_id.startswith("art_")],
            "discord": discord_cases()}


def run(overrides: list[str], log: Any = print) -> dict[str, Any]:
    from lcad.models.config import DetectorConfig
    from lcad.models.fit import calibration_curves, fit_detector, split_curves

    base = DetectorConfig().with_overrides(["scoring.coarse_networks=true", *overrides])
    out: dict[str, Any] = {"machine": machine(), "date": time.strftime("%Y-%m-%d"),
                           "command": "python -m bench.views " + " ".join(
                               f"--set {o}" for o in overrides), "families": {}}
    t0 = time.perf_counter()
    for family, cases in families().items():
        scores: dict[str, list[np.ndarray]] = {v: [] for v in VARIANTS}
        learned = {}
        for c in cases:
            det, m = fit_detector([c.train], base)
            learned[c.object_id] = {
                "point_score": det.point_method,
                "recon_r2": m.get("recon_r2"), "recon_r2_ceiling": m.get("recon_r2_ceiling"),
                "coarse4_recon_r2": m.get("coarse4_recon_r2"),
                "coarse4_recon_r2_ceiling": m.get("coarse4_recon_r2_ceiling"),
                "coarse4_active_units": m.get("coarse4_active_units")}
            splits = split_curves([c.train], det.config)
            cal, _ = calibration_curves(det, splits, [c.train])
            nets = dict(det.coarse)
            scoring = det.config.scoring
            for name, (parts, with_nets, views) in VARIANTS.items():
                det.config = det.config.model_copy(update={"scoring": scoring.model_copy(
                    update={"novelty_parts": parts, "novelty_scales": views,
                            "point": "novelty"})})
                det.coarse = nets if with_nets else {}
                det.calibrate(cal, [c.train])
                scores[name].extend(lcad_scores(det, [c]))
            log(f"  {family}: {c.object_id} done ({time.perf_counter() - t0:.0f} s)")
        res = {}
        for name, s in scores.items():
            res[name] = metrics(cases, s, buffer=base.preprocess.window)
            res[name]["located"] = located(cases, s)
        out["families"][family] = {"series": [c.object_id for c in cases], "methods": res,
                                   "autoencoder": learned}
    out["seconds"] = time.perf_counter() - t0
    return out


def report(res: dict[str, Any]) -> str:
    fams = list(res["families"])
    lines = [f"machine: {res['machine']}; date {res['date']}; {res['command']}", ""]
    rows = []
    for v in VARIANTS:
        row: list[Any] = [v]
        for f in fams:
            m = res["families"][f]["methods"][v]
            per = [r["pr_auc"] for r in m["per_series"]]
            row.append(f"{np.mean(per):.3f} +- {np.std(per):.3f}")
            row.append(f"{m['mean_vus_pr']:.3f}")
        allpr = [r["pr_auc"] for f in fams
                 for r in res["families"][f]["methods"][v]["per_series"]]
        row.append(f"{np.mean([family_mean(res, f, v) for f in fams]):.3f}")
        row.append(f"{min(allpr):.3f}")
        row.append(res["families"]["discord"]["methods"][v]["located"]
                   if "discord" in fams else "")
        rows.append(row)
    heads = ["variant"] + [h for f in fams for h in (f"{f} PR-AUC", f"{f} VUS-PR")] + [
        "mean of families", "worst series", "discords located"]
    lines += ["PR-AUC per family (mean +- sd over series), VUS-PR (mean):", "",
              table(heads, rows), ""]
    lines += ["Leave one family out: the variant with the best mean PR-AUC on the other "
              "families, judged on the one left out:", ""]
    loo = [[f, best, f"{there:.3f}", top, f"{top_there:.3f}"]
           for f, best, there, top, top_there in leave_one_family_out(res, list(VARIANTS))]
    lines += [table(["left out", "chosen on the others", "its PR-AUC there",
                     "best there (in hindsight)", "PR-AUC"], loo), ""]
    lines += ["What the networks learned (held-out R^2 / noise ceiling; coarse view active "
              "units):", ""]
    arows = []
    for f in fams:
        for oid, a in res["families"][f]["autoencoder"].items():
            def num(k: str, a: dict[str, Any] = a) -> str:
                v = a.get(k)
                return "-" if v is None else f"{v:.2f}"
            arows.append([f, oid, f"{num('recon_r2')} / {num('recon_r2_ceiling')}",
                          f"{num('coarse4_recon_r2')} / {num('coarse4_recon_r2_ceiling')}",
                          num("coarse4_active_units")])
    lines += [table(["family", "series", "windows' network", "coarse view's network",
                     "coarse units"], arows)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", nargs="?", default="run", choices=["run", "report"])
    ap.add_argument("--out", type=Path, default=RESULTS / "views.json")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override of every detector (before the variants)")
    args = ap.parse_args(argv)
    return run_or_report(args.action, args.out, lambda: run(args.set), report)

if __name__ == "__main__":
    sys.exit(main())
