"""What each part of lcad's point score adds, on every family (issue 17): the defaults with
one part taken out at a time, the same networks and splits.

Every series gets one model trained with the defaults (as `bench.combine`). Its default
score ("auto": the residual scan or novelty, whichever the rule picks) is then recalibrated
with one part removed (or, for an option that is off, added) and the test part scored
again; a part of the scan changes only the series whose default is the scan, a part of
novelty only those whose default is novelty.
Two rows retrain: the network without synthetic offsets (`model.segment_offsets` 0), and,
where the scan was chosen and the series was trained again on windows of its period, that
network trained for `train.epochs` only (`preprocess.scan_period_epoch_factor` 1, session 45;
elsewhere the row is the default's score).

The network's own share is measured two ways:
- "scan without the network": each window "reconstructed" by its own mean in each band (the
  constant a collapsed autoencoder outputs), the scan calibrated on those residuals;
- "novelty without the network": novelty of the inputs alone, without the latent codes.
"without the network at all" takes, per series, whichever of the two its default uses.

    .venv/bin/python -m bench.ablation      # ~20 min on 2 cores; bench/results/ablation.{json,txt}
    .venv/bin/python -m bench.ablation --families kepler,nab-real --out /tmp/a.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.combine import _scores, families, recalibrated_scores
from bench.common import machine, run_or_report, table
from bench.quality import metrics

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

DEFAULT = "defaults"
# name -> (the point score it applies to, the scoring overrides that remove the part)
SCAN_PARTS: dict[str, dict[str, Any]] = {
    "scan: the flank test added (off by default)": {"scan_flanks": True},
    "scan: no segment row": {"scan_segments": False},
    "scan: segments keep one level": {"segment_moves": 0.0},
    "scan: no oscillation row": {"scan_oscillations": 0},
    "scan: runs against the residuals as they are (no running median)": {"scan_baseline": 0},
    "scan: runs against the running median always": {"scan_baseline_red": 0.0},
    "scan: residuals weighed alike everywhere (no scatter curves)": {"scan_scatter": 0},
    "scan: scatter by the reconstruction's depth too (off by default)": {
        "scan_scatter_by": ["slope", "depth"]},
    "scan: single points only (the per-point error)": {
        "scales": [1], "scan_flanks": False, "scan_segments": False, "scan_oscillations": 0},
    "scan without the network": {},
}
NOVELTY_PARTS: dict[str, dict[str, Any]] = {
    "novelty: no coarser view": {"novelty_scales": []},
    "novelty: latent codes only": {"novelty_parts": ["latent"]},
    "novelty without the network": {"novelty_parts": ["input"]},
}
OTHER = "the other point score instead"
NO_NETWORK = "without the network at all"
NO_OFFSETS = "network trained without synthetic offsets"
SHORT_PERIOD_TRAINING = "the scan's network on whole cycles trained train.epochs only (factor 1)"
ROWS = [DEFAULT, *SCAN_PARTS, *NOVELTY_PARTS, NO_NETWORK, NO_OFFSETS, SHORT_PERIOD_TRAINING,
        OTHER]


def window_mean_network(det: Any) -> Any:
    """A stand-in for `det.network`: latent codes of zeros and each window reconstructed by
    the mean of its observed values in each band (what an autoencoder that learned nothing
    but the level outputs)."""
    n_bands, window, latent = len(det.bands), det.window, det.latent_dim
    dim = n_bands * window

    def net(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = batch.shape[0]
        x = batch[:, :dim].reshape(n, n_bands, window)
        m = batch[:, dim:].reshape(n, n_bands, window)
        level = (x * m).sum(-1) / np.maximum(m.sum(-1), 1.0)
        recon = np.repeat(level[:, :, None], window, axis=2).reshape(n, dim)
        return np.zeros((n, latent), np.float32), recon.astype(np.float32)

    return net


def series_scores(case: Any, overrides: list[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Every row's point scores of one series, and what the default model was."""
    from lcad.models.config import DetectorConfig
    from lcad.models.fit import calibration_curves, fit_detector, split_curves

    config = DetectorConfig().with_overrides(overrides)
    det, fit_metrics = fit_detector([case.train], config)
    pick = det.point_method
    splits = split_curves([case.train], det.config)
    cal, _ = calibration_curves(det, splits, [case.train])
    out = {DEFAULT: _scores(det, case)[0]}
    parts = SCAN_PARTS if pick == "scan" else NOVELTY_PARTS
    for name, update in parts.items():
        if name == "scan without the network":
            det.network = window_mean_network(det)  # type: ignore[method-assign]
            try:
                out[name] = recalibrated_scores(det, case, cal, "scan", {})[0]
            finally:
                del det.network
        else:
            out[name] = recalibrated_scores(det, case, cal, pick, update)[0]
    out[NO_NETWORK] = out["scan without the network" if pick == "scan"
                          else "novelty without the network"]
    other = "novelty" if pick == "scan" else "scan"
    out[OTHER] = recalibrated_scores(det, case, cal, other, {})[0]
    det2, _ = fit_detector([case.train], config.with_overrides(["model.segment_offsets=0"]))
    out[NO_OFFSETS] = _scores(det2, case)[0]
    if pick == "scan" and "window_period" in fit_metrics \
            and config.preprocess.scan_period_epoch_factor != 1:
        det3, _ = fit_detector([case.train], config.with_overrides(
            ["preprocess.scan_period_epoch_factor=1"]))
        out[SHORT_PERIOD_TRAINING] = _scores(det3, case)[0]
    info: dict[str, Any] = {"point": pick}
    info.update({k: fit_metrics[k] for k in ("recon_r2", "recon_r2_ceiling", "active_units",
                                             "residual_red", "scan_baseline",
                                             "residual_slope_gain", "residual_depth_gain")
                 if k in fit_metrics})
    return out, info


def run(overrides: list[str], only: list[str] | None, command: str, log: Any = print
        ) -> dict[str, Any]:
    out: dict[str, Any] = {"machine": machine(), "date": time.strftime("%Y-%m-%d"),
                           "command": command, "families": {}}
    t0 = time.perf_counter()
    for family, cases in families().items():
        if only and family not in only:
            continue
        got: dict[str, list[np.ndarray]] = {r: [] for r in ROWS}
        infos = {}
        for c in cases:
            scores, info = series_scores(c, overrides)
            infos[c.object_id] = info
            for r in ROWS:
                # a part the series' default does not use leaves its score as it is
                got[r].append(scores.get(r, scores[DEFAULT]))
            log(f"  {family}: {c.object_id} ({info['point']}) done "
                f"({time.perf_counter() - t0:.0f} s)")
        out["families"][family] = {
            "series": [c.object_id for c in cases], "models": infos,
            "methods": {r: metrics(cases, s, buffer=64) for r, s in got.items()}}
    out["seconds"] = time.perf_counter() - t0
    return out


def report(res: dict[str, Any]) -> str:
    fams = list(res["families"])
    lines = [f"machine: {res['machine']}; date {res['date']}; {res['command']}; "
             f"{res['seconds'] / 60:.0f} min", ""]

    def per(f: str, row: str) -> np.ndarray:
        return np.array([s["pr_auc"] for s in res["families"][f]["methods"][row]["per_series"]])

    head = [DEFAULT]
    for f in fams:
        m = res["families"][f]["methods"][DEFAULT]
        head.append(f"{per(f, DEFAULT).mean():.3f} / {m['event_recall']:.2f}")
    rows = [head]
    for row in ROWS[1:]:
        cells: list[Any] = [row]
        for f in fams:
            d = per(f, row) - per(f, DEFAULT)
            rec = (res["families"][f]["methods"][row]["event_recall"]
                   - res["families"][f]["methods"][DEFAULT]["event_recall"])
            cells.append("=" if not np.any(np.abs(d) > 5e-4) and abs(rec) < 5e-3 else
                         f"{d.mean():+.3f} ({d.min():+.3f}..{d.max():+.3f}) / {rec:+.2f}")
        rows.append(cells)
    lines += ["Mean point PR-AUC / event recall at 1 % false alarms of the defaults; below, the "
              "change with one part removed: mean over the family's series (smallest..largest "
              "change of a series) / change in event recall. '=' is no change (the part is "
              "not used by that family's default score).", "",
              table(["", *fams], rows), ""]
    models = []
    for f in fams:
        infos = res["families"][f]["models"].values()
        picks = [i["point"] for i in infos]
        r2 = [i.get("recon_r2", float("nan")) for i in infos]
        ceil = [i.get("recon_r2_ceiling", float("nan")) for i in infos]
        units = [int(i.get("active_units", -1)) for i in infos]
        red = [i["residual_red"] for i in infos if i.get("residual_red") is not None]
        based = sum(bool(i.get("scan_baseline")) for i in infos)
        gains = [max(i.get("residual_slope_gain", 1.0), i.get("residual_depth_gain", 1.0))
                 for i in infos if "residual_slope_gain" in i or "residual_depth_gain" in i]
        models.append([f, ", ".join(f"{p} {picks.count(p)}" for p in sorted(set(picks))),
                       f"{min(r2):.2f}..{max(r2):.2f}", f"{min(ceil):.2f}..{max(ceil):.2f}",
                       f"{min(units)}..{max(units)}",
                       f"{min(red):.1f}..{max(red):.1f} ({based})" if red else "",
                       f"{min(gains):.2f}..{max(gains):.2f}" if gains else ""])
    lines += ["The default models (held-out reconstruction R^2 and its noise ceiling, active "
              "latent units, over the family's series; how red the scan's held-out residuals "
              "are at `scan_baseline` points, and on how many series the running median is "
              "used; the larger scatter gain of the scan's two curves, `scan_scatter`):", "",
              table(["family", "default score", "R^2", "ceiling", "active units",
                     "residual red (running median)", "scatter gain"], models)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("action", nargs="?", default="run", choices=["run", "report"])
    ap.add_argument("--out", type=Path, default=RESULTS / "ablation.json")
    ap.add_argument("--families", help="comma-separated families (default: all of "
                    "bench.combine's)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a config override for every model")
    args = ap.parse_args(argv)
    only = args.families.split(",") if args.families else None
    command = " ".join(["python -m bench.ablation", *(f"--set {o}" for o in args.set),
                        *([f"--families {args.families}"] if args.families else [])])
    return run_or_report(args.action, args.out, lambda: run(args.set, only, command), report)


if __name__ == "__main__":
    sys.exit(main())
